//! The networked agent: connects to a coordinator (retrying with backoff), joins, leases
//! work on a stream, runs up to `workers` items at once, keeps its leases alive with
//! heartbeats, and on shutdown hands back whatever it has not finished.

mod a3c;
mod connect;
mod genome;
mod pathnet_a3c;
mod session;
mod worker;

pub use connect::Backoff;

use crate::data::TaskDataCache;
use session::SessionEnd;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("coordinator URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("coordinator {url} unreachable after {attempts} attempts: {reason}")]
    Unreachable {
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error("`workers` = 0: an agent needs at least one worker")]
    NoWorkers,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The coordinator's URL, e.g. `http://10.0.0.5:50051`.
    pub coordinator: String,
    /// Work items run at once.
    pub workers: usize,
    /// Read datasets from here instead of the directory each experiment names.
    pub data_dir: Option<PathBuf>,
    /// Exit when the coordinator ends the lease stream instead of reconnecting.
    pub leave_with_coordinator: bool,
    pub backoff: Backoff,
    /// Operator labels reported at join.
    pub labels: BTreeMap<String, String>,
}

/// What an agent did, over all its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStats {
    pub sessions: u64,
    /// Results the coordinator accepted.
    pub accepted: u64,
    /// Results it answered as duplicate or stale.
    pub not_accepted: u64,
    /// Leases handed back.
    pub released: u64,
}

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
            Ok(SessionEnd::Shutdown) => break Ok(()),
            Ok(SessionEnd::Closed) if config.leave_with_coordinator => break Ok(()),
            Ok(SessionEnd::Closed) => {
                tracing::info!("coordinator closed the session; reconnecting")
            }
            Ok(SessionEnd::Broken(status)) => {
                if config.leave_with_coordinator && status.code() == tonic::Code::Unavailable {
                    break Ok(());
                }
                tracing::warn!(%status, "session with the coordinator broke; reconnecting");
            }
            Err(err) => break Err(err),
        }
    };
    signal.abort();
    result.map(|()| stats.lock().unwrap_or_else(PoisonError::into_inner).clone())
}
