//! What the runtime records for monitoring beyond the engine's and the lease table's own
//! counters (refusals by reason, parameter traffic, the evaluation rate, each task's
//! latest fitness), and the [`Snapshot`] a metrics scrape reads.

use super::runtime::Runtime;
use crate::lease::Millis;
use crate::metrics::{
    A3cMetrics, ExperimentMetrics, RATE_WINDOW_SECONDS, RateWindow, Snapshot, TaskMetrics,
};
use crate::run::{Progress, RunState};
use crate::workload::Workload;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why a result report was not accepted; the `reason` label of
/// `pathnet_results_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The agent is not joined (never was, or was forgotten after going silent).
    UnknownAgent,
    /// The work id was never leased (or is too old to be remembered).
    UnknownWork,
    /// The work is leased to another agent.
    NotHolder,
    LeaseExpired,
    LeaseReleased,
    /// The work's previous result was refused and it was re-queued.
    LeaseRefused,
    /// The result was already accepted; a retried report changes nothing.
    Duplicate,
    /// The experiment was stopped or replaced; the result is no longer needed.
    Stale,
    /// NaN, a wrong shape, an unknown module, undecodable chunks...
    InvalidResult,
    /// The engine failed applying it; the experiment failed.
    Internal,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 10] = [
        RefusalReason::UnknownAgent,
        RefusalReason::UnknownWork,
        RefusalReason::NotHolder,
        RefusalReason::LeaseExpired,
        RefusalReason::LeaseReleased,
        RefusalReason::LeaseRefused,
        RefusalReason::Duplicate,
        RefusalReason::Stale,
        RefusalReason::InvalidResult,
        RefusalReason::Internal,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::UnknownAgent => "unknown_agent",
            RefusalReason::UnknownWork => "unknown_work",
            RefusalReason::NotHolder => "not_holder",
            RefusalReason::LeaseExpired => "lease_expired",
            RefusalReason::LeaseReleased => "lease_released",
            RefusalReason::LeaseRefused => "lease_refused",
            RefusalReason::Duplicate => "duplicate",
            RefusalReason::Stale => "stale",
            RefusalReason::InvalidResult => "invalid_result",
            RefusalReason::Internal => "internal",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&r| r == self)
            .expect("ALL lists every reason")
    }
}

/// The latest fitness of one task, from the engine's fitness events.
#[derive(Debug, Clone, Copy)]
struct TaskFitness {
    best: f64,
    mean: f64,
    generation: u64,
}

pub(super) struct Observed {
    refused: [u64; RefusalReason::ALL.len()],
    pub(super) bytes_pulled: u64,
    pub(super) bytes_pushed: u64,
    /// Failures of leased work counted towards the limit per work: leases handed back as
    /// failed and results refused.
    pub(super) work_failures: u64,
    /// Accepted results of the current experiment per second.
    rate: RateWindow,
    /// The current experiment's tasks by index.
    fitness: BTreeMap<usize, TaskFitness>,
}

impl Observed {
    pub(super) fn new() -> Self {
        Observed {
            refused: [0; RefusalReason::ALL.len()],
            bytes_pulled: 0,
            bytes_pushed: 0,
            work_failures: 0,
            rate: RateWindow::new(Duration::from_secs(RATE_WINDOW_SECONDS)),
            fitness: BTreeMap::new(),
        }
    }

    pub(super) fn refused(&mut self, reason: RefusalReason) {
        self.refused[reason.index()] += 1;
    }

    pub(super) fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// A new experiment: its rate and fitness start from nothing.
    pub(super) fn experiment_started(&mut self, at: Millis) {
        self.rate.reset(at, 0);
        self.fitness.clear();
    }

    pub(super) fn sample(&mut self, at: Millis, accepted: u64) {
        self.rate.record(at, accepted);
    }

    /// Records the fitness carried by `events` (all of the current experiment).
    pub(super) fn progress<'a>(&mut self, events: impl IntoIterator<Item = &'a Progress>) {
        for event in events {
            match event {
                Progress::Evaluation(e) => {
                    self.fitness.insert(
                        e.task,
                        TaskFitness {
                            best: e.best_fitness,
                            mean: e.mean_fitness,
                            generation: e.generation as u64,
                        },
                    );
                }
                Progress::Generation {
                    task, generation, ..
                } => {
                    if let Some(f) = self.fitness.get_mut(task) {
                        f.generation = *generation as u64;
                    }
                }
                Progress::TaskStarted { .. }
                | Progress::TaskFinished(_)
                | Progress::Steps { .. }
                | Progress::Finished => {}
            }
        }
    }
}

impl Runtime {
    /// Everything a metrics scrape reports, after expiring overdue leases so the counts
    /// are current.
    pub fn metrics_snapshot(&mut self) -> Snapshot {
        self.tick();
        let now = self.now();
        let leases = self.leases.counters().clone();
        let observed = &self.observed;
        let experiment = self.experiment.as_ref().map(|exp| {
            let counters = exp.workload.counters();
            let tasks = exp.workload.task_names();
            let status = exp.workload.status();
            ExperimentMetrics {
                id: exp.id.clone(),
                state: match (exp.error.is_some(), status.state) {
                    (true, _) => "failed",
                    (false, RunState::Running) => "running",
                    (false, RunState::Completed) => "completed",
                    (false, RunState::Stopped) => "stopped",
                },
                evaluations_per_second: observed.rate.per_second(now, counters.results_accepted),
                counters,
                tasks_completed: status.tasks_completed as u64,
                a3c: match &exp.workload {
                    Workload::A3c(run) => Some(run.stats()),
                    Workload::PathNetA3c(run) => run.stats(),
                    _ => None,
                }
                .map(|s| A3cMetrics {
                    env_steps: s.env_steps,
                    episodes: s.episodes,
                    updates_applied: s.updates_applied,
                    dropped_stale: s.dropped_stale,
                    dropped_after_stop: s.dropped_after_stop,
                    staleness_max: s.max_staleness,
                    staleness_mean: s.mean_staleness,
                    mean_return: s.mean_return,
                    learning_rate: s.learning_rate,
                }),
                tasks: observed
                    .fitness
                    .iter()
                    .map(|(&index, f)| TaskMetrics {
                        index,
                        name: tasks.get(index).cloned().unwrap_or_default(),
                        best_fitness: f.best,
                        mean_fitness: f.mean,
                        generation: f.generation,
                    })
                    .collect(),
            }
        });
        Snapshot {
            agents_connected: self.agents.len() as u64,
            agents_quarantined: self.agents_quarantined() as u64,
            leases_outstanding: self.leases.outstanding() as u64,
            leases,
            results_refused: RefusalReason::ALL
                .iter()
                .map(|&r| (r.label(), observed.refused[r.index()]))
                .collect(),
            parameter_bytes_pulled: observed.bytes_pulled,
            parameter_bytes_pushed: observed.bytes_pushed,
            work_failures: observed.work_failures,
            experiment,
        }
    }
}
