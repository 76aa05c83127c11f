//! Sideways segments whose stages the coordinator places on two or three agents, as real
//! processes on 127.0.0.1 talking over stage links: the run equals the in-process run bit for
//! bit (placed by `stage_hosts`, or spread by `pathnet run --agents N` when the spec leaves
//! placement open), and when the agent hosting a stage is killed mid-segment (a replacement
//! started), the segment is trained again from the last snapshot and the run still ends on
//! the same parameters.

mod common;

use common::sideways::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// A run of 6 batches of `batch` clips of 16 frames on 2 stages, in 3 segments, its stages
/// on 2 agents, each stage asking for the labels `place` gives.
fn spec_of(dir: &Path, batch: usize, place: &str) -> PathBuf {
    spec_with(dir, 2, batch, &format!("stage_hosts = 2\n{place}"))
}

/// The run of [`spec_of`] on `stages` stages, with `placement` as its top-level placement
/// lines.
fn spec_with(dir: &Path, stages: usize, batch: usize, placement: &str) -> PathBuf {
    let spec = dir.join(format!("sideways-links-{stages}-{batch}.toml"));
    let extra = placement;
    let run = SidewaysRun {
        name: "sideways-links-test",
        seed: 11,
        stages,
        snapshot_every: 2,
        batch,
        batches: 6,
        frames: 16,
        extra,
    };
    std::fs::write(&spec, run.toml()).unwrap();
    spec
}

#[test]
fn stages_on_two_agents_train_the_in_process_run_bit_for_bit() {
    let dir = scratch_dir("sideways-links-same");
    let spec = spec_of(&dir, 4, "");
    let local = run_summary(
        "sideways-links-local",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    assert_eq!(u64_at(&local, "link_bytes"), 0, "{local}");
    let placed = run_summary(
        "sideways-links-agents",
        &spec,
        &["--agents", "2"],
        RUN_DEADLINE,
    );
    assert_same_run(&local, &placed);
    assert_eq!(u64_at(&placed, "segments_reissued"), 0, "{placed}");
    // Every segment went over a link: activations down, gradients up.
    assert!(u64_at(&placed, "link_bytes") > 0, "{placed}");
    // One agent is too few for the spec's 2 stage hosts.
    let mut short = spawn(
        "sideways-links-short",
        &["run", spec.to_str().unwrap(), "--agents", "1"],
        &[],
    );
    assert!(!short.wait(Duration::from_secs(60)).success());
    let stderr = short.drain_stderr();
    assert!(stderr.contains("stage_hosts"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

/// `pathnet run SPEC --agents N` with its agents logging the stage links they serve: the
/// summary, and what the agents said of each segment they hosted stages of (one line each).
fn run_logged(name: &str, spec: &Path, agents: usize) -> (serde_json::Value, Vec<String>) {
    let dir = scratch_dir(name);
    let out = dir.join("summary.json");
    let agents = agents.to_string();
    let args = [
        "run",
        spec.to_str().unwrap(),
        "--agents",
        &agents,
        "--summary-json",
        out.to_str().unwrap(),
    ];
    let mut run = spawn(name, &args, &[("PATHNET_LOG", "pathnet_agent=info")]);
    assert!(run.wait(RUN_DEADLINE).success());
    let hosted = run
        .drain_stderr()
        .lines()
        .filter(|line| line.contains("hosting stages"))
        .map(common::state_dir::plain)
        .collect();
    let summary = read_json(&out);
    std::fs::remove_dir_all(dir).ok();
    (summary, hosted)
}

#[test]
fn a_local_run_spreads_an_open_specs_stages_over_its_agents() {
    let dir = scratch_dir("sideways-links-spread");
    // No `stage_hosts`, no `place`: as examples/sideways_moving_fashion.toml.
    let spec = spec_with(&dir, 2, 4, "");
    let local = run_summary(
        "sideways-links-spread-local",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    let (spread, hosted) = run_logged("sideways-links-spread-2", &spec, 2);
    assert_same_run(&local, &spread);
    assert!(u64_at(&spread, "link_bytes") > 0, "{spread}");
    // Stage 1 of each of the 3 segments on the agent not driving.
    assert_eq!(hosted.len(), 3, "{hosted:?}");
    assert!(
        hosted
            .iter()
            .all(|line| line.contains("host=1") && line.contains("placement=[0, 1]")),
        "{hosted:?}"
    );
    // One agent: every stage on it, as before.
    let (alone, hosted) = run_logged("sideways-links-spread-1", &spec, 1);
    assert_same_run(&local, &alone);
    assert_eq!(u64_at(&alone, "link_bytes"), 0, "{alone}");
    assert!(hosted.is_empty(), "{hosted:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn stages_on_three_agents_train_the_in_process_run_bit_for_bit() {
    let dir = scratch_dir("sideways-links-three");
    // 4 stages on 3 hosts: stages 0 and 1 on the driver, 2 and 3 on one host each.
    let spec = spec_with(&dir, 4, 4, "stage_hosts = 3");
    let local = run_summary(
        "sideways-links-three-local",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    assert_eq!(u64_at(&local, "link_bytes"), 0, "{local}");
    let (placed, hosted) = run_logged("sideways-links-three-agents", &spec, 3);
    assert_same_run(&local, &placed);
    assert_eq!(u64_at(&placed, "segments_reissued"), 0, "{placed}");
    assert!(u64_at(&placed, "link_bytes") > 0, "{placed}");
    // Hosts 1 and 2 of each of the 3 segments.
    for host in ["host=1", "host=2"] {
        let of_host: Vec<_> = hosted.iter().filter(|l| l.contains(host)).collect();
        assert_eq!(of_host.len(), 3, "{host}: {hosted:?}");
    }
    assert!(
        hosted
            .iter()
            .all(|line| line.contains("placement=[0, 0, 1, 2]")),
        "{hosted:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_killed_stage_hosts_segment_is_trained_again_and_the_run_ends_the_same() {
    let dir = scratch_dir("sideways-links-kill9");
    // Segments of 2 batches of 24 clips (seconds each over the link): the kill lands while
    // the victim hosts stage 1 of segment 1. Labels decide who drives and who hosts.
    let spec = spec_of(&dir, 24, r#"place = ["role=driver", "role=stages"]"#);
    let out = dir.join("summary.json");
    let (mut coordinator, url) = coordinator_running(
        &spec,
        &out,
        &["--lease-ms", "3000", "--heartbeat-ms", "300"],
    );
    let log = [("PATHNET_LOG", "pathnet_agent=info")];
    let host_args = ["--label", "role=stages", "--stage-listen", "127.0.0.1:0"];
    let mut driver = agent_with("links-driver", &url, &["--label", "role=driver"], &log);
    let mut victim = agent_with("links-victim", &url, &host_args, &log);
    victim.stderr_line("hosting stages", Duration::from_secs(300));
    // Segment 0 is the first it hosts; killed while it hosts segment 1.
    let line = victim.stderr_line("hosting stages", Duration::from_secs(300));
    assert!(
        common::state_dir::plain(&line).contains("segment=1"),
        "{line}"
    );
    victim.kill9();
    driver.stderr_line("a stage host was lost", Duration::from_secs(120));
    let mut replacement = agent_with("links-replacement", &url, &host_args, &log);
    replacement.stderr_line("hosting stages", Duration::from_secs(120));
    assert!(coordinator.wait(RUN_DEADLINE).success());
    assert!(driver.wait(Duration::from_secs(60)).success());
    assert!(replacement.wait(Duration::from_secs(60)).success());
    let killed = read_json(&out);
    assert!(u64_at(&killed, "segments_reissued") >= 1, "{killed}");
    assert!(u64_at(&killed, "link_bytes") > 0, "{killed}");
    let local = run_summary(
        "sideways-links-kill9-local",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    assert_same_run(&local, &killed);
    std::fs::remove_dir_all(dir).ok();
}

/// A coordinator with an agent token: its agents present the token on the stage links they
/// open as well, and the hosts (serving links with the same token) take them, so the run
/// goes over links and ends on the in-process run.
#[test]
fn stage_links_between_agents_of_a_coordinator_with_tokens_carry_the_run() {
    let dir = scratch_dir("sideways-links-token");
    let spec = spec_of(&dir, 4, r#"place = ["role=driver", "role=stages"]"#);
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, "links-7f3a9c1e5b\n").unwrap();
    let out = dir.join("summary.json");
    let (mut coordinator, url) = coordinator_running(
        &spec,
        &out,
        &["--agent-token-file", token_file.to_str().unwrap()],
    );
    let token = [("PATHNET_AGENT_TOKEN_FILE", token_file.to_str().unwrap())];
    let host_args = ["--label", "role=stages", "--stage-listen", "127.0.0.1:0"];
    let mut driver = agent_with("token-driver", &url, &["--label", "role=driver"], &token);
    let mut host = agent_with("token-host", &url, &host_args, &token);
    assert!(coordinator.wait(RUN_DEADLINE).success());
    assert!(driver.wait(Duration::from_secs(60)).success());
    assert!(host.wait(Duration::from_secs(60)).success());
    let placed = read_json(&out);
    assert!(u64_at(&placed, "link_bytes") > 0, "{placed}");
    assert_eq!(u64_at(&placed, "segments_reissued"), 0, "{placed}");
    let local = run_summary(
        "sideways-links-token-local",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    assert_same_run(&local, &placed);
    std::fs::remove_dir_all(dir).ok();
}
