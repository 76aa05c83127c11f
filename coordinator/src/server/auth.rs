//! Who may call what: a tower layer in front of every gRPC service that checks the bearer
//! token before a request reaches a service, so a refused call cannot change anything.
//!
//! Three classes of method (docs/security.md, docs/decisions/0005-authentication.md):
//! - open: the gRPC health service, which Kubernetes probes call without credentials;
//! - admin: `StartExperiment`, `StopExperiment` and `ListExperiments`, which need the
//!   admin token;
//! - agent: everything else (join, leases, reports, parameters, status, watch), which
//!   needs the agent token or the admin token.
//!
//! With no token configured every call passes (a coordinator on loopback for
//! `pathnet run`). A class whose token is not configured is closed to all but the tokens
//! above it: with only an agent token, experiments start only from `--spec`.
//!
//! Refusals for a missing or wrong token are limited per client address ([`RefusalLimit`]):
//! after a burst, an address that keeps presenting bad tokens gets RESOURCE_EXHAUSTED for
//! every call, right tokens included, until its allowance refills. That caps how fast one
//! address can guess a token, and how many refusal lines it can put in the log.

use pathnet_proto::security::{AUTHORIZATION, Token, bearer_token};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Status;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

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
    /// Any call from an address whose bad tokens used up its allowance ([`RefusalLimit`]).
    RateLimited,
}

impl Refused {
    /// Every reason, so a scrape lists each label from the start (zeros included).
    pub const ALL: [Refused; 4] = [
        Refused::Missing,
        Refused::Invalid,
        Refused::Forbidden,
        Refused::RateLimited,
    ];

    /// The `reason` label: `missing_token`, `invalid_token`, `permission_denied` or
    /// `rate_limited`.
    pub fn label(self) -> &'static str {
        match self {
            Refused::Missing => "missing_token",
            Refused::Invalid => "invalid_token",
            Refused::Forbidden => "permission_denied",
            Refused::RateLimited => "rate_limited",
        }
    }
}

/// Calls refused so far, by [`Refused`] reason.
#[derive(Debug, Default)]
pub struct RefusedCounts([AtomicU64; 4]);

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
        | "/pathnet.v1.ExperimentService/StopExperiment"
        | "/pathnet.v1.ExperimentService/ListExperiments" => Access::Admin,
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
                "the agent token may not start, stop or list experiments: present the admin \
                 token"
            } else {
                "this coordinator has no admin token, so no one may start, stop or list \
                 experiments over gRPC"
            }),
        )),
        _ => Err((
            Refused::Invalid,
            Status::unauthenticated("the bearer token presented is not valid here"),
        )),
    }
}

/// How many bad tokens one client address may present: a burst of `burst`, then one per
/// `refill`. Past that, every call from the address is refused until the allowance refills.
/// Addresses are tracked individually (IPv6 ones too), at most `max_addresses` at a time; a
/// caller with more addresses than that is beyond what this limit is for (a firewall is).
#[derive(Debug, Clone, Copy)]
pub struct RefusalLimit {
    /// Bad tokens accepted in a row before the limit bites.
    pub burst: u32,
    /// The time one more bad token is allowed after.
    pub refill: Duration,
    /// Addresses remembered at most.
    pub max_addresses: usize,
}

impl Default for RefusalLimit {
    /// 20 in a burst, then one a second: an agent with a stale token that retries with
    /// backoff never reaches it, a guesser is held to 86,400 guesses a day per address.
    fn default() -> Self {
        RefusalLimit {
            burst: 20,
            refill: Duration::from_secs(1),
            max_addresses: 4096,
        }
    }
}

/// The allowance of one address: `credit` bad tokens left as of `at`.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    credit: f64,
    at: Instant,
}

/// Bad tokens per address, against a [`RefusalLimit`].
#[derive(Debug)]
struct Refusals {
    limit: RefusalLimit,
    by_address: Mutex<HashMap<IpAddr, Allowance>>,
    /// Whether `by_address` holds anyone: every call asks [`Refusals::wait`], and while no
    /// address is short (the usual case) that must not take a lock all calls share.
    tracking: AtomicBool,
}

impl Refusals {
    fn new(limit: RefusalLimit) -> Refusals {
        Refusals {
            limit,
            by_address: Mutex::new(HashMap::new()),
            tracking: AtomicBool::new(false),
        }
    }

    fn refilled(&self, allowance: Allowance, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(allowance.at).as_secs_f64()
            / self.limit.refill.as_secs_f64().max(1e-9);
        (allowance.credit + earned).min(f64::from(self.limit.burst))
    }

    /// How long `address` must wait before any call of it is looked at; `None` when it
    /// may call now.
    fn wait(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        if !self.tracking.load(Ordering::Acquire) {
            return None;
        }
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let credit = self.refilled(*map.get(&address)?, now);
        if credit >= f64::from(self.limit.burst) {
            // Whole again: no different from an address never seen, and once every address
            // is, calls skip the lock again.
            map.remove(&address);
            self.tracking.store(!map.is_empty(), Ordering::Release);
        }
        (credit < 1.0).then(|| self.limit.refill.mul_f64(1.0 - credit))
    }

    /// Counts one bad token from `address`.
    fn record(&self, address: IpAddr, now: Instant) {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let full = f64::from(self.limit.burst);
        if map.len() >= self.limit.max_addresses && !map.contains_key(&address) {
            // Forget the addresses whose allowance is whole again: they are no different
            // from addresses never seen. If every one is still short, the new one goes
            // untracked rather than growing the table without end.
            map.retain(|_, a| self.refilled(*a, now) < full);
            self.tracking.store(!map.is_empty(), Ordering::Release);
            if map.len() >= self.limit.max_addresses {
                return;
            }
        }
        let credit = match map.get(&address) {
            Some(a) => self.refilled(*a, now),
            None => full,
        };
        map.insert(
            address,
            Allowance {
                credit: (credit - 1.0).max(0.0),
                at: now,
            },
        );
        self.tracking.store(true, Ordering::Release);
    }
}

/// The address of the peer that sent `request`, as tonic records it (plain or TLS).
fn peer<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
        .map(|addr| addr.ip())
}

/// The layer checking every call against `tokens`.
#[derive(Clone)]
pub struct AuthLayer {
    tokens: Arc<Tokens>,
    refused: Arc<RefusedCounts>,
    refusals: Arc<Refusals>,
}

impl AuthLayer {
    /// A layer requiring `tokens` and counting each refusal into `refused`.
    pub fn new(tokens: Tokens, refused: Arc<RefusedCounts>) -> AuthLayer {
        AuthLayer::with_limit(tokens, refused, RefusalLimit::default())
    }

    /// [`new`](Self::new) with bad tokens limited per address by `limit`.
    pub fn with_limit(
        tokens: Tokens,
        refused: Arc<RefusedCounts>,
        limit: RefusalLimit,
    ) -> AuthLayer {
        AuthLayer {
            tokens: Arc::new(tokens),
            refused,
            refusals: Arc::new(Refusals::new(limit)),
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
            refusals: Arc::clone(&self.refusals),
        }
    }
}

/// [`AuthLayer`] around a service.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    tokens: Arc<Tokens>,
    refused: Arc<RefusedCounts>,
    refusals: Arc<Refusals>,
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
        let path = request.uri().path();
        let address = peer(&request);
        let now = Instant::now();
        // Without tokens nothing is ever refused, so nothing is limited; probes never are.
        if self.tokens.enabled()
            && access(path) != Access::Open
            && let Some(address) = address
            && let Some(wait) = self.refusals.wait(address, now)
        {
            self.refused.add(Refused::RateLimited);
            // Not logged above debug: the point is to stop a flood, including of log lines.
            tracing::debug!(%address, "call refused: too many bad tokens from this address");
            let status = Status::resource_exhausted(format!(
                "too many calls with a missing or wrong token from {address}: wait {} ms \
                 (then present the right token)",
                wait.as_millis().max(1)
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let authorization = request
            .headers()
            .get(AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        match check(&self.tokens, path, authorization) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err((reason, status)) => {
                self.refused.add(reason);
                // The agent token on Start or Stop is a mistake, not a guess.
                if reason != Refused::Forbidden
                    && let Some(address) = address
                {
                    self.refusals.record(address, now);
                }
                // The path is ours to log (bounded by the router); the token never is.
                let path: String = path.chars().take(100).collect();
                tracing::info!(%path, ?address, reason = reason.label(), "call refused");
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
    const LIST: &str = "/pathnet.v1.ExperimentService/ListExperiments";
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
        assert_eq!(
            code(&t, LIST, Some("Bearer agent-secret")),
            Some(Code::PermissionDenied)
        );
    }

    #[test]
    fn the_admin_token_opens_everything() {
        let t = both();
        for path in [JOIN, START, STOP, LIST] {
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

    fn limit(burst: u32) -> Refusals {
        Refusals::new(RefusalLimit {
            burst,
            refill: Duration::from_secs(1),
            max_addresses: 2,
        })
    }

    #[test]
    fn an_address_past_its_burst_waits_for_the_refill() {
        let r = limit(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.wait(a, t0), None);
            r.record(a, t0);
        }
        assert_eq!(r.wait(a, t0), Some(Duration::from_secs(1)));
        // Another address is not held back by the first one's refusals.
        assert_eq!(r.wait(b, t0), None);
        // Half a second earns half a try: still waiting, for the other half.
        assert_eq!(
            r.wait(a, t0 + Duration::from_millis(500)),
            Some(Duration::from_millis(500))
        );
        // One second earns one more try, and no more than that.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(r.wait(a, t1), None);
        r.record(a, t1);
        assert!(r.wait(a, t1).is_some());
        // Long enough, and the whole burst is back, never more.
        let later = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(r.wait(a, later), None);
            r.record(a, later);
        }
        assert!(r.wait(a, later).is_some());
        // Refilled and asked about: forgotten, and calls skip the lock again.
        let much_later = later + Duration::from_secs(3600);
        assert_eq!(r.wait(a, much_later), None);
        assert!(!r.tracking.load(Ordering::Acquire));
        assert!(r.by_address.lock().unwrap().is_empty());
    }

    #[test]
    fn the_table_of_addresses_stays_bounded() {
        let r = limit(1);
        let t0 = Instant::now();
        let ip = |i: u8| IpAddr::from([10, 0, 0, i]);
        r.record(ip(1), t0);
        r.record(ip(2), t0);
        // Full, and both still short: a third address goes untracked.
        r.record(ip(3), t0);
        assert_eq!(r.wait(ip(3), t0), None);
        assert!(r.wait(ip(1), t0).is_some());
        // Once the first two have refilled they make room.
        let later = t0 + Duration::from_secs(10);
        r.record(ip(3), later);
        assert!(r.wait(ip(3), later).is_some());
        assert!(r.by_address.lock().unwrap().len() <= 2);
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
                ("permission_denied", 2),
                ("rate_limited", 0)
            ]
        );
    }
}
