//! Progress bars and the printed summary of a run, fed by the engine's progress events
//! whether the run is in-process or spread over agents.

use indicatif::{ProgressBar, ProgressStyle};
use pathnet_coordinator::a3c::A3cSummary;
use pathnet_coordinator::ga::GaSummary;
use pathnet_coordinator::pathnet::{Comparison, RunSummary};
use pathnet_coordinator::pathnet_a3c::{PathNetA3cSummary, PathNetA3cTask};
use pathnet_coordinator::run::Progress;
use pathnet_coordinator::run::Summary;
use pathnet_coordinator::sm_pathnet::SmPathNetSummary;
use pathnet_coordinator::spec::ControlPathway;

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
        Summary::A3c(run) => print_a3c_summary(run),
        Summary::Neuroevolution(run) => print_ga_summary(run),
        Summary::PathNetA3c(run) => print_pathnet_a3c_summary(run),
        Summary::Sideways(run) => print_sideways_summary(run),
        Summary::SmPathNet(run) => print_sm_pathnet_summary(run),
    }
}

fn print_sideways_summary(run: &pathnet_coordinator::sideways::SidewaysSummary) {
    let busy: Vec<String> = run.stage_busy.iter().map(|b| format!("{b:.2}")).collect();
    println!(
        "experiment {} (seed {}): {:?} on {} stages, {} batches in {} segments ({} re-issued), \
         {} frames in {:.1} s: {:.0} frames/s training ({:.0} wall), stage busy [{}]",
        run.experiment,
        run.seed,
        run.method,
        run.stages,
        run.batches,
        run.segments,
        run.segments_reissued,
        run.frames,
        run.seconds,
        run.frames_per_second,
        run.wall_frames_per_second,
        busy.join(", ")
    );
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    println!(
        "last segment: loss {}, frame accuracy {}; held-out clip accuracy {}, loss {}; \
         parameters fingerprint {}",
        opt(run.final_loss),
        opt(run.final_accuracy),
        opt(run.test_accuracy),
        opt(run.test_loss),
        run.fingerprint
    );
}

fn print_sm_pathnet_summary(run: &SmPathNetSummary) {
    println!(
        "experiment {} (seed {}, {:?} tournament, operator {}) {} in {:.1} s: {} evaluations ({:.1}/s)",
        run.experiment,
        run.seed,
        run.selection,
        run.operator,
        run.state,
        run.seconds,
        run.evaluations,
        run.evaluations_per_second
    );
    for t in &run.tasks {
        let r = &t.run;
        println!(
            "  {:<24} best fitness {}  mean of population {}  {} generations  {} evaluations{}  best pathway {}  reused frozen modules {}/{}",
            t.label,
            r.best_fitness
                .map_or_else(|| "none".to_owned(), |f| format!("{f:.1}")),
            if r.population_fitness.is_empty() {
                "none".to_owned()
            } else {
                format!(
                    "{:.1}",
                    r.population_fitness.iter().sum::<f64>() / r.population_fitness.len() as f64
                )
            },
            r.generations,
            r.evaluations,
            r.evaluations_to_target
                .map_or_else(String::new, |n| format!(" (target after {n})")),
            t.best_pathway
                .as_ref()
                .map_or_else(|| "none".to_owned(), |p| format!("{p:?}")),
            t.reused_frozen_modules,
            t.frozen_modules
        );
    }
    println!(
        "  genomes on the wire: {:.1} bytes on average (at most {}; whole payload {:.0}) instead of {} bytes of pathway weights",
        run.genome_bytes_mean,
        run.genome_bytes_max,
        run.payload_bytes_mean,
        run.pathway_weight_bytes
    );
}

fn print_pathnet_a3c_summary(run: &PathNetA3cSummary) {
    println!(
        "experiment {} (seed {}) finished in {:.1} s",
        run.experiment, run.seed, run.seconds
    );
    let line = |label: String, t: &PathNetA3cTask| {
        println!(
            "  {label:<24} {}  {} env steps  mean return {}  best pathway {}  frozen modules {}",
            t.steps_to_target.map_or_else(
                || "target not reached".to_owned(),
                |s| format!("target after {s} steps")
            ),
            t.env_steps,
            t.mean_return
                .map_or_else(|| "none".to_owned(), |r| format!("{r:.1}")),
            t.best_pathway
                .as_ref()
                .map_or_else(|| "none".to_owned(), |p| format!("{p:?}")),
            t.frozen_modules
        )
    };
    for task in &run.tasks {
        line(task.env.clone(), task);
    }
    if let Some(scratch) = &run.scratch {
        line(format!("{} (scratch)", scratch.env), scratch);
    }
}

fn print_ga_summary(run: &GaSummary) {
    let r = &run.run;
    let outcome = match r.evaluations_to_solve {
        Some(n) => format!("solved after {n} evaluations"),
        None => "not solved".to_owned(),
    };
    println!(
        "experiment {} (seed {}, {:?} GA, operator {:?}) finished in {:.1} s: {outcome}",
        run.experiment, run.seed, r.algorithm, r.operator, run.seconds
    );
    println!(
        "  best fitness {}; {} evaluations ({:.0}/s), {} generations, {} re-queued",
        r.best_fitness
            .map_or_else(|| "none".to_owned(), |f| format!("{f:.4}")),
        r.evaluations,
        run.evaluations_per_second,
        r.generations,
        r.requeued
    );
    println!(
        "  genomes on the wire: {:.1} bytes on average (at most {}) instead of {} bytes of weights",
        run.genome_bytes_mean, run.genome_bytes_max, run.weight_bytes
    );
}

fn print_a3c_summary(run: &A3cSummary) {
    let mean = run.mean_return.map_or_else(
        || "none (no episode finished)".to_owned(),
        |r| format!("{r:.1}"),
    );
    let target = run
        .target_return
        .map_or_else(String::new, |t| format!(" (target {t})"));
    println!(
        "experiment {} (seed {}, {}) finished in {:.1} s: {}",
        run.experiment,
        run.seed,
        run.env,
        run.seconds,
        match (run.reached_target, run.target_return) {
            (true, _) => "target return reached",
            (false, Some(_)) => "stopped before the target return",
            (false, None) => "env-step budget used",
        }
    );
    println!(
        "  mean return over the last {} episodes {mean}{target}; {} env steps ({:.0}/s), {} episodes, {} workers",
        run.return_window, run.env_steps, run.env_steps_per_second, run.episodes, run.workers
    );
    println!(
        "  {} updates applied, {} dropped as stale (staleness max {}, mean {:.2}), {} after the stop",
        run.updates_applied,
        run.dropped_stale,
        run.max_staleness,
        run.mean_staleness,
        run.dropped_after_stop
    );
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
