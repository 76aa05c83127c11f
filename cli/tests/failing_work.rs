//! Work that fails every time, with real processes on 127.0.0.1: the coordinator reads the
//! dataset, an agent is pointed at a directory without it, so every evaluation fails on
//! that agent. Alone, it must fail the experiment, naming the evaluation and the agent's
//! error, instead of re-issuing the evaluation forever; beside a healthy agent, it must be
//! quarantined and the experiment finish.

mod common;

use common::*;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn an_evaluation_failing_on_every_try_fails_the_experiment_naming_it() {
    let dir = scratch_dir("failing-work");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    let missing = dir.join("no-dataset-here");
    std::fs::write(&spec, common::spec(&fashion_dir(), 2, 1, 4)).unwrap();
    let (mut coordinator, url) = coordinator_running(&spec, &out, &[]);
    let mut agent = agent_with(
        "agent",
        &url,
        &["--data-dir", missing.to_str().unwrap()],
        &[],
    );

    let status = coordinator.wait(DEADLINE);
    let stderr = coordinator.drain_stderr();
    assert!(!status.success(), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in\n{stderr}"));
    for part in [
        "the experiment failed: pathnet evaluation 0 (task 0 `first`, pathway [[",
        "failed 3 times",
        // Agent ids carry the coordinator's incarnation: `agent-<incarnation>-<n>`.
        "on agent `agent-",
        "-1`: ",
        &missing.display().to_string(),
        "found neither",
    ] {
        assert!(error.contains(part), "no `{part}` in: {error}");
    }
    assert!(!out.exists(), "a failed experiment writes no summary");
    // The agent leaves with the coordinator.
    assert!(agent.wait(Duration::from_secs(30)).success());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_broken_agent_beside_a_healthy_one_is_quarantined_and_the_experiment_finishes() {
    let dir = scratch_dir("broken-agent");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    let missing = dir.join("no-dataset-here");
    // Evaluations long enough that the healthy agent is still busy when the broken one
    // joins; the population of 6 leaves it evaluations to fail.
    std::fs::write(&spec, common::spec(&fashion_dir(), 4, 40, 16)).unwrap();
    let (mut coordinator, url) = coordinator_running(&spec, &out, &[]);
    let mut healthy = agent("healthy", &url, &[("PATHNET_LOG", "info")]);
    healthy.stderr_line("joined", Duration::from_secs(60));
    let mut broken = agent_with(
        "broken",
        &url,
        &["--data-dir", missing.to_str().unwrap()],
        &[],
    );

    let status = coordinator.wait(DEADLINE);
    let stderr = coordinator.drain_stderr();
    assert!(status.success(), "{stderr}");
    // The second agent to join, `agent-<incarnation>-2`, is the broken one.
    let second_agent = |line: &str| {
        line.split("agent-").skip(1).any(|rest| {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            id.ends_with("-2")
        })
    };
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("agent quarantined") && second_agent(l)),
        "{stderr}"
    );
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    assert!(healthy.wait(Duration::from_secs(30)).success());
    assert!(broken.wait(Duration::from_secs(30)).success());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_limit_of_zero_failures_is_refused() {
    let mut coordinator = spawn(
        "coordinator",
        &[
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--max-failures-per-work",
            "0",
        ],
        &[],
    );
    assert!(!coordinator.wait(DEADLINE).success());
    let stderr = coordinator.drain_stderr();
    assert!(
        stderr.contains("`--max-failures-per-work` = 0: must be at least 1"),
        "{stderr}"
    );
}
