//! An A3C run (the CartPole example, with a smaller step budget to keep the test short)
//! served to two agents by a coordinator that keeps its state (`--state-dir`), killed with
//! SIGKILL mid-training: started again on the same directory it resumes with the update
//! counter of its last checkpoint (not zero), the agents find it again on their own, and the
//! run finishes. The update counter the state holds is the one the coordinator resumes
//! with: updates after the last save are lost and not counted. Synchronised on log lines.

mod common;

use common::state_dir::*;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

#[test]
fn an_a3c_coordinator_killed_mid_training_resumes_its_updates_and_finishes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/a3c_cartpole.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let text = text.replace("max_env_steps = 300000", "max_env_steps = 40000");
    assert!(
        text.contains("max_env_steps = 40000"),
        "the example's budget moved"
    );
    let served = Restartable::new("a3c-resume", &text, "200");
    let mut coordinator = served.start();
    let mut agents = served.agents(2);

    // A save with updates applied.
    let saved = loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        if plain(&line).contains("experiment=\"a3c-cartpole-") && number(&line, "generation") >= 50
        {
            break number(&line, "generation");
        }
    };
    let on_disk = served.kill(&mut coordinator);
    let version = on_disk.run["server"]["version"].as_u64().unwrap();
    assert!(version >= saved, "{version} < {saved}");

    let (mut coordinator, line) = served.resume();
    // The update counter goes on from the state on disk: nothing after it is counted.
    assert_eq!(number(&line, "generation"), version, "{line}");
    let summary = served.finish(&mut coordinator, &mut agents);
    eprintln!("resumed at {version} updates: {summary}");
    assert_eq!(summary["incarnation"], 2, "{summary}");
    assert_eq!(summary["kind"], "a3c", "{summary}");
    let n = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {summary}"))
    };
    assert!(n("updates_applied") > version, "{summary}");
    assert!(
        n("env_steps") >= 40_000 || summary["reached_target"] == true,
        "{summary}"
    );
    let l = &summary["leases"];
    // The workers out at the save ended with the killed coordinator, counted once.
    assert!(l["restarted"].as_u64().unwrap() >= 1, "{summary}");
    served.remove();
}
