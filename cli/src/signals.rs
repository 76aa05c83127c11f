//! Waiting for the operator's signals: Ctrl-C or SIGTERM to stop, SIGHUP to re-read the
//! token files and certificates.

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

/// The SIGHUPs this process receives from now on (none off Unix). From the call on, a
/// SIGHUP no longer ends the process.
pub(crate) fn hangups() -> anyhow::Result<Hangups> {
    #[cfg(unix)]
    {
        use anyhow::Context;
        use tokio::signal::unix::{SignalKind, signal};
        let signal = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        Ok(Hangups(Some(signal)))
    }
    #[cfg(not(unix))]
    Ok(Hangups(None))
}

/// See [`hangups`].
pub(crate) struct Hangups(
    #[cfg(unix)] Option<tokio::signal::unix::Signal>,
    #[cfg(not(unix))] Option<()>,
);

impl Hangups {
    /// Waits for the next SIGHUP (for ever off Unix).
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.0
            && signal.recv().await.is_some()
        {
            return;
        }
        pending::<()>().await;
    }
}
