//! Progress bars and the printed summary of a run, fed by the engine's progress events
//! whether the run is in-process or spread over agents.

use indicatif::{ProgressBar, ProgressStyle};
use pathnet_coordinator::engine::{Comparison, Progress, RunSummary};
use pathnet_coordinator::spec::ControlPathway;
use pathnet_coordinator::workload::Summary;

/// One bar per task, replaced by a line when the task ends.
#[derive(Default)]
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
    /// Only the per-task lines, for long-running servers whose output goes to logs.
    quiet: bool,
}

impl ProgressDisplay {
    pub fn quiet() -> Self {
        ProgressDisplay {
            bar: None,
            quiet: true,
        }
    }

    pub fn show(&mut self, event: &Progress) {
        match event {
            Progress::TaskStarted { name, .. } if self.quiet => println!("task {name} started"),
            Progress::TaskStarted {
                name,
                max_generations,
                ..
            } => {
                let bar = ProgressBar::new(*max_generations as u64).with_style(
                    ProgressStyle::with_template(
                        "{prefix:>12} [{bar:30}] {pos}/{len} generations  {msg}",
                    )
                    .expect("the template is a valid constant")
                    .progress_chars("=> "),
                );
                bar.set_prefix(name.clone());
                self.bar = Some(bar);
            }
            Progress::Generation {
                generation,
                best_accuracy,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*generation as u64);
                    bar.set_message(format!("best train accuracy {best_accuracy:.4}"));
                }
            }
            Progress::Evaluation(_) | Progress::Finished => {}
            Progress::TaskFinished(task) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                println!(
                    "task {} ({}): {} after {} generations ({} evaluations), best train accuracy {:.4}, test accuracy {}, {:.1} s",
                    task.label(),
                    task.description,
                    if task.reached_threshold {
                        "threshold reached"
                    } else {
                        "generation cap reached"
                    },
                    task.generations,
                    task.evaluations,
                    task.best_train_accuracy,
                    test_accuracy(task.test_accuracy),
                    task.seconds
                );
            }
        }
    }
}

pub fn print_summary(summary: &Summary) {
    match summary {
        Summary::PathNet(run) => print_pathnet_summary(run),
    }
}

fn print_pathnet_summary(summary: &RunSummary) {
    println!(
        "experiment {} (seed {}) finished in {:.1} s",
        summary.experiment, summary.seed, summary.seconds
    );
    for task in &summary.tasks {
        let path: Vec<String> = task
            .best_pathway
            .iter()
            .map(|layer| format!("{layer:?}"))
            .collect();
        println!(
            "  {:<16} generations {:>5}  test accuracy {}  best pathway {}  frozen modules {}",
            task.label(),
            task.generations,
            test_accuracy(task.test_accuracy),
            path.join(" "),
            task.frozen_modules
        );
    }
    if let Some(comparison) = &summary.comparison {
        print_comparison(comparison);
    }
}

/// PathNet's transfer against the controls on the last task, one line per arm.
fn print_comparison(comparison: &Comparison) {
    println!(
        "  task {} to training accuracy {} ({} controls):",
        comparison.task,
        comparison.accuracy_threshold,
        match comparison.control_pathway {
            ControlPathway::Fixed => "fixed-path",
            ControlPathway::Evolved => "evolved-path",
        }
    );
    for (arm, generations) in &comparison.task_b_generations {
        let reached = comparison.task_b_reached_threshold.get(arm) == Some(&true);
        println!(
            "    {:<18} {}{:>5} generations  {:>6} evaluations on task {}  {:>6} in all",
            arm.as_str(),
            if reached { " " } else { ">" },
            generations,
            comparison.task_b_evaluations.get(arm).copied().unwrap_or(0),
            comparison.task,
            comparison.arm_evaluations.get(arm).copied().unwrap_or(0),
        );
    }
}

fn test_accuracy(accuracy: Option<f64>) -> String {
    accuracy.map_or_else(|| "not measured".to_owned(), |a| format!("{a:.4}"))
}
