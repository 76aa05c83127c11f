//! What PathNet's engine reports of a task and of a run: task summaries, the run's summary
//! and the comparison of PathNet's transfer with its controls.

use super::plan::Arm;
use crate::run::Counters;
use crate::spec::{ControlPathway, ExperimentSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How one task went in one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSummary {
    /// Zero-based index of the task in the spec.
    pub task: usize,
    /// The task's name in the spec.
    pub name: String,
    /// The method this run of the task belongs to: PathNet's transfer or a control.
    pub arm: Arm,
    /// The dataset classes that became labels 0 and 1.
    pub classes: [u8; 2],
    /// The two classes in words, e.g. `digits 3 vs 5` or `T-shirt/top (0) vs Trouser (1)`.
    pub description: String,
    /// Whether an evaluation's training accuracy reached `evolution.accuracy_threshold`.
    pub reached_threshold: bool,
    /// Tournaments resolved up to and including the one that reached the threshold, or all
    /// of them when none did: the paper's "generations to threshold".
    pub generations: usize,
    /// Tournaments resolved on the task, including those still in flight when the threshold
    /// was reached (they are allowed to finish so that no result is lost).
    pub tournaments: usize,
    /// Pathway evaluations accepted on the task (two per tournament).
    pub evaluations: usize,
    /// The best training accuracy of any evaluation on the task (over its minibatches).
    pub best_train_accuracy: f64,
    /// Accuracy of the best pathway on the task's test split; absent when not measured.
    pub test_accuracy: Option<f64>,
    /// The best pathway's active module indices, per hidden layer.
    pub best_pathway: Vec<Vec<usize>>,
    /// Modules frozen when the task started (the earlier tasks' best pathways).
    pub frozen_modules: usize,
    /// Wall-clock seconds the task took.
    pub seconds: f64,
}

impl TaskSummary {
    /// The test accuracy as summaries print it.
    pub fn test_accuracy_text(&self) -> String {
        self.test_accuracy
            .map_or_else(|| "not measured".to_owned(), |a| format!("{a:.4}"))
    }

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

/// The summary of a PathNet run, in-process or distributed.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The experiment's id.
    pub experiment: String,
    /// The experiment's seed.
    pub seed: u64,
    /// Every task run in the order it finished: PathNet's tasks, then the controls'.
    pub tasks: Vec<TaskSummary>,
    /// PathNet's transfer against the controls on the last task; absent without controls.
    pub comparison: Option<Comparison>,
    /// The run's counters (evaluations, tournaments, module updates...).
    pub counters: Counters,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
}

/// The last task ("task B") as each arm learnt it, keyed by arm (`pathnet_transfer`,
/// `scratch`, `fine_tune`); an arm appears once its run of the last task has finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Name of the last task.
    pub task: String,
    /// The spec's `evolution.accuracy_threshold`.
    pub accuracy_threshold: f64,
    /// The spec's `comparison.control_pathway`.
    pub control_pathway: ControlPathway,
    /// Generations to threshold, or the generation cap where the threshold was not reached.
    pub task_b_generations: BTreeMap<Arm, usize>,
    /// Whether the arm reached the threshold on the last task.
    pub task_b_reached_threshold: BTreeMap<Arm, bool>,
    /// Evaluations accepted on the last task (two per tournament, drained ones included).
    pub task_b_evaluations: BTreeMap<Arm, usize>,
    /// Evaluations of every task the arm ran itself. The evolved fine-tune control starts
    /// from PathNet's earlier tasks and runs only the last one.
    pub arm_evaluations: BTreeMap<Arm, usize>,
    /// The arm's best pathway's accuracy on the last task's test split, when measured.
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

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "experiment {} (seed {}) finished in {:.1} s",
            self.experiment, self.seed, self.seconds
        )?;
        for task in &self.tasks {
            let path: Vec<String> = task
                .best_pathway
                .iter()
                .map(|layer| format!("{layer:?}"))
                .collect();
            writeln!(
                f,
                "  {:<16} generations {:>5}  test accuracy {}  best pathway {}  frozen modules {}",
                task.label(),
                task.generations,
                task.test_accuracy_text(),
                path.join(" "),
                task.frozen_modules
            )?;
        }
        match &self.comparison {
            Some(comparison) => comparison.fmt(f),
            None => Ok(()),
        }
    }
}

/// PathNet's transfer against the controls on the last task, one line per arm.
impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  task {} to training accuracy {} ({} controls):",
            self.task,
            self.accuracy_threshold,
            match self.control_pathway {
                ControlPathway::Fixed => "fixed-path",
                ControlPathway::Evolved => "evolved-path",
            }
        )?;
        for (arm, generations) in &self.task_b_generations {
            let reached = self.task_b_reached_threshold.get(arm) == Some(&true);
            writeln!(
                f,
                "    {:<18} {}{:>5} generations  {:>6} evaluations on task {}  {:>6} in all",
                arm.as_str(),
                if reached { " " } else { ">" },
                generations,
                self.task_b_evaluations.get(arm).copied().unwrap_or(0),
                self.task,
                self.arm_evaluations.get(arm).copied().unwrap_or(0),
            )?;
        }
        Ok(())
    }
}
