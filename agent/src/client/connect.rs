//! Reaching the coordinator: connection attempts with exponential backoff.

use super::AgentError;
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

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

/// Connects to `url`, retrying with `backoff`; gives up early (with `None`) when `stop`
/// turns true.
pub async fn connect(
    url: &str,
    backoff: &Backoff,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Channel>, AgentError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|err| AgentError::Url {
            url: url.to_owned(),
            reason: err.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match endpoint.connect().await {
            Ok(channel) => return Ok(Some(channel)),
            Err(err) => err,
        };
        if backoff.attempts.is_some_and(|max| attempt >= max) {
            return Err(AgentError::Unreachable {
                url: url.to_owned(),
                attempts: attempt,
                reason: format!("{error:?}"),
            });
        }
        let delay = backoff.delay(attempt);
        tracing::debug!(%url, attempt, ?delay, "coordinator unreachable, retrying");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|stop| *stop) => return Ok(None),
        }
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
