//! A PathNet-A3C experiment served to agents, with no networking: the coordinator owns the
//! super-network's parameters (one parameter server per training phase) and the population
//! of pathways, and every worker is one lease.
//!
//! The phases are the tasks in order, each after the transfer step from the one before,
//! then (by default) the last task alone on a fresh super-network, the control. A phase
//! hands out at most `workers` leases at once, one per member of the population (a slot):
//! a lease that is lost frees its slot, and the next lease plays that member's pathway. A
//! worker reports its fitness every `T` episodes with a push that carries no gradient; the
//! tournament runs here and the answer carries the worker's new pathway when it lost. Once
//! the phase's stop rule holds and every worker has reported (or lost its lease), the phase
//! ends: the best pathway is kept for the next task's transfer, and the next phase begins.

use super::PathNetA3cTask;
use crate::a3c::push::Settled;
use crate::a3c::workers::{Lifecycle, WorkerLeases};
use crate::a3c::{ExchangeAnswer, ExchangeError, PushDone, PushTicket};
use crate::kind::Kind;
use crate::run::{
    Counters, EvalId, FitnessEvent, PathwayView, Progress, Run, RunState, RunStatus, Summary,
};
use crate::spec::PathNetA3cSpec;
use ndarray::ArrayD;
use pathnet_nn::pathnet::{ModuleId, Pathway};
use pathnet_rl::pathnet_a3c::{Evolution, PathNetA3c, PathNetA3cError, TaskStart};
use pathnet_rl::{GradientUpdate, ServerStats};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

mod checkpoint;

pub use checkpoint::PathNetA3cState;

/// What a PathNet-A3C worker lease asks an agent to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PathNetA3cAssignment {
    /// The worker's number, new for every lease; with `seed` and `task` it seeds the
    /// worker's environment and action sampling.
    pub worker_index: u32,
    /// The experiment's seed.
    pub seed: u64,
    /// Zero-based index into the table's tasks: the environment and head to train.
    pub task: usize,
    /// Zero-based training phase (each task in order, then the scratch control); an agent
    /// never mixes parameters of two phases.
    pub phase: usize,
    /// The `[pathnet_a3c]` table, as agents parse it.
    pub config_toml: String,
    /// The pathway the worker starts with: its member of the population's.
    pub pathway: Pathway,
    /// Modules earlier tasks froze: never trained, their gradients pushed as zeros.
    pub frozen: Vec<ModuleId>,
}

/// One training phase: a task, with or without the earlier tasks' transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phase {
    task: usize,
    /// The control: the task alone on a fresh super-network.
    scratch: bool,
}

/// The phase being trained.
struct Current {
    /// The phase's worker leases, each on its member of the population (its slot).
    workers: WorkerLeases<usize>,
    evolution: Evolution,
    frozen: Vec<ModuleId>,
    free_slots: BTreeSet<usize>,
    started: Instant,
}

/// A PathNet-A3C run served to agents: the phases in order, the shared super-network,
/// the current phase's worker leases and evolution, and the finished tasks' reports.
pub struct PathNetA3cRun {
    experiment: String,
    spec: PathNetA3cSpec,
    config_toml: String,
    phases: Vec<Phase>,
    phase: usize,
    network: PathNetA3c,
    current: Option<Current>,
    life: Lifecycle,
    tasks: Vec<PathNetA3cTask>,
    scratch: Option<PathNetA3cTask>,
    best_fitness: Option<f64>,
    error: Option<String>,
    /// The pathways of the phase that ended last, shown while no phase runs (after the
    /// last one), so the dashboard keeps the final picture.
    last_pathways: Option<PathwayView>,
}

impl PathNetA3cRun {
    /// A run of `spec` under the id `experiment`, its first phase started; an error when
    /// the super-network cannot be built.
    pub fn new(experiment: String, spec: PathNetA3cSpec) -> Result<Self, PathNetA3cError> {
        let config = &spec.pathnet_a3c;
        let last = config.tasks.len().saturating_sub(1);
        let mut phases: Vec<Phase> = (0..config.tasks.len())
            .map(|task| Phase {
                task,
                scratch: false,
            })
            .collect();
        if spec.scratch_control {
            phases.push(Phase {
                task: last,
                scratch: true,
            });
        }
        let network = PathNetA3c::new(config, spec.seed)?;
        let mut run = PathNetA3cRun {
            experiment,
            config_toml: spec.config_toml(),
            phases,
            phase: 0,
            network,
            current: None,
            life: Lifecycle::new(Vec::new()),
            tasks: Vec::new(),
            scratch: None,
            best_fitness: None,
            error: None,
            last_pathways: None,
            spec,
        };
        run.begin_phase()?;
        Ok(run)
    }

    /// The experiment's spec.
    pub fn spec(&self) -> &PathNetA3cSpec {
        &self.spec
    }

    /// Why the run stopped early, when it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Bytes of all parameters: what every push answer carries.
    pub fn parameter_bytes(&self) -> usize {
        self.network
            .network()
            .params()
            .iter()
            .map(|p| p.len() * 4)
            .sum()
    }

    /// The phase being trained (or the last one), as an index into [`Self::phase_names`].
    pub fn phase(&self) -> usize {
        self.phase.min(self.phases.len().saturating_sub(1))
    }

    /// Phases finished so far.
    pub fn phases_completed(&self) -> usize {
        self.tasks.len() + usize::from(self.scratch.is_some())
    }

    /// One name per phase: the task's environment, and the control's marked as such.
    /// The dashboard's picture of a phase's population.
    fn view(&self, current: &Current) -> PathwayView {
        let evolution = &current.evolution;
        PathwayView::new(
            self.phase,
            evolution.dims(),
            evolution.members().iter().map(|m| &m.pathway),
            evolution.best_pathway(),
            current.frozen.iter().copied(),
        )
    }

    /// Every phase's name in order: its environment, with ` (scratch)` for the control.
    pub fn phase_names(&self) -> Vec<String> {
        self.phases
            .iter()
            .map(|phase| {
                let env = &self.spec.pathnet_a3c.tasks[phase.task].env;
                if phase.scratch {
                    format!("{env} (scratch)")
                } else {
                    env.clone()
                }
            })
            .collect()
    }

    /// Statistics of the phase being trained; `None` once the run is over.
    pub fn stats(&self) -> Option<ServerStats> {
        self.current.as_ref().map(|c| c.workers.server().stats())
    }

    /// The highest fitness any worker reported so far, over all phases.
    pub fn best_fitness(&self) -> Option<f64> {
        self.best_fitness
    }

    /// A new worker lease on a free member of the population, while the phase trains.
    pub fn next_worker(&mut self) -> Option<(EvalId, PathNetA3cAssignment)> {
        if !self.life.is_running() {
            return None;
        }
        let phase = self.phases[self.phase];
        let current = self.current.as_mut()?;
        if current.workers.server().stop_reason().is_some() {
            return None;
        }
        let slot = current.free_slots.pop_first()?;
        let pathway = current
            .evolution
            .pathway(slot)
            .expect("free slots index the population")
            .clone();
        let (id, worker_index) = self.life.issue();
        current.workers.insert(id, slot);
        Some((
            id,
            PathNetA3cAssignment {
                worker_index,
                seed: self.spec.seed,
                task: phase.task,
                phase: self.phase,
                config_toml: self.config_toml.clone(),
                pathway,
                frozen: current.frozen.clone(),
            },
        ))
    }

    /// Takes one push of worker lease `id`: a gradient, a fetch, or (with `fitness`) the
    /// worker's fitness report, whose tournament may hand it a new pathway.
    pub fn exchange(
        &mut self,
        id: EvalId,
        sequence: u64,
        update: Option<GradientUpdate>,
        fitness: Option<f64>,
    ) -> Result<ExchangeAnswer, ExchangeError> {
        let ticket = self.begin_exchange(id, sequence, fitness)?;
        self.finish_exchange(ticket.apply(update))
    }

    /// Admits push `sequence` of worker lease `id` (see [`crate::a3c::push`]): the ticket
    /// holds the server of the lease's phase, so whatever it applies goes to that phase.
    pub fn begin_exchange(
        &mut self,
        id: EvalId,
        sequence: u64,
        fitness: Option<f64>,
    ) -> Result<PushTicket, ExchangeError> {
        let task = self.phases[self.phase].task;
        let current = self
            .current
            .as_mut()
            .ok_or(ExchangeError::UnknownWorker(id))?;
        let slot = current
            .workers
            .get(id)
            .ok_or(ExchangeError::UnknownWorker(id))?;
        // Refused before the sequence number is reserved: the push then has no effect.
        if let Some(value) = fitness.filter(|f| !f.is_finite()) {
            return Err(PathNetA3cError::InvalidFitness {
                worker: slot,
                value,
            }
            .into());
        }
        // A worker reads only its pathway's modules and its task's head, so only those
        // travel back after a gradient.
        let network = self.network.network();
        let pathway = current.evolution.pathway(slot)?;
        let answer_tensors: Vec<usize> = network
            .pathway_modules(pathway, task)?
            .into_iter()
            .flat_map(|module| network.tensors(module))
            .collect();
        current
            .workers
            .admit(id, sequence, fitness, Some(answer_tensors))
    }

    /// Counts a push its ticket carried out, runs the tournament of the fitness it reported
    /// and answers it. When its lease ended meanwhile, what the server did is counted but the fitness
    /// is dropped with the lease's member.
    pub fn finish_exchange(&mut self, done: PushDone) -> Result<ExchangeAnswer, ExchangeError> {
        let counters = &mut self.life.counters;
        let (slot, settled) = match self.current.as_mut() {
            Some(current) => current.workers.settle(done, counters),
            None => (None, done.settle(None, counters)),
        };
        let answer = settled.and_then(|settled| self.record(slot, settled));
        // The ticket is gone: the phase may be drained now.
        self.end_phase_when_drained();
        answer
    }

    /// Records a push of the lease on `slot` of the current phase (`None` once the lease is
    /// gone): its fitness report and progress.
    fn record(
        &mut self,
        slot: Option<usize>,
        settled: Settled,
    ) -> Result<ExchangeAnswer, ExchangeError> {
        let mut answer = settled.answer;
        let (Some(slot), Some(current)) = (slot, self.current.as_mut()) else {
            return Ok(answer);
        };
        let phase = self.phase;
        if let Some(f) = settled.fitness {
            answer.pathway = current.evolution.report_fitness(slot, f)?;
            self.life.counters.tournaments_resolved += 1;
            self.best_fitness = Some(self.best_fitness.map_or(f, |b| b.max(f)));
            let stats = current.workers.server().stats();
            self.life.events.push(Progress::Evaluation(FitnessEvent {
                task: phase,
                generation: current.evolution.stats().reports as usize,
                evaluations: stats.episodes,
                fitness: f,
                training_accuracy: 0.0,
                best_fitness: self.best_fitness.unwrap_or(f),
                mean_fitness: stats.mean_return.unwrap_or(f),
            }));
        }
        if settled.episodes.is_some() {
            let stats = current.workers.server().stats();
            let budget = self.spec.pathnet_a3c.tasks[self.phases[phase].task]
                .stop
                .max_env_steps;
            if current.workers.progress_due(stats.env_steps, budget) {
                self.life.events.push(Progress::Steps {
                    task: phase,
                    name: self.phase_names().swap_remove(phase),
                    env_steps: stats.env_steps,
                    max_env_steps: budget,
                    mean_return: stats.mean_return,
                });
            }
        }
        Ok(answer)
    }

    /// A worker's final report: its lease ends normally.
    pub fn complete(&mut self, id: EvalId) -> Result<(), ExchangeError> {
        self.end_lease(id).ok_or(ExchangeError::UnknownWorker(id))?;
        self.end_phase_when_drained();
        Ok(())
    }

    /// The run's summary as it stands.
    pub fn summary(&self) -> super::PathNetA3cSummary {
        super::PathNetA3cSummary {
            experiment: self.experiment.clone(),
            kind: Kind::PathNetA3c.as_str(),
            seed: self.spec.seed,
            tasks: self.tasks.clone(),
            scratch: self.scratch.clone(),
            workers: self.life.workers(),
            error: self.error.clone(),
            seconds: self.life.seconds(),
        }
    }

    fn end_lease(&mut self, id: EvalId) -> Option<()> {
        let current = self.current.as_mut()?;
        let slot = current.workers.remove(id)?;
        current.free_slots.insert(slot);
        Some(())
    }

    /// Sets up the phase `self.phase`: the transfer step (or a fresh super-network for the
    /// control), fresh pathways, and a parameter server.
    fn begin_phase(&mut self) -> Result<(), PathNetA3cError> {
        let phase = self.phases[self.phase];
        if phase.scratch {
            self.network = PathNetA3c::new(&self.spec.pathnet_a3c, self.spec.seed)?;
        }
        let TaskStart {
            server,
            evolution,
            frozen,
        } = self.network.begin_task(phase.task)?;
        let workers = evolution.workers();
        let budget = self.spec.pathnet_a3c.tasks[phase.task].stop.max_env_steps;
        self.life.events.push(Progress::Steps {
            task: self.phase,
            name: self.phase_names()[self.phase].clone(),
            env_steps: 0,
            max_env_steps: budget,
            mean_return: None,
        });
        self.current = Some(Current {
            workers: WorkerLeases::new(Arc::new(server)),
            evolution,
            frozen,
            free_slots: (0..workers).collect(),
            started: Instant::now(),
        });
        Ok(())
    }

    /// Once the phase's stop rule holds, no worker is out and no push is still being applied
    /// (each holds a clone of the server), records the phase and starts the next one (or
    /// completes the run).
    fn end_phase_when_drained(&mut self) {
        let drained = self.current.as_ref().is_some_and(|c| c.workers.drained());
        if !self.life.is_running() || !drained {
            return;
        }
        if let Err(err) = self.end_phase() {
            self.error = Some(err.to_string());
            self.current = None;
            self.finish(RunState::Stopped);
        }
    }

    fn end_phase(&mut self) -> Result<(), PathNetA3cError> {
        let current = self.current.take().expect("checked by the caller");
        self.last_pathways = Some(self.view(&current));
        let phase = self.phases[self.phase];
        let wall_seconds = current.started.elapsed().as_secs_f64();
        let report = self.network.finish_task(
            phase.task,
            current.workers.server(),
            current.evolution,
            wall_seconds,
            Vec::new(),
        )?;
        let stats = &report.stats;
        self.life.events.push(Progress::Steps {
            task: self.phase,
            name: self.phase_names()[self.phase].clone(),
            env_steps: stats.env_steps,
            max_env_steps: self.spec.pathnet_a3c.tasks[phase.task].stop.max_env_steps,
            mean_return: stats.mean_return,
        });
        let task = PathNetA3cTask::from(&report);
        if phase.scratch {
            self.scratch = Some(task);
        } else {
            self.tasks.push(task);
        }
        self.phase += 1;
        if self.phase < self.phases.len() {
            self.begin_phase()
        } else {
            self.finish(RunState::Completed);
            Ok(())
        }
    }

    fn finish(&mut self, state: RunState) {
        self.life.finish(state, None);
    }

    /// The current parameters of the phase being trained.
    pub fn parameters(&self) -> Option<Vec<ArrayD<f32>>> {
        self.current
            .as_ref()
            .map(|c| c.workers.server().parameters())
    }
}

impl Run for PathNetA3cRun {
    fn kind(&self) -> Kind {
        Kind::PathNetA3c
    }

    fn state(&self) -> RunState {
        self.life.state
    }

    fn counters(&self) -> &Counters {
        &self.life.counters
    }

    /// A worker lease ended without its final report: its member of the population is free
    /// for the next lease. Pushes it made were applied already; nothing is replayed.
    fn requeue(&mut self, id: EvalId) {
        if self.end_lease(id).is_some() {
            self.life.counters.evaluations_requeued += 1;
        }
        self.end_phase_when_drained();
    }

    /// Ends training now: every later push is refused and no phase follows.
    fn stop(&mut self) {
        if let Some(current) = self.current.take() {
            current.workers.server().request_stop();
            self.life.counters.evaluations_cancelled += current.workers.len() as u64;
        }
        if self.life.is_running() {
            self.finish(RunState::Stopped);
        }
    }

    fn drain_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.life.events)
    }

    fn summary(&self) -> Summary {
        Summary::PathNetA3c(PathNetA3cRun::summary(self))
    }

    fn status(&self) -> RunStatus {
        RunStatus {
            state: self.life.state,
            task: self.phase(),
            generation: self.stats().map_or(0, |s| s.updates_applied),
            best_fitness: self.best_fitness,
            tasks_completed: self.phases_completed(),
        }
    }

    fn task_names(&self) -> Vec<String> {
        self.phase_names()
    }

    fn parameter_server(&self) -> Option<ServerStats> {
        self.stats()
    }

    fn pathways(&self) -> Option<PathwayView> {
        match &self.current {
            Some(current) => Some(self.view(current)),
            None => self.last_pathways.clone(),
        }
    }
}
