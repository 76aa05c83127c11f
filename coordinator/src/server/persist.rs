//! Saving the coordinator's state: a background task writes it every interval (when it
//! changed) and at once when a phase ends, and [`Coordinator::shutdown`] writes it a last
//! time. The runtime's state is copied under its lock and written off it, on a blocking
//! thread, so agents are never kept waiting on the disk. One writer at a time: a save
//! waits for the one in progress, so saves reach the disk in the order they were taken.
//!
//! [`Coordinator::shutdown`]: super::Coordinator::shutdown

use super::runtime::Runtime;
use super::shared::Shared;
use crate::checkpoint::{StateDir, WriteStats};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// Where and how often a coordinator saves its state.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// The state directory (`--state-dir`), created if missing.
    pub dir: std::path::PathBuf,
    /// Time between saves while the state changes.
    pub interval: Duration,
}

/// The state directory being written and the task that writes it.
pub(super) struct Persistence {
    dir: Arc<Mutex<StateDir>>,
    task: JoinHandle<()>,
}

impl Persistence {
    pub(super) fn start(shared: Arc<Shared>, dir: StateDir, interval: Duration) -> Self {
        let dir = Arc::new(Mutex::new(dir));
        let writer = Arc::clone(&dir);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = shared.save_due() => {}
                }
                // A failed save is logged by `save`; the last good state stays on disk and the
                // next save tries again.
                let _ = save(&shared, &writer, false).await;
            }
        });
        Persistence { dir, task }
    }

    /// Stops the periodic saves and writes the state one last time.
    pub(super) async fn finish(self, shared: &Shared) -> Result<(), String> {
        self.task.abort();
        save(shared, &self.dir, true).await.map(|_| ())
    }
}

/// Saves the state unless it did not change (and not `force`d); logs what it wrote.
pub(super) async fn save(
    shared: &Shared,
    dir: &Arc<Mutex<StateDir>>,
    force: bool,
) -> Result<Option<WriteStats>, String> {
    let mut writer = Arc::clone(dir).lock_owned().await;
    let Some((manifest, tensors, note)) = shared.with(|rt| rt.save(force)).inspect_err(|err| {
        shared.with(Runtime::checkpoint_failed);
        tracing::error!(%err, "the state could not be saved");
    })?
    else {
        return Ok(None);
    };
    let written = tokio::task::spawn_blocking(move || {
        let stats = writer.write(manifest, &tensors);
        (stats, writer.path().display().to_string())
    })
    .await;
    let (stats, path) = written.map_err(|err| {
        shared.with(Runtime::checkpoint_failed);
        format!("saving the state: {err}")
    })?;
    match stats {
        Ok(stats) => {
            shared.with(|rt| rt.checkpoint_written(&stats));
            tracing::info!(
                dir = %path,
                experiment = note.experiment.as_deref().unwrap_or(""),
                task = note.task,
                generation = note.generation,
                accepted = note.results_accepted,
                bytes = stats.bytes,
                ms = format!("{:.1}", stats.seconds * 1e3),
                "checkpoint written"
            );
            Ok(Some(stats))
        }
        Err(err) => {
            shared.with(Runtime::checkpoint_failed);
            tracing::error!(
                %err,
                "the state could not be saved; the last saved state stays on disk, and the \
                 next interval tries again"
            );
            Err(err.to_string())
        }
    }
}
