//! `pathnet export` after a real run (coordinator with --state-dir and an agent, processes
//! on 127.0.0.1): the file Python's `safetensors` reads holds the best pathway's modules and
//! every task head, within 0.001 of the values the coordinator saved, with metadata naming
//! the pathway the run reported; `--all-modules` holds every module; a directory without a
//! state is refused with a message naming it.

mod common;

use common::*;
use pathnet_coordinator::checkpoint;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The reference interpreter `scripts/setup-python-ref` makes (it has `safetensors`).
fn reference_python() -> PathBuf {
    let path = std::env::var_os("PATHNET_REF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-ref/bin/python"));
    assert!(
        path.exists(),
        "no reference Python at {}: run scripts/setup-python-ref or set PATHNET_REF_PYTHON",
        path.display()
    );
    path
}

#[derive(serde::Deserialize)]
struct Read {
    metadata: HashMap<String, String>,
    tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

fn export(state: &Path, out: &Path, extra: &[&str]) -> Read {
    let mut args = vec![
        "export",
        "--state-dir",
        state.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut proc = spawn("export", &args, &[]);
    let line = proc.stdout_line("exported", Duration::from_secs(60));
    assert!(line.contains("best pathway"), "{line}");
    assert!(proc.wait(Duration::from_secs(30)).success());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/read_export.py");
    let output = Command::new(reference_python())
        .arg(&script)
        .arg(out)
        .output()
        .expect("the reference Python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn an_export_after_a_run_holds_the_best_pathway_and_the_heads_as_saved() {
    let dir = scratch_dir("export");
    let (spec, out, state) = (
        dir.join("spec.toml"),
        dir.join("summary.json"),
        dir.join("state"),
    );
    std::fs::write(&spec, common::spec(&fashion_dir(), 3, 4, 16)).unwrap();
    let extra = ["--state-dir", state.to_str().unwrap()];
    let (mut coordinator, url) = coordinator_running(&spec, &out, &extra);
    let mut agent = agent("agent", &url, &[]);
    assert!(
        coordinator.wait(Duration::from_secs(240)).success(),
        "{}",
        coordinator.drain_stderr()
    );
    assert!(agent.wait(Duration::from_secs(30)).success());
    let summary = read_json(&out);
    let last = summary["tasks"].as_array().unwrap().last().unwrap().clone();

    let saved: HashMap<String, _> = checkpoint::read(&state)
        .unwrap()
        .unwrap()
        .tensors
        .into_iter()
        .collect();
    let read = export(&state, &dir.join("best.safetensors"), &[]);
    let meta = &read.metadata;
    assert_eq!(meta["kind"], "pathnet", "{meta:?}");
    assert_eq!(meta["task_name"], "second", "{meta:?}");
    assert_eq!(meta["arm"], "pathnet_transfer", "{meta:?}");
    let pathway: Vec<Vec<usize>> = serde_json::from_str(&meta["pathway"]).unwrap();
    assert_eq!(serde_json::json!(pathway), last["best_pathway"], "{meta:?}");
    // Exactly the pathway's modules' tensors (weight and bias each) and both heads'.
    let mut expected = BTreeSet::new();
    for (layer, active) in pathway.iter().enumerate() {
        for module in active {
            for param in 0..2 {
                expected.insert(format!("layers.{layer}.modules.{module}.param{param}"));
            }
        }
    }
    for head in 0..2 {
        for param in 0..2 {
            expected.insert(format!("heads.{head}.param{param}"));
        }
    }
    let names: BTreeSet<String> = read.tensors.keys().cloned().collect();
    assert_eq!(names, expected);
    let modules: Vec<String> = serde_json::from_str(&meta["modules"]).unwrap();
    assert_eq!(modules.len(), expected.len() / 2, "{meta:?}");
    for (name, (shape, values)) in &read.tensors {
        let coordinator_values = &saved[name];
        assert_eq!(shape.as_slice(), coordinator_values.shape(), "{name}");
        for (a, b) in values.iter().zip(coordinator_values.iter()) {
            assert!((a - f64::from(*b)).abs() < 1e-3, "{name}: {a} vs {b}");
        }
    }

    let all = export(&state, &dir.join("all.safetensors"), &["--all-modules"]);
    let every: BTreeSet<&String> = saved.keys().filter(|n| !n.starts_with("kept.")).collect();
    assert_eq!(all.tensors.keys().collect::<BTreeSet<_>>(), every);
    assert_eq!(all.metadata["all_modules"], "true");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_directory_without_a_state_is_refused_naming_it() {
    let dir = scratch_dir("export-empty");
    let out = dir.join("out.safetensors");
    let mut proc = spawn(
        "export",
        &[
            "export",
            "--state-dir",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let line = proc.stderr_line("error", Duration::from_secs(30));
    assert!(line.contains("no coordinator state"), "{line}");
    assert!(line.contains(dir.to_str().unwrap()), "{line}");
    assert_eq!(proc.wait(Duration::from_secs(30)).code(), Some(2));
    assert!(!out.exists());
    std::fs::remove_dir_all(dir).ok();
}
