//! A safe-mutation PathNet experiment on the lease scheduler, with no networking: each task
//! in turn is evolved by a tournament GA over pathway genomes (`pathnet_evo::sm_pathnet`);
//! after a task its best genome is written into the super-network with its pathway frozen,
//! and the next task is evolved on that (the transfer arm) and, as the control, on the bare
//! base network (the scratch arm), both arms at once, their evaluations interleaved.
//!
//! Monitoring sees one "task" per task and arm: `CartPole-v1`, then `Acrobot-v1/transfer`
//! and `Acrobot-v1/scratch`, so fitness events and the dashboard tell the arms apart.

use crate::kind::{ExperimentKind, Kind};
use crate::local::RunError;
use crate::run::{
    Counters, EvalId, FitnessEvent, PathwayView, Progress, Run, RunState, RunStatus, Summary,
};
use crate::spec::{MemoryEstimate, SmPathNetSpec, SpecError};
use pathnet_evo::EvoError;
use pathnet_evo::Outcome;
use pathnet_evo::engine::{EngineState, Refusal};
use pathnet_evo::sm_pathnet::{
    PathwayJob, PathwayProblem, PathwayRebuildCache, PathwayTask, TournamentEngine,
    TournamentSummary, Transfer, genome_pathway, held_out_accuracy,
};
use pathnet_nn::pathnet::{ModuleId, PathNetDims, Pathway};
use pathnet_work::TaskDataCache;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

mod checkpoint;

pub use checkpoint::SmPathNetRunState;

/// One task and arm of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The task on the super-network earlier tasks left (the first task: the base one).
    Transfer,
    /// The task on the bare base network, the transfer's control.
    Scratch,
}

/// How one task and arm ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// Zero-based index of the task.
    pub task: usize,
    /// The task's name: its environment, or its dataset task's description.
    pub env: String,
    /// Whether this is the transfer arm or the scratch control.
    pub arm: Arm,
    /// Its monitoring label.
    pub label: String,
    /// The tournament's own summary (best fitness and genome, evaluations, generations...),
    /// its fields at the top level of the JSON.
    #[serde(flatten)]
    pub run: TournamentSummary,
    /// The best genome's pathway, by layer.
    pub best_pathway: Option<Vec<Vec<usize>>>,
    /// Modules frozen by earlier tasks in this arm's base network.
    pub frozen_modules: usize,
    /// Of those, the ones the best pathway uses.
    pub reused_frozen_modules: usize,
    /// On a dataset task, the best genome's accuracy on the task's held-out split (the test
    /// files, which no evaluation of the run saw); `best_fitness` is the accuracy on the
    /// evaluation batch selection saw. Measured by the run itself when the arm ends, in
    /// process and over agents alike; absent on environment tasks, where the test files
    /// cannot be read, and in summaries and checkpoints written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

/// The summary of a safe-mutation PathNet run, in-process or distributed.
#[derive(Debug, Clone, Serialize)]
pub struct SmPathNetSummary {
    /// The experiment's id.
    pub experiment: String,
    /// `sm_pathnet`.
    pub kind: &'static str,
    /// The experiment's seed.
    pub seed: u64,
    /// The spec's `selection`.
    pub selection: pathnet_evo::sm_pathnet::Selection,
    /// The spec's mutation `operator`.
    pub operator: pathnet_evo::Operator,
    /// Running, or how the run ended.
    pub state: RunState,
    /// One entry per task and arm that has ended, in the order they ended.
    pub tasks: Vec<ArmSummary>,
    /// Evaluations accepted over all tasks and arms.
    pub evaluations: u64,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    /// `evaluations` over `seconds`.
    pub evaluations_per_second: f64,
    /// Mean and largest encoded size of the genomes sent (pathway seed and seed list, with
    /// the earlier tasks' genomes the base network is made of).
    pub genome_bytes_mean: f64,
    /// The largest of them, in bytes.
    pub genome_bytes_max: u64,
    /// Mean size of a whole evaluation's payload (the problem's text included).
    pub payload_bytes_mean: f64,
    /// What one pathway's weights (its modules and head, `f32`) would take instead.
    pub pathway_weight_bytes: u64,
    /// The run's counters.
    pub counters: Counters,
}

struct Running {
    arm: Arm,
    label: usize,
    engine: TournamentEngine,
}

/// Wire sizes of one evaluation, as the server measures them.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireBytes {
    /// The encoded genome (with the earlier tasks' genomes), in bytes.
    pub genome: usize,
    /// The whole work item's payload, in bytes.
    pub payload: usize,
}

/// A safe-mutation PathNet run's state: each task's arms and their tournament engines,
/// the transfer chain of best genomes, counters and progress events.
pub struct SmPathNetRun {
    experiment: String,
    spec: SmPathNetSpec,
    problem: PathwayProblem,
    dims: PathNetDims,
    task: usize,
    arms: Vec<Running>,
    /// The transfer arm's chain of best genomes.
    transfers: Vec<Transfer>,
    done: Vec<ArmSummary>,
    /// Run-wide id to (index into `arms`, engine id); cleared when a task ends, so results
    /// from an earlier task are refused.
    ids: HashMap<u64, (usize, u64)>,
    next_id: u64,
    turn: usize,
    stopped: bool,
    counters: Counters,
    events: Vec<Progress>,
    clock: Instant,
    seconds: Option<f64>,
    bytes: (u64, u64, u64, u64),
    pathway_weight_bytes: u64,
    /// Rebuilds the ended arms' best genomes to measure them on their held-out split.
    held_out: Arc<PathwayRebuildCache>,
    /// The grid as the last task left it, shown once every task has ended.
    last_pathways: Option<PathwayView>,
}

/// Genomes the held-out measurement's own rebuild cache keeps: the lineage of one best
/// genome at a time.
const HELD_OUT_CACHE: usize = 16;

impl SmPathNetRun {
    /// A run of `spec` under the id `experiment`, its first task started; an error when the
    /// problem (tasks, network) cannot be set up.
    pub fn new(experiment: String, spec: SmPathNetSpec) -> Result<Self, EvoError> {
        let problem = spec.problem();
        problem.validate()?;
        let dims = problem.dims()?;
        let pathway_weight_bytes = {
            let net = problem.base_network()?;
            let pathway = Pathway::random(&dims, 0)?;
            let head = net.head_id(0)?;
            let params: usize = pathway
                .module_ids()
                .chain(std::iter::once(head))
                .map(|id| {
                    net.params(id)
                        .map(|p| p.iter().map(|t| t.len()).sum::<usize>())
                })
                .sum::<Result<usize, _>>()?;
            4 * params as u64
        };
        let mut run = SmPathNetRun {
            experiment,
            spec,
            problem,
            dims,
            task: 0,
            arms: Vec::new(),
            transfers: Vec::new(),
            done: Vec::new(),
            ids: HashMap::new(),
            next_id: 0,
            turn: 0,
            stopped: false,
            counters: Counters::default(),
            events: Vec::new(),
            clock: Instant::now(),
            seconds: None,
            bytes: (0, 0, 0, 0),
            pathway_weight_bytes,
            // The spec's dataset directories, as the PathNet kind reads its test split.
            held_out: Arc::new(
                PathwayRebuildCache::new(HELD_OUT_CACHE)
                    .with_examples(Arc::new(TaskDataCache::new(None))),
            ),
            last_pathways: None,
        };
        run.start_task()?;
        Ok(run)
    }

    /// Measures the held-out accuracies with `cache` (which must read the same examples)
    /// instead of the run's own: the in-process run shares its executor's, which still
    /// holds the best genomes' networks, so a measurement costs no rebuild.
    pub fn share_cache(&mut self, cache: Arc<PathwayRebuildCache>) {
        self.held_out = cache;
    }

    /// The experiment's spec.
    pub fn spec(&self) -> &SmPathNetSpec {
        &self.spec
    }

    /// Monitoring labels: the first task by its environment, later ones by environment and
    /// arm.
    fn labels(&self) -> Vec<String> {
        let mut labels = Vec::new();
        for (task, env) in self.problem.tasks.iter().map(|t| t.name()).enumerate() {
            if task == 0 {
                labels.push(env);
            } else {
                labels.push(format!("{env}/transfer"));
                if self.spec.sm_pathnet.scratch_control {
                    labels.push(format!("{env}/scratch"));
                }
            }
        }
        labels
    }

    fn label_index(&self, task: usize, arm: Arm) -> usize {
        if task == 0 {
            return 0;
        }
        let per_task = if self.spec.sm_pathnet.scratch_control {
            2
        } else {
            1
        };
        1 + (task - 1) * per_task + usize::from(arm == Arm::Scratch)
    }

    fn start_task(&mut self) -> Result<(), EvoError> {
        let task = self.task;
        let mut arms = vec![(Arm::Transfer, self.transfers.clone())];
        if task > 0 && self.spec.sm_pathnet.scratch_control {
            arms.push((Arm::Scratch, Vec::new()));
        }
        let labels = self.labels();
        for (arm, transfers) in arms {
            let config = self
                .spec
                .tournament_arm(task, u64::from(arm == Arm::Scratch));
            let label = self.label_index(task, arm);
            self.events.push(Progress::TaskStarted {
                task: label,
                name: labels[label].clone(),
                max_generations: (config.max_evaluations / config.population as u64) as usize,
            });
            let engine = TournamentEngine::new(self.problem.clone(), task, transfers, config)?;
            self.arms.push(Running { arm, label, engine });
        }
        Ok(())
    }

    /// The next genome to evaluate, the arms of the current task taking turns;
    /// `wire_bytes` measures what it costs on the wire, for the summary.
    pub fn next_evaluation(
        &mut self,
        wire_bytes: impl Fn(&PathwayJob) -> WireBytes,
    ) -> Option<(EvalId, PathwayJob)> {
        if self.stopped {
            return None;
        }
        let n = self.arms.len();
        for k in 0..n {
            let index = (self.turn + k) % n;
            if let Some((local, job)) = self.arms[index].engine.next_evaluation() {
                self.turn = (index + 1) % n;
                // A re-issued evaluation keeps its id, as the runtime expects.
                let id = match self.ids.iter().find(|(_, v)| **v == (index, local)) {
                    Some((&id, _)) => id,
                    None => {
                        let id = self.next_id;
                        self.next_id += 1;
                        self.ids.insert(id, (index, local));
                        id
                    }
                };
                let bytes = wire_bytes(&job);
                self.bytes.0 += bytes.genome as u64;
                self.bytes.1 = self.bytes.1.max(bytes.genome as u64);
                self.bytes.2 += bytes.payload as u64;
                self.bytes.3 += 1;
                self.counters.evaluations_issued += 1;
                return Some((EvalId(id), job));
            }
        }
        None
    }

    /// Takes the outcome of evaluation `id`. A refusal (never issued, of a task that is over,
    /// the run over, a fitness that is not finite) is counted and changes nothing else.
    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        let result = match self.ids.get(&id.0) {
            None if self.state() != RunState::Running => {
                Err(Refusal::NotRunning(if self.stopped {
                    EngineState::Stopped
                } else {
                    EngineState::Exhausted
                }))
            }
            // Never issued, or from a task that is over.
            None => Err(Refusal::Unknown(pathnet_evo::EvalId(id.0))),
            Some(&(index, local)) => {
                let engine = &mut self.arms[index].engine;
                let before = engine.cancelled();
                let completed = engine.complete(local, outcome);
                // Reaching the target drops the arm's other evaluations in flight.
                self.counters.evaluations_cancelled += engine.cancelled() - before;
                completed.map(|()| index)
            }
        };
        let index = match result {
            Ok(index) => index,
            Err(refusal) => {
                self.counters.results_refused += 1;
                return Err(refusal);
            }
        };
        self.ids.remove(&id.0);
        self.counters.results_accepted += 1;
        let arm = &self.arms[index];
        self.events.push(Progress::Evaluation(FitnessEvent {
            task: arm.label,
            generation: arm.engine.generation() as usize,
            evaluations: self.counters.results_accepted,
            fitness: outcome.fitness,
            training_accuracy: 0.0,
            best_fitness: arm.engine.best_fitness().unwrap_or(outcome.fitness),
            mean_fitness: arm.engine.mean_fitness().unwrap_or(outcome.fitness),
        }));
        self.advance();
        Ok(())
    }

    /// Ends the current task once all its arms are over, and starts the next.
    fn advance(&mut self) {
        if self.stopped
            || self
                .arms
                .iter()
                .any(|a| a.engine.state() == EngineState::Running)
        {
            return;
        }
        self.last_pathways = self.pathway_view();
        let arms = std::mem::take(&mut self.arms);
        self.ids.clear();
        for arm in &arms {
            let mut summary = self.arm_summary(arm);
            summary.test_accuracy = self.measure_held_out(&summary);
            self.done.push(summary);
        }
        let best = arms
            .iter()
            .find(|a| a.arm == Arm::Transfer)
            .and_then(|a| a.engine.best_genome().cloned());
        self.task += 1;
        match best {
            Some(genome) if self.task < self.problem.tasks.len() => {
                self.transfers.push(Transfer {
                    task: self.task - 1,
                    genome,
                });
                if let Err(err) = self.start_task() {
                    // The spec was validated; an engine that cannot start is a bug, and the
                    // run ends rather than hang.
                    tracing::error!(%err, "cannot start the next task");
                    self.finish();
                }
            }
            _ => self.finish(),
        }
    }

    /// The modules the earlier tasks' best pathways froze in `engine`'s base network.
    fn frozen(&self, engine: &TournamentEngine) -> Vec<ModuleId> {
        engine
            .transfers()
            .iter()
            .filter_map(|t| genome_pathway(&self.dims, &t.genome).ok())
            .flat_map(|p| p.module_ids().collect::<Vec<_>>())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The grid of the current task's transfer arm: the one evolved on what earlier tasks
    /// froze (the scratch arm's grid would show nothing frozen). `None` between tasks.
    fn pathway_view(&self) -> Option<PathwayView> {
        let arm = self.arms.iter().find(|a| a.arm == Arm::Transfer)?;
        // A genome's pathway is a function of its seeds alone: no weights are built here.
        let members: Vec<Pathway> = arm
            .engine
            .members()
            .filter_map(|g| genome_pathway(&self.dims, g).ok())
            .collect();
        let best = arm
            .engine
            .best_genome()
            .and_then(|g| genome_pathway(&self.dims, g).ok());
        Some(PathwayView::new(
            arm.label,
            &self.dims,
            &members,
            best.as_ref(),
            self.frozen(&arm.engine),
        ))
    }

    fn arm_summary(&self, arm: &Running) -> ArmSummary {
        let run = arm.engine.summary();
        let frozen = self.frozen(&arm.engine);
        let best = run
            .best_genome
            .as_ref()
            .and_then(|g| genome_pathway(&self.dims, g).ok());
        let reused = best.as_ref().map_or(0, |p| {
            p.module_ids().filter(|id| frozen.contains(id)).count()
        });
        let task = arm.engine.task();
        ArmSummary {
            task,
            env: self.problem.tasks[task].name(),
            arm: arm.arm,
            label: self.labels()[arm.label].clone(),
            run,
            best_pathway: best.map(|p| p.layers().to_vec()),
            frozen_modules: frozen.len(),
            reused_frozen_modules: reused,
            test_accuracy: None,
        }
    }

    /// On a dataset task, the arm's best genome's accuracy on the task's held-out split,
    /// rebuilt here from its seeds: results from agents carry only fitness, so the run
    /// measures it itself (once per arm, when the arm ends). A failure (no test files on
    /// this machine) is logged and leaves the accuracy out rather than end the run.
    fn measure_held_out(&self, arm: &ArmSummary) -> Option<f64> {
        if !matches!(self.problem.tasks.get(arm.task), Some(PathwayTask::Data(_))) {
            return None;
        }
        let job = self.best_job(arm)?;
        match held_out_accuracy(&job, &self.held_out) {
            Ok(accuracy) => accuracy,
            Err(err) => {
                tracing::warn!(arm = %arm.label, %err, "no held-out test accuracy");
                None
            }
        }
    }

    /// A job that evaluates `arm`'s best genome where it was evolved: over the transfer
    /// chain of the tasks before it (none for the scratch arm). `None` before the arm has a
    /// best genome, or for a summary that is not this run's.
    pub fn best_job(&self, arm: &ArmSummary) -> Option<PathwayJob> {
        let genome = arm.run.best_genome.clone()?;
        let transfers = match arm.arm {
            Arm::Scratch => Vec::new(),
            Arm::Transfer => self.transfers.get(..arm.task)?.to_vec(),
        };
        Some(PathwayJob {
            problem: self.problem.clone(),
            task: arm.task,
            transfers,
            parent: genome,
            mutation: None,
        })
    }

    /// The run's summary as it stands.
    pub fn summary(&self) -> SmPathNetSummary {
        let seconds = self
            .seconds
            .unwrap_or_else(|| self.clock.elapsed().as_secs_f64());
        let mut tasks = self.done.clone();
        tasks.extend(self.arms.iter().map(|a| self.arm_summary(a)));
        let evaluations = tasks.iter().map(|t| t.run.evaluations).sum();
        let sent = self.bytes.3.max(1) as f64;
        SmPathNetSummary {
            experiment: self.experiment.clone(),
            kind: Kind::SmPathNet.as_str(),
            seed: self.spec.seed,
            selection: self.spec.sm_pathnet.selection,
            operator: self.spec.sm_pathnet.operator,
            state: self.state(),
            tasks,
            evaluations,
            seconds,
            evaluations_per_second: if seconds > 0.0 {
                evaluations as f64 / seconds
            } else {
                0.0
            },
            genome_bytes_mean: self.bytes.0 as f64 / sent,
            genome_bytes_max: self.bytes.1,
            payload_bytes_mean: self.bytes.2 as f64 / sent,
            pathway_weight_bytes: self.pathway_weight_bytes,
            counters: self.counters.clone(),
        }
    }

    fn finish(&mut self) {
        if self.seconds.is_none() {
            self.seconds = Some(self.clock.elapsed().as_secs_f64());
            self.events.push(Progress::Finished);
        }
    }
}

impl Run for SmPathNetRun {
    fn kind(&self) -> Kind {
        Kind::SmPathNet
    }

    fn state(&self) -> RunState {
        if self.stopped {
            RunState::Stopped
        } else if self.seconds.is_some() {
            RunState::Completed
        } else {
            RunState::Running
        }
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn requeue(&mut self, id: EvalId) {
        if let Some(&(index, local)) = self.ids.get(&id.0)
            && self.arms[index].engine.requeue(local)
        {
            self.counters.evaluations_requeued += 1;
        }
    }

    fn stop(&mut self) {
        if self.state() != RunState::Running {
            return;
        }
        for arm in &mut self.arms {
            self.counters.evaluations_cancelled += arm.engine.stop() as u64;
        }
        self.stopped = true;
        self.ids.clear();
        self.seconds = Some(self.clock.elapsed().as_secs_f64());
        self.events.push(Progress::Finished);
    }

    fn drain_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.events)
    }

    fn summary(&self) -> Summary {
        Summary::SmPathNet(SmPathNetRun::summary(self))
    }

    fn status(&self) -> RunStatus {
        let first = self.arms.first();
        RunStatus {
            state: self.state(),
            task: first.map_or(self.labels().len(), |a| a.label),
            generation: first.map_or(0, |a| a.engine.generation()),
            best_fitness: first.and_then(|a| a.engine.best_fitness()),
            tasks_completed: self.done.len(),
        }
    }

    fn task_names(&self) -> Vec<String> {
        self.labels()
    }

    fn pathways(&self) -> Option<PathwayView> {
        self.pathway_view().or_else(|| self.last_pathways.clone())
    }
}

impl ExperimentKind for SmPathNetSpec {
    type Summary = SmPathNetSummary;

    fn memory_estimate(&self, _input_features: usize) -> Result<MemoryEstimate, SpecError> {
        SmPathNetSpec::memory_estimate(self)
    }

    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<SmPathNetSummary, RunError> {
        crate::local::run_sm_pathnet(self, observe)
    }
}

impl fmt::Display for SmPathNetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "experiment {} (seed {}, {:?} tournament, operator {}) {} in {:.1} s: {} evaluations ({:.1}/s)",
            self.experiment,
            self.seed,
            self.selection,
            self.operator,
            self.state,
            self.seconds,
            self.evaluations,
            self.evaluations_per_second
        )?;
        for t in &self.tasks {
            let r = &t.run;
            writeln!(
                f,
                "  {:<24} best fitness {}  mean of population {}  {} generations  {} evaluations{}  best pathway {}  reused frozen modules {}/{}",
                t.label,
                r.best_fitness
                    .map_or_else(|| "none".to_owned(), |f| format!("{f:.3}")),
                if r.population_fitness.is_empty() {
                    "none".to_owned()
                } else {
                    // Three decimals: dataset tasks' fitness is an accuracy.
                    format!(
                        "{:.3}",
                        r.population_fitness.iter().sum::<f64>()
                            / r.population_fitness.len() as f64
                    )
                },
                r.generations,
                r.evaluations,
                r.evaluations_to_target
                    .map_or_else(String::new, |n| format!(" (target after {n})")),
                t.best_pathway
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |p| format!("{p:?}")),
                t.reused_frozen_modules,
                t.frozen_modules
            )?;
            if let Some(accuracy) = t.test_accuracy {
                writeln!(
                    f,
                    "  {:<24} held-out test accuracy of the best genome {accuracy:.3}",
                    ""
                )?;
            }
        }
        writeln!(
            f,
            "  genomes on the wire: {:.1} bytes on average (at most {}; whole payload {:.0}) instead of {} bytes of pathway weights",
            self.genome_bytes_mean,
            self.genome_bytes_max,
            self.payload_bytes_mean,
            self.pathway_weight_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::local::run_sm_pathnet;
    use crate::spec::Spec;

    fn spec(selection: &str) -> crate::spec::SmPathNetSpec {
        let text = format!(
            r#"
            kind = "sm_pathnet"
            name = "t"
            seed = 4
            [sm_pathnet]
            envs = ["CartPole-v1", "Acrobot-v1"]
            layers = 2
            modules = 4
            max_active = 2
            units = 8
            episodes = 1
            experience = 20
            selection = "{selection}"
            population = 4
            tournament_size = 2
            operator = "sm_g_abs"
            evaluations_per_task = 10
            "#
        );
        let Spec::SmPathNet(spec) = Spec::from_toml(&text).unwrap() else {
            panic!("an sm_pathnet spec");
        };
        spec
    }

    #[test]
    fn both_tasks_and_the_scratch_arm_run_and_the_run_is_reproducible() {
        for selection in ["binary", "steady_state"] {
            let mut labels = Vec::new();
            let summary = run_sm_pathnet(&spec(selection), &mut |p| {
                if let crate::run::Progress::TaskStarted { name, .. } = p {
                    labels.push(name.clone());
                }
            })
            .unwrap();
            assert_eq!(
                labels,
                ["CartPole-v1", "Acrobot-v1/transfer", "Acrobot-v1/scratch"]
            );
            assert_eq!(summary.tasks.len(), 3);
            assert_eq!(summary.evaluations, 30);
            let [a, transfer, scratch] = &summary.tasks[..] else {
                unreachable!()
            };
            assert_eq!((a.frozen_modules, scratch.frozen_modules), (0, 0));
            assert_eq!(transfer.frozen_modules, 4, "A's best pathway, 2 layers x 2");
            assert!(transfer.reused_frozen_modules <= 4);
            assert!(summary.genome_bytes_mean > 0.0);
            assert!(summary.genome_bytes_max < summary.pathway_weight_bytes);
            let again = run_sm_pathnet(&spec(selection), &mut |_| {}).unwrap();
            let best = |s: &super::SmPathNetSummary| -> Vec<Option<u64>> {
                s.tasks
                    .iter()
                    .map(|t| t.run.best_fitness.map(f64::to_bits))
                    .collect()
            };
            assert_eq!(best(&summary), best(&again), "{selection}");
        }
    }

    #[test]
    fn stale_and_repeated_results_are_refused() {
        use super::{SmPathNetRun, WireBytes};
        use crate::run::Run;
        let mut run = SmPathNetRun::new("t".into(), spec("binary")).unwrap();
        let cache = pathnet_evo::sm_pathnet::PathwayRebuildCache::new(8);
        let (id, job) = run.next_evaluation(|_| WireBytes::default()).unwrap();
        run.requeue(id);
        let outcome = pathnet_evo::sm_pathnet::evaluate_pathway(&job, &cache).unwrap();
        assert!(
            run.complete(id, &outcome).is_err(),
            "requeued: not outstanding"
        );
        let (again, job_again) = run.next_evaluation(|_| WireBytes::default()).unwrap();
        assert_eq!((again, &job_again), (id, &job), "re-issued as it was");
        run.complete(again, &outcome).unwrap();
        assert!(run.complete(again, &outcome).is_err(), "counted once");
        assert_eq!(run.counters().results_accepted, 1);
        assert!(
            run.complete(crate::run::EvalId(999), &outcome).is_err(),
            "never issued"
        );
        assert_eq!(run.counters().evaluations_requeued, 1);
    }

    #[test]
    fn reaching_a_target_cancels_the_arms_other_evaluations_and_starts_the_next_task() {
        use super::{SmPathNetRun, WireBytes};
        use crate::run::Run;
        let mut spec = spec("binary");
        spec.sm_pathnet.target_fitness = vec![-1000.0];
        let mut run = SmPathNetRun::new("t".into(), spec).unwrap();
        let cache = pathnet_evo::sm_pathnet::PathwayRebuildCache::new(8);
        let issued: Vec<_> = (0..3)
            .map(|_| run.next_evaluation(|_| WireBytes::default()).unwrap())
            .collect();
        let outcome = pathnet_evo::sm_pathnet::evaluate_pathway(&issued[0].1, &cache).unwrap();
        run.complete(issued[0].0, &outcome).unwrap();
        assert!(run.complete(issued[1].0, &outcome).is_err(), "task over");
        let c = run.counters();
        assert_eq!(c.evaluations_cancelled, 2);
        assert_eq!(
            c.evaluations_issued,
            c.results_accepted + c.evaluations_requeued + c.evaluations_cancelled
        );
        let (_, next) = run.next_evaluation(|_| WireBytes::default()).unwrap();
        assert_eq!((next.task, next.transfers.len()), (1, 1));
    }

    #[test]
    fn the_grid_shows_the_transfer_arm_with_the_first_tasks_best_pathway_frozen() {
        use super::{SmPathNetRun, WireBytes};
        use crate::run::{Run, RunState};
        let cells = |pathway: &[Vec<usize>]| -> Vec<[usize; 2]> {
            let mut cells: Vec<[usize; 2]> = (pathway.iter().enumerate())
                .flat_map(|(l, ms)| ms.iter().map(move |&m| [l, m]))
                .collect();
            cells.sort_unstable();
            cells
        };
        let mut run = SmPathNetRun::new("t".into(), spec("binary")).unwrap();
        let cache = pathnet_evo::sm_pathnet::PathwayRebuildCache::new(64);
        let first = run.pathways().expect("a grid from the start");
        assert_eq!(
            (first.task, first.layers, first.modules_per_layer),
            (0, 2, 4)
        );
        assert!(first.best.is_none() && first.frozen.is_empty());
        assert!(
            first.usage.iter().flatten().all(|&u| u == 0),
            "no member yet"
        );
        let mut seen_second = false;
        while let Some((id, job)) = run.next_evaluation(|_| WireBytes::default()) {
            let outcome = pathnet_evo::sm_pathnet::evaluate_pathway(&job, &cache).unwrap();
            run.complete(id, &outcome).unwrap();
            let view = run.pathways().expect("a grid while running and after");
            if run.done.is_empty() {
                assert_eq!(view.task, 0);
                assert!(view.best.is_some());
                let used: u32 = view.usage.iter().flatten().sum();
                assert!(used > 0 && used <= 4 * 2 * 2, "{used}: 4 members of 2 x 2");
                continue;
            }
            // Task B: the transfer arm (label 1, not the scratch arm's 2), on what A froze.
            let a = run.done[0].best_pathway.as_ref().expect("A's best pathway");
            assert_eq!(run.task_names()[view.task], "Acrobot-v1/transfer");
            let mut frozen = view.frozen.clone();
            frozen.sort_unstable();
            assert_eq!(frozen, cells(a));
            seen_second = true;
        }
        assert!(seen_second);
        assert_eq!(run.state(), RunState::Completed);
        // Once over, the grid stays as the last task left it.
        let last = run.pathways().expect("the last task's grid");
        let transfer = &run.done[1];
        assert_eq!(transfer.label, "Acrobot-v1/transfer");
        assert_eq!(last.best.as_deref(), transfer.best_pathway.as_deref());
    }

    fn supervised(hybrid: &str) -> crate::spec::SmPathNetSpec {
        let mnist = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist");
        let text = format!(
            r#"
            kind = "sm_pathnet"
            name = "t"
            seed = 2
            [sm_pathnet]
            layers = 2
            modules = 3
            max_active = 2
            units = 4
            experience = 16
            eval_examples = 64
            selection = "binary"
            population = 4
            operator = "sm_g_sum"
            evaluations_per_task = 8
            {hybrid}
            [[sm_pathnet.tasks]]
            data = "{mnist}"
            classes = [3, 5]
            [[sm_pathnet.tasks]]
            data = "{mnist}"
            classes = [1, 7]
            noise = 0.2
            "#
        );
        let Spec::SmPathNet(spec) = Spec::from_toml(&text).unwrap() else {
            panic!("an sm_pathnet spec");
        };
        spec
    }

    #[test]
    fn dataset_tasks_run_with_accuracy_as_fitness_and_in_hybrid_mode() {
        for hybrid in [
            "",
            "hybrid = { minibatches = 2, batch_size = 8, learning_rate = 0.01 }",
        ] {
            let mut labels = Vec::new();
            let summary = run_sm_pathnet(&supervised(hybrid), &mut |p| {
                if let crate::run::Progress::TaskStarted { name, .. } = p {
                    labels.push(name.clone());
                }
            })
            .unwrap();
            assert_eq!(
                labels,
                [
                    "mnist 3 vs 5",
                    "mnist 1 vs 7/transfer",
                    "mnist 1 vs 7/scratch"
                ]
            );
            for task in &summary.tasks {
                let best = task.run.best_fitness.unwrap();
                assert!((0.0..=1.0).contains(&best), "{}: {best}", task.label);
                let test = task
                    .test_accuracy
                    .expect("a dataset task's held-out accuracy");
                assert!((0.0..=1.0).contains(&test), "{}: {test}", task.label);
            }
            assert_eq!(summary.tasks[1].frozen_modules, 4);
            let again = run_sm_pathnet(&supervised(hybrid), &mut |_| {}).unwrap();
            assert_eq!(
                summary.tasks[2].run.best_fitness.map(f64::to_bits),
                again.tasks[2].run.best_fitness.map(f64::to_bits),
                "{hybrid}"
            );
            let tests = |s: &super::SmPathNetSummary| -> Vec<Option<u64>> {
                s.tasks
                    .iter()
                    .map(|t| t.test_accuracy.map(f64::to_bits))
                    .collect()
            };
            assert_eq!(tests(&summary), tests(&again), "{hybrid}");
        }
    }

    #[test]
    fn held_out_accuracy_is_the_best_genome_on_the_test_files_and_optional_in_json() {
        use pathnet_evo::sm_pathnet::PathwayRebuildCache;
        use pathnet_work::TaskDataCache;
        use std::sync::Arc;
        let summary = run_sm_pathnet(&supervised(""), &mut |_| {}).unwrap();
        let run = super::SmPathNetRun::new("t".into(), supervised("")).unwrap();
        // Task B's scratch arm: its best genome over the bare base network, measured by hand
        // on the test files' two classes (noised as the task says).
        let scratch = &summary.tasks[2];
        assert_eq!(scratch.arm, super::Arm::Scratch);
        let job = run.best_job(scratch).expect("a best genome");
        assert!(job.transfers.is_empty() && job.mutation.is_none());
        let cache = PathwayRebuildCache::new(0).with_examples(Arc::new(TaskDataCache::new(None)));
        let rebuilt = pathnet_evo::sm_pathnet::rebuild(&job, &cache).unwrap();
        let pathnet_evo::sm_pathnet::PathwayTask::Data(task) = &job.problem.tasks[1] else {
            panic!("a dataset task")
        };
        assert_eq!((task.classes, task.noise), ([1, 7], 0.2));
        let data = TaskDataCache::new(None)
            .test(&pathnet_work::SupervisedTask {
                data_dir: task.dir.clone(),
                classes: task.classes,
                noise: task.noise,
                noise_seed: task.noise_seed,
            })
            .unwrap();
        let report = rebuilt
            .net
            .evaluate(
                &rebuilt.pathway,
                1,
                [pathnet_nn::pathnet::Batch {
                    inputs: data.inputs.view().into_dyn(),
                    labels: &data.labels,
                }],
            )
            .unwrap();
        assert!(!data.labels.is_empty());
        assert_eq!(
            report.examples,
            data.labels.len(),
            "every test example of 1 and 7"
        );
        assert_eq!(
            scratch.test_accuracy.map(f64::to_bits),
            Some(report.accuracy().to_bits())
        );
        // The summary's JSON carries it; a summary or checkpoint written before the field
        // existed still reads, without it.
        let mut json = serde_json::to_value(scratch).unwrap();
        assert!(json["test_accuracy"].is_f64());
        json.as_object_mut().unwrap().remove("test_accuracy");
        let old: super::ArmSummary = serde_json::from_value(json).unwrap();
        assert_eq!(old.test_accuracy, None);
        assert_eq!(old.run.best_fitness, scratch.run.best_fitness);
        // Environment tasks have no held-out split.
        let env = run_sm_pathnet(&spec("binary"), &mut |_| {}).unwrap();
        assert!(env.tasks.iter().all(|t| t.test_accuracy.is_none()));
        let json = serde_json::to_value(&env.tasks[0]).unwrap();
        assert!(json.get("test_accuracy").is_none(), "omitted, not null");
    }

    /// A run served to agents: every evaluation goes through its wire message to an
    /// executor of its own (its own cache and loader) and only the fitness comes back, yet
    /// the summary has each arm's held-out accuracy, the in-process run's bit for bit.
    #[test]
    fn runs_over_agents_measure_the_held_out_accuracy_themselves() {
        use super::{SmPathNetRun, WireBytes};
        use crate::run::Run;
        use pathnet_evo::sm_pathnet::PathwayRebuildCache;
        use pathnet_proto::v1::work_item::Payload;
        use pathnet_work::{TaskDataCache, genome_wire, sm_pathnet_wire};
        use std::sync::Arc;
        pathnet_nn::set_threads(1);
        let spec = supervised("");
        let mut run = SmPathNetRun::new("t".into(), spec.clone()).unwrap();
        let agent = PathwayRebuildCache::new(64).with_examples(Arc::new(TaskDataCache::new(None)));
        while let Some((id, job)) = run.next_evaluation(|_| WireBytes::default()) {
            let Payload::PathwayGenomeEvaluation(sent) = sm_pathnet_wire::job_payload(&job) else {
                panic!("a pathway genome evaluation");
            };
            let received = sm_pathnet_wire::job_from_payload(&sent).unwrap();
            let outcome = pathnet_evo::sm_pathnet::evaluate_pathway(&received, &agent).unwrap();
            let report = genome_wire::outcome_to_report("agent", "work", &outcome, 1);
            let back = genome_wire::outcome_from_report(&report).unwrap();
            run.complete(id, &back).unwrap();
        }
        assert_eq!(run.state(), crate::run::RunState::Completed);
        let served = run.summary();
        let local = run_sm_pathnet(&spec, &mut |_| {}).unwrap();
        let tests = |s: &super::SmPathNetSummary| -> Vec<Option<u64>> {
            s.tasks
                .iter()
                .map(|t| t.test_accuracy.map(f64::to_bits))
                .collect()
        };
        assert_eq!(served.tasks.len(), 3);
        assert!(tests(&served).iter().all(Option::is_some), "{served:?}");
        assert_eq!(tests(&served), tests(&local));
    }

    #[test]
    fn bad_task_entries_are_refused_by_field() {
        let base = supervised("").sm_pathnet;
        type Break = fn(&mut crate::spec::SmPathNetConfig);
        let cases: [(&str, Break); 6] = [
            ("sm_pathnet.tasks[1].classes", |c| {
                c.tasks[1].classes = Some([4, 4])
            }),
            ("sm_pathnet.tasks[0].classes", |c| c.tasks[0].classes = None),
            ("sm_pathnet.tasks[1].noise", |c| c.tasks[1].noise = 2.0),
            ("sm_pathnet.tasks[0].data", |c| {
                c.tasks[0].env = Some("CartPole-v1".into())
            }),
            ("sm_pathnet.tasks", |c| c.envs = vec!["CartPole-v1".into()]),
            ("sm_pathnet.hybrid", |c| {
                c.tasks[1].data = None;
                c.tasks[1].classes = None;
                c.tasks[1].env = Some("CartPole-v1".into());
                c.hybrid = Some(pathnet_evo::sm_pathnet::Hybrid {
                    minibatches: 1,
                    batch_size: 1,
                    learning_rate: 0.1,
                });
            }),
        ];
        for (field, break_it) in cases {
            let mut spec = supervised("");
            spec.sm_pathnet = base.clone();
            break_it(&mut spec.sm_pathnet);
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
