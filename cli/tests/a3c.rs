//! A3C with the coordinator as parameter server, as real processes on 127.0.0.1: the
//! CartPole example learnt by two agents within its step budget, and an agent killed
//! mid-training whose lease lapses while the other agent trains on.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(300);

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/a3c_cartpole.toml")
}

/// The example's stop rule and budget, read from the example itself so the test follows it.
fn budget() -> (f64, u64) {
    let text = std::fs::read_to_string(example()).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let stop = &table["a3c"]["stop"];
    (
        stop["target_return"].as_float().unwrap(),
        stop["max_env_steps"].as_integer().unwrap() as u64,
    )
}

#[test]
fn two_agents_learn_cartpole_to_the_target_return_within_the_step_budget() {
    let summary = run_summary("a3c-two", &example(), &["--agents", "2"], RUN_DEADLINE);
    let (target, max_steps) = budget();
    assert_eq!(summary["kind"], "a3c", "{summary}");
    assert_eq!(summary["reached_target"], true, "{summary}");
    assert!(
        summary["mean_return"].as_f64().unwrap() >= target,
        "{summary}"
    );
    assert!(u64_at(&summary, "env_steps") <= max_steps, "{summary}");
    assert_eq!(u64_at(&summary, "workers"), 2, "{summary}");
    // Both workers ended by reporting; nothing was lost or refused.
    assert_eq!(u64_at(&summary["leases"], "granted"), 2, "{summary}");
    assert_eq!(u64_at(&summary["leases"], "reported"), 2, "{summary}");
}

#[test]
fn a_killed_agent_does_not_stall_the_other_and_its_lease_lapses() {
    let dir = scratch_dir("a3c-kill");
    let out = dir.join("summary.json");
    let (mut coordinator, url) = coordinator_running(
        &example(),
        &out,
        &["--lease-ms", "1500", "--heartbeat-ms", "300"],
    );
    let debug = [("PATHNET_LOG", "pathnet_agent=debug")];
    let mut victim = agent("victim", &url, &debug);
    victim.stderr_line("A3C worker started", Duration::from_secs(60));
    let mut survivor = agent("survivor", &url, &debug);
    survivor.stderr_line("A3C worker started", Duration::from_secs(60));
    victim.kill9();
    assert!(coordinator.wait(RUN_DEADLINE).success());
    assert!(survivor.wait(Duration::from_secs(30)).success());
    let summary = read_json(&out);
    let (_, max_steps) = budget();
    assert_eq!(summary["reached_target"], true, "{summary}");
    assert!(u64_at(&summary, "env_steps") <= max_steps, "{summary}");
    let leases = &summary["leases"];
    assert_eq!(u64_at(leases, "granted"), 2, "{summary}");
    assert_eq!(u64_at(leases, "expired"), 1, "{summary}");
    assert_eq!(u64_at(leases, "reported"), 1, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn pathnet_a3c_transfers_in_process_and_is_refused_over_agents() {
    let dir = scratch_dir("pathnet-a3c");
    let spec = dir.join("spec.toml");
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/pathnet_a3c_transfer.toml");
    // The example's tasks with small budgets: this checks the machinery, not learning.
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("max_env_steps = 1000000", "max_env_steps = 20000");
    assert!(text.contains("max_env_steps = 20000"));
    std::fs::write(&spec, text).unwrap();
    let summary = run_summary("pathnet-a3c-run", &spec, &[], RUN_DEADLINE);
    assert_eq!(summary["kind"], "pathnet_a3c", "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{summary}");
    assert_eq!(u64_at(&tasks[0], "frozen_modules"), 0, "{summary}");
    // Task B trains with task A's best pathway frozen: N modules in each of L layers.
    assert_eq!(u64_at(&tasks[1], "frozen_modules"), 9, "{summary}");
    assert!(u64_at(&tasks[1], "env_steps") >= 20000, "{summary}");
    assert_eq!(summary["scratch"]["env"], "Acrobot-v1", "{summary}");
    assert_eq!(
        u64_at(&summary["scratch"], "frozen_modules"),
        0,
        "{summary}"
    );

    let mut distributed = spawn(
        "run-agents",
        &["run", spec.to_str().unwrap(), "--agents", "1"],
        &[],
    );
    assert!(!distributed.wait(RUN_DEADLINE).success());
    let err = distributed.drain_stderr();
    assert!(
        err.contains("pathnet_a3c") && err.contains("--agents 0"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
