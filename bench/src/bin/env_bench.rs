//! CartPole-v1 environment steps per second on one core: ours (as `make` returns it, inside
//! the TimeLimit wrapper and behind `dyn Env`, and the bare `CartPole`) against Python
//! Gymnasium stepping `gymnasium.make("CartPole-v1")` and its bare env the same way, via
//! `benches/gym_cartpole.py`. Both sides step a pre-drawn sequence of random actions and reset
//! whenever an episode ends. Also times MinAtar Breakout and Freeway through `make`, Rust only:
//! there is no Python reference for them, MinAtar's package is not in the reference
//! environment. Built with `--features python`, also times Gymnasium's own CartPole-v1 driven
//! from Rust through the subprocess bridge (`gymnasium:CartPole-v1`), next to the same env
//! stepped in Python. Prints tables and JSON.

use anyhow::{Context, Result, bail};
use clap::Parser;
use pathnet_bench::{Timing, time_runs};
use pathnet_envs::{Action, CartPole, Env, EnvError, Space, make};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Gymnasium's per-step cost is dominated by Python; ours by two transcendental calls.
const TARGET_RATIO: f64 = 100.0;

const MINATAR_IDS: [&str; 2] = ["MinAtar/Breakout-v1", "MinAtar/Freeway-v1"];

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark CartPole-v1 steps/s against Python Gymnasium, and MinAtar steps/s, on this machine"
)]
struct Args {
    /// Python interpreter with gymnasium 1.4.0 [default: .venv-bench/bin/python in the repository]
    #[arg(long, env = "PATHNET_BENCH_PYTHON")]
    python: Option<PathBuf>,
    /// Steps per timed run on the Rust side (CartPole and each MinAtar game).
    #[arg(long, default_value_t = 2_000_000)]
    steps: usize,
    /// Steps per timed run on the Python side (it is two orders of magnitude slower).
    #[arg(long, default_value_t = 50_000)]
    python_steps: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Seed for the action sequence and the environments.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only time the Rust side.
    #[arg(long)]
    skip_python: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.steps == 0 || args.python_steps == 0 {
        bail!("--runs, --steps and --python-steps must be at least 1");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let actions: Vec<i64> = (0..args.steps).map(|_| rng.random_range(0..2)).collect();

    let mut made = make("CartPole-v1")?;
    let made_timing = time_steps(&mut *made, &actions, &args)?;
    let mut bare = CartPole::new();
    let bare_timing = time_steps(&mut bare, &actions, &args)?;
    let rust = [("make", made_timing), ("unwrapped", bare_timing)];
    let minatar = MINATAR_IDS
        .iter()
        .map(|&id| Ok((id, time_made(id, &args)?)))
        .collect::<Result<Vec<_>>>()?;

    let python = if args.skip_python {
        None
    } else {
        Some(run_python(&args)?)
    };
    report(&rust, python.as_ref(), &minatar, args.steps);
    #[cfg(feature = "python")]
    if !args.skip_python {
        report_bridge(&time_bridge(&args, &actions)?, python.as_ref(), &args);
    }
    Ok(())
}

/// Gymnasium's CartPole-v1 stepped from Rust through the bridge, on the first
/// `--python-steps` of the same actions: the Python env's own cost plus one round trip per step.
#[cfg(feature = "python")]
fn time_bridge(args: &Args, actions: &[i64]) -> Result<Timing> {
    let mut env = pathnet_envs::PythonEnv::with_python(
        &python_path(args),
        "CartPole-v1",
        &Default::default(),
    )?;
    let steps = args.python_steps.min(actions.len());
    time_steps(&mut env, &actions[..steps], args)
}

#[cfg(feature = "python")]
fn report_bridge(bridge: &Timing, python: Option<&serde_json::Value>, args: &Args) {
    let steps = args.python_steps.min(args.steps);
    let ours = steps as f64 / (bridge.median_ms / 1e3);
    let theirs = python.and_then(|p| p["make"]["steps_per_s"].as_f64());
    let overhead_us = theirs.map(|t| (1.0 / ours - 1.0 / t) * 1e6);
    println!(
        "gymnasium:CartPole-v1 through the bridge: {ours:.3e} steps/s; in Python: {}; bridge cost per step: {}",
        theirs.map_or("-".into(), |t| format!("{t:.3e} steps/s")),
        overhead_us.map_or("-".into(), |us| format!("{us:.1} us")),
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "python_bridge",
            "bridge": {"timing": bridge, "steps": steps, "steps_per_s": ours},
            "python_steps_per_s": theirs,
            "overhead_us_per_step": overhead_us,
        })
    );
}

fn python_path(args: &Args) -> PathBuf {
    args.python
        .clone()
        .unwrap_or_else(|| repo_root().join(".venv-bench/bin/python"))
}

/// Times `make(id)` on its own seeded random actions, drawn up front so that the draw is not
/// timed.
fn time_made(id: &str, args: &Args) -> Result<Timing> {
    let mut env = make(id)?;
    let &Space::Discrete(space) = env.action_space() else {
        bail!("{id}: the step benchmark needs a discrete action space");
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let actions: Vec<i64> = (0..args.steps).map(|_| space.sample(&mut rng)).collect();
    time_steps(&mut *env, &actions, args)
}

/// Generic so that the bare env is timed with static dispatch, as a caller holding a
/// `CartPole` would get it. The first failure (a bridged env's process can die) ends the
/// timing with an error; later runs are skipped.
fn time_steps<E: Env + ?Sized>(env: &mut E, actions: &[i64], args: &Args) -> Result<Timing> {
    let mut failure = None;
    let timing = time_runs(args.warmup, args.runs, || {
        if failure.is_none() {
            match step_through(env, actions, args.seed) {
                Ok(checksum) => {
                    black_box(checksum);
                }
                Err(e) => failure = Some(e),
            }
        }
    });
    if let Some(e) = failure {
        return Err(e).with_context(|| format!("stepping {}", env.id()));
    }
    timing.context("no timed runs")
}

/// One timed run: a seeded reset, then `actions`, resetting whenever an episode ends.
fn step_through<E: Env + ?Sized>(env: &mut E, actions: &[i64], seed: u64) -> Result<f32, EnvError> {
    env.reset(Some(seed))?;
    let mut checksum = 0.0f32;
    for &a in actions {
        let step = env.step(&Action::Discrete(a))?;
        checksum += step.obs[0];
        if step.terminated || step.truncated {
            env.reset(None)?;
        }
    }
    Ok(checksum)
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ sits inside the workspace")
}

fn run_python(args: &Args) -> Result<serde_json::Value> {
    let python = python_path(args);
    let script = repo_root().join("benches/gym_cartpole.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--steps", &args.python_steps.to_string()])
        .args(["--warmup", "1", "--runs", &args.runs.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .output()
        .with_context(|| {
            format!(
                "running {} (set --python or PATHNET_BENCH_PYTHON, or create it with \
                 scripts/setup-python-ref .venv-bench)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no JSON: {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn report(
    rust: &[(&str, Timing)],
    python: Option<&serde_json::Value>,
    minatar: &[(&str, Timing)],
    steps: usize,
) {
    let per_s = |t: &Timing| steps as f64 / (t.median_ms / 1e3);
    let fmt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.2}{unit}"));
    println!(
        "{:<12} {:>16} {:>16} {:>14}",
        "CartPole-v1", "rust steps/s", "python steps/s", "rust/python"
    );
    let mut rows = serde_json::Map::new();
    for (name, timing) in rust {
        let ours = per_s(timing);
        let theirs = python.and_then(|p| p[name]["steps_per_s"].as_f64());
        let ratio = theirs.map(|t| ours / t);
        println!(
            "{name:<12} {:>16} {:>16} {:>14}",
            format!("{:.3e}", ours),
            theirs.map_or("-".into(), |t| format!("{t:.3e}")),
            fmt(ratio, "x")
        );
        rows.insert(
            name.to_string(),
            serde_json::json!({
                "rust": {"timing": timing, "steps": steps, "steps_per_s": ours},
                "python": python.map(|p| p[name].clone()),
                "ratio_rust_over_python": ratio,
            }),
        );
    }
    if let Some(ratio) = rows["make"]["ratio_rust_over_python"].as_f64() {
        let verdict = if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        };
        println!("target >= {TARGET_RATIO}x through make(): {verdict}");
    }

    println!(
        "{:<20} {:>16}  (through make; rust only, MinAtar's Python package is not installed)",
        "MinAtar", "rust steps/s"
    );
    let mut minatar_rows = serde_json::Map::new();
    for (id, timing) in minatar {
        let ours = per_s(timing);
        println!("{id:<20} {:>16}", format!("{ours:.3e}"));
        minatar_rows.insert(
            id.to_string(),
            serde_json::json!({"rust": {"timing": timing, "steps": steps, "steps_per_s": ours}}),
        );
    }

    let meta = python.map(|p| {
        serde_json::json!({"gymnasium": p["gymnasium"], "numpy": p["numpy"], "python": p["python"]})
    });
    println!(
        "{}",
        serde_json::json!({
            "bench": "env_cartpole",
            "results": rows,
            "python_env": meta,
            "minatar": minatar_rows,
        })
    );
}
