//! `pathnet run SPEC`: run an experiment on this machine, with a progress bar and a summary.

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pathnet_coordinator::local::{self, Progress, RunSummary};
use pathnet_coordinator::spec::ExperimentSpec;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Experiment spec (TOML), e.g. examples/pathnet_fashion.toml.
    pub spec: PathBuf,
    /// Also write the final summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Override the spec's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut spec = ExperimentSpec::from_file(&args.spec)?;
    if let Some(seed) = args.seed {
        spec.seed = seed;
    }
    let mut bar: Option<ProgressBar> = None;
    let summary = local::run(&spec, &mut |event| match event {
        Progress::TaskStarted {
            name,
            max_generations,
            ..
        } => {
            let new_bar = ProgressBar::new(*max_generations as u64).with_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} generations  {msg}",
                )
                .expect("the template is a valid constant")
                .progress_chars("=> "),
            );
            new_bar.set_prefix(name.clone());
            bar = Some(new_bar);
        }
        Progress::Generation {
            generation,
            best_accuracy,
            ..
        } => {
            if let Some(bar) = &bar {
                bar.set_position(*generation as u64);
                bar.set_message(format!("best train accuracy {best_accuracy:.4}"));
            }
        }
        Progress::TaskFinished(task) => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            println!(
                "task {} ({}): {} after {} generations ({} evaluations), best train accuracy {:.4}, test accuracy {:.4}, {:.1} s",
                task.name,
                task.description,
                if task.reached_threshold {
                    "threshold reached"
                } else {
                    "generation cap reached"
                },
                task.generations,
                task.evaluations,
                task.best_train_accuracy,
                task.test_accuracy,
                task.seconds
            );
        }
    })?;
    print_summary(&summary);
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    Ok(())
}

fn print_summary(summary: &RunSummary) {
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
            "  {:<12} generations {:>5}  test accuracy {:.4}  best pathway {}  frozen modules {}",
            task.name,
            task.generations,
            task.test_accuracy,
            path.join(" "),
            task.frozen_modules
        );
    }
}
