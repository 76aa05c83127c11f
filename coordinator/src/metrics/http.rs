//! The monitoring endpoint: `GET /metrics` (Prometheus text format) and `GET /healthz`,
//! plus whatever other routes the coordinator adds (the dashboard), served by axum on a
//! socket of its own, so it can be exposed to a monitoring network without exposing the
//! gRPC services (or the other way round).

use super::{CONTENT_TYPE, Snapshot, encode};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Source = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// A running monitoring endpoint.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and serves `snapshot()` on every scrape,
    /// and the routes of `more` beside it. Must run inside a Tokio runtime.
    pub async fn bind(
        addr: SocketAddr,
        snapshot: impl Fn() -> Snapshot + Send + Sync + 'static,
        more: Router,
    ) -> std::io::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let source: Source = Arc::new(snapshot);
        let app = Router::new()
            .route("/metrics", get(move || metrics(Arc::clone(&source))))
            .route("/healthz", get(|| async { "ok\n" }))
            .merge(more);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
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
