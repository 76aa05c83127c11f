//! A3C with the coordinator as parameter server, as real processes on 127.0.0.1: the
//! CartPole example learnt by two agents within its step budget, an agent killed
//! mid-training whose lease lapses while the other agent trains on, and PathNet-A3C's
//! transfer run in one process and over two agents.

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

/// The PathNet-A3C example's tasks with small budgets: these check the machinery, not
/// learning.
fn small_pathnet_a3c_spec(dir: &std::path::Path) -> PathBuf {
    let spec = dir.join("spec.toml");
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/pathnet_a3c_transfer.toml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("max_env_steps = 1000000", "max_env_steps = 20000");
    assert!(text.contains("max_env_steps = 20000"));
    std::fs::write(&spec, text).unwrap();
    spec
}

/// Task B trained with task A's best pathway frozen, and the control with nothing frozen.
fn assert_transfer_summary(summary: &serde_json::Value) {
    assert_eq!(summary["kind"], "pathnet_a3c", "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{summary}");
    assert_eq!(u64_at(&tasks[0], "frozen_modules"), 0, "{summary}");
    // N modules in each of L layers.
    assert_eq!(u64_at(&tasks[1], "frozen_modules"), 9, "{summary}");
    assert!(
        tasks.iter().all(|t| u64_at(t, "env_steps") >= 20000),
        "{summary}"
    );
    assert!(u64_at(&tasks[0], "tournaments") > 0, "{summary}");
    assert_eq!(summary["scratch"]["env"], "Acrobot-v1", "{summary}");
    assert_eq!(
        u64_at(&summary["scratch"], "frozen_modules"),
        0,
        "{summary}"
    );
}

#[test]
fn pathnet_a3c_transfers_in_process_and_over_agents() {
    let dir = scratch_dir("pathnet-a3c");
    let spec = small_pathnet_a3c_spec(&dir);
    let summary = run_summary("pathnet-a3c-run", &spec, &[], RUN_DEADLINE);
    assert_transfer_summary(&summary);

    let summary = run_summary(
        "pathnet-a3c-agents",
        &spec,
        &["--agents", "2"],
        RUN_DEADLINE,
    );
    assert_transfer_summary(&summary);
    // `pathnet run` gives the 2 agents 2 worker slots each, so the example's 4 genotypes
    // train at once: three phases of 4 worker leases, every one ended by its report.
    let leases = &summary["leases"];
    assert_eq!(u64_at(leases, "granted"), 12, "{summary}");
    assert_eq!(u64_at(leases, "reported"), 12, "{summary}");
    assert_eq!(u64_at(&summary, "workers"), 12, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}
