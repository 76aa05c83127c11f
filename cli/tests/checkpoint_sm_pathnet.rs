//! A safe-mutation PathNet run (CartPole, then Acrobot with a transfer and a scratch arm)
//! served to two agents by a coordinator that keeps its state (`--state-dir`), killed with
//! SIGKILL twice: once in the first task, once after the transfer to the second. Each time,
//! started again on the same directory, it resumes with the task, generation and accepted
//! evaluations of its last checkpoint (not zero), the agents find it again on their own, and
//! in the end every arm ran its budget once. Every accepted result is counted once across the
//! three runs: results accepted after the last save are redone, not counted twice.
//! Synchronised on log lines.

mod common;

use common::state_dir::*;
use common::*;
use pathnet_coordinator::checkpoint::SavedExperiment;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

/// Evaluations per task and arm: enough for a checkpoint in each task before the run ends.
const BUDGET: u64 = 150;

const SPEC: &str = r#"
kind = "sm_pathnet"
name = "smp-resume"
seed = 6
[sm_pathnet]
envs = ["CartPole-v1", "Acrobot-v1"]
layers = 2
modules = 4
max_active = 2
units = 8
episodes = 1
experience = 20
selection = "binary"
population = 6
operator = "sm_g_sum"
evaluations_per_task = 150
"#;

/// Waits for a save of at least `accepted` results at or past monitoring label `task`.
fn checkpoint_at(coordinator: &mut Proc, task: u64, accepted: u64) -> (u64, u64) {
    loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        let at = (number(&line, "task"), number(&line, "generation"));
        if plain(&line).contains("experiment=\"smp-resume-")
            && at.0 >= task
            && number(&line, "accepted") >= accepted
        {
            return at;
        }
    }
}

/// The state's accepted results, and its (task label, generation) as the resumed line says.
fn accepted_on_disk(on_disk: &SavedExperiment) -> u64 {
    assert_eq!(on_disk.kind, "sm_pathnet");
    on_disk.run["counters"]["results_accepted"]
        .as_u64()
        .unwrap()
}

/// Starts the coordinator again; checks it resumed running where the state on disk stood,
/// at or past the checkpoint seen at `seen`.
fn resume(served: &Restartable, accepted: u64, seen: (u64, u64)) -> Proc {
    let (coordinator, line) = served.resume();
    assert!(line.contains("resumed (running)"), "{line}");
    // The books go on from the state on disk: nothing after it is counted.
    assert!(
        plain(&line).contains(&format!("{accepted} results accepted")),
        "{accepted}: {line}"
    );
    let at = (number(&line, "task"), number(&line, "generation"));
    assert!(
        at >= seen,
        "resumed at {at:?}, a checkpoint at {seen:?}: {line}"
    );
    coordinator
}

#[test]
fn a_sm_pathnet_coordinator_killed_twice_resumes_its_tasks_and_counts_each_result_once() {
    let served = Restartable::new("smp-resume", SPEC, "25");
    let mut coordinator = served.start();
    let mut agents = served.agents(2);

    // In the first task, past its initial population.
    let seen = checkpoint_at(&mut coordinator, 0, 20);
    let first = accepted_on_disk(&served.kill(&mut coordinator));
    assert!(first >= 20, "{first}");
    let mut coordinator = resume(&served, first, seen);

    // In the second task: the transfer made, both arms running.
    let seen = checkpoint_at(&mut coordinator, 1, BUDGET + 10);
    let on_disk = served.kill(&mut coordinator);
    let second = accepted_on_disk(&on_disk);
    assert!(second > first && second >= BUDGET + 10, "{second}");
    assert_eq!(
        on_disk.run["transfers"].as_array().map(Vec::len),
        Some(1),
        "{}",
        on_disk.run
    );
    let mut coordinator = resume(&served, second, seen);

    let summary = served.finish(&mut coordinator, &mut agents);
    eprintln!("resumed at {first} and {second} evaluations: {summary}");
    assert_eq!(summary["incarnation"], 3, "{summary}");
    assert_eq!(summary["kind"], "sm_pathnet", "{summary}");
    assert_eq!(summary["state"], "completed", "{summary}");
    let (c, l) = (&summary["counters"], &summary["leases"]);
    let accepted = u64_at(c, "results_accepted");
    // Three arms, each its budget once: nothing restarted from zero, nothing lost.
    assert_eq!(accepted, 3 * BUDGET, "{summary}");
    assert_eq!(u64_at(&summary, "evaluations"), accepted, "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    let per_arm: Vec<u64> = tasks.iter().map(|t| u64_at(t, "evaluations")).collect();
    assert_eq!(per_arm, [BUDGET; 3], "{summary}");
    assert_eq!(tasks[1]["arm"], "transfer", "{summary}");
    assert_eq!(u64_at(&tasks[1], "frozen_modules"), 4, "{summary}");
    assert_eq!(u64_at(&tasks[2], "frozen_modules"), 0, "{summary}");
    // Every accepted result was reported once, over the three runs of the coordinator; the
    // evaluations out at each save ended with the killed coordinator and were re-queued;
    // every re-queue has its cause in the lease table.
    assert_requeues_accounted(&summary);
    assert!(u64_at(l, "restarted") >= 1, "{summary}");
    served.remove();
}
