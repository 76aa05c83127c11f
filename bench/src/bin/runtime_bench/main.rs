//! Runtime throughput of a whole PathNet experiment with the built `pathnet` binary: pathway
//! evaluations per second in-process and with 1, 2, ... agent processes on a loopback
//! coordinator, the coordinator's CPU time per applied result, the bytes on the wire per
//! evaluation, and the same PathNet in PyTorch (`benches/torch_pathnet.py`) for scale.
//! Prints a table and JSON.
//!
//! Every run does the same work: the paper's supervised configuration (L=3, M=10, N=3,
//! 20-unit modules, 784 inputs, batch 16, T=50, population 64) on one Fashion-MNIST pair,
//! with an accuracy threshold of 1.0 that the default pair (T-shirt vs shirt) never reaches,
//! so each run ends at its generation cap. A run fails if it reaches the threshold.
//!
//! Figures are marginal: every configuration runs at a short cap and at the full cap, and
//! the differences (seconds, CPU seconds, bytes) are divided by the difference in
//! evaluations. Process start, data loading, connecting, the first pulls and the test-split
//! measurement at the end cost the same in both runs and drop out, as the PyTorch side
//! times only its evolution loop.

mod proxy;
mod report;
mod runs;
mod torch;

use anyhow::{Context, Result, bail};
use clap::Parser;
use report::{
    Marginal, cpu_model, label, load_average, marginal, median, median_marginal, print_table,
};
use runs::{RunMeasure, Setup};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Benchmark a PathNet experiment in-process, over agents, and in PyTorch")]
struct Args {
    /// The pathnet binary [default: `pathnet` next to this benchmark's binary]
    #[arg(long)]
    pathnet: Option<PathBuf>,
    /// Python interpreter with torch installed [default: .venv-bench/bin/python in the repository]
    #[arg(long, env = "PATHNET_BENCH_PYTHON")]
    python: Option<PathBuf>,
    /// Directory with the Fashion-MNIST IDX files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data_dir: PathBuf,
    /// The two classes of the task, e.g. `0,6`.
    #[arg(long, value_delimiter = ',', default_values_t = [0u8, 6])]
    classes: Vec<u8>,
    /// Generation cap of the full runs (two evaluations per generation).
    #[arg(long, default_value_t = 1000)]
    generations: usize,
    /// Generation cap of the short runs whose costs are subtracted.
    #[arg(long, default_value_t = 200)]
    short_generations: usize,
    /// Agent counts to measure, e.g. `1,2`.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2])]
    agents: Vec<usize>,
    /// Rounds over every configuration; each figure is the median over rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// SGD learning rate. Throughput does not depend on it, but training must not diverge:
    /// at 0.1 this network diverges even in-process, and at the example's 0.05 Hogwild
    /// updates from two agents now and then push it over, so the default stays well below.
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f64,
    /// Threads PyTorch may use. One by default: the products are far too small (16x784 by
    /// 784x20 at most) to gain from intra-op threads, which only add synchronisation (and
    /// spin badly on a loaded machine); the Rust side keeps products this small on one
    /// thread too.
    #[arg(long, default_value_t = 1)]
    torch_threads: usize,
    /// Only measure the Rust side.
    #[arg(long)]
    skip_torch: bool,
    /// Connect agents straight to the coordinator, without the byte-counting relay.
    #[arg(long)]
    direct: bool,
    /// Longest a single run may take, in seconds.
    #[arg(long, default_value_t = 180)]
    timeout_s: u64,
    /// Also write the JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    validate(&args)?;
    let pathnet = match &args.pathnet {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("locating this benchmark's binary")?
            .with_file_name("pathnet"),
    };
    if !pathnet.is_file() {
        bail!(
            "no pathnet binary at {}: build it with `cargo build --release -p pathnet` or pass --pathnet",
            pathnet.display()
        );
    }
    let work_dir =
        std::env::temp_dir().join(format!("pathnet-runtime-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let result = run(&args, &pathnet, &work_dir);
    let _ = std::fs::remove_dir_all(&work_dir);
    result
}

fn validate(args: &Args) -> Result<()> {
    if args.short_generations == 0 || args.short_generations >= args.generations {
        bail!(
            "--short-generations = {}: must be in 1..{} (--generations)",
            args.short_generations,
            args.generations
        );
    }
    if args.rounds == 0 {
        bail!("--rounds = 0: must be at least 1");
    }
    if args.classes.len() != 2
        || args.classes[0] == args.classes[1]
        || args.classes.iter().any(|&c| c > 9)
    {
        bail!(
            "--classes = {:?}: two different classes in 0..=9",
            args.classes
        );
    }
    if let Some(&bad) = args.agents.iter().find(|&&n| n == 0) {
        bail!(
            "--agents contains {bad}: agent counts start at 1 (the in-process run is always measured)"
        );
    }
    if !(args.learning_rate.is_finite() && args.learning_rate > 0.0) {
        bail!(
            "--learning-rate = {}: must be a finite number > 0",
            args.learning_rate
        );
    }
    if args.torch_threads == 0 {
        bail!("--torch-threads = 0: must be at least 1");
    }
    Ok(())
}

fn run(args: &Args, pathnet: &Path, work_dir: &Path) -> Result<()> {
    let load_before = load_average();
    let short = write_spec(args, work_dir, args.short_generations)?;
    let full = write_spec(args, work_dir, args.generations)?;
    let setup = Setup {
        pathnet,
        work_dir,
        timeout: Duration::from_secs(args.timeout_s),
        relay: !args.direct,
    };
    let torch_threads = args.torch_threads;
    let configs: Vec<usize> = std::iter::once(0)
        .chain(args.agents.iter().copied())
        .collect();
    let mut raw: Vec<RunMeasure> = Vec::new();
    let mut rounds: Vec<Vec<Marginal>> = vec![Vec::new(); configs.len()];
    let mut torch_rounds = Vec::new();
    // Rounds interleave the configurations so that a change in the machine's load touches
    // all of them rather than one.
    for round in 0..args.rounds {
        for (i, &agents) in configs.iter().enumerate() {
            eprintln!("round {}/{}: {}", round + 1, args.rounds, label(agents));
            let a = runs::measure(&setup, &short, args.short_generations, agents)?;
            let b = runs::measure(&setup, &full, args.generations, agents)?;
            rounds[i].push(marginal(&a, &b));
            raw.extend([a, b]);
        }
        if !args.skip_torch {
            eprintln!("round {}/{}: PyTorch", round + 1, args.rounds);
            torch_rounds.push(torch::run(args, torch_threads)?);
        }
    }
    let figures: Vec<Marginal> = rounds.iter().map(|r| median_marginal(r)).collect();
    let torch_rate = median(torch_rounds.iter().map(|t| t.evaluations_per_s).collect());
    print_table(&configs, &figures, torch_rate, torch_threads);
    let json = serde_json::json!({
        "benchmark": "runtime",
        "machine": {
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "cpu": cpu_model(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": load_average(),
        },
        "config": {
            "layers": 3, "modules": 10, "active": 3, "units": 20, "inputs": 784,
            "batch": 16, "minibatches": 50, "population": 64, "accuracy_threshold": 1.0,
            "classes": args.classes, "generations": args.generations,
            "short_generations": args.short_generations, "rounds": args.rounds,
            "seed": args.seed, "learning_rate": args.learning_rate, "relay": !args.direct,
            "torch_threads": torch_threads,
        },
        "configurations": configs.iter().zip(&figures).zip(&rounds).map(|((&agents, f), r)| {
            serde_json::json!({
                "agents": agents,
                "median": f,
                "rounds": r,
                "ratio_over_torch": torch_rate.map(|t| f.evaluations_per_s / t),
            })
        }).collect::<Vec<_>>(),
        "torch": {
            "median_evaluations_per_s": torch_rate,
            "rounds": torch_rounds,
        },
        "runs": raw,
    });
    let text = serde_json::to_string_pretty(&json)?;
    println!("{text}");
    if let Some(path) = &args.json {
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The experiment every run performs, capped at `generations` tournaments.
fn write_spec(args: &Args, work_dir: &Path, generations: usize) -> Result<PathBuf> {
    let dir = args
        .data_dir
        .to_str()
        .with_context(|| format!("--data-dir {} is not UTF-8", args.data_dir.display()))?;
    // A JSON string literal is a valid TOML basic string.
    let dir = serde_json::to_string(dir)?;
    let spec = format!(
        "name = \"runtime-bench\"\nseed = {seed}\n\n[data]\ndir = {dir}\n\n\
         [pathnet]\nlayers = 3\nmodules_per_layer = 10\nmax_active = 3\nmodule_units = 20\n\n\
         [evolution]\npopulation = 64\nminibatches_per_evaluation = 50\nbatch_size = 16\n\
         learning_rate = {lr:?}\naccuracy_threshold = 1.0\nmax_generations = {generations}\n\n\
         [[tasks]]\nname = \"A\"\nclasses = [{a}, {b}]\n",
        seed = args.seed,
        lr = args.learning_rate,
        a = args.classes[0],
        b = args.classes[1],
    );
    let path = work_dir.join(format!("spec-{generations}.toml"));
    std::fs::write(&path, spec).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_quotes_the_data_dir_and_sets_the_cap() {
        let args =
            Args::try_parse_from(["runtime_bench", "--data-dir", "/data/with \"quote\""]).unwrap();
        let dir =
            std::env::temp_dir().join(format!("runtime-bench-spec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_spec(&args, &dir, 123).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            text.contains("dir = \"/data/with \\\"quote\\\"\"\n"),
            "{text}"
        );
        assert!(text.contains("max_generations = 123\n"), "{text}");
        assert!(text.contains("classes = [0, 6]\n"), "{text}");
        assert!(text.contains("learning_rate = 0.01\n"), "{text}");
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        for (flags, wanted) in [
            (
                vec!["--short-generations", "1000"],
                "--short-generations = 1000",
            ),
            (vec!["--classes", "3,3"], "--classes = [3, 3]"),
            (vec!["--classes", "1,2,3"], "--classes = [1, 2, 3]"),
            (vec!["--agents", "1,0"], "--agents contains 0"),
            (vec!["--rounds", "0"], "--rounds = 0"),
            (vec!["--learning-rate", "0"], "--learning-rate = 0"),
        ] {
            let args = Args::try_parse_from(std::iter::once("runtime_bench").chain(flags)).unwrap();
            let err = validate(&args).unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
    }
}
