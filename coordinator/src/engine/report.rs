//! What the engine tells the outside world: progress events as they happen, counters, and
//! the summary of a finished run.

use super::plan::Arm;
use crate::spec::{ControlPathway, ExperimentSpec};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Reinforcement learning's progress through its environment-step budget.
    Steps {
        task: usize,
        name: String,
        env_steps: u64,
        max_env_steps: u64,
        /// Mean return over the experiment's window of recent episodes.
        mean_return: Option<f64>,
    },
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
    /// The method this run of the task belongs to: PathNet's transfer or a control.
    pub arm: Arm,
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

impl TaskSummary {
    /// The task's name, followed by the arm when it is a control: `B`, `B (scratch)`.
    pub fn label(&self) -> String {
        Self::label_of(&self.name, self.arm)
    }

    pub(super) fn label_of(name: &str, arm: Arm) -> String {
        match arm {
            Arm::PathnetTransfer => name.to_owned(),
            control => format!("{name} ({control})"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub experiment: String,
    pub seed: u64,
    /// Every task run in the order it finished: PathNet's tasks, then the controls'.
    pub tasks: Vec<TaskSummary>,
    /// PathNet's transfer against the controls on the last task; absent without controls.
    pub comparison: Option<Comparison>,
    pub counters: Counters,
    pub seconds: f64,
}

/// The last task ("task B") as each arm learnt it, keyed by arm (`pathnet_transfer`,
/// `scratch`, `fine_tune`); an arm appears once its run of the last task has finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Name of the last task.
    pub task: String,
    pub accuracy_threshold: f64,
    pub control_pathway: ControlPathway,
    /// Generations to threshold, or the generation cap where the threshold was not reached.
    pub task_b_generations: BTreeMap<Arm, usize>,
    pub task_b_reached_threshold: BTreeMap<Arm, bool>,
    /// Evaluations accepted on the last task (two per tournament, drained ones included).
    pub task_b_evaluations: BTreeMap<Arm, usize>,
    /// Evaluations of every task the arm ran itself. The evolved fine-tune control starts
    /// from PathNet's earlier tasks and runs only the last one.
    pub arm_evaluations: BTreeMap<Arm, usize>,
    pub task_b_test_accuracy: BTreeMap<Arm, Option<f64>>,
}

pub(super) fn comparison(spec: &ExperimentSpec, tasks: &[TaskSummary]) -> Option<Comparison> {
    if spec.comparison.controls.is_empty() {
        return None;
    }
    let last = spec.tasks.len() - 1;
    let mut comparison = Comparison {
        task: spec.tasks[last].name.clone(),
        accuracy_threshold: spec.evolution.accuracy_threshold,
        control_pathway: spec.comparison.control_pathway,
        task_b_generations: BTreeMap::new(),
        task_b_reached_threshold: BTreeMap::new(),
        task_b_evaluations: BTreeMap::new(),
        arm_evaluations: BTreeMap::new(),
        task_b_test_accuracy: BTreeMap::new(),
    };
    for run in tasks {
        *comparison.arm_evaluations.entry(run.arm).or_default() += run.evaluations;
        if run.task == last {
            comparison
                .task_b_generations
                .insert(run.arm, run.generations);
            comparison
                .task_b_reached_threshold
                .insert(run.arm, run.reached_threshold);
            comparison
                .task_b_evaluations
                .insert(run.arm, run.evaluations);
            comparison
                .task_b_test_accuracy
                .insert(run.arm, run.test_accuracy);
        }
    }
    Some(comparison)
}
