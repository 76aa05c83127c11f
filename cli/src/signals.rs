//! Waiting for the operator's request to stop: Ctrl-C or SIGTERM.

use std::future::pending;

/// Completes on the first Ctrl-C (SIGINT) or, on Unix, SIGTERM. A signal that cannot be
/// listened for never fires, rather than stopping at once.
pub(crate) async fn shutdown() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
