//! The [`Status`] the dashboard samples: a metrics scrape plus each agent and the
//! population's pathways.

use super::{Runtime, unix_now_ms};
use crate::dashboard::{AgentView, ExperimentView, Status};

impl Runtime {
    pub(crate) fn dashboard_status(&mut self) -> Status {
        let metrics = self.metrics_snapshot();
        let now = self.now();
        let records = self.agents.records();
        let agents = records
            .iter()
            .map(|(id, record)| AgentView {
                id: id.clone(),
                leases: self.leases.held_by(id) as u64,
                max_in_flight: record.max_in_flight() as u64,
                results: record.results,
                quarantined: !self.failures.may_lease(id, records),
                silent_ms: now.0.saturating_sub(record.last_seen().0),
            })
            .collect();
        let experiment =
            metrics
                .experiment
                .zip(self.slot.current())
                .map(|(m, exp)| ExperimentView {
                    id: m.id,
                    kind: exp.run.kind().as_str(),
                    state: m.state,
                    error: exp.error.clone(),
                    started_unix_ms: exp.started_unix_ms,
                    evaluations_per_second: m.evaluations_per_second,
                    counters: m.counters,
                    tasks_completed: m.tasks_completed,
                    task_names: exp.run.task_names(),
                    tasks: m.tasks,
                    a3c: m.a3c,
                    sideways: m.sideways,
                    pathways: exp.run.pathways(),
                });
        Status {
            unix_ms: unix_now_ms(),
            agents_connected: metrics.agents_connected,
            agents_quarantined: metrics.agents_quarantined,
            leases_outstanding: metrics.leases_outstanding,
            agents,
            experiment,
        }
    }
}
