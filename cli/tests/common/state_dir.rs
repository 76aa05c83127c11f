//! A coordinator that keeps its state in a directory (`--state-dir`), started again on the
//! same directory and the same loopback address after it is killed, so agents that do not
//! leave with it reconnect on their own; and the log lines it speaks through.

use super::{Proc, read_json, spawn};
use pathnet_coordinator::checkpoint::SavedExperiment;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A free loopback port: every run of the coordinator must listen where the agents look.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The spec, summary and state paths under `dir`, the state directory left over from an
/// earlier run removed.
pub(crate) fn state_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (spec, out, state) = (
        dir.join("spec.toml"),
        dir.join("summary.json"),
        dir.join("state"),
    );
    std::fs::remove_dir_all(&state).ok();
    (spec, out, state)
}

/// `pathnet coordinator` on `addr` running `spec` to its end, its summary to `out`, saving
/// its state to `state` every `interval_ms`, with `extra` flags; returns it once it listens.
pub(crate) fn start(
    addr: &str,
    (spec, out, state): (&Path, &Path, &Path),
    interval_ms: &str,
    extra: &[&str],
) -> Proc {
    let mut args = vec![
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
        interval_ms,
    ];
    args.extend_from_slice(extra);
    let log = [("PATHNET_LOG", "pathnet_coordinator=info")];
    let mut proc = spawn("coordinator", &args, &log);
    proc.stdout_line("coordinator listening on", Duration::from_secs(30));
    proc
}

/// `n` agents of `url` that outlive its coordinator (no `--leave-with-coordinator`): one
/// that dies is one to reconnect to, soon.
pub(crate) fn agents(url: &str, n: usize, envs: &[(&str, &str)]) -> Vec<Proc> {
    let args = ["agent", "--coordinator", url, "--max-backoff-ms", "200"];
    (0..n)
        .map(|i| spawn(&format!("agent{i}"), &args, envs))
        .collect()
}

/// Waits for the coordinator to finish its run within `within`, then stops the agents,
/// which do not leave on their own; returns its summary from `out`.
pub(crate) fn finish(
    coordinator: &mut Proc,
    agents: &mut [Proc],
    out: &Path,
    within: Duration,
) -> serde_json::Value {
    assert!(
        coordinator.wait(within).success(),
        "{}",
        coordinator.drain_stderr()
    );
    for agent in agents {
        agent.signal("TERM");
        assert!(
            agent.wait(Duration::from_secs(30)).success(),
            "{}",
            agent.name
        );
    }
    read_json(out)
}

/// `line` without its terminal colour codes.
pub(crate) fn plain(line: &str) -> String {
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
pub(crate) fn number(line: &str, key: &str) -> u64 {
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

/// A coordinator killed and started again on the same files and address, served to agents
/// that outlive it: a checkpoint test's setup and its steps, for every kind.
pub(crate) struct Restartable {
    dir: PathBuf,
    spec: PathBuf,
    out: PathBuf,
    state: PathBuf,
    addr: String,
    interval_ms: &'static str,
}

impl Restartable {
    /// Files under the scratch directory `name`, the spec `spec_text` in them, a free
    /// loopback port, and a checkpoint every `interval_ms`.
    pub(crate) fn new(name: &str, spec_text: &str, interval_ms: &'static str) -> Self {
        let dir = super::scratch_dir(name);
        let (spec, out, state) = state_files(&dir);
        std::fs::write(&spec, spec_text).unwrap();
        Restartable {
            dir,
            spec,
            out,
            state,
            addr: format!("127.0.0.1:{}", free_port()),
            interval_ms,
        }
    }

    /// The coordinator started on the files; returns it once it listens.
    pub(crate) fn start(&self) -> Proc {
        self.start_with(&[])
    }

    /// [`Restartable::start`] with `extra` flags (lease durations, say).
    pub(crate) fn start_with(&self, extra: &[&str]) -> Proc {
        let files = (
            self.spec.as_path(),
            self.out.as_path(),
            self.state.as_path(),
        );
        start(&self.addr, files, self.interval_ms, extra)
    }

    /// The coordinator's address for agents.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `n` agents of the coordinator that outlive it (see [`agents`]).
    pub(crate) fn agents(&self, n: usize) -> Vec<Proc> {
        agents(&self.url(), n, &[])
    }

    /// Kills the coordinator with SIGKILL; returns the experiment its state directory holds.
    pub(crate) fn kill(&self, coordinator: &mut Proc) -> SavedExperiment {
        coordinator.kill9();
        pathnet_coordinator::checkpoint::read(&self.state)
            .unwrap()
            .unwrap()
            .manifest
            .experiment
            .unwrap()
    }

    /// The coordinator started again on the files, with its `resumed` line.
    pub(crate) fn resume(&self) -> (Proc, String) {
        self.resume_with(&[])
    }

    /// [`Restartable::resume`] with `extra` flags.
    pub(crate) fn resume_with(&self, extra: &[&str]) -> (Proc, String) {
        let mut coordinator = self.start_with(extra);
        let line = coordinator.stdout_line("resumed", Duration::from_secs(30));
        (coordinator, line)
    }

    /// Waits up to five minutes for the coordinator to finish, then stops the agents;
    /// returns its summary.
    pub(crate) fn finish(&self, coordinator: &mut Proc, agents: &mut [Proc]) -> serde_json::Value {
        finish(coordinator, agents, &self.out, Duration::from_secs(300))
    }

    /// Removes the scratch directory, once the test passed (a failed one leaves it to look at).
    pub(crate) fn remove(self) {
        std::fs::remove_dir_all(self.dir).ok();
    }
}
