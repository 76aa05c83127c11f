//! An A3C run (the CartPole example, with a smaller step budget to keep the test short)
//! served to two agents by a coordinator that keeps its state (`--state-dir`), killed with
//! SIGKILL mid-training: started again on the same directory it resumes with the update
//! counter of its last checkpoint (not zero), the agents find it again on their own, and the
//! run finishes. The update counter the state holds is the one the coordinator resumes
//! with: updates after the last save are lost and not counted. Synchronised on log lines.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `line` without its terminal colour codes.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The number after `key=` (a log field) or `key ` (the resumed line) in `line`.
fn number(line: &str, key: &str) -> u64 {
    let line = plain(line);
    let at = line
        .find(&format!("{key}="))
        .or_else(|| line.find(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no `{key}` in {line}"));
    line[at + key.len() + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{key}` in {line}"))
}

fn start(addr: &str, spec: &Path, out: &Path, state: &Path) -> Proc {
    let args = [
        "coordinator",
        "--listen",
        addr,
        "--spec",
        spec.to_str().unwrap(),
        "--exit-when-done",
        "--summary-json",
        out.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--checkpoint-interval-ms",
        "200",
    ];
    let log = [("PATHNET_LOG", "pathnet_coordinator=info")];
    let mut proc = spawn("coordinator", &args, &log);
    proc.stdout_line("listening on", Duration::from_secs(30));
    proc
}

#[test]
fn an_a3c_coordinator_killed_mid_training_resumes_its_updates_and_finishes() {
    let dir = scratch_dir("a3c-resume");
    let (spec, out, state) = (
        dir.join("spec.toml"),
        dir.join("summary.json"),
        dir.join("state"),
    );
    std::fs::remove_dir_all(&state).ok();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/a3c_cartpole.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let text = text.replace("max_env_steps = 300000", "max_env_steps = 40000");
    assert!(
        text.contains("max_env_steps = 40000"),
        "the example's budget moved"
    );
    std::fs::write(&spec, text).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let mut coordinator = start(&addr, &spec, &out, &state);
    let agent_args = ["agent", "--coordinator", &url, "--max-backoff-ms", "200"];
    let mut agents = [
        spawn("agent0", &agent_args, &[]),
        spawn("agent1", &agent_args, &[]),
    ];

    // A save with updates applied.
    let saved = loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        if plain(&line).contains("experiment=\"a3c-cartpole-") && number(&line, "generation") >= 50
        {
            break number(&line, "generation");
        }
    };
    coordinator.kill9();
    let on_disk = pathnet_coordinator::checkpoint::read(&state)
        .unwrap()
        .unwrap()
        .manifest
        .experiment
        .unwrap();
    let version = on_disk.run["server"]["version"].as_u64().unwrap();
    assert!(version >= saved, "{version} < {saved}");

    let mut coordinator = start(&addr, &spec, &out, &state);
    let line = coordinator.stdout_line("resumed", Duration::from_secs(30));
    // The update counter goes on from the state on disk: nothing after it is counted.
    assert_eq!(number(&line, "generation"), version, "{line}");
    assert!(
        coordinator.wait(Duration::from_secs(300)).success(),
        "{}",
        coordinator.drain_stderr()
    );
    for agent in &mut agents {
        agent.signal("TERM");
        assert!(
            agent.wait(Duration::from_secs(30)).success(),
            "{}",
            agent.name
        );
    }
    let summary = read_json(&out);
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
    std::fs::remove_dir_all(dir).ok();
}
