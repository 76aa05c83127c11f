//! What an operator configures an agent with, and the errors that end it.

use pathnet_proto::security::{ClientTlsFiles, SecurityError, Token};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Why an agent stopped (or could not start): each names the setting or peer at fault.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The coordinator URL does not parse or has no usable scheme.
    #[error("coordinator URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Every connection attempt the backoff allows failed.
    #[error("coordinator {url} unreachable after {attempts} attempts: {reason}")]
    Unreachable {
        /// The coordinator tried.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        reason: String,
    },
    /// `workers` was 0.
    #[error("`workers` = 0: an agent needs at least one worker")]
    NoWorkers,
    /// A TLS file or token could not be read or used.
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// The stage-link address could not be bound.
    #[error("`--stage-listen` = {addr}: {reason}")]
    StageListen {
        /// The address as given.
        addr: String,
        /// Why binding it failed.
        reason: String,
    },
    /// The coordinator refused to let this agent join, as many times as the backoff allows.
    #[error("coordinator {url} refused this agent {attempts} times in a row: {reason}{hint}")]
    NotJoined {
        /// The coordinator that refused.
        url: String,
        /// How many refusals in a row.
        attempts: u32,
        /// The last refusal's status message.
        reason: String,
        /// What to check, for a refusal whose cause the operator can fix.
        hint: &'static str,
    },
}

/// Everything an agent runs with, from its command line or an embedding program.
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
    /// How (re)connection attempts are spaced and bounded.
    pub backoff: Backoff,
    /// Operator labels reported at join.
    pub labels: BTreeMap<String, String>,
    /// TLS settings for an `https://` coordinator.
    pub tls: ClientTlsFiles,
    /// The agent token presented on every call, for coordinators that require one.
    pub token: Option<Token>,
    /// Serve stage links here, hosting Sideways stages for other agents.
    pub stage_listen: Option<std::net::SocketAddr>,
    /// The stage-link address sent at join: set from `stage_listen` once bound. With
    /// `stage_tls` it is sent as `https://HOST:PORT`, which tells lease holders to dial it
    /// over TLS.
    pub stage_advertise: Option<String>,
    /// Serve stage links over TLS with this certificate; lease holders verify it with the
    /// authority they trust for the coordinator (`tls.ca`).
    pub stage_tls: Option<StageTls>,
}

/// The PEM certificate (chain) and private key an agent serves stage links with
/// (`--stage-tls-cert`, `--stage-tls-key`). The certificate must name the host part of the
/// advertised stage-link address.
#[derive(Debug, Clone)]
pub struct StageTls {
    /// PEM certificate (chain).
    pub cert: PathBuf,
    /// Its PEM private key.
    pub key: PathBuf,
}

/// How connection attempts are spaced: `initial`, doubling up to `max`, for at most
/// `attempts` tries (forever when `None`).
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub initial: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
    /// The most attempts in a row; `None` tries forever.
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
