//! `ExperimentService.WatchFitness`: the engine's fitness events, as they happen, for one
//! experiment (until it completes, stops or fails) or for every experiment (until the
//! coordinator closes).

use super::runtime::{Runtime, unix_now_ms};
use super::shared::Shared;
use crate::run::{FitnessEvent, Progress, VideoProgress};
use pathnet_proto::v1;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

type Events = broadcast::Receiver<(String, Progress)>;
type Sender = mpsc::Sender<Result<v1::FitnessEvent, Status>>;

/// Whether experiment `id` is still running; `NOT_FOUND` unless it is the current one.
fn watched_running(rt: &Runtime, id: &str) -> Result<bool, Status> {
    rt.running(id).ok_or_else(|| {
        Status::not_found(format!(
            "experiment `{}` does not exist",
            pathnet_proto::quote(id)
        ))
    })
}

/// The stream of `wanted`'s fitness events (every experiment's when empty).
pub(super) fn fitness(
    shared: Arc<Shared>,
    wanted: String,
) -> Result<ReceiverStream<Result<v1::FitnessEvent, Status>>, Status> {
    // Subscribing under the lock that also guards broadcasting: no event falls between the
    // check and the subscription.
    let (events, running) = shared.with(|rt| {
        let running = wanted.is_empty() || watched_running(rt, &wanted)?;
        Ok::<_, Status>((shared.subscribe(), running))
    })?;
    let (tx, rx) = mpsc::channel(64);
    // A finished experiment has nothing more to say: dropping the sender ends the stream.
    if running {
        tokio::spawn(forward(shared, wanted, events, tx));
    }
    Ok(ReceiverStream::new(rx))
}

/// Whether the stream of `wanted` should end now.
fn ended(shared: &Shared, wanted: &str) -> bool {
    !wanted.is_empty() && shared.with(|rt| !watched_running(rt, wanted).unwrap_or(false))
}

async fn forward(shared: Arc<Shared>, wanted: String, mut events: Events, tx: Sender) {
    let mut wake = shared.closing();
    if *wake.borrow_and_update() {
        return;
    }
    loop {
        tokio::select! {
            // Events first: the end of an experiment is noticed after its last results.
            biased;
            event = events.recv() => match event {
                Ok(event) => {
                    if !send(&tx, &wanted, event).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // A watcher too slow to keep up misses events rather than stalling the
                    // coordinator; it may have missed the end, too.
                    tracing::warn!(missed, "a fitness watcher fell behind");
                    if ended(&shared, &wanted) {
                        return drain(&tx, &wanted, &mut events).await;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = wake.changed() => {
                let closing = changed.is_err() || *wake.borrow_and_update();
                if closing || ended(&shared, &wanted) {
                    return drain(&tx, &wanted, &mut events).await;
                }
            }
            () = tx.closed() => return,
        }
    }
}

/// Forwards what is already received, then ends.
async fn drain(tx: &Sender, wanted: &str, events: &mut Events) {
    while let Ok(event) = events.try_recv() {
        if !send(tx, wanted, event).await {
            return;
        }
    }
}

/// Forwards one event if it is wanted; false once the stream is over (the watched
/// experiment finished or the watcher hung up).
async fn send(tx: &Sender, wanted: &str, (id, event): (String, Progress)) -> bool {
    if !wanted.is_empty() && id != wanted {
        return true;
    }
    match event {
        Progress::Evaluation(e) => tx.send(Ok(to_wire(id, &e))).await.is_ok(),
        Progress::Video(v) => tx.send(Ok(video_to_wire(id, &v))).await.is_ok(),
        Progress::Finished => wanted.is_empty(),
        Progress::TaskStarted { .. }
        | Progress::Generation { .. }
        | Progress::Steps { .. }
        | Progress::TaskFinished(_) => true,
    }
}

fn to_wire(experiment_id: String, e: &FitnessEvent) -> v1::FitnessEvent {
    v1::FitnessEvent {
        experiment_id,
        task_index: e.task as u32,
        generation: e.generation as u64,
        evaluations: e.evaluations,
        best_fitness: e.best_fitness,
        mean_fitness: e.mean_fitness,
        unix_ms: unix_now_ms(),
        sideways: None,
    }
}

/// A Sideways segment's progress: segments stand in for generations, frame accuracy for
/// fitness.
fn video_to_wire(experiment_id: String, v: &VideoProgress) -> v1::FitnessEvent {
    v1::FitnessEvent {
        experiment_id,
        task_index: v.task as u32,
        generation: v.segment,
        evaluations: v.segment,
        best_fitness: v.accuracy,
        mean_fitness: v.accuracy,
        unix_ms: unix_now_ms(),
        sideways: Some(v1::SidewaysProgress {
            batches: v.batches,
            max_batches: v.max_batches,
            frames: v.frames,
            frames_per_second: v.frames_per_second,
            loss: v.loss,
            accuracy: v.accuracy,
            stage_busy: v.stage_busy.clone(),
        }),
    }
}
