//! The state every service and background task of one coordinator shares: the
//! [`Runtime`] behind its lock, the wake-up of lease streams and the progress broadcast.

use super::runtime::Runtime;
use crate::run::Progress;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{Notify, broadcast, watch};

/// State shared by every service and background task of one coordinator.
pub(super) struct Shared {
    runtime: Mutex<Runtime>,
    /// Pinged when work may have become available; holds `true` once the coordinator is
    /// closing, which ends every lease stream.
    wake: watch::Sender<bool>,
    events: broadcast::Sender<(String, Progress)>,
    /// Pinged when the state should be saved at once (a phase ended).
    save_now: Notify,
}

impl Shared {
    pub(super) fn new(runtime: Runtime) -> Arc<Self> {
        Arc::new(Shared {
            runtime: Mutex::new(runtime),
            wake: watch::channel(false).0,
            events: broadcast::channel(4096).0,
            save_now: Notify::new(),
        })
    }

    /// Runs `f` under the lock, then broadcasts progress and wakes lease streams if work
    /// may have become available.
    ///
    /// Progress is broadcast before the lock is released (sending never waits), so whoever
    /// takes the lock next and finds the experiment over knows that every event up to
    /// that point is already in its receiver.
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Runtime) -> R) -> R {
        let mut runtime = self.runtime.lock().unwrap_or_else(PoisonError::into_inner);
        let result = f(&mut runtime);
        for event in runtime.take_events() {
            // No subscriber is fine: progress is only for watchers.
            let _ = self.events.send(event);
        }
        let dirty = runtime.take_dirty();
        let save = runtime.take_checkpoint_due();
        drop(runtime);
        if dirty {
            self.wake.send_modify(|_| {});
        }
        if save {
            self.save_now.notify_one();
        }
        result
    }

    /// Completes when the state should be saved at once.
    pub(super) async fn save_due(&self) {
        self.save_now.notified().await;
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<(String, Progress)> {
        self.events.subscribe()
    }

    /// Ends every lease stream; agents told to leave with the coordinator then exit.
    pub(super) fn close(&self) {
        self.wake.send_replace(true);
    }

    /// Changes whenever work may have become available or an experiment ended; holds
    /// `true` once the coordinator is closing.
    pub(super) fn closing(&self) -> watch::Receiver<bool> {
        self.wake.subscribe()
    }
}
