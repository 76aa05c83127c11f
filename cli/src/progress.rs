//! Progress bars and the printed summary of a run, fed by the engine's progress events
//! whether the run is in-process or spread over agents.

use indicatif::{ProgressBar, ProgressStyle};
use pathnet_coordinator::run::Progress;
use pathnet_coordinator::run::Summary;

/// One bar per task, replaced by a line when the task ends.
#[derive(Default)]
pub(crate) struct ProgressDisplay {
    bar: Option<ProgressBar>,
    /// Only the per-task lines, for long-running servers whose output goes to logs.
    quiet: bool,
}

impl ProgressDisplay {
    pub(crate) fn quiet() -> Self {
        ProgressDisplay {
            bar: None,
            quiet: true,
        }
    }

    /// Reinforcement learning: one bar over the environment-step budget.
    fn show_steps(&mut self, name: &str, steps: u64, max_steps: u64, mean_return: Option<f64>) {
        let message = mean_return.map_or_else(
            || "no episode finished yet".to_owned(),
            |r| format!("mean return {r:.1}"),
        );
        if self.quiet {
            println!("{name}: {steps} env steps, {message}");
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(max_steps).with_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} env steps  {msg}",
                )
                .expect("the template is a valid constant")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        });
        bar.set_position(steps);
        bar.set_message(message);
    }

    pub(crate) fn show(&mut self, event: &Progress) {
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
            Progress::Steps {
                name,
                env_steps,
                max_env_steps,
                mean_return,
                ..
            } => self.show_steps(name, *env_steps, *max_env_steps, *mean_return),
            Progress::Finished => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            Progress::Video(v) => {
                if let Some(bar) = &self.bar {
                    bar.set_position(v.segment);
                    bar.set_message(format!(
                        "{} frames, {:.0} frames/s, loss {:.4}, accuracy {:.4}",
                        v.frames, v.frames_per_second, v.loss, v.accuracy
                    ));
                }
            }
            Progress::Evaluation(_) => {}
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
                    task.test_accuracy_text(),
                    task.seconds
                );
            }
        }
    }
}

/// Each kind's summary says itself (its `Display`).
pub(crate) fn print_summary(summary: &Summary) {
    print!("{summary}");
}
