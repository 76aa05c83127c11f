//! PathNet-A3C's transfer against its scratch control over seeds, with real processes: for each
//! seed it runs `pathnet run SPEC --seed S [--agents A] --summary-json F` (a loopback
//! coordinator and `A` agent processes, or one process with `--agents 0`), keeps every
//! summary, and compares the last task's environment steps to its target with transfer and
//! from scratch: medians with distribution-free 95% intervals, a two-sided Mann-Whitney test
//! (runs that missed the target enter above every run that reached it), paired wins per seed
//! with a sign test. It also reports the first task's final mean return, the tournaments and
//! adoptions per task, and how many of the last task's best-path modules are frozen ones.
//!
//!     pathnet_a3c_results --spec examples/pathnet_a3c_minatar_pop64.toml --agents 4 --seeds 16
//!     pathnet_a3c_results --reanalyse bench/results/a.json.gz bench/results/b.json.gz --name all

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use pathnet_bench::report_file::{read_gz_json, write_gz_json};
use pathnet_bench::samples::{
    MannWhitney, MedianCi, Wins, binomial_half_cdf, mann_whitney, median_ci, paired_wins,
};
use pathnet_coordinator::spec::Spec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Confidence level of every interval reported.
const LEVEL: f64 = 0.95;

#[derive(Parser, Debug)]
#[command(about = "PathNet-A3C transfer against scratch over seeds, run as real processes")]
struct Args {
    /// A `kind = "pathnet_a3c"` spec with `scratch_control = true`.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// The `pathnet` binary that runs each seed.
    #[arg(long, default_value = "target/release/pathnet")]
    pathnet: PathBuf,
    /// Agent processes per run; 0 runs every seed in one process (worker threads).
    #[arg(long, default_value_t = 4)]
    agents: usize,
    #[arg(long, default_value_t = 16)]
    seeds: u64,
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Report name; the spec's file name and the agents when absent.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Merge these reports (same spec, different seeds) and analyse them; runs nothing.
    #[arg(long, num_args = 1..)]
    reanalyse: Vec<PathBuf>,
}

/// Everything that must agree for two reports to be merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Config {
    /// The spec's text, seed aside (each run overrides it).
    spec: String,
    agents: usize,
    /// Each task's `max_env_steps`: a run that misses its target is censored there.
    budgets: Vec<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Report {
    name: String,
    config: Config,
    /// One `pathnet run --summary-json` summary per seed, as written.
    summaries: Vec<Value>,
    /// Recomputed whenever reports are read back, so merges are analysed afresh.
    #[serde(skip_deserializing)]
    analysis: Option<Analysis>,
}

#[derive(Debug, Serialize)]
struct Analysis {
    seeds: usize,
    /// The last task's environment steps to its target (missed = budget + 1).
    transfer_steps: Option<MedianCi>,
    scratch_steps: Option<MedianCi>,
    transfer_reached: usize,
    scratch_reached: usize,
    transfer_vs_scratch: Option<MannWhitney>,
    /// Seeds where transfer needed fewer steps (first), more (second), as many (ties).
    wins: Wins,
    /// Two-sided sign test of the wins, ties left out.
    sign_test_p: f64,
    /// The first task's mean return over its last window, per seed.
    first_task_return: Option<MedianCi>,
    /// Per task of the transfer run, then the control: median tournaments and adoptions.
    tournaments: Vec<(String, f64, f64)>,
    /// How many of the last task's best-path modules are frozen ones (median over the seeds
    /// whose last task has a best pathway).
    reused_modules: Option<MedianCi>,
    best_path_modules: usize,
    /// Median wall-clock seconds of a whole run (every phase).
    run_seconds: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let report = if args.reanalyse.is_empty() {
        run(&args)?
    } else {
        merge(&args)?
    };
    let path = write_gz_json(&args.out, &report.name, &report)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn run(args: &Args) -> Result<Report> {
    let spec_path = args
        .spec
        .as_ref()
        .context("--spec is required unless --reanalyse is given")?;
    ensure!(args.seeds > 0, "--seeds must be at least 1");
    ensure!(
        args.pathnet.is_file(),
        "`--pathnet` {} is not a file (build it with `cargo build --release -p pathnet`)",
        args.pathnet.display()
    );
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let Spec::PathNetA3c(spec) = Spec::from_toml(&text)? else {
        bail!(
            "{}: not a `kind = \"pathnet_a3c\"` spec",
            spec_path.display()
        );
    };
    ensure!(
        spec.scratch_control,
        "{}: `scratch_control` must be true (the control is what transfer is compared with)",
        spec_path.display()
    );
    let config = Config {
        spec: text,
        agents: args.agents,
        budgets: spec
            .pathnet_a3c
            .tasks
            .iter()
            .map(|t| t.stop.max_env_steps)
            .collect(),
    };
    let name = args.name.clone().unwrap_or_else(|| {
        let stem = spec_path.file_stem().map_or_else(
            || "pathnet_a3c".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        format!("{stem}-agents{}", args.agents)
    });
    // Each run's summary passes through here; the report keeps them all.
    let summaries_dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&summaries_dir)
        .with_context(|| format!("creating {}", summaries_dir.display()))?;
    let mut summaries = Vec::new();
    for seed in args.first_seed..args.first_seed + args.seeds {
        let summary_path = summaries_dir.join(format!("seed{seed}.json"));
        let mut command = Command::new(&args.pathnet);
        command
            .arg("run")
            .arg(spec_path)
            .args(["--seed", &seed.to_string()])
            .arg("--summary-json")
            .arg(&summary_path);
        if args.agents > 0 {
            command.args(["--agents", &args.agents.to_string()]);
        }
        let started = Instant::now();
        let status = command
            .status()
            .with_context(|| format!("starting {}", args.pathnet.display()))?;
        ensure!(status.success(), "seed {seed}: `pathnet run` {status}");
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(&summary_path)
                .with_context(|| format!("reading {}", summary_path.display()))?,
        )
        .with_context(|| format!("parsing {}", summary_path.display()))?;
        if let Some(error) = summary.get("error").and_then(Value::as_str) {
            bail!("seed {seed}: the run ended early: {error}");
        }
        eprintln!(
            "seed {seed}: {:.0} s, last task {} (transfer) / {} (scratch) steps",
            started.elapsed().as_secs_f64(),
            describe(last_task(&summary, &config)?.0),
            describe(
                summary
                    .get("scratch")
                    .context("no `scratch` in the summary")?
            ),
        );
        summaries.push(summary);
    }
    // Left behind only when a run failed, for its partial summaries.
    std::fs::remove_dir_all(&summaries_dir).ok();
    let mut report = Report {
        name,
        config,
        summaries,
        analysis: None,
    };
    report.analysis = Some(analyse(&report)?);
    print(&report);
    Ok(report)
}

fn merge(args: &Args) -> Result<Report> {
    let mut merged: Option<Report> = None;
    for path in &args.reanalyse {
        let report: Report = read_gz_json(path)?;
        match &mut merged {
            None => merged = Some(report),
            Some(m) => {
                ensure!(
                    m.config == report.config,
                    "{}: its spec or agents differ from the first report's",
                    path.display()
                );
                m.summaries.extend(report.summaries);
            }
        }
    }
    let mut report = merged.context("--reanalyse needs at least one report")?;
    if let Some(name) = &args.name {
        report.name.clone_from(name);
    }
    report.analysis = Some(analyse(&report)?);
    print(&report);
    Ok(report)
}

fn describe(task: &Value) -> String {
    match task.get("steps_to_target").and_then(Value::as_u64) {
        Some(steps) => steps.to_string(),
        None => "missed".to_string(),
    }
}

/// The last task of the transfer run and its budget.
fn last_task<'a>(summary: &'a Value, config: &Config) -> Result<(&'a Value, u64)> {
    let tasks = summary
        .get("tasks")
        .and_then(Value::as_array)
        .context("no `tasks` in the summary")?;
    let last = tasks.last().context("the summary has no task")?;
    let budget = *config.budgets.last().context("the spec has no task")?;
    Ok((last, budget))
}

/// Steps to the target, censored runs at `budget + 1`.
fn steps(task: &Value, budget: u64) -> f64 {
    task.get("steps_to_target")
        .and_then(Value::as_u64)
        .map_or(budget as f64 + 1.0, |s| s as f64)
}

fn reached(task: &Value) -> bool {
    task.get("steps_to_target")
        .and_then(Value::as_u64)
        .is_some()
}

fn pathway(task: &Value) -> Vec<Vec<u64>> {
    task.get("best_pathway")
        .and_then(Value::as_array)
        .map(|layers| {
            layers
                .iter()
                .map(|l| {
                    l.as_array()
                        .map(|m| m.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn median(values: &[f64]) -> f64 {
    median_ci(values, LEVEL).map_or(f64::NAN, |m| m.median)
}

fn analyse(report: &Report) -> Result<Analysis> {
    let config = &report.config;
    let mut transfer = Vec::new();
    let mut scratch = Vec::new();
    let (mut transfer_reached, mut scratch_reached) = (0, 0);
    let mut first_return = Vec::new();
    let mut reused = Vec::new();
    let mut best_path_modules = 0;
    let mut seconds = Vec::new();
    for summary in &report.summaries {
        let (last, budget) = last_task(summary, config)?;
        let control = summary
            .get("scratch")
            .context("no `scratch` in the summary")?;
        transfer.push(steps(last, budget));
        scratch.push(steps(control, budget));
        transfer_reached += usize::from(reached(last));
        scratch_reached += usize::from(reached(control));
        let tasks = summary["tasks"].as_array().context("no `tasks`")?;
        if let Some(r) = tasks[0].get("mean_return").and_then(Value::as_f64) {
            first_return.push(r);
        }
        let best = pathway(last);
        // The frozen modules are the previous task's best pathway. A task whose workers
        // never finished `T` episodes has no best pathway to compare.
        if tasks.len() >= 2 && !best.is_empty() {
            let frozen = pathway(&tasks[tasks.len() - 2]);
            best_path_modules = best.iter().map(Vec::len).sum();
            let shared: usize = best
                .iter()
                .zip(&frozen)
                .map(|(b, f)| b.iter().filter(|m| f.contains(m)).count())
                .sum();
            reused.push(shared as f64);
        }
        if let Some(s) = summary.get("seconds").and_then(Value::as_f64) {
            seconds.push(s);
        }
    }
    let wins = paired_wins(&transfer, &scratch);
    let decided = wins.first + wins.second;
    let sign_test_p = if decided == 0 {
        1.0
    } else {
        (2.0 * binomial_half_cdf(decided, wins.first.min(wins.second))).min(1.0)
    };
    let mut tournaments = Vec::new();
    let phase_rows = report.summaries[0]["tasks"].as_array().map_or(0, Vec::len);
    for phase in 0..=phase_rows {
        let pick = |s: &Value| -> Option<Value> {
            if phase < phase_rows {
                s["tasks"].get(phase).cloned()
            } else {
                s.get("scratch").cloned()
            }
        };
        let of = |key: &str| -> Vec<f64> {
            report
                .summaries
                .iter()
                .filter_map(|s| pick(s)?.get(key)?.as_f64())
                .collect()
        };
        let label = pick(&report.summaries[0])
            .and_then(|t| t.get("env")?.as_str().map(str::to_string))
            .unwrap_or_default();
        let label = if phase < phase_rows {
            label
        } else {
            format!("{label} (scratch)")
        };
        tournaments.push((label, median(&of("tournaments")), median(&of("adoptions"))));
    }
    Ok(Analysis {
        seeds: report.summaries.len(),
        transfer_steps: median_ci(&transfer, LEVEL),
        scratch_steps: median_ci(&scratch, LEVEL),
        transfer_reached,
        scratch_reached,
        transfer_vs_scratch: mann_whitney(&transfer, &scratch),
        wins,
        sign_test_p,
        first_task_return: median_ci(&first_return, LEVEL),
        tournaments,
        reused_modules: median_ci(&reused, LEVEL),
        best_path_modules,
        run_seconds: median(&seconds),
    })
}

fn interval(m: &Option<MedianCi>) -> String {
    match m {
        None => "-".to_string(),
        Some(m) => match (m.lo, m.hi) {
            (Some(lo), Some(hi)) => format!("{} [{lo}, {hi}]", m.median),
            _ => format!("{} (n too small for an interval)", m.median),
        },
    }
}

fn print(report: &Report) {
    let Some(a) = &report.analysis else { return };
    println!(
        "{}: {} seeds, agents {}",
        report.name, a.seeds, report.config.agents
    );
    println!(
        "last task, env steps to target (missed = budget + 1): transfer {} ({}/{} reached), scratch {} ({}/{} reached)",
        interval(&a.transfer_steps),
        a.transfer_reached,
        a.seeds,
        interval(&a.scratch_steps),
        a.scratch_reached,
        a.seeds
    );
    if let Some(mw) = &a.transfer_vs_scratch {
        println!("Mann-Whitney two-sided p = {:.3}", mw.p);
    }
    println!(
        "transfer fewer steps on {} seeds, more on {}, ties {}; sign test p = {:.3}",
        a.wins.first, a.wins.second, a.wins.ties, a.sign_test_p
    );
    println!("first task mean return: {}", interval(&a.first_task_return));
    for (label, t, adopted) in &a.tournaments {
        println!("{label}: median tournaments {t}, adoptions {adopted}");
    }
    match &a.reused_modules {
        Some(reused) => println!(
            "last task's best-path modules that are frozen: {} of {} ({} seeds)",
            interval(&a.reused_modules),
            a.best_path_modules,
            reused.n
        ),
        None => println!("the last task has no best pathway (no worker finished T episodes of it)"),
    }
    println!("median run: {:.0} s", a.run_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(env: &str, steps: Option<u64>, pathway: &[[u64; 2]; 2]) -> Value {
        json!({"env": env, "steps_to_target": steps, "env_steps": steps.unwrap_or(1000),
               "mean_return": 3.0, "best_pathway": pathway, "tournaments": 10, "adoptions": 4})
    }

    fn summary(transfer: Option<u64>, scratch: Option<u64>, reused: usize) -> Value {
        let a = [[0, 1], [2, 3]];
        // `reused` of the last task's modules are task A's (layer 0 first).
        let b = match reused {
            0 => [[4, 5], [6, 7]],
            1 => [[0, 5], [6, 7]],
            _ => [[0, 1], [6, 7]],
        };
        json!({"tasks": [task("A", None, &a), task("B", transfer, &b)],
               "scratch": task("B", scratch, &[[8, 9], [8, 9]]), "seconds": 2.0})
    }

    fn report(summaries: Vec<Value>) -> Report {
        Report {
            name: "t".into(),
            config: Config {
                spec: String::new(),
                agents: 0,
                budgets: vec![1000, 1000],
            },
            summaries,
            analysis: None,
        }
    }

    #[test]
    fn missed_targets_rank_above_every_reached_one_and_reuse_counts_frozen_modules() {
        let r = report(vec![
            summary(Some(100), Some(200), 0),
            summary(None, Some(300), 1),
            summary(Some(150), None, 2),
            summary(None, None, 2),
        ]);
        let a = analyse(&r).unwrap();
        assert_eq!((a.transfer_reached, a.scratch_reached), (2, 2));
        // Transfer: 100, 150, 1001, 1001; scratch: 200, 300, 1001, 1001.
        assert_eq!(a.transfer_steps.unwrap().median, 575.5);
        assert_eq!(a.scratch_steps.unwrap().median, 650.5);
        assert_eq!((a.wins.first, a.wins.second, a.wins.ties), (2, 1, 1));
        assert!((a.sign_test_p - 1.0).abs() < 1e-12);
        assert_eq!(a.reused_modules.unwrap().median, 1.5);
        assert_eq!(a.reused_modules.unwrap().n, 4);
        assert_eq!(a.best_path_modules, 4);
        assert_eq!(a.tournaments.len(), 3);
        assert_eq!(a.tournaments[2].0, "B (scratch)");
    }

    #[test]
    fn a_last_task_without_a_best_pathway_counts_no_reuse() {
        let mut s = summary(Some(1), Some(2), 2);
        s["tasks"][1]["best_pathway"] = Value::Null;
        let a = analyse(&report(vec![s, summary(Some(1), Some(2), 1)])).unwrap();
        assert_eq!(a.reused_modules.unwrap().n, 1);
        assert_eq!(a.reused_modules.unwrap().median, 1.0);
    }

    #[test]
    fn a_summary_without_its_control_is_refused() {
        let mut s = summary(Some(1), Some(1), 0);
        s.as_object_mut().unwrap().remove("scratch");
        assert!(analyse(&report(vec![s])).is_err());
    }
}
