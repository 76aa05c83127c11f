//! A Sideways run served to two agents by a coordinator that keeps its state
//! (`--state-dir`), killed with SIGKILL twice mid-run: each time, started again on the same
//! directory, it resumes at the segments of its last checkpoint (not zero) with the saved
//! snapshot (parameters and Adam's moments), the agents find it again on their own, the
//! segment that was out is trained again from that snapshot, and the run ends with the
//! parameters of the same run in process, bit for bit. Every segment is counted once across
//! the three runs. Synchronised on log lines.

mod common;

use common::sideways::*;
use common::state_dir::*;
use common::*;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

/// Segments of the run: 16 batches, 2 per segment.
const SEGMENTS: u64 = 8;

fn spec() -> String {
    SidewaysRun {
        name: "sw-resume",
        seed: 5,
        stages: 2,
        snapshot_every: 2,
        batch: 4,
        batches: 16,
        frames: 8,
        extra: "",
    }
    .toml()
}

/// Waits for a save of at least `segments` segments of the run.
fn checkpoint_at(coordinator: &mut Proc, segments: u64) -> u64 {
    loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        if plain(&line).contains("experiment=\"sw-resume-") && number(&line, "accepted") >= segments
        {
            return number(&line, "generation");
        }
    }
}

/// Kills the coordinator and starts it again; checks it resumed running at the segments
/// on disk, at or past `seen`. Returns it and the segments on disk.
fn kill_and_resume(served: &Restartable, coordinator: &mut Proc, seen: u64) -> (Proc, u64) {
    let on_disk = served.kill(coordinator);
    assert_eq!(on_disk.kind, "sideways");
    let done = on_disk.run["segments_done"].as_u64().unwrap();
    let accepted = on_disk.run["counters"]["results_accepted"]
        .as_u64()
        .unwrap();
    assert_eq!(done, accepted, "{}", on_disk.run);
    assert!(done >= seen && done < SEGMENTS, "{done}");
    let (coordinator, line) = served.resume();
    assert!(line.contains("resumed (running)"), "{line}");
    assert!(
        plain(&line).contains(&format!("generation {done}, {done} results accepted")),
        "{done}: {line}"
    );
    (coordinator, done)
}

#[test]
fn a_sideways_coordinator_killed_twice_resumes_from_its_snapshot_and_ends_bit_for_bit() {
    let spec_text = spec();
    let served = Restartable::new("sw-resume", &spec_text, "25");
    let mut coordinator = served.start();
    let mut agents = served.agents(2);

    let seen = checkpoint_at(&mut coordinator, 2);
    let (mut coordinator, first) = kill_and_resume(&served, &mut coordinator, seen);
    let seen = checkpoint_at(&mut coordinator, first + 2);
    let (mut coordinator, second) = kill_and_resume(&served, &mut coordinator, seen);
    assert!(second > first, "{first} then {second}");

    let summary = served.finish(&mut coordinator, &mut agents);
    eprintln!("resumed at segments {first} and {second}: {summary}");
    assert_eq!(summary["incarnation"], 3, "{summary}");
    assert_eq!(summary["kind"], "sideways", "{summary}");
    assert_eq!(u64_at(&summary, "segments"), SEGMENTS, "{summary}");
    let l = &summary["leases"];
    // Every segment reported once, over the three runs of the coordinator; every other
    // lease ended by its cause, and each such segment went out again.
    assert_eq!(u64_at(l, "reported"), SEGMENTS, "{summary}");
    let again = u64_at(l, "expired")
        + u64_at(l, "released")
        + u64_at(l, "refused")
        + u64_at(l, "restarted");
    assert_eq!(u64_at(&summary, "segments_reissued"), again, "{summary}");
    assert_eq!(
        u64_at(l, "granted"),
        SEGMENTS + again + u64_at(l, "cancelled"),
        "{summary}"
    );

    // The same run in process, never interrupted: the same parameters, bit for bit.
    let dir = scratch_dir("sw-resume-local");
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, &spec_text).unwrap();
    let local = run_summary("sw-resume-local", &spec, &["--agents", "0"], STEP);
    for key in [
        "fingerprint",
        "final_loss",
        "final_accuracy",
        "test_accuracy",
        "frames",
        "batches",
    ] {
        assert_eq!(local[key], summary[key], "{key}: {local} vs {summary}");
    }
    std::fs::remove_dir_all(dir).ok();
    served.remove();
}
