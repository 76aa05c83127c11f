//! Who may call what: a tower layer in front of every gRPC service that checks the bearer
//! token before a request reaches a service, so a refused call cannot change anything.
//!
//! Three classes of method (docs/security.md, docs/decisions/0005-authentication.md):
//! - open: the gRPC health service, which Kubernetes probes call without credentials;
//! - admin: `StartExperiment` and `StopExperiment`, which need the admin token;
//! - agent: everything else (join, leases, reports, parameters, status, watch), which
//!   needs the agent token or the admin token.
//!
//! With no token configured every call passes (a coordinator on loopback for
//! `pathnet run`). A class whose token is not configured is closed to all but the tokens
//! above it: with only an agent token, experiments start only from `--spec`.

use pathnet_proto::security::{AUTHORIZATION, Token, bearer_token};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tonic::Status;
use tonic::codegen::http;

/// The tokens a coordinator accepts; `None` leaves that token unset.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    /// Lets agents join and work, and watchers follow experiments.
    pub agent: Option<Token>,
    /// Lets operators start and stop experiments; also accepted wherever the agent token is.
    pub admin: Option<Token>,
}

impl Tokens {
    /// Whether any token is required at all.
    pub fn enabled(&self) -> bool {
        self.agent.is_some() || self.admin.is_some()
    }
}

/// Why a call was refused, as the label of `pathnet_auth_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No `authorization: Bearer ...` header.
    Missing,
    /// A token that is none of those configured.
    Invalid,
    /// A valid token on a method it does not allow.
    Forbidden,
}

impl Refused {
    /// Every reason, so a scrape lists each label from the start (zeros included).
    pub const ALL: [Refused; 3] = [Refused::Missing, Refused::Invalid, Refused::Forbidden];

    /// The `reason` label: `missing_token`, `invalid_token` or `permission_denied`.
    pub fn label(self) -> &'static str {
        match self {
            Refused::Missing => "missing_token",
            Refused::Invalid => "invalid_token",
            Refused::Forbidden => "permission_denied",
        }
    }
}

/// Calls refused so far, by [`Refused`] reason.
#[derive(Debug, Default)]
pub struct RefusedCounts([AtomicU64; 3]);

impl RefusedCounts {
    fn add(&self, reason: Refused) {
        self.0[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `(label, count)` for every reason, zeros included.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Refused::ALL
            .iter()
            .map(|r| (r.label(), self.0[*r as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Open,
    Agent,
    Admin,
}

fn access(path: &str) -> Access {
    match path {
        "/pathnet.v1.ExperimentService/StartExperiment"
        | "/pathnet.v1.ExperimentService/StopExperiment" => Access::Admin,
        _ if path.starts_with("/grpc.health.v1.Health/") => Access::Open,
        _ => Access::Agent,
    }
}

/// Decides one call: `Ok` to serve it, or the status that refuses it.
fn check(
    tokens: &Tokens,
    path: &str,
    authorization: Option<&[u8]>,
) -> Result<(), (Refused, Status)> {
    let access = access(path);
    if !tokens.enabled() || access == Access::Open {
        return Ok(());
    }
    let Some(presented) = authorization.and_then(bearer_token) else {
        return Err((
            Refused::Missing,
            Status::unauthenticated(
                "this coordinator requires a bearer token and none was presented \
                 (agents: --agent-token-file or PATHNET_AGENT_TOKEN; \
                 operators: --token-file or PATHNET_TOKEN)",
            ),
        ));
    };
    // Both comparisons always run, so the time taken does not say which token is near.
    let admin = tokens.admin.as_ref().is_some_and(|t| t.matches(presented));
    let agent = tokens.agent.as_ref().is_some_and(|t| t.matches(presented));
    match access {
        Access::Admin if admin => Ok(()),
        Access::Agent if admin || agent => Ok(()),
        Access::Admin if agent => Err((
            Refused::Forbidden,
            Status::permission_denied(if tokens.admin.is_some() {
                "the agent token may not start or stop experiments: present the admin token"
            } else {
                "this coordinator has no admin token, so no one may start or stop \
                 experiments over gRPC"
            }),
        )),
        _ => Err((
            Refused::Invalid,
            Status::unauthenticated("the bearer token presented is not valid here"),
        )),
    }
}

/// The layer checking every call against `tokens`.
#[derive(Clone)]
pub struct AuthLayer {
    tokens: Arc<Tokens>,
    refused: Arc<RefusedCounts>,
}

impl AuthLayer {
    /// A layer requiring `tokens` and counting each refusal into `refused`.
    pub fn new(tokens: Tokens, refused: Arc<RefusedCounts>) -> AuthLayer {
        AuthLayer {
            tokens: Arc::new(tokens),
            refused,
        }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: Arc::clone(&self.tokens),
            refused: Arc::clone(&self.refused),
        }
    }
}

/// [`AuthLayer`] around a service.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    tokens: Arc<Tokens>,
    refused: Arc<RefusedCounts>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for Auth<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let authorization = request
            .headers()
            .get(AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        match check(&self.tokens, request.uri().path(), authorization) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err((reason, status)) => {
                self.refused.add(reason);
                // The path is ours to log (bounded by the router); the token never is.
                let path: String = request.uri().path().chars().take(100).collect();
                tracing::info!(%path, reason = reason.label(), "call refused");
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    const JOIN: &str = "/pathnet.v1.AgentService/Join";
    const START: &str = "/pathnet.v1.ExperimentService/StartExperiment";
    const STOP: &str = "/pathnet.v1.ExperimentService/StopExperiment";
    const HEALTH: &str = "/grpc.health.v1.Health/Check";

    fn token(text: &str) -> Option<Token> {
        Some(Token::parse(text, "test", "test").unwrap())
    }

    fn both() -> Tokens {
        Tokens {
            agent: token("agent-secret"),
            admin: token("admin-secret"),
        }
    }

    fn code(tokens: &Tokens, path: &str, header: Option<&str>) -> Option<Code> {
        check(tokens, path, header.map(str::as_bytes))
            .err()
            .map(|(_, s)| s.code())
    }

    #[test]
    fn without_tokens_everything_passes() {
        let none = Tokens::default();
        assert_eq!(code(&none, JOIN, None), None);
        assert_eq!(code(&none, START, None), None);
    }

    #[test]
    fn health_stays_open() {
        assert_eq!(code(&both(), HEALTH, None), None);
        assert_eq!(code(&both(), "/grpc.health.v1.Health/Watch", None), None);
    }

    #[test]
    fn a_missing_or_wrong_token_is_unauthenticated() {
        let t = both();
        assert_eq!(code(&t, JOIN, None), Some(Code::Unauthenticated));
        assert_eq!(
            code(&t, JOIN, Some("Bearer nope")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(&t, JOIN, Some("agent-secret")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(&t, JOIN, Some("Basic agent-secret")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(&t, START, Some("Bearer nope")),
            Some(Code::Unauthenticated)
        );
    }

    #[test]
    fn the_agent_token_works_but_may_not_start_or_stop() {
        let t = both();
        assert_eq!(code(&t, JOIN, Some("Bearer agent-secret")), None);
        assert_eq!(code(&t, JOIN, Some("bearer agent-secret")), None);
        assert_eq!(
            code(&t, START, Some("Bearer agent-secret")),
            Some(Code::PermissionDenied)
        );
        assert_eq!(
            code(&t, STOP, Some("Bearer agent-secret")),
            Some(Code::PermissionDenied)
        );
    }

    #[test]
    fn the_admin_token_opens_everything() {
        let t = both();
        for path in [JOIN, START, STOP] {
            assert_eq!(code(&t, path, Some("Bearer admin-secret")), None, "{path}");
        }
    }

    #[test]
    fn without_an_admin_token_no_one_starts_experiments_remotely() {
        let t = Tokens {
            agent: token("agent-secret"),
            admin: None,
        };
        assert_eq!(code(&t, JOIN, Some("Bearer agent-secret")), None);
        assert_eq!(
            code(&t, START, Some("Bearer agent-secret")),
            Some(Code::PermissionDenied)
        );
        assert_eq!(code(&t, START, None), Some(Code::Unauthenticated));
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let counts = RefusedCounts::default();
        counts.add(Refused::Missing);
        counts.add(Refused::Forbidden);
        counts.add(Refused::Forbidden);
        assert_eq!(
            counts.snapshot(),
            [
                ("missing_token", 1),
                ("invalid_token", 0),
                ("permission_denied", 2)
            ]
        );
    }
}
