//! PathNet-A3C transfer against the from-scratch control, over several seeds, from the
//! `[pathnet_a3c]` table of a TOML file. For every seed it trains the tasks in order (with
//! the transfer step between them) and then the last task alone on a fresh super-network,
//! and prints the environment steps and seconds each needed to reach its target.
//!
//! ```sh
//! cargo run --release -p pathnet-rl --example pathnet_a3c -- rl/examples/pathnet_a3c.toml --seeds 1,2,3
//! ```

use pathnet_rl::pathnet_a3c::{PathNetA3c, PathNetA3cConfig, TaskReport, run_scratch};

const USAGE: &str =
    "usage: pathnet_a3c CONFIG.toml [--seeds 1,2,3] [--workers N] [--only transfer|scratch]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or(USAGE)?;
    let (mut seeds, mut workers, mut only) = (vec![1u64], None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--seeds" => {
                seeds = value
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(&e))?
            }
            "--workers" => workers = Some(value.parse::<usize>().map_err(|e| bad(&e))?),
            "--only" if value == "transfer" || value == "scratch" => only = Some(value),
            _ => return Err(format!("{flag} {value:?}: unknown ({USAGE})").into()),
        }
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut table: toml::Table = toml::from_str(&text)?;
    let section = table
        .remove("pathnet_a3c")
        .ok_or(format!("{path}: no [pathnet_a3c] table"))?;
    let mut config: PathNetA3cConfig = section.try_into()?;
    if let Some(w) = workers {
        config.workers = w;
    }
    config.validate()?;

    let mut rows = Vec::new();
    for &seed in &seeds {
        let transfer = if only.as_deref() == Some("scratch") {
            None
        } else {
            let mut run = PathNetA3c::new(&config, seed)?;
            let mut last = None;
            for task in 0..config.tasks.len() {
                let report = run.train_task(task)?;
                print_task(seed, "transfer", &report);
                last = Some(report);
            }
            print_rmsprop(&run);
            last
        };
        let scratch = if only.as_deref() == Some("transfer") {
            None
        } else {
            let report = run_scratch(&config, seed)?;
            print_task(seed, "scratch", &report);
            Some(report)
        };
        rows.push((seed, transfer, scratch));
    }
    println!("\nlast task: env steps (seconds) to the target; '-' = budget ran out");
    println!("{:>6} {:>28} {:>28}", "seed", "transfer", "scratch");
    for (seed, transfer, scratch) in &rows {
        println!(
            "{seed:>6} {:>28} {:>28}",
            cell(transfer.as_ref()),
            cell(scratch.as_ref())
        );
    }
    Ok(())
}

fn cell(report: Option<&TaskReport>) -> String {
    match report {
        None => "not run".into(),
        Some(r) => match r.steps_to_target() {
            Some(steps) => format!("{steps} ({:.1} s)", r.wall_seconds),
            None => format!("- ({} steps, {:.1} s)", r.stats.env_steps, r.wall_seconds),
        },
    }
}

fn print_task(seed: u64, mode: &str, r: &TaskReport) {
    let best = r
        .best
        .as_ref()
        .map_or("none".into(), |(p, f)| format!("{p} (fitness {f:.1})"));
    println!(
        "seed {seed} {mode} task {} {}: {:?} after {} steps, {} episodes, mean return {:.1}, \
         {:.1} s; {} tournaments lost of {} reports; frozen {}; best {best}",
        r.task,
        r.env,
        r.stop,
        r.stats.env_steps,
        r.stats.episodes,
        r.stats.mean_return.unwrap_or(f64::NAN),
        r.wall_seconds,
        r.evolution.adoptions,
        r.evolution.reports,
        r.frozen.len(),
    );
}

/// Whether zero gradients decaying the shared RMSProp statistics of unused modules could
/// matter: on the last task's best pathway, the fraction of elements whose mean square exceeds
/// `rmsprop_eps`. Where it does, a module that re-enters a pathway after its statistics have
/// decayed to 0 takes steps up to `sqrt((s + eps) / eps)` times larger than with them.
fn print_rmsprop(run: &PathNetA3c) {
    let Some(best) = run.evolution().best_pathway() else {
        return;
    };
    let net = run.network();
    let eps = run.config().rmsprop_eps;
    let (mut above, mut total, mut max) = (0usize, 0usize, 0f64);
    for id in best.module_ids() {
        for s in &run.rmsprop_statistics()[net.tensors(id)] {
            for &v in s {
                total += 1;
                above += usize::from(f64::from(v) > eps);
                max = max.max(f64::from(v));
            }
        }
    }
    println!(
        "RMSProp statistics on the last task's best pathway: {above} of {total} elements above \
         rmsprop_eps; largest {max:.3} (a decayed one would step up to {:.1}x further)",
        ((max + eps) / eps).sqrt()
    );
}
