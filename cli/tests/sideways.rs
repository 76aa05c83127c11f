//! Sideways experiments as real processes on 127.0.0.1: the run cut into segments gives the
//! same parameters bit for bit in process, over two agents, and when the agent holding a
//! segment is killed mid-run (its segment is trained again from the last snapshot); bad
//! specs are refused naming the field.

mod common;

use common::sideways::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// A small run: 6 batches of 4 clips of 8 frames on 2 stages, in 3 segments, each segment's
/// stages on one agent.
fn small_spec(dir: &Path) -> PathBuf {
    spec_of(dir, 4, 8)
}

/// The run of [`small_spec`] with `batch` clips of `frames` frames per batch.
fn spec_of(dir: &Path, batch: usize, frames: usize) -> PathBuf {
    let spec = dir.join(format!("sideways-{batch}-{frames}.toml"));
    let run = SidewaysRun {
        name: "sideways-test",
        seed: 7,
        stages: 2,
        snapshot_every: 2,
        batch,
        batches: 6,
        frames,
        // Each segment whole on one agent even under `pathnet run --agents 2`, which would
        // otherwise spread the stages (cli/tests/sideways_links.rs covers that).
        extra: "stage_hosts = 1",
    };
    std::fs::write(&spec, run.toml()).unwrap();
    spec
}

#[test]
fn two_agents_train_the_in_process_run_bit_for_bit() {
    let dir = scratch_dir("sideways-same");
    let spec = small_spec(&dir);
    let local = run_summary("sideways-local", &spec, &["--agents", "0"], RUN_DEADLINE);
    assert_eq!(local["kind"], "sideways", "{local}");
    assert_eq!(u64_at(&local, "segments"), 3, "{local}");
    assert_eq!(u64_at(&local, "frames"), 6 * 4 * 8, "{local}");
    assert_eq!(local["stage_busy"].as_array().unwrap().len(), 2, "{local}");
    let agents = run_summary("sideways-agents", &spec, &["--agents", "2"], RUN_DEADLINE);
    assert_same_run(&local, &agents);
    assert_eq!(u64_at(&agents, "segments_reissued"), 0, "{agents}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_killed_agents_segment_is_trained_again_from_the_last_snapshot() {
    let dir = scratch_dir("sideways-kill9");
    // Segments of 2 batches of 24 clips of 16 frames (about a second each): the kill lands
    // while the victim trains, not between two segments.
    let spec = spec_of(&dir, 24, 16);
    let out = dir.join("summary.json");
    let (mut coordinator, url) = coordinator_running(
        &spec,
        &out,
        &["--lease-ms", "1500", "--heartbeat-ms", "300"],
    );
    let log = [("PATHNET_LOG", "pathnet_agent=info")];
    let mut victim = agent("sideways-victim", &url, &log);
    // Killed while it trains the second segment: the first one's snapshot is the run's.
    victim.stderr_line("training segment 1", Duration::from_secs(300));
    victim.kill9();
    let mut survivor = agent("sideways-survivor", &url, &log);
    assert!(coordinator.wait(RUN_DEADLINE).success());
    assert!(survivor.wait(Duration::from_secs(60)).success());
    let killed = read_json(&out);
    assert!(u64_at(&killed, "segments_reissued") >= 1, "{killed}");
    let local = run_summary(
        "sideways-kill9-local",
        &spec,
        &["--agents", "0"],
        RUN_DEADLINE,
    );
    assert_same_run(&local, &killed);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_specs_are_refused_naming_the_field() {
    let dir = scratch_dir("sideways-bad");
    let good = std::fs::read_to_string(small_spec(&dir)).unwrap();
    let cases = [
        ("stages = 2", "stages = 3", "sideways.stages"),
        ("batch = 4", "batch = 0", "sideways.batch"),
        ("snapshot_every = 2", "snapshot_every = 0", "snapshot_every"),
        ("canvas = 32", "canvas = 48", "sideways.video.canvas"),
        ("stages = 2", "stages = 2\nskips = [2]", "sideways.skips"),
    ];
    for (from, to, field) in cases {
        let spec = dir.join("bad.toml");
        std::fs::write(&spec, good.replacen(from, to, 1)).unwrap();
        let mut run = spawn("sideways-bad", &["run", spec.to_str().unwrap()], &[]);
        assert!(!run.wait(Duration::from_secs(60)).success(), "{to}");
        let stderr = run.drain_stderr();
        assert!(stderr.contains(field), "{to}: {stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn watch_shows_every_segment_with_its_video_progress() {
    let dir = scratch_dir("sideways-watch");
    let spec = small_spec(&dir);
    let out = dir.join("summary.json");
    let (mut coordinator, url) = coordinator_running(&spec, &out, &[]);
    let line = coordinator.stdout_line("started", Duration::from_secs(60));
    let experiment = line.split(' ').nth(1).unwrap().to_owned();
    let mut watch = spawn(
        "sideways-watch",
        &[
            "watch",
            "--coordinator",
            &url,
            "--experiment",
            &experiment,
            "--json",
        ],
        &[],
    );
    // No agent yet, so no segment is done: from here the watcher sees every event.
    watch.stderr_line("watching experiment", Duration::from_secs(30));
    let _agent = agent("sideways-watch-agent", &url, &[]);
    assert!(coordinator.wait(RUN_DEADLINE).success());
    for segment in 1..=3u64 {
        let line = watch.stdout_line("{", Duration::from_secs(30));
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        let video = &event["sideways"];
        assert_eq!(event["generation"], segment, "{line}");
        assert_eq!(video["batches"], 2 * segment, "{line}");
        assert_eq!(video["max_batches"], 6, "{line}");
        assert_eq!(video["frames"], 64 * segment, "{line}");
        assert!(video["frames_per_second"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(video["stage_busy"].as_array().unwrap().len(), 2, "{line}");
    }
    assert!(watch.wait(Duration::from_secs(30)).success());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn calibrate_times_the_blocks_and_prints_a_cut_the_spec_accepts() {
    let dir = scratch_dir("sideways-calibrate");
    let spec = small_spec(&dir);
    let mut calibrate = spawn(
        "sideways-calibrate",
        &["calibrate", spec.to_str().unwrap(), "--clips", "1"],
        &[],
    );
    let line = calibrate.stdout_line("blocks = [", Duration::from_secs(120));
    assert!(calibrate.wait(Duration::from_secs(30)).success());
    // The line goes into the spec as it is, and the run with it builds its stages.
    let text = std::fs::read_to_string(&spec).unwrap();
    let cut = text.replacen("[sideways]", &format!("[sideways]\n{}", line.trim()), 1);
    let timed = dir.join("timed.toml");
    std::fs::write(&timed, cut).unwrap();
    let summary = run_summary("sideways-timed", &timed, &["--agents", "0"], RUN_DEADLINE);
    assert_eq!(
        summary["stage_busy"].as_array().unwrap().len(),
        2,
        "{summary}"
    );
    // Other kinds are refused, naming what calibrate is for.
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/a3c_cartpole.toml");
    let mut refused = spawn(
        "calibrate-refused",
        &["calibrate", other.to_str().unwrap()],
        &[],
    );
    assert!(!refused.wait(Duration::from_secs(30)).success());
    let stderr = refused.drain_stderr();
    assert!(stderr.contains("`sideways`"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}
