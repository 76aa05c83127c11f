//! A3C benchmarks with the release `pathnet` binary; results are recorded in BENCHMARKS.md.
//!
//! - `learn`: wall time and env steps until the mean return over the last 100 episodes
//!   reaches the example's target (475 on CartPole-v1): ours with N agent processes of one
//!   worker each, ours in-process with N threads, and `benches/torch_a3c.py` with N worker
//!   processes, all with the example's hyperparameters, the same seeds, runs interleaved.
//! - `push`: gradient pushes per second one coordinator sustains from K synthetic workers,
//!   with latency, bytes per push and the coordinator's CPU, for networks of three sizes.
//!
//! Prints markdown tables; `--json OUT` writes every run.

mod hyper;
mod learn;
mod learn_report;
mod push;
mod push_worker;

use pathnet_bench::{machine, process, stats};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use hyper::Example;
use learn::Side;
use machine::Machine;
use push::Network;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The goal for ours over agents: this many times faster than PyTorch in wall time.
const WALL_TIME_TARGET: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measure {
    Learn,
    Push,
}

#[derive(Parser, Debug)]
#[command(about = "Benchmark A3C: time to CartPole's target vs PyTorch, and coordinator push rate")]
struct Args {
    /// Measurements to run.
    #[arg(long, value_delimiter = ',', default_value = "learn,push")]
    measure: Vec<Measure>,
    #[arg(long, default_value = "target/release/pathnet")]
    pathnet: PathBuf,
    /// Python interpreter with torch and gymnasium installed.
    #[arg(
        long,
        env = "PATHNET_BENCH_PYTHON",
        default_value = ".venv-bench/bin/python"
    )]
    python: PathBuf,
    #[arg(long, default_value = "benches/torch_a3c.py")]
    torch_script: PathBuf,
    /// The A3C spec whose settings both sides train with.
    #[arg(long, default_value = "examples/a3c_cartpole.toml")]
    example: PathBuf,
    /// Seeds of the learn runs; the first also seeds the push measurement.
    #[arg(long, value_delimiter = ',', default_values_t = [1u64, 2, 3, 4, 5])]
    seeds: Vec<u64>,
    /// Rounds over every seed (learn) or every configuration (push, median round reported).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Agents (one worker each), in-process threads and PyTorch worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long)]
    skip_torch: bool,
    #[arg(long)]
    skip_in_process: bool,
    /// Synthetic worker counts of the push measurement.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8])]
    push_workers: Vec<usize>,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cartpole-mlp128,cartpole-mlp256x256,breakout-conv"
    )]
    networks: Vec<Network>,
    /// Timed pushes per synthetic worker [default: 5000, 1000 and 500 for the three networks,
    /// smallest first].
    #[arg(long)]
    pushes: Option<usize>,
    /// Untimed pushes per synthetic worker before the common start.
    #[arg(long, default_value_t = 20)]
    warmup_pushes: usize,
    /// Longest a single run or push phase may take, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    /// Also write every figure as JSON to this file.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
}

fn validate(args: &Args) -> Result<()> {
    let counts = [
        ("--workers", args.workers),
        ("--repeats", args.repeats),
        ("--pushes", args.pushes.unwrap_or(1)),
        ("--timeout-s", args.timeout_s as usize),
    ];
    if let Some((flag, _)) = counts.iter().find(|(_, n)| *n == 0) {
        bail!("`{flag}` = 0: must be at least 1");
    }
    if let Some(bad) = args.push_workers.iter().find(|&&k| k == 0) {
        bail!("`--push-workers` contains {bad}: worker counts start at 1");
    }
    for (flag, empty) in [
        ("--measure", args.measure.is_empty()),
        ("--seeds", args.seeds.is_empty()),
        ("--push-workers", args.push_workers.is_empty()),
        ("--networks", args.networks.is_empty()),
    ] {
        if empty {
            bail!("`{flag}` is empty: give at least one value");
        }
    }
    if !args.pathnet.is_file() {
        bail!(
            "`--pathnet` = {}: no such file; build it with `cargo build --release -p pathnet`",
            args.pathnet.display()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    validate(&args)?;
    let work_dir = std::env::temp_dir().join(format!("pathnet-a3c-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let result = run(&args, &work_dir);
    let _ = std::fs::remove_dir_all(&work_dir);
    result
}

fn run(args: &Args, work_dir: &Path) -> Result<()> {
    let before = Machine::now();
    let mut json = serde_json::json!({ "benchmark": "a3c", "machine_before": before });
    eprintln!("{before:?}");
    if args.measure.contains(&Measure::Learn) {
        json["learn"] = learn(args, work_dir)?;
    }
    if args.measure.contains(&Measure::Push) {
        json["push"] = push(args, work_dir)?;
    }
    let after = Machine::now();
    eprintln!("{after:?}");
    json["machine_after"] = serde_json::to_value(after)?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn learn(args: &Args, work_dir: &Path) -> Result<serde_json::Value> {
    let example = Example::load(&args.example)?;
    let spec = work_dir.join("learn-spec.toml");
    std::fs::write(&spec, example.run_spec(args.workers)?)
        .with_context(|| format!("writing {}", spec.display()))?;
    let setup = learn::Setup {
        pathnet: args.pathnet.clone(),
        python: args.python.clone(),
        script: args.torch_script.clone(),
        work_dir: work_dir.to_owned(),
        timeout: Duration::from_secs(args.timeout_s),
    };
    let n = args.workers;
    let mut sides = vec![Side::Agents(n)];
    if !args.skip_torch {
        sides.push(Side::Torch(n));
    }
    if !args.skip_in_process {
        sides.push(Side::InProcess(n));
    }
    let mut runs = Vec::new();
    // Sides alternate run by run, so a change in the machine's load touches all of them.
    for round in 0..args.repeats {
        for &seed in &args.seeds {
            for &side in &sides {
                let run = match side {
                    Side::Torch(_) => {
                        let flags = example.torch_flags(n, seed);
                        learn::torch(&setup, &flags, side, seed, round)?
                    }
                    _ => learn::ours(&setup, &spec, side, seed, round)?,
                };
                eprintln!(
                    "round {round} seed {seed} {}: reached {} in {:.2} s ({:.2} s process), {} steps",
                    run.side, run.reached_target, run.train_s, run.process_s, run.env_steps
                );
                runs.push(run);
            }
        }
    }
    let summaries: Vec<_> = sides
        .iter()
        .filter_map(|s| learn_report::summarise(&s.label(), &runs))
        .collect();
    let reference = summaries.iter().find(|s| s.side == Side::Torch(n).label());
    let ratios: Vec<_> = reference
        .map(|t| {
            summaries
                .iter()
                .filter(|s| s.side != t.side)
                .map(|s| learn_report::ratios(t, s))
                .collect()
        })
        .unwrap_or_default();
    learn_report::print(&runs, &summaries, &ratios);
    let agents = ratios.iter().find(|r| r.ours == Side::Agents(n).label());
    if let Some(r) = agents {
        println!(
            "\nTarget {WALL_TIME_TARGET}x faster in wall time, {} agents: {} by training time \
             ({:.2}x), {} by process time ({:.2}x)",
            n,
            met(r.train_s),
            r.train_s,
            met(r.process_s),
            r.process_s
        );
    }
    Ok(serde_json::json!({
        "example": args.example,
        "config": example.config,
        "torch_flags_seed_0": example.torch_flags(n, 0),
        "runs": runs,
        "medians": summaries,
        "torch_over_ours": ratios,
        "wall_time_target": WALL_TIME_TARGET,
        "target_met_train_s": agents.map(|r| r.train_s >= WALL_TIME_TARGET),
        "target_met_process_s": agents.map(|r| r.process_s >= WALL_TIME_TARGET),
    }))
}

fn met(ratio: f64) -> &'static str {
    if ratio >= WALL_TIME_TARGET {
        "met"
    } else {
        "NOT met"
    }
}

fn push(args: &Args, work_dir: &Path) -> Result<serde_json::Value> {
    let setup = push::Setup {
        pathnet: args.pathnet.clone(),
        work_dir: work_dir.to_owned(),
        pushes: args.pushes,
        warmup: args.warmup_pushes,
        seed: args.seeds[0],
        timeout: Duration::from_secs(args.timeout_s),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut measures = Vec::new();
    for round in 0..args.repeats {
        for &network in &args.networks {
            for &workers in &args.push_workers {
                let m = push::measure(&setup, &runtime, network, workers, round)?;
                eprintln!(
                    "round {round} {} x{workers}: {:.0} pushes/s, coordinator {:.2} cores",
                    m.network, m.pushes_per_s, m.coordinator_cores
                );
                measures.push(m);
            }
        }
    }
    let medians = push::median_rounds(&measures);
    push::print(&medians);
    Ok(serde_json::json!({
        "pushes_per_worker": args.networks.iter().map(|n| {
            (n.label(), args.pushes.unwrap_or(n.default_pushes()))
        }).collect::<std::collections::BTreeMap<_, _>>(),
        "warmup_pushes_per_worker": args.warmup_pushes,
        "median_rounds": medians,
        "rounds": measures,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_name_the_flag() {
        for (flags, wanted) in [
            (vec!["--workers", "0"], "`--workers` = 0"),
            (vec!["--repeats", "0"], "`--repeats` = 0"),
            (vec!["--pushes", "0"], "`--pushes` = 0"),
            (vec!["--push-workers", "1,0"], "`--push-workers` contains 0"),
            (
                vec!["--pathnet", "/nonexistent/pathnet"],
                "`--pathnet` = /nonexistent/pathnet",
            ),
        ] {
            let args = Args::try_parse_from(std::iter::once("a3c_bench").chain(flags)).unwrap();
            let err = validate(&args).unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
        let err = Args::try_parse_from(["a3c_bench", "--networks", "resnet"]).unwrap_err();
        assert!(err.to_string().contains("resnet"), "{err}");
    }
}
