//! Safe-mutation PathNet on the lease scheduler, as real processes on 127.0.0.1: an agent
//! killed with -9 in the middle of an evaluation loses its lease, the evaluation is issued
//! again and every result is counted once; the example runs in process too; the MinAtar
//! example (conv modules) runs over two agents; a dataset run over an agent reports its
//! held-out test accuracy.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// Acrobot first: its early policies play whole 500-step episodes, so an evaluation lasts
/// long enough to be killed in.
const SPEC: &str = r#"
kind = "sm_pathnet"
name = "sm-pathnet-kill"
seed = 3
[sm_pathnet]
envs = ["Acrobot-v1", "CartPole-v1"]
layers = 2
modules = 4
max_active = 2
units = 8
episodes = 3
experience = 30
selection = "binary"
population = 4
operator = "sm_g_sum"
evaluations_per_task = 10
"#;

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key}: {v}"))
}

#[test]
fn a_killed_agents_evaluation_is_issued_again_and_counted_once() {
    let dir = scratch_dir("sm-pathnet-kill9");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, SPEC).unwrap();
    let summary = run_with_an_agent_killed(&spec, &out, "evaluating pathway genome", RUN_DEADLINE);
    assert_eq!(summary["kind"], "sm_pathnet", "{summary}");
    let (c, l) = (&summary["counters"], &summary["leases"]);
    assert!(n(l, "expired") >= 1, "{summary}");
    assert!(n(c, "evaluations_requeued") >= 1, "{summary}");
    let accepted = n(c, "results_accepted");
    // Three arms (Acrobot, then CartPole with transfer and from scratch), each its budget.
    assert_eq!(accepted, 30, "{summary}");
    assert_eq!(n(&summary, "evaluations"), accepted, "{summary}");
    assert_eq!(
        n(c, "evaluations_issued"),
        accepted + n(c, "evaluations_requeued") + n(c, "evaluations_cancelled"),
        "{summary}"
    );
    assert_eq!(n(l, "granted"), n(c, "evaluations_issued"), "{summary}");
    assert_eq!(n(l, "reported"), accepted, "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    let per_arm: Vec<u64> = tasks.iter().map(|t| n(t, "evaluations")).collect();
    assert_eq!(per_arm, [10, 10, 10], "{summary}");
    assert_eq!(tasks[1]["arm"], "transfer", "{summary}");
    assert_eq!(n(&tasks[1], "frozen_modules"), 4, "{summary}");
    assert_eq!(n(&tasks[2], "frozen_modules"), 0, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_example_spec_parses_and_a_small_run_reproduces_in_process() {
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sm_pathnet_transfer.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(text.contains("kind = \"sm_pathnet\""));
    let dir = scratch_dir("sm-pathnet-local");
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, SPEC.replace("episodes = 3", "episodes = 1")).unwrap();
    let first = run_summary(
        "sm-pathnet-local-1",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    let second = run_summary(
        "sm-pathnet-local-2",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    for (a, b) in first["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(second["tasks"].as_array().unwrap())
    {
        for key in ["best_fitness", "best_genome", "best_pathway"] {
            assert_eq!(a[key], b[key], "{key}: {first} vs {second}");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The MinAtar example, shrunk: Breakout, then Freeway on conv modules over two agents.
#[test]
fn the_minatar_example_runs_on_conv_modules_over_two_agents() {
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sm_pathnet_minatar.toml");
    let mut text = std::fs::read_to_string(&example).unwrap();
    for (from, to) in [
        ("conv_filters = 8", "conv_filters = 4"),
        ("modules = 6", "modules = 3"),
        ("episodes = 2", "episodes = 1"),
        ("experience = 100", "experience = 20"),
        ("population = 8", "population = 3"),
        ("evaluations_per_task = 80", "evaluations_per_task = 5"),
    ] {
        assert!(text.contains(from), "the example has {from}");
        text = text.replace(from, to);
    }
    let dir = scratch_dir("sm-pathnet-minatar");
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, text).unwrap();
    let summary = run_summary(
        "sm-pathnet-minatar",
        &spec,
        &["--agents", "2"],
        RUN_DEADLINE,
    );
    assert_eq!(summary["state"], "completed", "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    let labels: Vec<&str> = tasks.iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "MinAtar/Breakout-v1",
            "MinAtar/Freeway-v1/transfer",
            "MinAtar/Freeway-v1/scratch"
        ],
        "{summary}"
    );
    let per_arm: Vec<u64> = tasks.iter().map(|t| n(t, "evaluations")).collect();
    assert_eq!(per_arm, [5, 5, 5], "{summary}");
    assert_eq!(n(&tasks[1], "frozen_modules"), 4, "{summary}");
    assert!(
        tasks.iter().all(|t| t["best_fitness"].is_f64()),
        "{summary}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Results from agents carry only fitness; the coordinator measures each dataset arm's best
/// genome on the held-out split itself.
#[test]
fn a_dataset_run_over_an_agent_reports_held_out_test_accuracy() {
    let mnist = std::env::var_os("PATHNET_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist"));
    assert!(
        mnist.is_dir(),
        "MNIST not found at {}: run scripts/setup-mnist",
        mnist.display()
    );
    let text = format!(
        r#"
kind = "sm_pathnet"
name = "sm-pathnet-held-out"
seed = 2
[sm_pathnet]
layers = 2
modules = 3
max_active = 2
units = 4
experience = 16
eval_examples = 64
selection = "binary"
population = 4
operator = "sm_g_sum"
evaluations_per_task = 8
[[sm_pathnet.tasks]]
data = "{mnist}"
classes = [3, 5]
[[sm_pathnet.tasks]]
data = "{mnist}"
classes = [1, 7]
"#,
        mnist = mnist.display()
    );
    let dir = scratch_dir("sm-pathnet-held-out");
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, text).unwrap();
    let summary = run_summary(
        "sm-pathnet-held-out",
        &spec,
        &["--agents", "1"],
        RUN_DEADLINE,
    );
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{summary}");
    for task in tasks {
        let accuracy = task["test_accuracy"]
            .as_f64()
            .unwrap_or_else(|| panic!("no test_accuracy: {summary}"));
        assert!((0.0..=1.0).contains(&accuracy), "{summary}");
    }
    std::fs::remove_dir_all(dir).ok();
}
