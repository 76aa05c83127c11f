//! Coordinator and agents as real processes on 127.0.0.1: a run that completes, an agent
//! killed mid-run whose lease expires, an agent stopped with SIGTERM that hands its lease
//! back, and the one-command `pathnet run --agents N`.

mod common;

use common::*;
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// Results each agent says the coordinator accepted, from its closing log line.
fn accepted_by(agent: &mut Proc) -> u64 {
    let log = agent.drain_stderr();
    let line = log
        .lines()
        .find(|l| l.contains("agent stopped"))
        .unwrap_or_else(|| panic!("{}: no closing line in\n{log}", agent.name));
    let after = line.split("accepted: ").nth(1).unwrap();
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn three_agents_finish_an_experiment_with_every_result_applied_once() {
    let dir = scratch_dir("three");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 8, 10, 8)).unwrap();
    let (mut coordinator, url) = coordinator_running(&spec, &out, &[]);
    let log = [("PATHNET_LOG", "pathnet=info")];
    // One of them runs two work items at once.
    let mut agents: Vec<Proc> = (0..3)
        .map(|i| {
            let workers: &[&str] = if i == 0 { &["--workers", "2"] } else { &[] };
            agent_with(&format!("agent{i}"), &url, workers, &log)
        })
        .collect();
    assert!(coordinator.wait(RUN_DEADLINE).success());
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    assert_eq!(summary["counters"]["tournaments_resolved"], 16, "{summary}");
    assert_eq!(summary["counters"]["evaluations_requeued"], 0, "{summary}");
    assert_eq!(summary["tasks"][1]["frozen_modules"], 4, "{summary}");
    let mut reported = 0;
    for agent in &mut agents {
        assert!(
            agent.wait(Duration::from_secs(30)).success(),
            "{}",
            agent.name
        );
        reported += accepted_by(agent);
    }
    // The agents' own count of accepted results matches the coordinator's.
    assert_eq!(reported, 32);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_killed_agents_lease_expires_and_its_work_is_redone() {
    let dir = scratch_dir("kill9");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    // Long evaluations, so the agent is surely mid-training when it is killed.
    std::fs::write(&spec, common::spec(&fashion_dir(), 3, 300, 32)).unwrap();
    let summary = run_with_an_agent_killed(&spec, &out, "training", RUN_DEADLINE);
    assert_exactly_once(&summary);
    assert!(
        summary["leases"]["expired"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(
        summary["counters"]["evaluations_requeued"]
            .as_u64()
            .unwrap()
            >= 1,
        "{summary}"
    );
    assert_eq!(summary["counters"]["tournaments_resolved"], 6, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sigterm_hands_unfinished_leases_back_without_waiting_for_expiry() {
    let dir = scratch_dir("sigterm");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 3, 300, 32)).unwrap();
    // A lease far longer than the test: only a release can bring the work back in time.
    let (mut coordinator, url) = coordinator_running(&spec, &out, &["--lease-ms", "600000"]);
    let debug = [("PATHNET_LOG", "pathnet_agent=debug")];
    let mut leaving = agent("leaving", &url, &debug);
    leaving.stderr_line("training", Duration::from_secs(120));
    leaving.signal("TERM");
    assert!(leaving.wait(Duration::from_secs(30)).success());
    let mut staying = agent("staying", &url, &[]);
    assert!(coordinator.wait(RUN_DEADLINE).success());
    assert!(staying.wait(Duration::from_secs(30)).success());
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    assert!(
        summary["leases"]["released"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(summary["leases"]["expired"], 0, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn run_with_agents_starts_them_and_writes_the_summary() {
    let dir = scratch_dir("run-agents");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 5, 10, 8)).unwrap();
    let mut run = spawn(
        "run",
        &[
            "run",
            spec.to_str().unwrap(),
            "--agents",
            "2",
            "--summary-json",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.stdout_line(
        "coordinator listening on 127.0.0.1:",
        Duration::from_secs(30),
    );
    run.stdout_line("experiment cluster (seed 5) finished", RUN_DEADLINE);
    assert!(run.wait(Duration::from_secs(60)).success());
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    assert_eq!(summary["tasks"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_malformed_spec_stops_the_coordinator_naming_the_field() {
    let dir = scratch_dir("bad-spec");
    let spec = dir.join("spec.toml");
    let text = common::spec(&fashion_dir(), 5, 10, 8).replace("batch_size = 8", "batch_size = 0");
    std::fs::write(&spec, text).unwrap();
    let mut coordinator = spawn(
        "coordinator",
        &[
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--spec",
            spec.to_str().unwrap(),
        ],
        &[],
    );
    let status = coordinator.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(2));
    let stderr = coordinator.drain_stderr();
    assert!(stderr.contains("evolution.batch_size"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_small_message_limit_chunks_pulls_and_pushes_deltas_ahead_of_reports() {
    let dir = scratch_dir("push");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    // A first-layer module holds 784 x 8 weights (25 KB): over the 16 KiB limit, so its
    // parameters arrive in chunks and its delta cannot travel inside a report.
    std::fs::write(&spec, common::spec(&fashion_dir(), 3, 10, 8)).unwrap();
    let mut run = spawn(
        "run",
        &[
            "run",
            spec.to_str().unwrap(),
            "--agents",
            "1",
            "--max-message-bytes",
            "16384",
            "--summary-json",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(run.wait(RUN_DEADLINE).success(), "{}", run.drain_stderr());
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    assert_eq!(summary["counters"]["results_refused"], 0, "{summary}");
    assert_eq!(summary["counters"]["tournaments_resolved"], 6, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}

/// With one agent training one pathway at a time, every delta lands on the version it was
/// computed from, so the agent keeps what it trained and pulls each module at most once
/// per task (the transfer re-initialises all but the frozen ones): never its own updates.
#[test]
fn one_agent_pulls_each_module_at_most_once_per_task() {
    let summary = run_summary(
        "one-agent-pulls",
        &write_spec("one-agent-pulls", 6),
        &["--agents", "1"],
        RUN_DEADLINE,
    );
    assert_exactly_once(&summary);
    // common::spec's network in f32: 4 modules of 784x8 + 8 in the first layer, 4 of
    // 8x8 + 8 in the second, two 8x2 + 2 heads.
    let network_bytes = 4 * (4 * (784 * 8 + 8) + 4 * (8 * 8 + 8) + 2 * (8 * 2 + 2));
    let pulled = summary["parameter_bytes"]["pulled"].as_u64().unwrap();
    let evaluations = u64_at(&summary["counters"], "results_accepted");
    assert!(
        pulled <= 2 * network_bytes,
        "{pulled} bytes pulled over {evaluations} evaluations: more than one network per \
         task ({network_bytes} bytes)\n{summary}"
    );
    assert!(summary["parameter_bytes"]["pushed"].as_u64().unwrap() > 0);
}

fn write_spec(name: &str, generations: usize) -> std::path::PathBuf {
    let dir = scratch_dir(name);
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, common::spec(&fashion_dir(), generations, 10, 8)).unwrap();
    spec
}
