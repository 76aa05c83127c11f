//! The monitoring endpoint: `GET /metrics` (Prometheus text format) and `GET /healthz`,
//! plus whatever other routes the coordinator adds (the dashboard), served by axum on a
//! socket of its own, so it can be exposed to a monitoring network without exposing the
//! gRPC services (or the other way round).
//!
//! With a metrics token every route but `/healthz` needs it (docs/security.md, "Metrics"):
//! as `Authorization: Bearer <token>` (Prometheus' `authorization.credentials_file`) or as
//! the password of HTTP Basic credentials, any user name (what a browser sends after its
//! own login prompt, on the page and on its event stream alike, so the token never goes
//! into a URL). `/healthz` stays open: Kubernetes probes carry no credentials.

use super::{CONTENT_TYPE, Snapshot, encode};
use crate::tls::{TlsConfig, TlsListener};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use pathnet_proto::security::{Token, bearer_token};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Source = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// Who may read the monitoring endpoint, and how it is reached.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// The token every route but `/healthz` requires; `None` leaves them open.
    pub token: Option<Token>,
    /// HTTPS with this certificate and key (its client authority, if any, is required of
    /// every client, probes included); `None` serves plain HTTP.
    pub tls: Option<crate::server::ServerTls>,
}

/// A running monitoring endpoint.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and serves `snapshot()` on every scrape,
    /// and the routes of `more` beside it; with `access.token`, only to callers presenting
    /// it (`/healthz` excepted), and with `access.tls` over HTTPS only. Must run inside a
    /// Tokio runtime.
    ///
    /// # Errors
    /// The address cannot be bound, or the certificate or key cannot be used
    /// (`InvalidInput`, naming which).
    pub async fn bind(
        addr: SocketAddr,
        snapshot: impl Fn() -> Snapshot + Send + Sync + 'static,
        more: Router,
        access: MetricsAccess,
    ) -> std::io::Result<MetricsServer> {
        // The certificate is checked before the port is taken.
        let tls = access
            .tls
            .as_ref()
            .map(TlsConfig::http1)
            .transpose()
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let source: Source = Arc::new(snapshot);
        let mut guarded = Router::new()
            .route("/metrics", get(move || metrics(Arc::clone(&source))))
            .merge(more);
        if let Some(token) = access.token {
            let token = Arc::new(token);
            // `route_layer`: only matched routes are checked, so an unknown path is a 404
            // whether or not the caller holds the token.
            guarded = guarded.route_layer(middleware::from_fn(move |request, next| {
                require(Arc::clone(&token), request, next)
            }));
        }
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .merge(guarded);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let server = match tls {
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            }),
            Some(tls) => {
                let listener = TlsListener::new(listener, tls)?;
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                })
            }
        };
        Ok(MetricsServer {
            addr,
            stop: Some(stop),
            server,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting scrapes and waits for those in progress.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.server).await {
            Ok(result) => result,
            // The task only ends by returning; a panic inside it is a bug.
            Err(join) => panic!("the metrics server task failed: {join}"),
        }
    }
}

async fn metrics(source: Source) -> Response {
    match encode(&source()) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {err}\n"),
        )
            .into_response(),
    }
}

/// Serves `request` if it presents `token`, else answers 401 with both challenges: Basic
/// first, so that a browser shows its login prompt.
async fn require(token: Arc<Token>, request: Request, next: Next) -> Response {
    if presents(&token, request.headers()) {
        return next.run(request).await;
    }
    // The path is bounded by the router (only matched routes get here); never the token.
    tracing::info!(path = %request.uri().path(), "metrics request refused");
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "this endpoint needs the metrics token: `Authorization: Bearer <token>`, or the \
         token as the password of HTTP Basic credentials (docs/security.md)\n",
    )
        .into_response();
    // Two challenges, two headers (a tuple of headers would keep only the last one).
    for challenge in [
        "Basic realm=\"pathnet metrics\", charset=\"UTF-8\"",
        "Bearer realm=\"pathnet metrics\"",
    ] {
        response.headers_mut().append(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(challenge),
        );
    }
    response
}

/// Whether `headers` carry `token` as a bearer token or as a Basic password. The token
/// comparison takes the same time wherever the presented text differs from it.
fn presents(token: &Token, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) else {
        return false;
    };
    if let Some(presented) = bearer_token(value) {
        return token.matches(presented);
    }
    basic_password(value).is_some_and(|password| token.matches(&password))
}

/// The password of an `Authorization: Basic <base64(user:password)>` value.
fn basic_password(value: &[u8]) -> Option<Vec<u8>> {
    let prefix = b"Basic ";
    if value.len() <= prefix.len() || !value[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    // A token is at most 4096 bytes; a longer header is not worth decoding.
    let encoded = value[prefix.len()..].trim_ascii();
    if encoded.len() > 8192 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn token() -> Token {
        Token::parse("m3trics-t0ken", "test", "test").unwrap()
    }

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn the_token_is_taken_as_bearer_or_as_a_basic_password() {
        let t = token();
        assert!(presents(&t, &with("Bearer m3trics-t0ken")));
        assert!(presents(&t, &with(&basic("prometheus:m3trics-t0ken"))));
        assert!(presents(&t, &with(&basic(":m3trics-t0ken"))));
        assert!(!presents(&t, &with(&basic("anyone:m3trics-t0ke"))));
    }

    #[test]
    fn anything_else_is_refused() {
        let t = token();
        assert!(!presents(&t, &HeaderMap::new()));
        assert!(!presents(&t, &with("Bearer m3trics-t0keN")));
        assert!(!presents(&t, &with("m3trics-t0ken")));
        assert!(!presents(&t, &with(&basic("m3trics-t0ken"))), "no colon");
        assert!(
            !presents(&t, &with(&basic("m3trics-t0ken:x"))),
            "as user name"
        );
        assert!(!presents(&t, &with("Basic !!!not-base64")));
        assert!(!presents(
            &t,
            &with(&format!("Basic {}", "A".repeat(10_000)))
        ));
    }
}
