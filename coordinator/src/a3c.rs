//! An A3C experiment with the coordinator as parameter server, with no networking.
//!
//! Every A3C worker is one lease. The run hands out worker leases while training goes on
//! (each gets a new worker number, which with the experiment seed seeds the worker's
//! environment), takes the workers' gradient pushes into the reinforcement-learning crate's
//! [`ParameterServer`] (shared RMSProp, versions, bounded staleness, stop rule) and answers
//! each with the newest parameters. Pushes carry a per-lease sequence number so a repeated
//! push is never applied twice; a lease that is lost (its agent died) simply stops pushing,
//! and whatever it had not pushed is gone with it, which A3C tolerates by design.
//!
//! A push can be taken in halves ([`push`]), so that a caller keeping the run behind a lock
//! holds it only to admit and to count the push, not while the gradient is applied.

use crate::kind::{ExperimentKind, Kind};
use crate::local::RunError;
use crate::run::{Counters, EvalId, FitnessEvent, Progress, Run, RunState, RunStatus, Summary};
use crate::spec::{A3cSpec, MemoryEstimate, SpecError};
use ndarray::ArrayD;
use pathnet_nn::pathnet::Pathway;
use pathnet_rl::pathnet_a3c::PathNetA3cError;
use pathnet_rl::{
    GradientUpdate, ParameterServer, RlError, ServerConfig, ServerStats, StopReason, initial_policy,
};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

pub(crate) mod checkpoint;
pub mod push;
pub(crate) mod workers;

pub use checkpoint::A3cState;
pub use push::{PushDone, PushTicket};

use workers::{Lifecycle, WorkerLeases};

/// What a worker lease asks an agent to run.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerAssignment {
    /// The worker's number, new for every lease; with `seed` it seeds the worker's
    /// environment and action sampling.
    pub worker_index: u32,
    /// The experiment's seed.
    pub seed: u64,
    /// The `[a3c]` table, as agents parse it.
    pub config_toml: String,
}

/// What became of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The gradient was applied: the parameters' version went up by one.
    Applied,
    /// Computed against parameters more than `max_staleness` updates old.
    Stale,
    /// The sequence number was not above every earlier one of the lease.
    Duplicate,
    /// The push carried no gradient.
    FetchOnly,
    /// The stop rule already held.
    TrainingOver,
}

/// The answer to a push: what became of it and the newest parameters.
#[derive(Debug, Clone)]
pub struct ExchangeAnswer {
    /// What became of the push's gradient.
    pub disposition: Disposition,
    /// The version of `parameters`: updates applied so far.
    pub version: u64,
    /// The newest parameters (or some of them: see `parameter_indices`).
    pub parameters: Vec<ArrayD<f32>>,
    /// Positions of `parameters` in the whole list; `None` when they are all of it, in
    /// order. PathNet-A3C answers a gradient push with its pathway's and head's tensors.
    pub parameter_indices: Option<Vec<usize>>,
    /// The stop rule holds: the worker should send its final report and end.
    pub stop: bool,
    /// Updates applied between the parameters the gradient was computed on and this push.
    pub staleness: u64,
    /// PathNet-A3C: the pathway the worker plays from now on, when its fitness report
    /// lost a tournament.
    pub pathway: Option<Pathway>,
}

/// A push refused outright; nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No worker lease of this experiment has this id (it ended, or never existed).
    #[error("{0} is not a worker lease of this experiment")]
    UnknownWorker(EvalId),
    /// The push's sequence number was 0.
    #[error("`sequence` = 0: sequence numbers start at 1")]
    ZeroSequence,
    /// The gradient or report does not fit the parameters (count, shapes, finite values).
    #[error(transparent)]
    Invalid(#[from] RlError),
    /// PathNet-A3C refused the push (e.g. a fitness report that is not finite, or a gradient
    /// that does not fit the super-network).
    #[error(transparent)]
    PathNet(#[from] PathNetA3cError),
    /// The push could not be read (e.g. its gradient's chunks do not assemble).
    #[error("{0}")]
    Malformed(String),
}

/// The summary of an A3C run, in-process or distributed.
#[derive(Debug, Clone, Serialize)]
pub struct A3cSummary {
    /// The experiment's id.
    pub experiment: String,
    /// `a3c`.
    pub kind: &'static str,
    /// The experiment's seed.
    pub seed: u64,
    /// The environment trained on, as the spec names it.
    pub env: String,
    /// Whether the mean return over the last `return_window` episodes reached the target.
    pub reached_target: bool,
    /// The spec's `stop.target_return`; `None` trains to the step budget.
    pub target_return: Option<f64>,
    /// Episodes the mean return is taken over (the spec's `stop.window`).
    pub return_window: usize,
    /// Mean undiscounted return over the last `return_window` finished episodes.
    pub mean_return: Option<f64>,
    /// Environment steps all workers took.
    pub env_steps: u64,
    /// Episodes all workers finished.
    pub episodes: u64,
    /// Gradients applied to the shared parameters.
    pub updates_applied: u64,
    /// Gradients dropped as more than `max_staleness` updates old.
    pub dropped_stale: u64,
    /// Gradients that arrived after the stop rule held.
    pub dropped_after_stop: u64,
    /// The largest staleness (updates between fetch and push) of any push.
    pub max_staleness: u64,
    /// The mean staleness over every push.
    pub mean_staleness: f64,
    /// Why training stopped; `None` when the run ended otherwise (e.g. it failed).
    pub stop_reason: Option<StopReason>,
    /// Workers that trained: threads in-process, worker leases when distributed.
    pub workers: u64,
    /// Wall-clock seconds the run trained.
    pub seconds: f64,
    /// `env_steps` over `seconds` (0 for no time).
    pub env_steps_per_second: f64,
}

impl A3cSummary {
    /// The summary of `spec`'s run from the parameter server's `stats`.
    pub fn new(
        experiment: &str,
        spec: &A3cSpec,
        stats: &ServerStats,
        workers: u64,
        seconds: f64,
    ) -> Self {
        let stop = &spec.a3c.stop;
        A3cSummary {
            experiment: experiment.to_owned(),
            kind: Kind::A3c.as_str(),
            seed: spec.seed,
            env: spec.a3c.env.clone(),
            reached_target: stats.stop == Some(StopReason::TargetReturn),
            target_return: stop.target_return,
            return_window: stop.window,
            mean_return: stats.mean_return,
            env_steps: stats.env_steps,
            episodes: stats.episodes,
            updates_applied: stats.updates_applied,
            dropped_stale: stats.dropped_stale,
            dropped_after_stop: stats.dropped_after_stop,
            max_staleness: stats.max_staleness,
            mean_staleness: stats.mean_staleness,
            stop_reason: stats.stop,
            workers,
            seconds,
            env_steps_per_second: if seconds > 0.0 {
                stats.env_steps as f64 / seconds
            } else {
                0.0
            },
        }
    }
}

/// An A3C run's state: the parameter server, the worker leases out and the progress
/// events, driven by whoever leases the workers (the server, or the in-process run).
pub struct A3cRun {
    experiment: String,
    spec: A3cSpec,
    config_toml: String,
    workers: WorkerLeases<()>,
    life: Lifecycle,
    best_mean_return: Option<f64>,
}

impl A3cRun {
    /// A run of `spec` under the id `experiment`, its policy initialised from the seed; an
    /// error when the `[a3c]` table's network or optimiser cannot be built.
    pub fn new(experiment: String, spec: A3cSpec) -> Result<Self, RlError> {
        let policy = initial_policy(&spec.a3c, spec.seed)?;
        let server = Arc::new(ParameterServer::new(
            ServerConfig::from(&spec.a3c),
            &policy.params(),
        )?);
        let config_toml = spec.config_toml();
        let events = vec![Progress::Steps {
            task: 0,
            name: spec.a3c.env.clone(),
            env_steps: 0,
            max_env_steps: spec.a3c.stop.max_env_steps,
            mean_return: None,
        }];
        Ok(A3cRun {
            experiment,
            config_toml,
            workers: WorkerLeases::new(server),
            life: Lifecycle::new(events),
            best_mean_return: None,
            spec,
        })
    }

    /// The experiment's spec.
    pub fn spec(&self) -> &A3cSpec {
        &self.spec
    }

    fn server(&self) -> &ParameterServer {
        self.workers.server()
    }

    /// Bytes of all parameters: what every push answer carries.
    pub fn parameter_bytes(&self) -> usize {
        self.server()
            .shapes()
            .iter()
            .map(|s| s.iter().product::<usize>() * 4)
            .sum()
    }

    /// A copy of the current parameters.
    pub fn parameters(&self) -> Vec<ArrayD<f32>> {
        self.server().parameters()
    }

    /// The parameter server's counters now.
    pub fn stats(&self) -> ServerStats {
        self.server().stats()
    }

    /// A new worker lease, while training goes on and fewer than `max_workers` are out.
    pub fn next_worker(&mut self) -> Option<(EvalId, WorkerAssignment)> {
        if !self.life.is_running()
            || self.life.clock_stopped()
            || self.workers.len() >= self.spec.max_workers
        {
            return None;
        }
        let (id, worker_index) = self.life.issue();
        self.workers.insert(id, ());
        Some((
            id,
            WorkerAssignment {
                worker_index,
                seed: self.spec.seed,
                config_toml: self.config_toml.clone(),
            },
        ))
    }

    /// Takes one push of worker lease `id`. `update` is `None` for a fetch-only push.
    pub fn exchange(
        &mut self,
        id: EvalId,
        sequence: u64,
        update: Option<GradientUpdate>,
    ) -> Result<ExchangeAnswer, ExchangeError> {
        let ticket = self.begin_exchange(id, sequence)?;
        self.finish_exchange(ticket.apply(update))
    }

    /// Admits push `sequence` of worker lease `id` (see [`push`]): apply the ticket, then
    /// hand it back to [`Self::finish_exchange`].
    pub fn begin_exchange(
        &mut self,
        id: EvalId,
        sequence: u64,
    ) -> Result<PushTicket, ExchangeError> {
        self.workers.admit(id, sequence, None, None)
    }

    /// Counts a push its ticket carried out and answers it. Its lease may have ended
    /// meanwhile: what the server did is counted all the same.
    pub fn finish_exchange(&mut self, done: PushDone) -> Result<ExchangeAnswer, ExchangeError> {
        let (_, settled) = self.workers.settle(done, &mut self.life.counters);
        // The ticket is gone: the run may be drained now.
        self.complete_when_drained();
        let settled = settled?;
        if let Some(episodes) = &settled.episodes
            && self.life.is_running()
        {
            self.observe(episodes);
        }
        if settled.answer.stop {
            self.life.stop_clock();
        }
        Ok(settled.answer)
    }

    /// A worker's final report: its lease ends normally.
    pub fn complete(&mut self, id: EvalId) -> Result<(), ExchangeError> {
        self.workers
            .remove(id)
            .ok_or(ExchangeError::UnknownWorker(id))?;
        self.complete_when_drained();
        Ok(())
    }

    /// Once the stop rule holds and every worker has reported (or lost its lease), the
    /// experiment is complete: like a PathNet run, it ends only when nothing is in flight,
    /// so no agent is left reporting to a coordinator that has moved on. A push still being
    /// applied holds a clone of the server, so the summary waits for it too.
    fn complete_when_drained(&mut self) {
        if self.life.is_running() && self.workers.drained() {
            self.finish(RunState::Completed);
        }
    }

    /// The run's summary as it stands.
    pub fn summary(&self) -> A3cSummary {
        A3cSummary::new(
            &self.experiment,
            &self.spec,
            &self.server().stats(),
            self.life.workers(),
            self.life.seconds(),
        )
    }

    /// The highest windowed mean return seen so far; `None` before any episode finished.
    pub fn best_mean_return(&self) -> Option<f64> {
        self.best_mean_return
    }

    fn finish(&mut self, state: RunState) {
        let stats = self.server().stats();
        let last = Progress::Steps {
            task: 0,
            name: self.spec.a3c.env.clone(),
            env_steps: stats.env_steps,
            max_env_steps: self.spec.a3c.stop.max_env_steps,
            mean_return: stats.mean_return,
        };
        self.life.finish(state, Some(last));
    }

    /// Fitness events for finished episodes and a step-progress event now and then.
    fn observe(&mut self, episode_returns: &[f64]) {
        let stats = self.server().stats();
        if let Some(mean) = stats.mean_return {
            self.best_mean_return = Some(self.best_mean_return.map_or(mean, |b| b.max(mean)));
        }
        if !episode_returns.is_empty() {
            let fitness = episode_returns.iter().sum::<f64>() / episode_returns.len() as f64;
            self.life.events.push(Progress::Evaluation(FitnessEvent {
                task: 0,
                generation: stats.updates_applied as usize,
                evaluations: stats.episodes,
                fitness,
                training_accuracy: 0.0,
                best_fitness: self.best_mean_return.unwrap_or(fitness),
                mean_fitness: stats.mean_return.unwrap_or(fitness),
            }));
        }
        let budget = self.spec.a3c.stop.max_env_steps;
        if self.workers.progress_due(stats.env_steps, budget) {
            self.life.events.push(Progress::Steps {
                task: 0,
                name: self.spec.a3c.env.clone(),
                env_steps: stats.env_steps,
                max_env_steps: budget,
                mean_return: stats.mean_return,
            });
        }
    }
}

impl Run for A3cRun {
    fn kind(&self) -> Kind {
        Kind::A3c
    }

    fn state(&self) -> RunState {
        self.life.state
    }

    fn counters(&self) -> &Counters {
        &self.life.counters
    }

    /// A worker lease ended without its final report (expired, released, agent gone): its
    /// slot is free for a new worker. Pushes it made were applied already; nothing is
    /// replayed.
    fn requeue(&mut self, id: EvalId) {
        if self.workers.remove(id).is_some() {
            self.life.counters.evaluations_requeued += 1;
        }
        self.complete_when_drained();
    }

    /// Ends training now: every later push is answered with `stop`.
    fn stop(&mut self) {
        self.server().request_stop();
        if self.life.is_running() {
            self.finish(RunState::Stopped);
        }
        self.life.counters.evaluations_cancelled += self.workers.cancel_all() as u64;
    }

    fn drain_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.life.events)
    }

    fn summary(&self) -> Summary {
        Summary::A3c(A3cRun::summary(self))
    }

    fn status(&self) -> RunStatus {
        RunStatus {
            state: self.life.state,
            task: 0,
            generation: self.server().stats().updates_applied,
            best_fitness: self.best_mean_return,
            tasks_completed: usize::from(self.life.state != RunState::Running),
        }
    }

    fn task_names(&self) -> Vec<String> {
        vec![self.spec.a3c.env.clone()]
    }

    fn parameter_server(&self) -> Option<ServerStats> {
        Some(self.server().stats())
    }
}

impl ExperimentKind for A3cSpec {
    type Summary = A3cSummary;

    fn memory_estimate(&self, _input_features: usize) -> Result<MemoryEstimate, SpecError> {
        A3cSpec::memory_estimate(self)
    }

    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<A3cSummary, RunError> {
        crate::local::run_a3c(self, observe)
    }
}

impl fmt::Display for A3cSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mean = self.mean_return.map_or_else(
            || "none (no episode finished)".to_owned(),
            |r| format!("{r:.1}"),
        );
        let target = self
            .target_return
            .map_or_else(String::new, |t| format!(" (target {t})"));
        writeln!(
            f,
            "experiment {} (seed {}, {}) finished in {:.1} s: {}",
            self.experiment,
            self.seed,
            self.env,
            self.seconds,
            match (self.reached_target, self.target_return) {
                (true, _) => "target return reached",
                (false, Some(_)) => "stopped before the target return",
                (false, None) => "env-step budget used",
            }
        )?;
        writeln!(
            f,
            "  mean return over the last {} episodes {mean}{target}; {} env steps ({:.0}/s), {} episodes, {} workers",
            self.return_window,
            self.env_steps,
            self.env_steps_per_second,
            self.episodes,
            self.workers
        )?;
        writeln!(
            f,
            "  {} updates applied, {} dropped as stale (staleness max {}, mean {:.2}), {} after the stop",
            self.updates_applied,
            self.dropped_stale,
            self.max_staleness,
            self.mean_staleness,
            self.dropped_after_stop
        )
    }
}
