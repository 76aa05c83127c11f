//! What an operator configures an agent with, and the errors that end it.

use pathnet_proto::security::{ClientTlsFiles, SecurityError, Token};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
    #[error(transparent)]
    Security(#[from] SecurityError),
    #[error("`--stage-listen` = {addr}: {reason}")]
    StageListen { addr: String, reason: String },
    #[error("coordinator {url} refused this agent {attempts} times in a row: {reason}{hint}")]
    NotJoined {
        url: String,
        attempts: u32,
        reason: String,
        /// What to check, for a refusal whose cause the operator can fix.
        hint: &'static str,
    },
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
    /// TLS settings for an `https://` coordinator.
    pub tls: ClientTlsFiles,
    /// The agent token presented on every call, for coordinators that require one.
    pub token: Option<Token>,
    /// Serve stage links here, hosting Sideways stages for other agents.
    pub stage_listen: Option<std::net::SocketAddr>,
    /// The stage-link address sent at join: set from `stage_listen` once bound.
    pub stage_advertise: Option<String>,
}

/// How connection attempts are spaced: `initial`, doubling up to `max`, for at most
/// `attempts` tries (forever when `None`).
#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            attempts: None,
        }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            attempts: None,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(1000));
    }
}
