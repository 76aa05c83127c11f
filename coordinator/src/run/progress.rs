//! What every kind of run tells the outside world: progress events as they happen and the
//! counters every summary carries.

use crate::pathnet::TaskSummary;
use serde::{Deserialize, Serialize};

/// Progress of an experiment, emitted by the engine as results are applied, for progress
/// displays, the fitness watch and logs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// A task (or an arm's run of it, or a phase) started.
    TaskStarted {
        /// Zero-based index of the task.
        task: usize,
        /// The task's name (a spec's task name, an environment, with the arm for a control).
        name: String,
        /// The task's generation cap.
        max_generations: usize,
    },
    /// One evaluation's result was accepted.
    Evaluation(FitnessEvent),
    /// One tournament was resolved.
    Generation {
        /// Zero-based index of the task.
        task: usize,
        /// Tournaments resolved on the task, this one included.
        generation: usize,
        /// Training accuracy of this tournament's winner over its `T` minibatches.
        winner_accuracy: f64,
        /// The best training accuracy seen on the task so far.
        best_accuracy: f64,
    },
    /// A PathNet task (or an arm's run of it) ended.
    TaskFinished(TaskSummary),
    /// Reinforcement learning's progress through its environment-step budget.
    Steps {
        /// Zero-based index of the task (or phase).
        task: usize,
        /// The environment, as the spec names it.
        name: String,
        /// Environment steps taken so far on the task.
        env_steps: u64,
        /// The task's step budget.
        max_env_steps: u64,
        /// Mean return over the experiment's window of recent episodes.
        mean_return: Option<f64>,
    },
    /// A Sideways experiment finished a segment.
    Video(VideoProgress),
    /// Every task is done.
    Finished,
}

/// A Sideways experiment's progress after one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoProgress {
    /// Always 0: a Sideways experiment has one task.
    pub task: usize,
    /// Segments done, and the run's total.
    pub segment: u64,
    /// The run's total of segments.
    pub segments: u64,
    /// Batches trained so far.
    pub batches: u64,
    /// Batches the whole run trains (`sideways.batches`).
    pub max_batches: u64,
    /// Frames trained so far (a frame of each video counts once).
    pub frames: u64,
    /// Over the segment just done's training time.
    pub frames_per_second: f64,
    /// The segment's mean loss and frame accuracy.
    pub loss: f64,
    /// The segment's fraction of (frame, video) pairs classified correctly.
    pub accuracy: f64,
    /// Each stage's busy fraction during the segment.
    pub stage_busy: Vec<f64>,
}

/// The state of a task right after one accepted evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct FitnessEvent {
    /// Zero-based index of the task.
    pub task: usize,
    /// Tournaments resolved on this task so far.
    pub generation: usize,
    /// Results accepted since the experiment started, over all tasks.
    pub evaluations: u64,
    /// Fitness of the evaluation just accepted.
    pub fitness: f64,
    /// The evaluation's training accuracy over its minibatches (0 for kinds without one).
    pub training_accuracy: f64,
    /// Best fitness seen on this task.
    pub best_fitness: f64,
    /// Mean of the population members' latest fitnesses (members not yet evaluated aside).
    pub mean_fitness: f64,
}

/// Running totals over the whole experiment; every evaluation handed out ends up exactly
/// once as accepted, re-queued or cancelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Evaluations handed out, re-issues of re-queued ones included.
    pub evaluations_issued: u64,
    /// Handed-out evaluations put back in the queue (lease expired or released, or the
    /// result refused).
    pub evaluations_requeued: u64,
    /// Handed-out evaluations dropped because the experiment stopped.
    pub evaluations_cancelled: u64,
    /// Results accepted: each evaluation's at most once.
    pub results_accepted: u64,
    /// Results refused (unknown or not outstanding evaluation, invalid outcome or delta).
    pub results_refused: u64,
    /// Binary tournaments started (PathNet: two evaluations each).
    pub tournaments_started: u64,
    /// Tournaments whose two results are in: the winner copied over the loser, mutated.
    pub tournaments_resolved: u64,
    /// Module deltas added to the parameters.
    pub module_updates: u64,
    /// Of those, deltas whose base version was older than the parameters they were added to.
    pub stale_module_updates: u64,
}
