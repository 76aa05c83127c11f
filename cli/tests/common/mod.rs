//! Helpers for tests that run the real binary as coordinator and agents on 127.0.0.1:
//! spawning, reading output lines as they come, and waiting with deadlines.

#![allow(dead_code)] // Each test binary uses its own subset.

pub(crate) mod sideways;
pub(crate) mod state_dir;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub(crate) fn fashion_dir() -> PathBuf {
    let dir = std::env::var_os("PATHNET_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    assert!(
        dir.is_dir(),
        "Fashion-MNIST not found at {}: run scripts/setup-data (apt-get install dataset-fashion-mnist)",
        dir.display()
    );
    dir
}

pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pathnet-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A two-task spec; `minibatches` sets how long one evaluation takes.
pub(crate) fn spec(
    data_dir: &Path,
    max_generations: usize,
    minibatches: usize,
    batch: usize,
) -> String {
    format!(
        r#"
name = "cluster"
seed = 5
[data]
dir = "{}"
[pathnet]
layers = 2
modules_per_layer = 4
max_active = 2
module_units = 8
[evolution]
population = 6
minibatches_per_evaluation = {minibatches}
batch_size = {batch}
learning_rate = 0.05
accuracy_threshold = 0.999
max_generations = {max_generations}
[[tasks]]
name = "first"
classes = [2, 4]
[[tasks]]
name = "second"
classes = [0, 6]
"#,
        data_dir.display()
    )
}

/// A child process that is killed if the test ends without waiting for it.
pub(crate) struct Proc {
    pub name: String,
    child: Option<Child>,
    pid: u32,
    stdout: Option<Receiver<String>>,
    stderr: Option<Receiver<String>>,
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

pub(crate) fn spawn(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pathnet"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the pathnet binary starts");
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    Proc {
        name: name.to_owned(),
        pid: child.id(),
        child: Some(child),
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the metrics listener's announcement (`--metrics-listen`); its `host:port`.
    /// The scheme says nothing here: `http://` or `https://` alike.
    pub(crate) fn metrics_address(&mut self, within: Duration) -> String {
        let line = self.stdout_line("metrics listening on ", within);
        line.rsplit("://")
            .next()
            .unwrap()
            .trim_end_matches("/metrics")
            .to_owned()
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub(crate) fn stdout_line(&mut self, needle: &str, within: Duration) -> String {
        let rx = self.stdout.as_ref().unwrap();
        wait_line(rx, needle, within).unwrap_or_else(|| {
            panic!(
                "{}: no stdout line with `{needle}` in {within:?}",
                self.name
            )
        })
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub(crate) fn stderr_line(&mut self, needle: &str, within: Duration) -> String {
        let rx = self.stderr.as_ref().unwrap();
        wait_line(rx, needle, within).unwrap_or_else(|| {
            panic!(
                "{}: no stderr line with `{needle}` in {within:?}",
                self.name
            )
        })
    }

    /// Everything printed to stderr so far and until the process closes it.
    pub(crate) fn drain_stderr(&mut self) -> String {
        let rx = self.stderr.take().unwrap();
        rx.iter().collect::<Vec<_>>().join("\n")
    }

    /// Waits for the process to exit, killing it and failing the test past `within`.
    pub(crate) fn wait(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("waited twice");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(within) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                kill(self.pid, "KILL");
                panic!("{} did not exit within {within:?}", self.name);
            }
        }
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub(crate) fn kill9(&mut self) {
        let mut child = self.child.take().expect("already gone");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub(crate) fn signal(&self, signal: &str) {
        kill(self.pid, signal);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

fn wait_line(rx: &Receiver<String>, needle: &str, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Some(line),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Starts `pathnet coordinator` on a free loopback port; returns it and its URL.
pub(crate) fn coordinator(extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["coordinator", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut proc = spawn("coordinator", &args, &[]);
    let line = proc.stdout_line("listening on", Duration::from_secs(30));
    let addr = line.rsplit(' ').next().unwrap().to_owned();
    (proc, format!("http://{addr}"))
}

pub(crate) fn agent(name: &str, url: &str, envs: &[(&str, &str)]) -> Proc {
    agent_with(name, url, &[], envs)
}

pub(crate) fn agent_with(name: &str, url: &str, extra: &[&str], envs: &[(&str, &str)]) -> Proc {
    let mut args = vec!["agent", "--coordinator", url, "--leave-with-coordinator"];
    args.extend_from_slice(extra);
    spawn(name, &args, envs)
}

/// `spec` run to its end on short leases (1.5 s, heartbeats every 0.3 s): a first agent is
/// killed with SIGKILL once its debug log shows `mid_work`, so its lease must expire, and a
/// second one finishes the run within `within`; returns the summary written to `out`.
pub(crate) fn run_with_an_agent_killed(
    spec: &Path,
    out: &Path,
    mid_work: &str,
    within: Duration,
) -> serde_json::Value {
    let (mut coordinator, url) =
        coordinator_running(spec, out, &["--lease-ms", "1500", "--heartbeat-ms", "300"]);
    let debug = [("PATHNET_LOG", "pathnet_agent=debug")];
    let mut victim = agent("victim", &url, &debug);
    victim.stderr_line(mid_work, Duration::from_secs(120));
    victim.kill9();
    let mut survivor = agent("survivor", &url, &[]);
    assert!(coordinator.wait(within).success());
    assert!(survivor.wait(Duration::from_secs(30)).success());
    read_json(out)
}

/// `pathnet coordinator` running `spec` to its end and writing its summary to `out`, with
/// `extra` flags; returns it and its URL.
pub(crate) fn coordinator_running(spec: &Path, out: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec![
        "--spec",
        spec.to_str().unwrap(),
        "--exit-when-done",
        "--summary-json",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    coordinator(&args)
}

/// `pathnet run SPEC` with `extra` flags, which must succeed within `within`; its summary.
pub(crate) fn run_summary(
    name: &str,
    spec: &Path,
    extra: &[&str],
    within: Duration,
) -> serde_json::Value {
    let dir = scratch_dir(name);
    let out = dir.join("summary.json");
    let mut args = vec!["run", spec.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--summary-json", out.to_str().unwrap()]);
    let mut run = spawn(name, &args, &[]);
    assert!(run.wait(within).success(), "{}", run.drain_stderr());
    let summary = read_json(&out);
    std::fs::remove_dir_all(dir).ok();
    summary
}

/// The unsigned integer at `key` of a summary object.
pub(crate) fn u64_at(summary: &serde_json::Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key}: {summary}"))
}

pub(crate) fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The accounting of a run whose evaluations are not tournaments' pairs (the safe-mutation
/// GAs): every accepted result reported once, each evaluation handed out accepted,
/// re-queued or cancelled, and every re-queue's cause in the lease table.
pub(crate) fn assert_requeues_accounted(summary: &serde_json::Value) {
    let (c, l) = (&summary["counters"], &summary["leases"]);
    let accepted = u64_at(c, "results_accepted");
    assert_eq!(u64_at(l, "reported"), accepted, "{summary}");
    assert_eq!(
        u64_at(c, "evaluations_issued"),
        accepted + u64_at(c, "evaluations_requeued") + u64_at(c, "evaluations_cancelled"),
        "{summary}"
    );
    assert_eq!(
        u64_at(c, "evaluations_requeued"),
        requeue_causes(l),
        "{summary}"
    );
}

/// Leases whose end sends their work back to the queue, from a summary's `leases` table.
pub(crate) fn requeue_causes(leases: &serde_json::Value) -> u64 {
    ["expired", "released", "refused", "restarted"]
        .iter()
        .map(|end| u64_at(leases, end))
        .sum()
}

/// The accounting every finished run must satisfy: each evaluation handed out was either
/// applied once or re-queued, each tournament got exactly its two results, and the lease
/// table agrees with the engine.
pub(crate) fn assert_exactly_once(summary: &serde_json::Value) {
    let c = &summary["counters"];
    let l = &summary["leases"];
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    let accepted = n(c, "results_accepted");
    assert_eq!(accepted, 2 * n(c, "tournaments_resolved"), "{summary}");
    assert_eq!(
        n(c, "tournaments_started"),
        n(c, "tournaments_resolved"),
        "{summary}"
    );
    assert_eq!(
        n(c, "evaluations_issued"),
        accepted + n(c, "evaluations_requeued") + n(c, "evaluations_cancelled"),
        "{summary}"
    );
    assert_eq!(n(l, "granted"), n(c, "evaluations_issued"), "{summary}");
    assert_eq!(n(l, "reported"), accepted, "{summary}");
    let per_task: u64 = summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| n(t, "evaluations"))
        .sum();
    assert_eq!(per_task, accepted, "{summary}");
}
