//! Measurement 1: time and env steps to the example's target return, one run at a time.
//!
//! Ours is the release `pathnet run SPEC --seed S` with N agent processes (one worker each) on
//! a loopback coordinator, or `--agents 0` with N worker threads in the one process; the
//! reference is `benches/torch_a3c.py` with N worker processes and the example's settings as
//! flags. Each run gives two times: the one it reports itself (`train_s`), and the one measured
//! here from spawning the process to its exit (`process_s`), which adds interpreter or process
//! start, imports, building environments and writing the summary.

use crate::machine::{cpu_times, load_average};
use crate::process::{check_exit, wait_until};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Who trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Ours, this many agent processes with one worker each.
    Agents(usize),
    /// Ours, this many worker threads in one process.
    InProcess(usize),
    /// `benches/torch_a3c.py`, this many worker processes.
    Torch(usize),
}

impl Side {
    pub(crate) fn label(self) -> String {
        match self {
            Side::Agents(n) => format!("ours, {n} agents x 1 worker"),
            Side::InProcess(n) => format!("ours, in-process, {n} threads"),
            Side::Torch(n) => format!("PyTorch, {n} worker processes"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LearnRun {
    pub side: String,
    pub seed: u64,
    pub round: usize,
    pub reached_target: bool,
    /// Environment steps over all workers when training stopped.
    pub env_steps: u64,
    /// Mean return over the last `window` episodes when training stopped.
    pub mean_return: Option<f64>,
    /// What the run reports. Ours: from starting the experiment (agents not yet spawned) to
    /// the stop rule. PyTorch: from every worker being ready (imports done, env built) to
    /// the stop.
    pub train_s: f64,
    /// Spawn to exit of the whole process, measured here.
    pub process_s: f64,
    /// User plus system CPU seconds of the process and every child it reaped.
    pub cpu_s: f64,
    pub updates_applied: u64,
    /// Ours only: updates dropped for staleness (the reference has no staleness bound).
    pub dropped_stale: Option<u64>,
    pub load_average_1m_before: Option<f64>,
}

pub(crate) struct Setup {
    pub pathnet: PathBuf,
    pub python: PathBuf,
    pub script: PathBuf,
    pub work_dir: PathBuf,
    pub timeout: Duration,
}

/// The fields of our run summary that this benchmark reads.
#[derive(Deserialize)]
struct OursSummary {
    reached_target: bool,
    env_steps: u64,
    mean_return: Option<f64>,
    seconds: f64,
    updates_applied: u64,
    dropped_stale: u64,
}

/// The fields of the PyTorch script's JSON that this benchmark reads.
#[derive(Deserialize)]
struct TorchSummary {
    reached: bool,
    wall_s: f64,
    env_steps: u64,
    updates: u64,
    final_mean_return: Option<f64>,
}

/// One run of ours: `spec` must set `a3c.workers` to the thread count for an in-process run.
pub(crate) fn ours(
    setup: &Setup,
    spec: &Path,
    side: Side,
    seed: u64,
    round: usize,
) -> Result<LearnRun> {
    let agents = match side {
        Side::Agents(n) => n,
        Side::InProcess(_) => 0,
        Side::Torch(_) => unreachable!("the PyTorch side runs through `torch`"),
    };
    let summary_path = setup
        .work_dir
        .join(format!("ours-{agents}-{seed}-{round}.json"));
    let mut command = Command::new(&setup.pathnet);
    command
        .arg("run")
        .arg(spec)
        .args(["--agents", &agents.to_string(), "--seed", &seed.to_string()])
        .arg("--summary-json")
        .arg(&summary_path);
    let what = format!("`pathnet run` ({}, seed {seed})", side.label());
    let (load, process_s, cpu_s) = timed(setup, &mut command, &what)?;
    let text = std::fs::read_to_string(&summary_path)
        .with_context(|| format!("reading {}", summary_path.display()))?;
    let s: OursSummary = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", summary_path.display()))?;
    Ok(LearnRun {
        side: side.label(),
        seed,
        round,
        reached_target: s.reached_target,
        env_steps: s.env_steps,
        mean_return: s.mean_return,
        train_s: s.seconds,
        process_s,
        cpu_s,
        updates_applied: s.updates_applied,
        dropped_stale: Some(s.dropped_stale),
        load_average_1m_before: load,
    })
}

/// One run of the reference with `flags` (which carry the seed and worker count).
pub(crate) fn torch(
    setup: &Setup,
    flags: &[String],
    side: Side,
    seed: u64,
    round: usize,
) -> Result<LearnRun> {
    let out = setup.work_dir.join(format!("torch-{seed}-{round}.json"));
    let mut command = Command::new(&setup.python);
    command
        .arg(&setup.script)
        .args(flags)
        .arg("--json")
        .arg(&out);
    let what = format!("{} (seed {seed})", setup.script.display());
    let (load, process_s, cpu_s) = timed(setup, &mut command, &what).with_context(|| {
        format!(
            "with {} (set --python, or create it with scripts/setup-bench-python)",
            setup.python.display()
        )
    })?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let s: TorchSummary =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", out.display()))?;
    Ok(LearnRun {
        side: side.label(),
        seed,
        round,
        reached_target: s.reached,
        env_steps: s.env_steps,
        mean_return: s.final_mean_return,
        train_s: s.wall_s,
        process_s,
        cpu_s,
        updates_applied: s.updates,
        dropped_stale: None,
        load_average_1m_before: load,
    })
}

/// Runs `command` to its exit: the load average before, its wall time from spawn to exit,
/// and the CPU time of it and its reaped children.
fn timed(setup: &Setup, command: &mut Command, what: &str) -> Result<(Option<f64>, f64, f64)> {
    let log = setup.work_dir.join("stderr.log");
    let stderr = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let load = load_average().map(|l| l[0]);
    let cpu_before = cpu_times(None)?.children_s;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let status = wait_until(&mut child, started + setup.timeout, what)?;
    let process_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_times(None)?.children_s - cpu_before;
    check_exit(what, status, &log)?;
    Ok((load, process_s, cpu_s))
}
