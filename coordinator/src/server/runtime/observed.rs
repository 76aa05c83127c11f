//! What the runtime records for monitoring beyond the runs' and the lease table's own
//! counters: refusals by reason, parameter traffic, the evaluation rate, each task's latest
//! fitness.

use crate::lease::Millis;
use crate::metrics::{RATE_WINDOW_SECONDS, RateWindow, TaskMetrics};
use crate::run::{Progress, VideoProgress};
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
    /// The lease's deadline passed and the work was re-queued.
    LeaseExpired,
    /// The agent handed the lease back and the work was re-queued.
    LeaseReleased,
    /// The work's previous result was refused and it was re-queued.
    LeaseRefused,
    /// The work was leased before the coordinator restarted, and re-queued on resuming.
    LeaseRestarted,
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
    /// Every reason, so a scrape lists each label from the start (zeros included).
    pub const ALL: [RefusalReason; 11] = [
        RefusalReason::UnknownAgent,
        RefusalReason::UnknownWork,
        RefusalReason::NotHolder,
        RefusalReason::LeaseExpired,
        RefusalReason::LeaseReleased,
        RefusalReason::LeaseRefused,
        RefusalReason::LeaseRestarted,
        RefusalReason::Duplicate,
        RefusalReason::Stale,
        RefusalReason::InvalidResult,
        RefusalReason::Internal,
    ];

    /// The `reason` label, e.g. `unknown_agent`.
    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::UnknownAgent => "unknown_agent",
            RefusalReason::UnknownWork => "unknown_work",
            RefusalReason::NotHolder => "not_holder",
            RefusalReason::LeaseExpired => "lease_expired",
            RefusalReason::LeaseReleased => "lease_released",
            RefusalReason::LeaseRefused => "lease_refused",
            RefusalReason::LeaseRestarted => "lease_restarted",
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
    /// A Sideways experiment's latest segment.
    pub(super) video: Option<VideoProgress>,
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
            video: None,
        }
    }

    pub(super) fn refused(&mut self, reason: RefusalReason) {
        self.refused[reason.index()] += 1;
    }

    /// Refusals by reason, labelled for monitoring.
    pub(super) fn refused_by_reason(&self) -> Vec<(&'static str, u64)> {
        RefusalReason::ALL
            .iter()
            .map(|&r| (r.label(), self.refused[r.index()]))
            .collect()
    }

    /// Accepted results of the current experiment per second, `accepted` so far at `now`.
    pub(super) fn evaluations_per_second(&self, now: Millis, accepted: u64) -> f64 {
        self.rate.per_second(now, accepted)
    }

    /// The latest fitness of each task of the current experiment, named from `names`.
    pub(super) fn task_metrics(&self, names: &[String]) -> Vec<TaskMetrics> {
        self.fitness
            .iter()
            .map(|(&index, f)| TaskMetrics {
                index,
                name: names.get(index).cloned().unwrap_or_default(),
                best_fitness: f.best,
                mean_fitness: f.mean,
                generation: f.generation,
            })
            .collect()
    }

    pub(super) fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// A new experiment: its rate and fitness start from nothing.
    pub(super) fn experiment_started(&mut self, at: Millis) {
        self.rate.reset(at, 0);
        self.fitness.clear();
        self.video = None;
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
                Progress::Video(v) => {
                    // Frame accuracy stands in for fitness, segments for generations.
                    self.fitness.insert(
                        v.task,
                        TaskFitness {
                            best: v.accuracy,
                            mean: v.accuracy,
                            generation: v.segment,
                        },
                    );
                    self.video = Some(v.clone());
                }
                Progress::TaskStarted { .. }
                | Progress::TaskFinished(_)
                | Progress::Steps { .. }
                | Progress::Finished => {}
            }
        }
    }
}
