//! Experiment control of the runtime: start, stop, status and summary.

use super::runtime::{Experiment, Runtime, unix_now_ms};
use crate::a3c::A3cRun;
use crate::ga::GaRun;
use crate::lease::LeaseCounters;
use crate::pathnet::{Engine, TestSplit};
use crate::pathnet_a3c::PathNetA3cRun;
use crate::run::RunState;
use crate::run::Summary;
use crate::spec::{A3cSpec, ExperimentSpec, GaSpec, PathNetA3cSpec, Spec};
use crate::workload::Workload;
use pathnet_proto::v1;
use serde::Serialize;
use tonic::Status;

impl Runtime {
    /// Whether a new experiment may start: only when none is running.
    pub fn may_start(&self) -> Result<(), Status> {
        match &self.experiment {
            Some(exp) if exp.workload.is_running() => Err(Status::failed_precondition(format!(
                "experiment `{}` is still running: stop it first",
                exp.id
            ))),
            _ => Ok(()),
        }
    }

    /// Starts a PathNet experiment from a validated spec whose test data is already loaded.
    pub fn start(&mut self, spec: ExperimentSpec, test: TestSplit) -> Result<String, Status> {
        self.start_with(&Spec::PathNet(spec.clone()), |id| {
            let features = test.features();
            let engine = Engine::new(id.to_owned(), spec, features, Some(Box::new(test)))
                .map_err(|err| Status::invalid_argument(err.to_string()))?;
            let net = engine.parameters();
            let parameter_bytes = net
                .module_ids()
                .filter_map(|id| net.params(id).ok())
                .flatten()
                .map(|p| p.len() * 4)
                .sum();
            Ok((Workload::PathNet(Box::new(engine)), parameter_bytes))
        })
    }

    /// Starts an A3C experiment. Its parameters must fit one push answer.
    pub fn start_a3c(&mut self, spec: A3cSpec) -> Result<String, Status> {
        let limit = self.limits.max_message_bytes;
        self.start_with(&Spec::A3c(spec.clone()), |id| {
            let run = A3cRun::new(id.to_owned(), spec)
                .map_err(|err| Status::invalid_argument(format!("invalid spec: {err}")))?;
            let bytes = run.parameter_bytes();
            check_fits("a3c.policy", bytes, limit)?;
            Ok((Workload::A3c(Box::new(run)), bytes))
        })
    }

    /// Starts a PathNet-A3C experiment. Its parameters must fit one push answer.
    pub fn start_pathnet_a3c(&mut self, spec: PathNetA3cSpec) -> Result<String, Status> {
        let limit = self.limits.max_message_bytes;
        self.start_with(&Spec::PathNetA3c(spec.clone()), |id| {
            let run = PathNetA3cRun::new(id.to_owned(), spec)
                .map_err(|err| Status::invalid_argument(format!("invalid spec: {err}")))?;
            let bytes = run.parameter_bytes();
            check_fits("pathnet_a3c", bytes, limit)?;
            Ok((Workload::PathNetA3c(Box::new(run)), bytes))
        })
    }

    /// Starts a neuroevolution experiment: genomes travel as seed lists, so no parameters.
    pub fn start_neuroevolution(&mut self, spec: GaSpec) -> Result<String, Status> {
        self.start_with(&Spec::Neuroevolution(spec.clone()), |id| {
            let run = GaRun::new(id.to_owned(), spec)
                .map_err(|err| Status::invalid_argument(format!("invalid spec: {err}")))?;
            Ok((Workload::Neuroevolution(Box::new(run)), 0))
        })
    }

    /// Starts an experiment whose workload `build` makes from the experiment id; `build`
    /// also returns the bytes of all its parameters (the most one result may push).
    fn start_with(
        &mut self,
        spec: &Spec,
        build: impl FnOnce(&str) -> Result<(Workload, usize), Status>,
    ) -> Result<String, Status> {
        self.tick();
        self.may_start()?;
        for _ in self.leases.cancel_all() {}
        let id = format!("{}-{}", spec.name(), self.next_experiment);
        self.next_experiment += 1;
        let (workload, parameter_bytes) = build(&id)?;
        self.count_failures_of(&id);
        self.experiment = Some(Experiment {
            id: id.clone(),
            workload,
            parameter_bytes,
            started_unix_ms: unix_now_ms(),
            error: None,
        });
        let now = self.now();
        self.observed.experiment_started(now);
        self.drain_engine_events();
        self.dirty = true;
        Ok(id)
    }

    pub fn stop(&mut self, id: &str) -> Result<v1::ExperimentState, Status> {
        let exp = self.experiment_mut(id)?;
        exp.workload.stop();
        for _ in self.leases.cancel_all() {}
        // Wakes watchers, who end their streams on a stopped experiment.
        self.dirty = true;
        Ok(self.state_of(id))
    }

    fn experiment_mut(&mut self, id: &str) -> Result<&mut Experiment, Status> {
        self.experiment
            .as_mut()
            .filter(|e| e.id == id)
            .ok_or_else(|| Status::not_found(format!("experiment `{id}` does not exist")))
    }

    pub fn experiment(&self) -> Option<&Experiment> {
        self.experiment.as_ref()
    }

    fn state_of(&self, id: &str) -> v1::ExperimentState {
        match self.experiment.as_ref().filter(|e| e.id == id) {
            None => v1::ExperimentState::Unspecified,
            Some(exp) if exp.error.is_some() => v1::ExperimentState::Failed,
            Some(exp) => match exp.workload.state() {
                RunState::Running => v1::ExperimentState::Running,
                RunState::Completed => v1::ExperimentState::Completed,
                RunState::Stopped => v1::ExperimentState::Stopped,
            },
        }
    }

    pub fn status(&mut self, id: &str) -> Result<v1::ExperimentStatus, Status> {
        self.tick();
        let state = self.state_of(id);
        let agents = self.agents.len() as u32;
        let outstanding = self.leases.outstanding() as u32;
        let expired = self.leases.counters().expired;
        let refused = self.observed.refused_total();
        let exp = self.experiment_mut(id)?;
        let status = exp.workload.status();
        let counters = exp.workload.counters();
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
        })
    }

    /// The summary of the current experiment, with the lease counters and the parameter
    /// traffic.
    pub fn summary(&self) -> Option<CoordinatorSummary> {
        let exp = self.experiment.as_ref()?;
        Some(CoordinatorSummary {
            run: exp.workload.summary(),
            leases: self.leases.counters().clone(),
            parameter_bytes: ParameterBytes {
                pulled: self.observed.bytes_pulled,
                pushed: self.observed.bytes_pushed,
            },
        })
    }
}

/// What a run on a coordinator did: its experiment's summary, what the leases saw and the
/// parameter bytes that crossed the wire.
#[derive(Debug, Serialize)]
pub struct CoordinatorSummary {
    #[serde(flatten)]
    pub run: Summary,
    pub leases: LeaseCounters,
    pub parameter_bytes: ParameterBytes,
}

/// Parameter tensor bytes sent to agents (pulls, and answers to gradient pushes) and
/// received from them (deltas and gradients), since the coordinator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParameterBytes {
    pub pulled: u64,
    pub pushed: u64,
}

/// Whether `bytes` of parameters fit a push answer under the coordinator's message limit;
/// chunk headers and the answer's other fields need room too.
fn check_fits(field: &str, bytes: usize, limit: usize) -> Result<(), Status> {
    if bytes + bytes / 8 + 1024 > limit {
        return Err(Status::invalid_argument(format!(
            "invalid spec: `{field}`: the network's {bytes} parameter bytes do not fit the \
             coordinator's max message size of {limit} bytes (raise --max-message-bytes)"
        )));
    }
    Ok(())
}
