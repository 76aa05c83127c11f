//! A neuroevolution run (the parity example) served to two agents by a coordinator that
//! keeps its state (`--state-dir`), killed with SIGKILL mid-run: started again on the same
//! directory it resumes with the accepted evaluations of its last checkpoint (not zero), the
//! agents find it again on their own, and the run solves the task. Every accepted result is
//! counted once across both runs: results accepted after the last save are redone, not
//! counted twice. Synchronised on log lines.

mod common;

use common::state_dir::*;
use common::*;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

#[test]
fn a_neuroevolution_coordinator_killed_mid_run_resumes_its_books_and_solves() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sm_parity.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let served = Restartable::new("ga-resume", &text, "100");
    let mut coordinator = served.start();
    let mut agents = served.agents(2);

    // A save past the initial population, with children bred.
    loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        if plain(&line).contains("experiment=\"sm-parity-") && number(&line, "accepted") >= 300 {
            break;
        }
    }
    let on_disk = served.kill(&mut coordinator);
    assert_eq!(on_disk.kind, "neuroevolution");
    let accepted = on_disk.run["counters"]["results_accepted"]
        .as_u64()
        .unwrap();
    let generation = on_disk.run["engine"]["books"]["ledger"]["completed"]
        .as_u64()
        .unwrap();
    assert_eq!(accepted, generation, "{}", on_disk.run);
    assert!(accepted >= 300, "{accepted}");

    let (mut coordinator, line) = served.resume();
    assert!(line.contains("resumed (running)"), "{line}");
    // The books go on from the state on disk: nothing after it is counted.
    assert!(
        plain(&line).contains(&format!("{accepted} results accepted")),
        "{accepted}: {line}"
    );
    let summary = served.finish(&mut coordinator, &mut agents);
    eprintln!("resumed at {accepted} evaluations: {summary}");
    assert_eq!(summary["incarnation"], 2, "{summary}");
    assert_eq!(summary["kind"], "neuroevolution", "{summary}");
    assert_eq!(summary["solved"], true, "{summary}");
    let evaluations = u64_at(&summary, "evaluations");
    assert!(evaluations > accepted, "{summary}");
    assert_eq!(
        u64_at(&summary, "evaluations_to_solve"),
        evaluations,
        "{summary}"
    );
    let l = &summary["leases"];
    // Every accepted result was reported once, over both runs of the coordinator.
    assert_eq!(u64_at(l, "reported"), evaluations, "{summary}");
    // The evaluations out at the save ended with the killed coordinator and were re-queued;
    // every re-queue has its cause in the lease table.
    assert!(u64_at(l, "restarted") >= 1, "{summary}");
    assert_eq!(u64_at(&summary, "requeued"), requeue_causes(l), "{summary}");
    served.remove();
}
