//! The [`Snapshot`] a metrics scrape reads.

use super::Runtime;
use crate::metrics::{A3cMetrics, ExperimentMetrics, Snapshot};
use crate::run::RunState;

impl Runtime {
    /// Everything a metrics scrape reports, after expiring overdue leases so the counts
    /// are current.
    pub(crate) fn metrics_snapshot(&mut self) -> Snapshot {
        self.tick();
        let now = self.now();
        let observed = &self.observed;
        let experiment = self.slot.current().map(|exp| {
            let counters = exp.run.counters().clone();
            let status = exp.run.status();
            ExperimentMetrics {
                id: exp.id.clone(),
                state: match (exp.error.is_some(), status.state) {
                    (true, _) => "failed",
                    (false, RunState::Running) => "running",
                    (false, RunState::Completed) => "completed",
                    (false, RunState::Stopped) => "stopped",
                },
                evaluations_per_second: observed
                    .evaluations_per_second(now, counters.results_accepted),
                counters,
                tasks_completed: status.tasks_completed as u64,
                a3c: exp.run.parameter_server().map(|s| A3cMetrics {
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
                tasks: observed.task_metrics(&exp.run.task_names()),
                sideways: observed.video.clone(),
            }
        });
        Snapshot {
            agents_connected: self.agents.len() as u64,
            agents_quarantined: self.failures.quarantined(self.agents.records()) as u64,
            leases_outstanding: self.leases.outstanding() as u64,
            leases: self.leases.counters().clone(),
            results_refused: observed.refused_by_reason(),
            parameter_bytes_pulled: observed.bytes_pulled,
            parameter_bytes_pushed: observed.bytes_pushed,
            work_failures: observed.work_failures,
            experiment,
            // Counted in front of the runtime, by the auth layer; the server adds them.
            auth_refused: Vec::new(),
            checkpoints: self.checkpoint_counters(),
        }
    }
}
