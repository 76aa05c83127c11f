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
mod pathnet_a3c;
mod pathway;
mod remote;
mod session;
mod sm_pathnet;
mod worker;

pub use config::{AgentConfig, AgentError, Backoff};
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
    let (stop_tx, mut stop) = watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let data = TaskDataCache::new(config.data_dir.clone());
    let stats = Arc::new(Mutex::new(AgentStats::default()));
    let result = loop {
        let channel = match connect::connect(&config.coordinator, &config.backoff, &mut stop).await
        {
            Ok(Some(channel)) => channel,
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        };
        stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sessions += 1;
        match session::run(channel, &config, &data, &stats, &mut stop).await {
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
