//! One measured run of the `pathnet` binary: in-process (`pathnet run SPEC`), or a
//! coordinator (`pathnet coordinator --spec SPEC --exit-when-done`) and N agent processes
//! (`pathnet agent`) started by this benchmark, optionally through the counting relay.
//!
//! CPU time comes from this process's own `/proc/self/stat`: the kernel adds a child's
//! user and system time to its parent's `cutime`/`cstime` when the parent reaps it. Reading
//! them just before and after reaping the coordinator, and reaping nothing else in between
//! (the agents are reaped afterwards, measured the same way), isolates the coordinator's
//! own CPU time from the agents' without any unsafe `wait4`.

use crate::proxy::{Relay, WireBytes};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Linux reports process times in USER_HZ ticks, 100 per second on every architecture
/// this workspace targets.
const TICKS_PER_SECOND: f64 = 100.0;

/// How often a running child is checked for exit; a run's wall time is late by at most
/// this, in the short and the long run alike, so the difference of the two is not.
const POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunMeasure {
    /// 0 for the in-process run.
    pub agents: usize,
    pub generations: usize,
    pub evaluations: u64,
    pub wall_s: f64,
    /// The coordinator process; for the in-process run, the whole process.
    pub coordinator_cpu_s: f64,
    /// All agent processes together; 0 for the in-process run.
    pub agents_cpu_s: f64,
    /// Absent for the in-process run and with `--direct`.
    pub wire: Option<WireBytes>,
    pub leases_expired: u64,
    pub evaluations_requeued: u64,
    /// Of the task's best pathway: a check that the runs learn alike.
    pub best_train_accuracy: f64,
}

pub(crate) struct Setup<'a> {
    pub pathnet: &'a Path,
    pub work_dir: &'a Path,
    pub timeout: Duration,
    pub relay: bool,
}

/// The fields of the run summary JSON this benchmark checks and reports.
#[derive(Deserialize)]
struct Summary {
    tasks: Vec<TaskSummary>,
    counters: Counters,
    #[serde(default)]
    leases: Option<Leases>,
}

#[derive(Deserialize)]
struct TaskSummary {
    reached_threshold: bool,
    tournaments: usize,
    best_train_accuracy: f64,
}

#[derive(Deserialize)]
struct Counters {
    results_accepted: u64,
    results_refused: u64,
    evaluations_requeued: u64,
}

#[derive(Deserialize)]
struct Leases {
    expired: u64,
}

/// Runs `spec` (a cap of `generations` tournaments) with `agents` agent processes, or in
/// process when `agents` is 0.
pub(crate) fn measure(
    setup: &Setup,
    spec: &Path,
    generations: usize,
    agents: usize,
) -> Result<RunMeasure> {
    let summary_path = setup
        .work_dir
        .join(format!("summary-{agents}-{generations}.json"));
    let started = Instant::now();
    let cpu_before = children_cpu_s()?;
    let (coordinator_cpu_s, agents_cpu_s, wire, wall_s) = if agents == 0 {
        let mut run = Command::new(setup.pathnet)
            .arg("run")
            .arg(spec)
            .arg("--summary-json")
            .arg(&summary_path)
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", setup.pathnet.display()))?;
        let status = wait_until(&mut run, started + setup.timeout)?;
        let wall_s = started.elapsed().as_secs_f64();
        check_exit("pathnet run", status)?;
        (children_cpu_s()? - cpu_before, 0.0, None, wall_s)
    } else {
        distributed(setup, spec, &summary_path, agents, started, cpu_before)?
    };
    let summary = read_summary(&summary_path)?;
    let [task] = summary.tasks.as_slice() else {
        bail!("{}: expected one task", summary_path.display());
    };
    if task.reached_threshold {
        bail!(
            "the run reached the accuracy threshold after {} tournaments, so runs would not do \
             equal work: choose a harder --classes pair",
            task.tournaments
        );
    }
    let counters = &summary.counters;
    if counters.results_accepted != 2 * generations as u64 || counters.results_refused != 0 {
        bail!(
            "{}: {} results accepted and {} refused, expected {} and 0",
            summary_path.display(),
            counters.results_accepted,
            counters.results_refused,
            2 * generations
        );
    }
    Ok(RunMeasure {
        agents,
        generations,
        evaluations: counters.results_accepted,
        wall_s,
        coordinator_cpu_s,
        agents_cpu_s,
        wire,
        leases_expired: summary.leases.map_or(0, |l| l.expired),
        evaluations_requeued: counters.evaluations_requeued,
        best_train_accuracy: task.best_train_accuracy,
    })
}

fn distributed(
    setup: &Setup,
    spec: &Path,
    summary_path: &Path,
    count: usize,
    started: Instant,
    cpu_before: f64,
) -> Result<(f64, f64, Option<WireBytes>, f64)> {
    let mut coordinator = Command::new(setup.pathnet)
        .args(["coordinator", "--listen", "127.0.0.1:0", "--exit-when-done"])
        .arg("--spec")
        .arg(spec)
        .arg("--summary-json")
        .arg(summary_path)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", setup.pathnet.display()))?;
    let listening = match listening_addr(&mut coordinator) {
        Ok(addr) => addr,
        Err(err) => {
            let _ = coordinator.kill();
            let _ = coordinator.wait();
            return Err(err);
        }
    };
    let relay = setup.relay.then(|| Relay::start(listening)).transpose()?;
    let url = format!("http://{}", relay.as_ref().map_or(listening, Relay::addr));
    let mut agents = Vec::with_capacity(count);
    for i in 0..count {
        let agent = Command::new(setup.pathnet)
            .args(["agent", "--leave-with-coordinator", "--coordinator", &url])
            .args(["--connect-attempts", "20"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting agent {i}"));
        match agent {
            Ok(agent) => agents.push(agent),
            Err(err) => {
                kill_all(&mut coordinator, &mut agents);
                return Err(err);
            }
        }
    }
    let status = match wait_until(&mut coordinator, started + setup.timeout) {
        Ok(status) => status,
        Err(err) => {
            kill_all(&mut coordinator, &mut agents);
            return Err(err.context(format!("the run with {count} agents")));
        }
    };
    let wall_s = started.elapsed().as_secs_f64();
    let coordinator_cpu_s = children_cpu_s()? - cpu_before;
    let agents_before = children_cpu_s()?;
    // Agents leave when the coordinator closes their lease stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, agent) in agents.iter_mut().enumerate() {
        let exit = wait_until(agent, deadline)
            .with_context(|| format!("agent {i} did not leave after the coordinator"))?;
        check_exit(&format!("agent {i}"), exit)?;
    }
    let agents_cpu_s = children_cpu_s()? - agents_before;
    check_exit("pathnet coordinator", status)?;
    Ok((
        coordinator_cpu_s,
        agents_cpu_s,
        relay.map(Relay::finish),
        wall_s,
    ))
}

/// Reads the coordinator's stdout up to its `coordinator listening on ADDR` line, then
/// keeps draining it so that the coordinator never blocks on a full pipe.
fn listening_addr(coordinator: &mut Child) -> Result<SocketAddr> {
    let stdout = coordinator
        .stdout
        .take()
        .context("the coordinator's stdout is not captured")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let Some(line) = lines.next().transpose()? else {
            bail!("the coordinator exited before listening");
        };
        if let Some(addr) = line.strip_prefix("coordinator listening on ") {
            break addr
                .trim()
                .parse()
                .with_context(|| format!("the coordinator's address `{addr}`"))?;
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok(addr)
}

/// Waits for `child` to exit, killing it at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("did not finish in time (see --timeout-s)");
        }
        std::thread::sleep(POLL);
    }
}

fn kill_all(coordinator: &mut Child, agents: &mut [Child]) {
    for child in std::iter::once(coordinator).chain(agents) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn check_exit(what: &str, status: ExitStatus) -> Result<()> {
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(())
}

fn read_summary(path: &Path) -> Result<Summary> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the run summary {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// User plus system seconds of every child this process has reaped so far.
fn children_cpu_s() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    parse_children_cpu(&stat).with_context(|| format!("unexpected /proc/self/stat: {stat}"))
}

fn parse_children_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces and parentheses; the fields after the
    // last `)` start at field 3 (state); cutime and cstime are fields 16 and 17.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_cpu_fields_after_a_name_with_parentheses() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1 2 3 4 11 12 250 75 20 0 1 0";
        assert_eq!(parse_children_cpu(stat), Some(3.25));
        assert_eq!(parse_children_cpu("4242 (a) S 1 2"), None);
    }

    #[test]
    fn reaping_a_child_adds_its_cpu_time() {
        let before = children_cpu_s().unwrap();
        // Burn a little CPU in a child shell; its time is counted only once it is reaped.
        let status = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(children_cpu_s().unwrap() > before);
    }
}
