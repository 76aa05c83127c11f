//! Experiment control of the runtime: start, stop, status and summary.

use super::slot::Experiment;
use super::{Runtime, unix_now_ms};
use crate::run::RunState;
use crate::server::kinds::{self, Built, Ready};
use crate::server::summary::{CoordinatorSummary, ParameterBytes};
use pathnet_proto::v1;
use tonic::Status;

impl Runtime {
    /// Whether a new experiment may start: only when none is running.
    pub(crate) fn may_start(&self) -> Result<(), Status> {
        match self.slot.current() {
            Some(exp) if exp.run.is_running() => Err(Status::failed_precondition(format!(
                "experiment `{}` is still running: stop it first",
                exp.id
            ))),
            _ => Ok(()),
        }
    }

    /// Starts the experiment of a validated spec whose files are read; returns its id.
    pub(crate) fn start(&mut self, ready: Ready) -> Result<String, Status> {
        self.tick();
        self.may_start()?;
        let kind = ready.spec().kind();
        if self.checkpoints.enabled && !kinds::checkpointable(kind) {
            return Err(Status::failed_precondition(kinds::not_checkpointable(kind)));
        }
        for _ in self.leases.cancel_all() {}
        let id = self.slot.next_id(ready.spec().name());
        let Built {
            run,
            parameter_bytes,
        } = kinds::build(ready, &id, &self.limits)?;
        self.failures.follow(&id);
        self.slot.start(Experiment {
            id: id.clone(),
            run,
            parameter_bytes,
            started_unix_ms: unix_now_ms(),
            error: None,
        });
        let now = self.now();
        self.observed.experiment_started(now);
        self.dirty = true;
        self.checkpoints.due = true;
        Ok(id)
    }

    pub(crate) fn stop(&mut self, id: &str) -> Result<v1::ExperimentState, Status> {
        let exp = self.experiment_mut(id)?;
        exp.run.stop();
        for _ in self.leases.cancel_all() {}
        // Wakes watchers, who end their streams on a stopped experiment.
        self.dirty = true;
        Ok(self.state_of(id))
    }

    fn experiment_mut(&mut self, id: &str) -> Result<&mut Experiment, Status> {
        self.slot.get_mut(id).ok_or_else(|| {
            Status::not_found(format!(
                "experiment `{}` does not exist",
                pathnet_proto::quote(id)
            ))
        })
    }

    fn state_of(&self, id: &str) -> v1::ExperimentState {
        match self.slot.get(id) {
            None => v1::ExperimentState::Unspecified,
            Some(exp) if exp.error.is_some() => v1::ExperimentState::Failed,
            Some(exp) => match exp.run.state() {
                RunState::Running => v1::ExperimentState::Running,
                RunState::Completed => v1::ExperimentState::Completed,
                RunState::Stopped => v1::ExperimentState::Stopped,
            },
        }
    }

    pub(crate) fn status(&mut self, id: &str) -> Result<v1::ExperimentStatus, Status> {
        self.tick();
        let state = self.state_of(id);
        let agents = self.agents.len() as u32;
        let outstanding = self.leases.outstanding() as u32;
        let expired = self.leases.counters().expired;
        let refused = self.observed.refused_total();
        let exp = self.experiment_mut(id)?;
        let status = exp.run.status();
        let counters = exp.run.counters();
        Ok(v1::ExperimentStatus {
            experiment_id: exp.id.clone(),
            state: state.into(),
            task_index: status.task as u32,
            generation: status.generation,
            evaluations: counters.results_accepted,
            best_fitness: status.best_fitness,
            leases_outstanding: outstanding,
            agents,
            started_unix_ms: exp.started_unix_ms,
            error: exp.error.clone().unwrap_or_default(),
            evaluations_issued: counters.evaluations_issued,
            evaluations_requeued: counters.evaluations_requeued,
            results_refused: refused,
            tournaments_resolved: counters.tournaments_resolved,
            leases_expired: expired,
            tasks_completed: status.tasks_completed as u32,
            kind: exp.run.kind().as_str().to_owned(),
        })
    }

    /// The status of every experiment held: the current one, running or not.
    pub(crate) fn list(&mut self) -> Vec<v1::ExperimentStatus> {
        let Some(id) = self.slot.current().map(|exp| exp.id.clone()) else {
            return Vec::new();
        };
        self.status(&id).into_iter().collect()
    }

    /// The summary of the current experiment, with the lease counters and the parameter
    /// traffic.
    pub(crate) fn summary(&self) -> Option<CoordinatorSummary> {
        let exp = self.slot.current()?;
        Some(CoordinatorSummary {
            incarnation: self.incarnation,
            run: exp.run.summary(),
            leases: self.leases.counters().clone(),
            parameter_bytes: ParameterBytes {
                pulled: self.observed.bytes_pulled,
                pushed: self.observed.bytes_pushed,
            },
        })
    }
}
