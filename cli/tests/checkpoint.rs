//! A coordinator that keeps its state (`--state-dir`) killed with SIGKILL twice during a
//! PathNet run served to two agents, real processes on 127.0.0.1: each time it is started
//! again on the same directory it resumes from its last checkpoint instead of from zero, the
//! agents find it again on their own, the run finishes, and the summary counts every
//! accepted result exactly once across the three runs. Synchronised on the coordinator's
//! output (its `checkpoint written` log lines, its `resumed` line) and process exits.

mod common;

use common::state_dir::*;
use common::*;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

/// Waits for a checkpoint at `task` with at least `generation` tournaments resolved;
/// returns its (task, generation).
fn checkpoint_at(coordinator: &mut Proc, task: u64, generation: u64) -> (u64, u64) {
    loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        let at = (number(&line, "task"), number(&line, "generation"));
        if at >= (task, generation) {
            return at;
        }
    }
}

/// Kills the coordinator with SIGKILL once it has saved a state at `task` and `generation`,
/// starts it again on the same state and returns it with where the state it resumed from was.
fn kill_and_resume(
    coordinator: &mut Proc,
    (task, generation): (u64, u64),
    addr: &str,
    files: (&Path, &Path, &Path),
) -> (Proc, (u64, u64)) {
    let saved = checkpoint_at(coordinator, task, generation);
    coordinator.kill9();
    let mut resumed = start(addr, files, "100", &[]);
    let line = resumed.stdout_line("resumed", Duration::from_secs(30));
    assert!(line.contains("resumed (running)"), "{line}");
    let at = (number(&line, "task"), number(&line, "generation"));
    // Anything saved after the line waited for is newer still, never older.
    assert!(
        at >= saved,
        "resumed at {at:?}, a checkpoint at {saved:?} was written: {line}"
    );
    (resumed, at)
}

#[test]
fn a_coordinator_killed_twice_resumes_from_its_state_and_counts_every_result_once() {
    let dir = scratch_dir("resume");
    let (spec, out, state) = state_files(&dir);
    // Evaluations long enough that each task spans several checkpoints.
    std::fs::write(&spec, common::spec(&fashion_dir(), 8, 200, 16)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let files = (spec.as_path(), out.as_path(), state.as_path());
    let mut coordinator = start(&addr, files, "100", &[]);
    let mut agents = agents(&url, 2, &[("PATHNET_LOG", "pathnet_agent=info")]);

    let (mut coordinator, first) = kill_and_resume(&mut coordinator, (0, 2), &addr, files);
    assert!(
        first >= (0, 2),
        "generations go on from the checkpoint, not from 0"
    );
    let (mut coordinator, second) = kill_and_resume(&mut coordinator, (1, 2), &addr, files);
    assert!(second >= (1, 2), "{second:?}");
    let summary = finish(
        &mut coordinator,
        &mut agents,
        &out,
        Duration::from_secs(240),
    );

    assert_eq!(summary["incarnation"], 3, "{summary}");
    let c = &summary["counters"];
    let l = &summary["leases"];
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    // Both tasks ran their 8 generations once: nothing restarted from zero, nothing lost.
    assert_eq!(n(c, "tournaments_resolved"), 16, "{summary}");
    assert_eq!(n(c, "tournaments_started"), 16, "{summary}");
    assert_eq!(n(c, "results_accepted"), 32, "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{summary}");
    assert!(tasks.iter().all(|t| n(t, "evaluations") == 16), "{summary}");
    assert_eq!(n(&tasks[1], "frozen_modules"), 4, "{summary}");
    // Every evaluation handed out was applied once or re-queued, and every re-queue has its
    // cause in the lease table: leases live at a restart among them.
    assert_eq!(
        n(c, "evaluations_issued"),
        n(c, "results_accepted") + n(c, "evaluations_requeued") + n(c, "evaluations_cancelled"),
        "{summary}"
    );
    assert_eq!(n(l, "granted"), n(c, "evaluations_issued"), "{summary}");
    assert_eq!(n(l, "reported"), n(c, "results_accepted"), "{summary}");
    assert_eq!(
        n(c, "evaluations_requeued"),
        n(l, "expired") + n(l, "released") + n(l, "refused") + n(l, "restarted"),
        "{summary}"
    );
    std::fs::remove_dir_all(dir).ok();
}
