//! `pathnet run` end to end: the real binary on real Fashion-MNIST, its summary file and its
//! refusals of bad specs.

mod common;

use common::{fashion_dir, scratch_dir};
use std::path::Path;
use std::process::{Command, Output};

fn small_spec(data_dir: &Path, seed: u64) -> String {
    format!(
        r#"
name = "small"
seed = {seed}
[data]
dir = "{}"
[pathnet]
layers = 2
modules_per_layer = 4
max_active = 2
module_units = 8
[evolution]
population = 6
minibatches_per_evaluation = 10
batch_size = 8
learning_rate = 0.05
accuracy_threshold = 0.999
max_generations = 30
[[tasks]]
name = "first"
classes = [5, 7]
[[tasks]]
name = "second"
classes = [1, 3]
"#,
        data_dir.display()
    )
}

fn pathnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pathnet"))
        .args(args)
        .output()
        .expect("the pathnet binary runs")
}

fn run_summary(dir: &Path, spec_text: &str, tag: &str) -> serde_json::Value {
    let spec = dir.join(format!("{tag}.toml"));
    let summary = dir.join(format!("{tag}.json"));
    std::fs::write(&spec, spec_text).unwrap();
    let out = pathnet(&[
        "run",
        spec.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "pathnet run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap()
}

#[test]
fn transfer_run_writes_a_summary_and_freezes_the_first_pathway() {
    let dir = scratch_dir("run-ok");
    let summary = run_summary(&dir, &small_spec(&fashion_dir(), 3), "a");
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for task in tasks {
        let generations = task["generations"].as_u64().unwrap();
        assert!((1..=30).contains(&generations), "{task}");
        assert_eq!(task["evaluations"].as_u64().unwrap(), 2 * generations);
        let test_accuracy = task["test_accuracy"].as_f64().unwrap();
        // Even thirty tiny tournaments learn these easy pairs far above chance.
        assert!(test_accuracy > 0.7, "{task}");
    }
    assert_eq!(tasks[0]["frozen_modules"], 0);
    // The first task's best pathway (2 layers x 2 modules) is frozen for the second.
    assert_eq!(tasks[1]["frozen_modules"], 4);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn same_seed_same_run() {
    let dir = scratch_dir("run-seed");
    let strip = |mut v: serde_json::Value| {
        // Wall-clock fields are the only ones allowed to differ.
        v["seconds"] = 0.into();
        for task in v["tasks"].as_array_mut().unwrap() {
            task["seconds"] = 0.into();
        }
        v
    };
    let first = strip(run_summary(&dir, &small_spec(&fashion_dir(), 9), "x"));
    let second = strip(run_summary(&dir, &small_spec(&fashion_dir(), 9), "y"));
    assert_eq!(first, second);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_specs_exit_2_naming_the_problem() {
    let dir = scratch_dir("run-bad");
    let good = small_spec(&fashion_dir(), 1);
    let cases = [
        (
            good.replace("population = 6", "population = 1"),
            "evolution.population",
        ),
        (good.replace("module_units", "module_unit"), "module_unit"),
        (
            good.replace("classes = [1, 3]", "classes = [3, 3]"),
            "tasks[1].classes",
        ),
        ("name = [".to_string(), "invalid spec"),
        (
            good.replace(&fashion_dir().display().to_string(), "/no/such/dir"),
            "/no/such/dir",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = pathnet(&["run", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(stderr.contains(expected), "case {i}: {stderr}");
    }
    let missing = pathnet(&["run", "/no/such/spec.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/spec.toml"));
    std::fs::remove_dir_all(dir).ok();
}
