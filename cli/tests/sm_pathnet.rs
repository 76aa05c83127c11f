//! Safe-mutation PathNet on the lease scheduler, as real processes on 127.0.0.1: an agent
//! killed with -9 in the middle of an evaluation loses its lease, the evaluation is issued
//! again and every result is counted once; the example runs in process too.

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
