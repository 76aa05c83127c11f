//! The experiment engine: everything the coordinator decides, with no networking.
//!
//! It owns the super-network's parameters (`store`), the population and tournaments of
//! the current task (`population`), and the move from task to task. Callers pull
//! evaluations with [`Engine::next_evaluation`], have them executed anywhere (in this
//! process or on an agent) and hand the outcome to [`Engine::complete`]; an evaluation
//! that will not come back is returned with [`Engine::requeue`]. Many tournaments can be
//! in flight at once, so every executor stays busy.
//!
//! When a tournament's winner reaches the accuracy threshold no new tournament starts, the
//! ones in flight are allowed to finish (so no issued work is lost), then the task ends:
//! the best pathway is measured on the test split, its modules are frozen, every other
//! parameter is re-initialised and a fresh population starts on the next task.
//!
//! A spec with a `[comparison]` then runs each control (`plan`) through the same loop,
//! one phase (an arm learning one task) after another, so a distributed run serves them
//! with no change to the agents.

mod checkpoint;
mod evaluator;
mod export;
mod plan;
mod population;
mod report;
mod store;
mod transition;

pub use checkpoint::{EngineState, tensor_name};
pub use evaluator::{TestEvaluator, TestSplit};
pub use export::export;
pub use plan::Arm;
pub use report::{Comparison, RunSummary, TaskSummary};
pub use store::{DeltaError, ModuleTensors, ParameterStore};

use crate::kind::{ExperimentKind, Kind};
use crate::local::RunError;
use crate::run::{
    Counters, EvalId, FitnessEvent, PathwayView, Progress, Run, RunState, RunStatus, Summary,
};
use crate::spec::{ExperimentSpec, MemoryEstimate, SpecError};
use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetDims, PathNetError, Pathway};
use pathnet_work::{
    Architecture, JobOutcome, ModuleDelta, ModuleParams, PathwayJob, SupervisedTask,
};
use plan::Phase;
use population::TaskRun;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Instant;

/// An evaluation to execute.
#[derive(Debug, Clone)]
pub struct EvaluationRequest {
    /// The evaluation's id, which its result must carry.
    pub id: EvalId,
    /// What to train and measure.
    pub job: PathwayJob,
}

/// Why the engine could not start, go on or resume.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The spec was refused.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The super-network could not be built or refused an operation.
    #[error("super-network: {0}")]
    PathNet(#[from] PathNetError),
    /// A result was refused.
    #[error("result refused: {0}")]
    Refused(#[from] Refusal),
    /// A saved state does not fit the spec or is inconsistent (what, in words).
    #[error("checkpoint: {0}")]
    Restore(String),
}

/// Why a result was refused; parameters and population are unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// No evaluation of the current task has this id.
    #[error("{0} was never issued on the current task")]
    Unknown(EvalId),
    /// The evaluation's result is already in, or it was taken back to be issued again.
    #[error("{0} is not outstanding (already completed or waiting to be re-issued)")]
    NotOutstanding(EvalId),
    /// The experiment is over (completed, stopped or failed).
    #[error("the experiment is {0}")]
    NotRunning(RunState),
    /// A measure of the outcome is out of range.
    #[error("`{field}` = {value}: {reason}")]
    InvalidOutcome {
        /// The outcome's field, e.g. `fitness`.
        field: &'static str,
        /// Its value.
        value: f64,
        /// What it must be.
        reason: &'static str,
    },
    /// A module delta does not fit the parameters.
    #[error(transparent)]
    Delta(#[from] DeltaError),
}

/// Where the experiment stands.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStatus {
    /// Running, or how the experiment ended.
    pub state: RunState,
    /// The arm whose run is under way (the last one once the experiment is over).
    pub arm: Arm,
    /// Zero-based index of the task under way.
    pub task: usize,
    /// Tournaments resolved on the task.
    pub generation: usize,
    /// The task's cap on tournaments (`evolution.max_generations`).
    pub max_generations: usize,
    /// The best fitness seen on the task; `None` before its first result.
    pub best_fitness: Option<f64>,
    /// Tournaments started whose two results are not both in.
    pub tournaments_in_flight: usize,
}

/// PathNet's engine: the master parameters, the populations and tournaments of every
/// task and arm, and the transfer between tasks; it issues [`EvaluationRequest`]s and
/// takes their outcomes, whoever executes them.
pub struct Engine {
    experiment: String,
    spec: ExperimentSpec,
    architecture: Architecture,
    store: ParameterStore,
    rng: ChaCha8Rng,
    evaluator: Option<Box<dyn TestEvaluator>>,
    plan: Vec<Phase>,
    /// Index into `plan` of the phase `task` belongs to.
    phase: usize,
    /// Parameters kept at the end of a phase for a later one to start from.
    kept: Option<store::ModuleTensors>,
    /// The best pathway of the phase that kept `kept`.
    kept_best: Option<Pathway>,
    /// With `winner_only_updates`: the checked deltas of contestants whose tournament is
    /// not resolved yet, by (tournament, slot).
    held: BTreeMap<(u64, usize), Vec<ModuleDelta>>,
    task: TaskRun,
    summaries: Vec<TaskSummary>,
    state: RunState,
    next_id: u64,
    counters: Counters,
    events: Vec<Progress>,
    clock: Instant,
}

/// Seed of a task's data (noise and, for the in-process run, nothing else).
pub(crate) fn task_seed(spec: &ExperimentSpec, task: usize) -> u64 {
    spec.seed.wrapping_add(task as u64)
}

impl Engine {
    /// Builds the super-network for `spec` (inputs of `input_features` values) and starts
    /// the first task. `experiment` names the experiment in every job, so executors never
    /// mix parameters of two experiments. Without an evaluator no test accuracy is reported.
    pub fn new(
        experiment: impl Into<String>,
        spec: ExperimentSpec,
        input_features: usize,
        evaluator: Option<Box<dyn TestEvaluator>>,
    ) -> Result<Self, EngineError> {
        spec.validate()?;
        let p = &spec.pathnet;
        let architecture = Architecture {
            dims: PathNetDims::new(p.layers, p.modules_per_layer, p.max_active)?,
            module_units: p.module_units,
            input_features,
            head_classes: vec![2; spec.tasks.len()],
        };
        let store = ParameterStore::new(architecture.build(spec.seed)?)?;
        let plan = plan::plan(&spec, &architecture.dims)?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let task = TaskRun::new(
            plan[0].task,
            spec.evolution.population,
            &architecture.dims,
            0,
            plan[0].fixed.clone(),
            &mut rng,
        )?;
        let mut engine = Engine {
            experiment: experiment.into(),
            spec,
            architecture,
            store,
            rng,
            evaluator,
            plan,
            phase: 0,
            kept: None,
            kept_best: None,
            held: BTreeMap::new(),
            task,
            summaries: Vec::new(),
            state: RunState::Running,
            next_id: 0,
            counters: Counters::default(),
            events: Vec::new(),
            clock: Instant::now(),
        };
        engine.emit_task_started();
        Ok(engine)
    }

    /// The experiment's id.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// The experiment's spec.
    pub fn spec(&self) -> &ExperimentSpec {
        &self.spec
    }

    /// The super-network's shape, as every replica must build it.
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    /// The master parameters, read-only.
    pub fn parameters(&self) -> &PathNet<f32> {
        self.store.net()
    }

    /// A copy of one module's current parameters and version.
    pub fn module_params(&self, id: ModuleId) -> Result<ModuleParams, PathNetError> {
        self.store.snapshot(id)
    }

    /// Where the experiment stands.
    pub fn status(&self) -> EngineStatus {
        EngineStatus {
            state: self.state,
            arm: self.plan[self.phase].arm,
            task: self.task.index,
            generation: self.task.resolved,
            max_generations: self.spec.evolution.max_generations,
            best_fitness: self.task.best_fitness(),
            tournaments_in_flight: self.task.in_flight(),
        }
    }

    /// The summary of the tasks finished so far.
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            experiment: self.spec.name.clone(),
            seed: self.spec.seed,
            tasks: self.summaries.clone(),
            comparison: report::comparison(&self.spec, &self.summaries),
            counters: self.counters.clone(),
            seconds: self.clock.elapsed().as_secs_f64(),
        }
    }

    /// The next evaluation to execute, or `None` when none can start now (every free
    /// member is in a tournament, the task is draining, or the experiment is over).
    pub fn next_evaluation(&mut self) -> Option<EvaluationRequest> {
        if !self.is_running() {
            return None;
        }
        let may_start = self.task.threshold_generation.is_none()
            && self.task.started < self.spec.evolution.max_generations;
        let started = self.task.started;
        let same = self.spec.evolution.same_minibatches;
        let issued = self
            .task
            .next(may_start, same, &mut self.next_id, &mut self.rng)?;
        self.counters.evaluations_issued += 1;
        self.counters.tournaments_started += (self.task.started - started) as u64;
        let job = self.job(&issued.pathway, issued.data_seed);
        Some(EvaluationRequest { id: issued.id, job })
    }

    /// Puts an issued evaluation back in the queue (its lease expired or was handed back,
    /// or its result was refused). Returns false if it was not outstanding.
    pub fn requeue(&mut self, id: EvalId) -> bool {
        let requeued = self.task.requeue(id);
        if requeued {
            self.counters.evaluations_requeued += 1;
        }
        requeued
    }

    /// Stops the experiment: nothing more is issued or accepted. Returns how many issued
    /// evaluations were cancelled.
    pub fn stop(&mut self) -> usize {
        if !self.is_running() {
            return 0;
        }
        let cancelled = self.task.cancel_all();
        self.counters.evaluations_cancelled += cancelled as u64;
        self.state = RunState::Stopped;
        // Whoever waits on progress (a coordinator exiting when its experiment is done)
        // learns that it is over, as it does when the other kinds stop.
        self.events.push(Progress::Finished);
        cancelled
    }

    /// Applies an outstanding evaluation's outcome: its deltas are added to the current
    /// parameters, its fitness recorded, its tournament resolved once both results are in,
    /// and the task or the experiment finished when its end condition holds. Returns the
    /// modules whose delta landed on its own base version, with the version that made
    /// (the evaluator's copy plus its delta is that version; see `store::CommitStats`).
    ///
    /// # Errors
    /// [`EngineError::Refused`] for a result that cannot be accepted (nothing changes);
    /// other variants only for internal failures.
    pub fn complete(
        &mut self,
        id: EvalId,
        outcome: &JobOutcome,
    ) -> Result<Vec<(ModuleId, u64)>, EngineError> {
        let result = self.apply(id, outcome);
        if matches!(result, Err(EngineError::Refused(_))) {
            self.counters.results_refused += 1;
        }
        result
    }

    fn apply(
        &mut self,
        id: EvalId,
        outcome: &JobOutcome,
    ) -> Result<Vec<(ModuleId, u64)>, EngineError> {
        if !self.is_running() {
            return Err(Refusal::NotRunning(self.state).into());
        }
        match self.task.outstanding(id) {
            None => return Err(Refusal::Unknown(id).into()),
            Some(false) => return Err(Refusal::NotOutstanding(id).into()),
            Some(true) => {}
        }
        check_outcome(outcome)?;
        let pathway = self
            .task
            .pathway(id)
            .expect("outstanding ids have a pathway");
        let head = self.store.net().head_id(self.task.index)?;
        let trainable: Vec<ModuleId> = pathway
            .module_ids()
            .chain([head])
            .filter(|&m| !self.store.is_frozen(m).unwrap_or(true))
            .collect();
        let update = self
            .store
            .prepare(&outcome.deltas, &trainable)
            .map_err(Refusal::from)?;
        let winner_only = self.spec.evolution.winner_only_updates;
        let mut from_base = Vec::new();
        let (tournament, slot) = self.task.slot(id).expect("outstanding ids are pending");
        if winner_only {
            // Checked now so that a bad result is refused when it arrives; added only if it
            // wins, onto the parameters as they are then.
            drop(update);
            self.held.insert((tournament, slot), outcome.deltas.clone());
        } else {
            from_base = self.commit(update)?;
        }
        self.counters.results_accepted += 1;

        let dims = self.architecture.dims;
        let resolved = self.task.record(
            id,
            outcome.fitness,
            outcome.training_accuracy,
            &dims,
            &mut self.rng,
        )?;
        self.events.push(Progress::Evaluation(FitnessEvent {
            task: self.task.index,
            generation: self.task.resolved,
            evaluations: self.counters.results_accepted,
            fitness: outcome.fitness,
            training_accuracy: outcome.training_accuracy,
            best_fitness: self.task.best_fitness().unwrap_or(outcome.fitness),
            mean_fitness: self.task.mean_fitness(),
        }));
        if winner_only && let Some(resolved) = &resolved {
            let winner = self.held.remove(&(tournament, resolved.winner_slot));
            self.held.remove(&(tournament, 1 - resolved.winner_slot));
            let winner = winner.expect("both contestants' deltas are held until resolution");
            let update = self
                .store
                .prepare(&winner, &trainable_of(&self.store, &winner))
                .map_err(Refusal::from)?;
            let committed = self.commit(update)?;
            // The evaluator of this result may keep its copy only if its own deltas landed.
            if resolved.winner_slot == slot {
                from_base = committed;
            }
        }
        if let Some(resolved) = resolved {
            self.counters.tournaments_resolved += 1;
            let threshold = self.spec.evolution.accuracy_threshold;
            if resolved.winner_accuracy >= threshold && self.task.threshold_generation.is_none() {
                self.task.threshold_generation = Some(resolved.generation);
            }
            self.events.push(Progress::Generation {
                task: self.task.index,
                generation: resolved.generation,
                winner_accuracy: resolved.winner_accuracy,
                best_accuracy: self.task.best.as_ref().map_or(f64::NAN, |b| b.0),
            });
        }
        let drained = self.task.threshold_generation.is_some() && self.task.in_flight() == 0;
        if drained || self.task.resolved >= self.spec.evolution.max_generations {
            self.finish_task()?;
        }
        Ok(from_base)
    }

    /// Adds checked deltas to the parameters and counts them.
    fn commit(
        &mut self,
        update: store::PreparedUpdate,
    ) -> Result<Vec<(ModuleId, u64)>, EngineError> {
        let stats = self.store.commit(update)?;
        self.counters.module_updates += stats.modules;
        self.counters.stale_module_updates += stats.stale;
        Ok(stats.from_base)
    }

    fn job(&self, pathway: &Pathway, data_seed: u64) -> PathwayJob {
        let index = self.task.index;
        let net = self.store.net();
        let head = net
            .head_id(index)
            .expect("the task index is always in range");
        let ids: Vec<ModuleId> = pathway.module_ids().chain([head]).collect();
        let evolution = &self.spec.evolution;
        PathwayJob {
            experiment: self.experiment.clone(),
            architecture: self.architecture.clone(),
            task_index: index,
            task: SupervisedTask {
                data_dir: self.spec.data.dir.clone(),
                classes: self.spec.tasks[index].classes,
                noise: self.spec.data.noise as f32,
                noise_seed: task_seed(&self.spec, index),
            },
            pathway: pathway.layers().to_vec(),
            minibatches: evolution.minibatches_per_evaluation,
            batch_size: evolution.batch_size,
            learning_rate: evolution.learning_rate as f32,
            data_seed,
            modules: ids
                .iter()
                .map(|&id| (id, net.version(id).expect("ids come from the network")))
                .collect(),
            frozen: ids
                .iter()
                .copied()
                .filter(|&id| net.is_frozen(id).unwrap_or(false))
                .collect(),
        }
    }
}

/// The modules held deltas change: they were checked against the pathway's trainable
/// modules on arrival, and nothing is frozen or unfrozen within a task.
fn trainable_of(store: &ParameterStore, deltas: &[ModuleDelta]) -> Vec<ModuleId> {
    deltas
        .iter()
        .map(|d| d.id)
        .filter(|&m| !store.is_frozen(m).unwrap_or(true))
        .collect()
}

fn check_outcome(outcome: &JobOutcome) -> Result<(), Refusal> {
    if !(outcome.fitness.is_finite() && (-1.0..=0.0).contains(&outcome.fitness)) {
        return Err(Refusal::InvalidOutcome {
            field: "fitness",
            value: outcome.fitness,
            reason: "must be minus a misclassified fraction, in [-1, 0]",
        });
    }
    if !(0.0..=1.0).contains(&outcome.training_accuracy) {
        return Err(Refusal::InvalidOutcome {
            field: "training_accuracy",
            value: outcome.training_accuracy,
            reason: "must be in [0, 1]",
        });
    }
    Ok(())
}

impl Run for Engine {
    fn kind(&self) -> Kind {
        Kind::PathNet
    }

    fn state(&self) -> RunState {
        self.state
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn is_running(&self) -> bool {
        self.state == RunState::Running
    }

    /// Events since the last call, oldest first.
    fn drain_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.events)
    }

    fn stop(&mut self) {
        Engine::stop(self);
    }

    fn requeue(&mut self, id: EvalId) {
        Engine::requeue(self, id);
    }

    fn summary(&self) -> Summary {
        Summary::PathNet(Engine::summary(self))
    }

    fn status(&self) -> RunStatus {
        let status = Engine::status(self);
        RunStatus {
            state: status.state,
            task: status.task,
            generation: status.generation as u64,
            best_fitness: status.best_fitness,
            tasks_completed: self.summaries.len(),
        }
    }

    fn task_names(&self) -> Vec<String> {
        self.spec.tasks.iter().map(|t| t.name.clone()).collect()
    }

    fn pathways(&self) -> Option<PathwayView> {
        let net = self.store.net();
        Some(PathwayView::new(
            self.task.index,
            net.dims(),
            self.task.pathways(),
            self.task.best.as_ref().map(|(_, pathway)| pathway),
            net.frozen_ids(),
        ))
    }
}

impl ExperimentKind for ExperimentSpec {
    type Summary = RunSummary;

    fn memory_estimate(&self, input_features: usize) -> Result<MemoryEstimate, SpecError> {
        Ok(ExperimentSpec::memory_estimate(self, input_features))
    }

    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<RunSummary, RunError> {
        crate::local::run_pathnet(self, observe)
    }
}
