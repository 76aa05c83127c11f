//! `pathnet calibrate`: times the blocks of a Sideways spec's video network on this machine
//! and prints the `blocks` that balance its stages by time (docs/sideways.md, "The cut by
//! time").

use anyhow::bail;
use clap::Args;
use pathnet_coordinator::spec::Spec;
use pathnet_work::sideways::calibrate::{Workload, time_blocks};
use pathnet_work::sideways::net::BLOCKS;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct CalibrateArgs {
    /// A Sideways experiment spec (TOML): its `[sideways]` table says what is timed (batch,
    /// frames, update schedule, classes).
    pub spec: PathBuf,
    /// Clips timed, after one untimed clip.
    #[arg(long, default_value_t = 3)]
    pub clips: usize,
}

pub(crate) fn run(args: CalibrateArgs) -> anyhow::Result<()> {
    let spec = Spec::from_file(&args.spec)?;
    let Spec::Sideways(spec) = spec else {
        bail!(
            "{} is a `{}` experiment; calibrate times the stages of `sideways` ones",
            args.spec.display(),
            spec.kind().as_str()
        );
    };
    // As in training: the parallelism is the pipeline's, one thread per stage.
    pathnet_nn::set_threads(1);
    let task = &spec.sideways;
    let times = time_blocks(&Workload::of_task(task), args.clips, spec.seed)?;
    let total: f64 = times.per_tick.iter().sum();
    let estimated: u64 = times.estimated.iter().sum();
    println!(
        "{} clips of {} frames, batch {}, update = {}, timed on one thread:",
        args.clips,
        task.video.frames,
        task.batch,
        serde_json::to_string(&task.update)?
    );
    println!("block  us/tick  share  estimate (multiply-adds/frame)  share");
    for (i, (seconds, ops)) in times.per_tick.iter().zip(&times.estimated).enumerate() {
        println!(
            "{:>5}  {:>7.1}  {:>4.0}%  {:>30}  {:>4.0}%",
            i + 1,
            seconds * 1e6,
            100.0 * seconds / total,
            ops,
            100.0 * *ops as f64 / estimated as f64
        );
    }
    println!("\nstages  blocks by time  slowest stage  blocks by estimate  slowest stage");
    for stages in 2..=BLOCKS {
        let (Some(timed), Some(guessed)) = (times.blocks(stages), times.estimated_blocks(stages))
        else {
            continue;
        };
        println!(
            "{stages:>6}  {:>14}  {:>12.0}%  {:>18}  {:>12.0}%",
            format!("{timed:?}"),
            100.0 * times.slowest_share(&timed),
            format!("{guessed:?}"),
            100.0 * times.slowest_share(&guessed)
        );
    }
    if let Some(blocks) = times.blocks(task.stages) {
        println!(
            "\nfor this spec's {} stages, in [sideways] (instead of `cut`):\nblocks = {blocks:?}",
            task.stages
        );
    }
    Ok(())
}
