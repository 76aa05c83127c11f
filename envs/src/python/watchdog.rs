//! A deadline on each exchange with the Python process: a thread that kills the process when
//! a reply is overdue, which ends the blocked read or write with end-of-file or a broken pipe.
//!
//! A watchdog rather than a thread that reads replies and hands them over a channel: the
//! calling thread keeps reading the pipe itself, so a step costs no extra thread hand-off
//! (a few microseconds, as much as the rest of the bridge's overhead for a cheap
//! environment). Arming and disarming take an uncontended lock; the watchdog is woken only
//! when a deadline comes before the one it already sleeps until, which a steady stream of
//! calls with the same limit never does.

use std::io;
use std::process::Child;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Kills `child` when an armed deadline passes. Dropping it stops the thread.
pub(super) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    child: Arc<Mutex<Child>>,
}

#[derive(Default)]
struct State {
    /// When the current call runs out of time; `None` while no call is waiting.
    deadline: Option<Instant>,
    /// What the thread sleeps until; `None` while it waits to be armed (or is awake).
    sleeping_until: Option<Instant>,
    /// The deadline of the current call passed and the child was (or is being) killed.
    fired: bool,
    stop: bool,
}

/// A poisoned lock only means another thread panicked while holding it; the state is a few
/// plain fields that are valid at every point, so carry on with it.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watchdog {
    pub(super) fn spawn(child: Arc<Mutex<Child>>) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            child,
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("python-env-watchdog".to_string())
            .spawn(move || watch(&theirs))?;
        Ok(Watchdog {
            shared,
            thread: Some(thread),
        })
    }

    /// Starts the clock for one call. A limit too large to be a point in time never fires.
    pub(super) fn arm(&self, limit: Duration) {
        let deadline = Instant::now().checked_add(limit);
        let mut state = lock(&self.shared.state);
        state.fired = false;
        state.deadline = deadline;
        if let Some(deadline) = deadline
            && state.sleeping_until.is_none_or(|wake| deadline < wake)
        {
            self.shared.wake.notify_one();
        }
    }

    /// Stops the clock; true if the deadline had passed and the child was killed.
    pub(super) fn disarm(&self) -> bool {
        let mut state = lock(&self.shared.state);
        state.deadline = None;
        std::mem::take(&mut state.fired)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(shared: &Shared) {
    let mut state = lock(&shared.state);
    loop {
        if state.stop {
            return;
        }
        let now = Instant::now();
        match state.deadline {
            Some(deadline) if deadline <= now => {
                state.deadline = None;
                state.fired = true;
                state.sleeping_until = None;
                // Not under the state lock: the caller may disarm meanwhile, and learns
                // from `fired` that the process is going.
                drop(state);
                // A no-op for a child that was already waited for, so no other process
                // that reuses its id can be hit.
                let _ = lock(&shared.child).kill();
                state = lock(&shared.state);
            }
            Some(deadline) => {
                state.sleeping_until = Some(deadline);
                state = shared
                    .wake
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                state.sleeping_until = None;
            }
            None => {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}
