//! The PyTorch side: `benches/torch_pathnet.py` runs the same experiment in one process.

use crate::Args;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TorchRun {
    pub torch_version: String,
    pub threads: usize,
    pub evaluations: u64,
    pub reached_threshold: bool,
    pub best_train_accuracy: f64,
    /// The evolution loop only; loading and building are in `setup_seconds`.
    pub seconds: f64,
    pub setup_seconds: f64,
    pub evaluations_per_s: f64,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn run(args: &Args, threads: usize) -> Result<TorchRun> {
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| repo_root().join(".venv-bench/bin/python"));
    let script = repo_root().join("benches/torch_pathnet.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg("--data-dir")
        .arg(&args.data_dir)
        .arg("--classes")
        .args(args.classes.iter().map(u8::to_string))
        .args(["--generations", &args.generations.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--lr", &args.learning_rate.to_string()])
        .output()
        .with_context(|| {
            format!(
                "running {} (set --python or PATHNET_BENCH_PYTHON, or create it with \
                 scripts/setup-bench-python)",
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
    let run: TorchRun = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no result JSON: {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    if run.reached_threshold || run.evaluations != 2 * args.generations as u64 {
        bail!(
            "{}: {} evaluations (threshold reached: {}), expected {} without reaching it",
            script.display(),
            run.evaluations,
            run.reached_threshold,
            2 * args.generations
        );
    }
    Ok(run)
}
