//! What the engine tells the outside world: progress events as they happen, counters, and
//! the summary of a finished run.

use serde::Serialize;

/// Progress of an experiment, emitted by the engine as results are applied, for progress
/// displays, the fitness watch and logs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    TaskStarted {
        task: usize,
        name: String,
        max_generations: usize,
    },
    /// One evaluation's result was accepted.
    Evaluation(FitnessEvent),
    /// One tournament was resolved.
    Generation {
        task: usize,
        generation: usize,
        /// Training accuracy of this tournament's winner over its `T` minibatches.
        winner_accuracy: f64,
        best_accuracy: f64,
    },
    TaskFinished(TaskSummary),
    /// Every task is done.
    Finished,
}

/// The state of a task right after one accepted evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct FitnessEvent {
    pub task: usize,
    /// Tournaments resolved on this task so far.
    pub generation: usize,
    /// Results accepted since the experiment started, over all tasks.
    pub evaluations: u64,
    /// Fitness of the evaluation just accepted.
    pub fitness: f64,
    pub training_accuracy: f64,
    /// Best fitness seen on this task.
    pub best_fitness: f64,
    /// Mean of the population members' latest fitnesses (members not yet evaluated aside).
    pub mean_fitness: f64,
}

/// Running totals over the whole experiment; every evaluation handed out ends up exactly
/// once as accepted, re-queued or cancelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Evaluations handed out, re-issues of re-queued ones included.
    pub evaluations_issued: u64,
    /// Handed-out evaluations put back in the queue (lease expired or released, or the
    /// result refused).
    pub evaluations_requeued: u64,
    /// Handed-out evaluations dropped because the experiment stopped.
    pub evaluations_cancelled: u64,
    pub results_accepted: u64,
    /// Results refused (unknown or not outstanding evaluation, invalid outcome or delta).
    pub results_refused: u64,
    pub tournaments_started: u64,
    pub tournaments_resolved: u64,
    /// Module deltas added to the parameters.
    pub module_updates: u64,
    /// Of those, deltas whose base version was older than the parameters they were added to.
    pub stale_module_updates: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary {
    pub task: usize,
    pub name: String,
    pub classes: [u8; 2],
    pub description: String,
    pub reached_threshold: bool,
    /// Tournaments resolved up to and including the one that reached the threshold, or all
    /// of them when none did: the paper's "generations to threshold".
    pub generations: usize,
    /// Tournaments resolved on the task, including those still in flight when the threshold
    /// was reached (they are allowed to finish so that no result is lost).
    pub tournaments: usize,
    /// Pathway evaluations accepted on the task (two per tournament).
    pub evaluations: usize,
    pub best_train_accuracy: f64,
    /// Accuracy of the best pathway on the task's test split; absent when not measured.
    pub test_accuracy: Option<f64>,
    pub best_pathway: Vec<Vec<usize>>,
    /// Modules frozen when the task started (the earlier tasks' best pathways).
    pub frozen_modules: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub experiment: String,
    pub seed: u64,
    pub tasks: Vec<TaskSummary>,
    pub counters: Counters,
    pub seconds: f64,
}
