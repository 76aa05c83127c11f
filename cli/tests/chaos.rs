//! Chaos on short runs, real processes on 127.0.0.1: agents are killed with SIGKILL one after
//! another mid-work and replaced by new agent processes, and the coordinator (`--state-dir`)
//! is killed with SIGKILL once and started again on the same state. The run finishes from its
//! checkpoint and the summary counts every result exactly once. Two runs: PathNet (agents
//! killed mid-training) and safe-mutation PathNet (killed mid-evaluation of a pathway
//! genome, across its transfer). Each kill waits on observable progress: the victim's
//! `... Accepted` report line, then its next line saying it works (so it dies holding a
//! lease), both for work ids of the coordinator's current incarnation, and the coordinator's
//! `checkpoint written` and `resumed` lines; every wait has a deadline.

mod common;

use common::state_dir::*;
use common::*;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

/// Agents killed before the coordinator is, and again after it resumed.
const KILLS_EACH_SIDE: usize = 4;

/// Generations of each of the spec's two tasks: enough work for every kill to land mid-run.
const GENERATIONS: u64 = 12;

/// The agents of the run, each replaced by a fresh process when it is killed.
struct Crew {
    url: String,
    agents: Vec<Proc>,
    spawned: usize,
}

impl Crew {
    fn new(url: &str, n: usize) -> Self {
        let mut crew = Crew {
            url: url.to_owned(),
            agents: Vec::new(),
            spawned: 0,
        };
        for _ in 0..n {
            let agent = crew.spawn();
            crew.agents.push(agent);
        }
        crew
    }

    fn spawn(&mut self) -> Proc {
        self.spawned += 1;
        // No --leave-with-coordinator: a coordinator that dies is one to reconnect to.
        let args = [
            "agent",
            "--coordinator",
            &self.url,
            "--max-backoff-ms",
            "200",
        ];
        spawn(
            &format!("agent{}", self.spawned),
            &args,
            &[("PATHNET_LOG", "pathnet_agent=debug")],
        )
    }

    /// Kills agent `slot` with SIGKILL once the coordinator's `incarnation` has accepted a
    /// result of it and it logged `working` (it started on a next lease) for a lease of that
    /// incarnation, and puts a new agent process in its place.
    fn kill_and_replace(&mut self, slot: usize, incarnation: u64, working: &str) {
        let victim = &mut self.agents[slot];
        let lease = format!("work=w{incarnation}-");
        for needle in ["Accepted", working] {
            while !plain(&victim.stderr_line(needle, STEP)).contains(&lease) {}
        }
        victim.kill9();
        self.agents[slot] = self.spawn();
    }
}

/// Waits for a `checkpoint written` line at or past (task, generation); returns where it was.
fn checkpoint_at(coordinator: &mut Proc, at: (u64, u64)) -> (u64, u64) {
    loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        let saved = (number(&line, "task"), number(&line, "generation"));
        if saved >= at {
            return saved;
        }
    }
}

#[test]
fn agents_killed_and_replaced_and_a_killed_coordinator_lose_and_double_count_nothing() {
    let dir = scratch_dir("chaos");
    let (spec, out, state) = state_files(&dir);
    std::fs::write(
        &spec,
        common::spec(&fashion_dir(), GENERATIONS as usize, 100, 16),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    // A short lease, so work held by a killed agent comes back within the run.
    let leases = ["--lease-ms", "1500", "--heartbeat-ms", "300"];
    let files = (spec.as_path(), out.as_path(), state.as_path());
    let mut coordinator = start(&addr, files, "100", &leases);
    let mut crew = Crew::new(&format!("http://{addr}"), 2);

    for kill in 0..KILLS_EACH_SIDE {
        crew.kill_and_replace(kill % 2, 1, "training");
    }
    let saved = checkpoint_at(&mut coordinator, (0, 2));
    coordinator.kill9();
    let mut coordinator = start(&addr, files, "100", &leases);
    let line = coordinator.stdout_line("resumed", STEP);
    assert!(line.contains("resumed (running)"), "{line}");
    let resumed = (number(&line, "task"), number(&line, "generation"));
    assert!(
        resumed >= saved,
        "resumed at {resumed:?}, a checkpoint at {saved:?} was written: {line}"
    );
    for kill in 0..KILLS_EACH_SIDE {
        crew.kill_and_replace(kill % 2, 2, "training");
    }

    let summary = finish(
        &mut coordinator,
        &mut crew.agents,
        &out,
        Duration::from_secs(120),
    );
    assert_exactly_once(&summary);
    assert_eq!(summary["incarnation"], 2, "{summary}");
    let c = &summary["counters"];
    // Both tasks ran their generations once: nothing restarted from zero, nothing lost.
    assert_eq!(
        u64_at(c, "tournaments_resolved"),
        2 * GENERATIONS,
        "{summary}"
    );
    assert_eq!(u64_at(c, "results_accepted"), 4 * GENERATIONS, "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{summary}");
    assert!(
        tasks
            .iter()
            .all(|t| u64_at(t, "evaluations") == 2 * GENERATIONS),
        "{summary}"
    );
    assert_eq!(u64_at(&tasks[1], "frozen_modules"), 4, "{summary}");
    let l = &summary["leases"];
    // Every re-queue has its cause in the lease table; the agents killed after the restart
    // died holding leases of this incarnation, so at least those came back or were dropped.
    assert_eq!(
        u64_at(c, "evaluations_requeued"),
        requeue_causes(l),
        "{summary}"
    );
    assert!(
        u64_at(c, "evaluations_requeued") + u64_at(c, "evaluations_cancelled")
            >= KILLS_EACH_SIDE as u64,
        "{summary}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Acrobot first, whose early policies play whole 500-step episodes: an evaluation lasts long
/// enough to be killed in. Then CartPole, with the transfer and scratch arms.
const SM_PATHNET: &str = r#"
kind = "sm_pathnet"
name = "smp-chaos"
seed = 8
[sm_pathnet]
envs = ["Acrobot-v1", "CartPole-v1"]
layers = 2
modules = 4
max_active = 2
units = 8
episodes = 40
experience = 30
selection = "steady_state"
population = 6
tournament_size = 3
operator = "sm_g_abs"
evaluations_per_task = 50
"#;

/// Agents killed in the safe-mutation PathNet run before the coordinator is, and after.
const SM_KILLS_EACH_SIDE: usize = 3;

#[test]
fn sm_pathnet_agents_killed_and_replaced_and_a_killed_coordinator_lose_and_double_count_nothing() {
    let served = Restartable::new("smp-chaos", SM_PATHNET, "50");
    let leases = ["--lease-ms", "1500", "--heartbeat-ms", "300"];
    let mut coordinator = served.start_with(&leases);
    let mut crew = Crew::new(&served.url(), 2);
    let working = "evaluating pathway genome";

    for kill in 0..SM_KILLS_EACH_SIDE {
        crew.kill_and_replace(kill % 2, 1, working);
    }
    // Past the first task's initial population, with children bred.
    loop {
        let line = coordinator.stderr_line("checkpoint written", STEP);
        if number(&line, "accepted") >= 30 {
            break;
        }
    }
    let on_disk = served.kill(&mut coordinator);
    let saved = on_disk.run["counters"]["results_accepted"]
        .as_u64()
        .unwrap();
    assert!(saved >= 30, "{saved}");
    let (mut coordinator, line) = served.resume_with(&leases);
    assert!(line.contains("resumed (running)"), "{line}");
    assert!(
        plain(&line).contains(&format!("{saved} results accepted")),
        "{saved}: {line}"
    );
    for kill in 0..SM_KILLS_EACH_SIDE {
        crew.kill_and_replace(kill % 2, 2, working);
    }

    let summary = served.finish(&mut coordinator, &mut crew.agents);
    eprintln!("resumed at {saved} accepted: {summary}");
    assert_eq!(summary["incarnation"], 2, "{summary}");
    assert_eq!(summary["kind"], "sm_pathnet", "{summary}");
    let (c, l) = (&summary["counters"], &summary["leases"]);
    let accepted = u64_at(c, "results_accepted");
    // Three arms, each its budget once: nothing lost, nothing counted twice.
    assert_eq!(accepted, 3 * 50, "{summary}");
    let tasks = summary["tasks"].as_array().unwrap();
    let per_arm: Vec<u64> = tasks.iter().map(|t| u64_at(t, "evaluations")).collect();
    assert_eq!(per_arm, [50; 3], "{summary}");
    assert_eq!(u64_at(&tasks[1], "frozen_modules"), 4, "{summary}");
    // Every re-queue has its cause in the lease table; the agents killed mid-evaluation left
    // leases that expired.
    assert_requeues_accounted(&summary);
    assert!(u64_at(l, "expired") >= 1, "{summary}");
    served.remove();
}
