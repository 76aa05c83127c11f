//! The networked agent: connects to a coordinator (retrying with backoff), joins, leases
//! work on a stream, runs up to `workers` items at once, keeps its leases alive with
//! heartbeats, and on shutdown hands back whatever it has not finished.
//!
//! Modules depend one way: this root runs `session`s, a session feeds its `worker`s, a worker
//! hands each lease to its kind's module (`pathway`, `a3c`, `pathnet_a3c`, `genome`, `sm_pathnet`; the two
//! A3C kinds share `remote`), and all of them read the session's `context`. What a job is and how it executes live in `pathnet-work`, shared with the
//! coordinator's in-process run.

mod a3c;
mod config;
mod connect;
mod context;
mod copies;
mod genome;
mod link;
mod pathnet_a3c;
mod pathway;
mod remote;
mod session;
mod sideways;
mod sm_pathnet;
mod worker;

pub use config::{AgentConfig, AgentError, Backoff, StageTls};
pub use context::AgentStats;

use pathnet_work::TaskDataCache;
use session::SessionEnd;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// Runs the agent until `shutdown` completes (unfinished leases are then handed back) or,
/// with `leave_with_coordinator`, until the coordinator closes.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<AgentStats, AgentError> {
    if config.workers == 0 {
        return Err(AgentError::NoWorkers);
    }
    let mut config = config;
    let _links = match config.stage_listen {
        Some(addr) => {
            let (bound, server) =
                link::serve(addr, config.token.clone(), config.stage_tls.as_ref()).await?;
            tracing::info!(%bound, tls = config.stage_tls.is_some(), "serving stage links");
            let advertised = config
                .stage_advertise
                .take()
                .unwrap_or_else(|| bound.to_string());
            config.stage_advertise =
                Some(link::advertised(&advertised, config.stage_tls.is_some()));
            Some(AbortOnDrop(server))
        }
        None => None,
    };
    let (stop_tx, mut stop) = watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let data = TaskDataCache::new(config.data_dir.clone());
    let stats = Arc::new(Mutex::new(AgentStats::default()));
    // Failed joins in a row: each waits longer (as failed connections do), and with a bound
    // on attempts the agent gives up rather than knock forever with a wrong token.
    let mut refusals = 0u32;
    let result = loop {
        let connected =
            connect::connect(&config.coordinator, &config.tls, &config.backoff, &mut stop).await;
        let channel = match connected {
            Ok(Some(channel)) => channel,
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        };
        stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sessions += 1;
        let end = session::run(channel, &config, &data, &stats, &mut stop).await;
        if !matches!(end, SessionEnd::NotJoined(_)) {
            refusals = 0;
        }
        match end {
            SessionEnd::NotJoined(status) => {
                let unauthorised = matches!(
                    status.code(),
                    tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                );
                if !unauthorised
                    && config.leave_with_coordinator
                    && status.code() == tonic::Code::Unavailable
                {
                    break Ok(());
                }
                refusals += 1;
                let reason = format!("{:?}: {}", status.code(), status.message());
                let hint = if unauthorised {
                    " (check the agent token: --agent-token-file or PATHNET_AGENT_TOKEN)"
                } else if status.code() == tonic::Code::ResourceExhausted {
                    " (calls from this address presented too many wrong tokens; check the \
                     agent token of every agent on this machine)"
                } else {
                    " (is the URL's scheme right: https:// for a coordinator with TLS?)"
                };
                if config.backoff.attempts.is_some_and(|max| refusals >= max) {
                    break Err(AgentError::NotJoined {
                        url: config.coordinator.clone(),
                        attempts: refusals,
                        reason,
                        hint,
                    });
                }
                let delay = config.backoff.delay(refusals);
                tracing::error!(
                    coordinator = %config.coordinator,
                    %reason,
                    ?delay,
                    "the coordinator did not let this agent join{hint}; retrying"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    _ = stop.wait_for(|stop| *stop) => break Ok(()),
                }
            }
            SessionEnd::Shutdown => break Ok(()),
            SessionEnd::Closed if config.leave_with_coordinator => break Ok(()),
            SessionEnd::Closed => {
                tracing::info!("coordinator closed the session; reconnecting")
            }
            SessionEnd::Broken(status) => {
                if config.leave_with_coordinator && status.code() == tonic::Code::Unavailable {
                    break Ok(());
                }
                tracing::warn!(%status, "session with the coordinator broke; reconnecting");
            }
        }
    };
    signal.abort();
    result.map(|()| stats.lock().unwrap_or_else(PoisonError::into_inner).clone())
}

/// Stops the stage-link server with the agent.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
