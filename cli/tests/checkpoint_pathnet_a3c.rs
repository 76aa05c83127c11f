//! A PathNet-A3C run (the transfer example with small budgets) served to two agents by a
//! coordinator that keeps its state (`--state-dir`), killed with SIGKILL while it trains the
//! second task (after the transfer): started again on the same directory it resumes in that
//! phase with the update counter of its last checkpoint (not zero, not task A), the agents
//! find it again on their own, and the run finishes both tasks and the control with task
//! A's best pathway frozen. Updates after the last save are lost and not counted.
//! Synchronised on log lines.

mod common;

use common::state_dir::*;
use common::*;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

#[test]
fn a_pathnet_a3c_coordinator_killed_after_the_transfer_resumes_the_phase_and_finishes() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pathnet_a3c_transfer.toml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("max_env_steps = 1000000", "max_env_steps = 30000");
    assert!(text.contains("max_env_steps = 30000"), "the example moved");
    let served = Restartable::new("pathnet-a3c-resume", &text, "200");
    let mut coordinator = served.start();
    let mut agents = served.agents(2);

    // A save of task B (phase 1) with updates applied.
    let saved = loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        if plain(&line).contains("experiment=\"pathnet-a3c-transfer-")
            && number(&line, "task") == 1
            && number(&line, "generation") >= 20
        {
            break number(&line, "generation");
        }
    };
    let on_disk = served.kill(&mut coordinator);
    assert_eq!(on_disk.kind, "pathnet_a3c");
    assert_eq!(on_disk.run["phase"], 1, "{}", on_disk.run);
    let version = on_disk.run["training"]["server"]["version"]
        .as_u64()
        .unwrap();
    assert!(version >= saved, "{version} < {saved}");
    let frozen = on_disk.run["network"]["frozen"].as_array().unwrap().len();
    assert_eq!(
        frozen, 9,
        "task A's best pathway is frozen: {}",
        on_disk.run
    );

    let (mut coordinator, line) = served.resume();
    assert!(line.contains("resumed (running)"), "{line}");
    // The phase and its update counter go on from the state on disk.
    assert_eq!(number(&line, "task"), 1, "{line}");
    assert_eq!(number(&line, "generation"), version, "{line}");
    let summary = served.finish(&mut coordinator, &mut agents);
    eprintln!("resumed task B at {version} updates: {summary}");
    assert_eq!(summary["incarnation"], 2, "{summary}");
    assert_eq!(summary["kind"], "pathnet_a3c", "{summary}");
    assert!(summary.get("error").is_none(), "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{summary}");
    assert_eq!(u64_at(&tasks[0], "frozen_modules"), 0, "{summary}");
    assert_eq!(u64_at(&tasks[1], "frozen_modules"), 9, "{summary}");
    assert!(
        tasks.iter().all(|t| u64_at(t, "env_steps") >= 30000),
        "{summary}"
    );
    assert_eq!(summary["scratch"]["env"], "Acrobot-v1", "{summary}");
    assert_eq!(
        u64_at(&summary["scratch"], "frozen_modules"),
        0,
        "{summary}"
    );
    let l = &summary["leases"];
    // The workers out at the save ended with the killed coordinator, counted once.
    assert!(u64_at(l, "restarted") >= 1, "{summary}");
    // Every worker lease ended once: by its report, or lost with an agent or a coordinator.
    assert_eq!(
        u64_at(l, "granted"),
        u64_at(l, "reported")
            + u64_at(l, "expired")
            + u64_at(l, "released")
            + u64_at(l, "refused")
            + u64_at(l, "restarted")
            + u64_at(l, "cancelled"),
        "{summary}"
    );
    served.remove();
}
