//! An operator's client of `ExperimentService`: start, stop, list and inspect experiments on a
//! running coordinator, presenting a token and TLS settings the way agents do.
//!
//! Every call is bounded by one timeout (a peer that accepts connections but never answers
//! must not hang a command), and every refusal becomes an [`OperatorError`] that says what
//! to fix: which token to present, which field of the spec is wrong, which id is unknown.

use crate::security::{AuthChannel, BearerAuth, ClientTlsFiles, SecurityError, Token, endpoint};
use crate::v1::{self, experiment_service_client::ExperimentServiceClient};
use std::future::Future;
use std::time::Duration;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;

/// Why an operator's call failed. Each message names the coordinator and what to change.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The URL or the TLS settings are unusable.
    #[error(transparent)]
    Settings(#[from] SecurityError),
    /// No connection, or no answer within the timeout.
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Unreachable {
        /// The coordinator's URL as given.
        url: String,
        /// What went wrong, from the transport.
        reason: String,
    },
    /// No token, or one the coordinator does not know (UNAUTHENTICATED).
    #[error(
        "the coordinator at {url} refused to {action}: {message} (UNAUTHENTICATED). \
         Present the coordinator's admin token: `--token-file FILE` or the environment \
         variable PATHNET_TOKEN"
    )]
    Unauthenticated {
        /// The coordinator's URL.
        url: String,
        /// What was asked, e.g. "start an experiment".
        action: &'static str,
        /// The coordinator's reason.
        message: String,
    },
    /// A valid token that may not do this (PERMISSION_DENIED): the agent token on start or
    /// stop, or a coordinator without an admin token.
    #[error(
        "the coordinator at {url} refused to {action}: {message} (PERMISSION_DENIED). \
         Present the token given to the coordinator as `--admin-token-file` (or \
         PATHNET_ADMIN_TOKEN), not the agent token"
    )]
    PermissionDenied {
        /// The coordinator's URL.
        url: String,
        /// What was asked.
        action: &'static str,
        /// The coordinator's reason.
        message: String,
    },
    /// The request is wrong (INVALID_ARGUMENT): for a start, the spec; the coordinator's
    /// message names the field.
    #[error(
        "the coordinator at {url} refused to {action}: {message} (INVALID_ARGUMENT). \
         Fix what is named and try again"
    )]
    InvalidArgument {
        /// The coordinator's URL.
        url: String,
        /// What was asked.
        action: &'static str,
        /// The coordinator's reason, naming the field.
        message: String,
    },
    /// The experiment id is not known to this coordinator (NOT_FOUND).
    #[error(
        "the coordinator at {url} refused to {action}: {message} (NOT_FOUND). \
         Use the id printed by `pathnet experiment start`"
    )]
    NotFound {
        /// The coordinator's URL.
        url: String,
        /// What was asked.
        action: &'static str,
        /// The coordinator's reason.
        message: String,
    },
    /// Any other refusal, e.g. FAILED_PRECONDITION while another experiment runs.
    #[error("the coordinator at {url} refused to {action}: {message} ({code:?})")]
    Refused {
        /// The coordinator's URL.
        url: String,
        /// What was asked.
        action: &'static str,
        /// The gRPC status code.
        code: Code,
        /// The coordinator's reason.
        message: String,
    },
}

impl OperatorError {
    /// The gRPC status code of a refusal, `None` when the coordinator never answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            OperatorError::Settings(_) | OperatorError::Unreachable { .. } => None,
            OperatorError::Unauthenticated { .. } => Some(Code::Unauthenticated),
            OperatorError::PermissionDenied { .. } => Some(Code::PermissionDenied),
            OperatorError::InvalidArgument { .. } => Some(Code::InvalidArgument),
            OperatorError::NotFound { .. } => Some(Code::NotFound),
            OperatorError::Refused { code, .. } => Some(*code),
        }
    }

    fn from_status(url: &str, action: &'static str, status: tonic::Status) -> OperatorError {
        let url = url.to_owned();
        // A call that broke in the transport (plain text against a TLS port, a peer that is
        // not a coordinator) carries its cause as the source, under whatever code (Unknown,
        // Internal) the transport chose; a coordinator's own answer never has one.
        if let Some(source) = std::error::Error::source(&status) {
            return OperatorError::Unreachable {
                url,
                reason: format!(
                    "{} (is the URL's scheme right: https:// for a coordinator with TLS, \
                     http:// for one without?)",
                    innermost(source)
                ),
            };
        }
        // The message travels from the coordinator; it is bounded there, and again here so
        // that a hostile peer cannot flood a terminal.
        let message = crate::quote_lines(status.message());
        match status.code() {
            Code::Unauthenticated => OperatorError::Unauthenticated {
                url,
                action,
                message,
            },
            Code::PermissionDenied => OperatorError::PermissionDenied {
                url,
                action,
                message,
            },
            Code::InvalidArgument => OperatorError::InvalidArgument {
                url,
                action,
                message,
            },
            Code::NotFound => OperatorError::NotFound {
                url,
                action,
                message,
            },
            // The transport's codes for "nobody answered": not a refusal by the coordinator.
            Code::Unavailable | Code::DeadlineExceeded => OperatorError::Unreachable {
                url,
                reason: message,
            },
            code => OperatorError::Refused {
                url,
                action,
                code,
                message,
            },
        }
    }
}

/// A connected operator's client.
pub struct OperatorClient {
    url: String,
    timeout: Duration,
    client: ExperimentServiceClient<AuthChannel>,
}

impl OperatorClient {
    /// Connects to `url` (`https://` needs `tls`), presenting `token` on every call; gives
    /// up after `timeout`, which also bounds every later call.
    pub async fn connect(
        url: &str,
        tls: &ClientTlsFiles,
        token: Option<&Token>,
        timeout: Duration,
    ) -> Result<OperatorClient, OperatorError> {
        let endpoint = endpoint(url, tls)?.connect_timeout(timeout);
        let channel = within(url, timeout, endpoint.connect())
            .await?
            .map_err(|err| OperatorError::Unreachable {
                url: url.to_owned(),
                reason: transport_reason(&err),
            })?;
        let channel = InterceptedService::new(channel, BearerAuth::new(token));
        Ok(OperatorClient {
            url: url.to_owned(),
            timeout,
            client: ExperimentServiceClient::new(channel),
        })
    }

    /// Starts the experiment of `spec_toml` (the coordinator parses and checks it, and
    /// reads the files it names on its own machine); returns the experiment's id.
    pub async fn start(&mut self, spec_toml: String) -> Result<String, OperatorError> {
        let call = self
            .client
            .start_experiment(v1::StartExperimentRequest { spec_toml });
        let answer = answer(&self.url, self.timeout, "start an experiment", call).await?;
        Ok(answer.experiment_id)
    }

    /// Asks the coordinator to stop experiment `id`, logging `reason`; returns the state
    /// after the request (STOPPING while leases drain, or the final state).
    pub async fn stop(
        &mut self,
        id: &str,
        reason: &str,
    ) -> Result<v1::ExperimentState, OperatorError> {
        let call = self.client.stop_experiment(v1::StopExperimentRequest {
            experiment_id: id.to_owned(),
            reason: reason.to_owned(),
        });
        let answer = answer(&self.url, self.timeout, "stop the experiment", call).await?;
        Ok(answer.state())
    }

    /// Where experiment `id` stands.
    pub async fn status(&mut self, id: &str) -> Result<v1::ExperimentStatus, OperatorError> {
        let call = self
            .client
            .get_experiment_status(v1::GetExperimentStatusRequest {
                experiment_id: id.to_owned(),
            });
        answer(
            &self.url,
            self.timeout,
            "report the experiment's status",
            call,
        )
        .await
    }

    /// Every experiment the coordinator holds, with its status (the admin token's call).
    pub async fn list(&mut self) -> Result<Vec<v1::ExperimentStatus>, OperatorError> {
        let call = self.client.list_experiments(v1::ListExperimentsRequest {});
        let answer = answer(&self.url, self.timeout, "list its experiments", call).await?;
        Ok(answer.experiments)
    }
}

/// `call`'s answer within `timeout`, its refusal explained as asking to do `action`.
async fn answer<T>(
    url: &str,
    timeout: Duration,
    action: &'static str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, OperatorError> {
    within(url, timeout, call)
        .await?
        .map(tonic::Response::into_inner)
        .map_err(|status| OperatorError::from_status(url, action, status))
}

/// `future`'s output, or [`OperatorError::Unreachable`] after `timeout`.
async fn within<T>(
    url: &str,
    timeout: Duration,
    future: impl Future<Output = T>,
) -> Result<T, OperatorError> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| OperatorError::Unreachable {
            url: url.to_owned(),
            reason: format!("no answer within {} ms", timeout.as_millis()),
        })
}

/// The innermost cause of a transport error: tonic's own `Display` says only "transport
/// error", which leaves the user guessing between a refused port and a bad certificate.
fn transport_reason(err: &tonic::transport::Error) -> String {
    innermost(err)
}

/// The message of the last error in `err`'s chain of sources.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    reason
}

/// The lower-case name of `state`, as commands print it.
pub fn state_name(state: v1::ExperimentState) -> &'static str {
    use v1::ExperimentState as S;
    match state {
        S::Unspecified => "unknown",
        S::Pending => "pending",
        S::Running => "running",
        S::Stopping => "stopping",
        S::Stopped => "stopped",
        S::Completed => "completed",
        S::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(code: Code, message: &str) -> OperatorError {
        OperatorError::from_status(
            "http://10.0.0.5:50051",
            "start an experiment",
            tonic::Status::new(code, message),
        )
    }

    #[test]
    fn an_unauthenticated_refusal_says_which_token_to_present() {
        let err = refusal(Code::Unauthenticated, "no token was presented");
        assert_eq!(err.code(), Some(Code::Unauthenticated));
        let text = err.to_string();
        for part in [
            "http://10.0.0.5:50051",
            "start an experiment",
            "no token was presented",
            "`--token-file FILE`",
            "PATHNET_TOKEN",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    #[test]
    fn a_permission_refusal_points_at_the_admin_token() {
        let text = refusal(Code::PermissionDenied, "the agent token may not").to_string();
        assert!(text.contains("`--admin-token-file`"), "{text}");
        assert!(text.contains("PERMISSION_DENIED"), "{text}");
    }

    #[test]
    fn an_invalid_spec_keeps_the_coordinators_field_name() {
        let err = refusal(
            Code::InvalidArgument,
            "`evolution.population` = 0: too small",
        );
        assert_eq!(err.code(), Some(Code::InvalidArgument));
        assert!(
            err.to_string().contains("`evolution.population` = 0"),
            "{err}"
        );
    }

    #[test]
    fn a_flood_from_the_peer_is_cut() {
        let err = refusal(Code::InvalidArgument, &"x".repeat(100_000));
        assert!(err.to_string().len() < 1_000, "{}", err.to_string().len());
    }

    #[test]
    fn no_answer_is_not_a_refusal() {
        let err = refusal(Code::Unavailable, "connection refused");
        assert_eq!(err.code(), None);
        assert!(err.to_string().starts_with("cannot reach"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_names_the_url() {
        // Port 9 (discard) on loopback: nothing listens there in a test environment, and
        // even if something did it would not speak HTTP/2 within the timeout.
        let url = "http://127.0.0.1:9";
        let err = match OperatorClient::connect(
            url,
            &ClientTlsFiles::default(),
            None,
            Duration::from_millis(500),
        )
        .await
        {
            Ok(mut client) => client.status("x").await.unwrap_err(),
            Err(err) => err,
        };
        assert_eq!(err.code(), None, "{err}");
        assert!(err.to_string().contains(url), "{err}");
    }
}
