//! Reaching the coordinator: connection attempts with exponential backoff.

use crate::config::{AgentError, Backoff};
use pathnet_proto::security::ClientTlsFiles;
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::Channel;

/// Connects to `url`, retrying with `backoff`; gives up early (with `None`) when `stop`
/// turns true.
pub(crate) async fn connect(
    url: &str,
    tls: &ClientTlsFiles,
    backoff: &Backoff,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Channel>, AgentError> {
    let endpoint = pathnet_proto::security::endpoint(url, tls)?
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
