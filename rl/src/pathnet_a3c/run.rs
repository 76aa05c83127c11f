//! PathNet-A3C in one process: worker threads over one [`ParameterServer`] per task and one
//! [`Evolution`] behind a mutex; the transfer step between tasks; and the from-scratch
//! control that trains the last task alone with the same settings.

use super::config::PathNetA3cConfig;
use super::error::PathNetA3cError;
use super::evolution::{Evolution, EvolutionStats, SavedRng, restore_rng};
use super::network::PathNetActorCritic;
use super::worker::{PathNetWorker, PathNetWorkerReport};
use crate::parameter_server::{ParameterServer, ServerConfig, ServerStats, StopReason};
use crate::shared_parameters::SharedParameters;
use ndarray::ArrayD;
use pathnet_nn::pathnet::{ModuleId, Pathway};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;
use std::time::Instant;

/// Streams of the run's seed (workers use streams from 2^32 up).
const NETWORK_STREAM: u64 = 0;
const EVOLUTION_STREAM: u64 = 1;
const TRANSFER_STREAM: u64 = 2;

/// What training one task did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskReport {
    /// The task's index in the config, 0-based.
    pub task: usize,
    /// Its environment id.
    pub env: String,
    /// Which stop rule ended it: `TargetReturn` means solved.
    pub stop: Option<StopReason>,
    /// The task's parameter server counters at the end.
    pub stats: ServerStats,
    /// Seconds from the first worker's start to the last one's end.
    pub wall_seconds: f64,
    /// The best pathway at the end of the task, with its fitness; `None` when no worker
    /// finished `T` episodes.
    pub best: Option<(Pathway, f64)>,
    /// Modules that were frozen while this task trained.
    pub frozen: Vec<ModuleId>,
    /// The task's tournament counters.
    pub evolution: EvolutionStats,
    /// One report per worker, in worker order.
    pub workers: Vec<PathNetWorkerReport>,
}

impl TaskReport {
    /// Environment steps to the target return, or `None` when the budget ran out first.
    pub fn steps_to_target(&self) -> Option<u64> {
        (self.stop == Some(StopReason::TargetReturn)).then_some(self.stats.env_steps)
    }
}

/// A super-network, its population and the tasks trained on it so far.
pub struct PathNetA3c {
    config: PathNetA3cConfig,
    seed: u64,
    net: PathNetActorCritic<f32>,
    evolution: Evolution,
    transfer_rng: ChaCha8Rng,
    /// The best pathway of the last task trained, which the next task starts by freezing.
    previous: Option<Pathway>,
    rmsprop_statistics: Vec<ArrayD<f32>>,
}

impl PathNetA3c {
    /// A fresh super-network and population for `config`, every random draw derived from
    /// `seed`; no task trained yet.
    ///
    /// # Errors
    /// An invalid config, named by its key.
    pub fn new(config: &PathNetA3cConfig, seed: u64) -> Result<Self, PathNetA3cError> {
        config.validate()?;
        let net = PathNetActorCritic::new(
            config.dims(),
            config.module_spec(),
            config.task_shapes()?,
            stream(seed, NETWORK_STREAM).next_u64(),
        )?;
        let evolution = Evolution::new(
            config.dims(),
            config.workers,
            config.tournament_size,
            stream(seed, EVOLUTION_STREAM).next_u64(),
        )?;
        Ok(PathNetA3c {
            config: config.clone(),
            seed,
            net,
            evolution,
            transfer_rng: stream(seed, TRANSFER_STREAM),
            previous: None,
            rmsprop_statistics: Vec::new(),
        })
    }

    /// The settings it runs.
    pub fn config(&self) -> &PathNetA3cConfig {
        &self.config
    }

    /// The super-network, with the parameters of the last task trained.
    pub fn network(&self) -> &PathNetActorCritic<f32> {
        &self.net
    }

    /// The population, as the last task left it.
    pub fn evolution(&self) -> &Evolution {
        &self.evolution
    }

    /// The shared RMSProp statistics at the end of the last task, in parameter order.
    pub fn rmsprop_statistics(&self) -> &[ArrayD<f32>] {
        &self.rmsprop_statistics
    }

    /// Trains `task` until its stop rule holds, with worker threads in this process.
    pub fn train_task(&mut self, task: usize) -> Result<TaskReport, PathNetA3cError> {
        let TaskStart {
            server,
            evolution,
            frozen,
        } = self.begin_task(task)?;
        let selection = Mutex::new(evolution);
        let started = Instant::now();
        let workers = run_workers(&self.config, &frozen, &server, &selection, self.seed)?;
        let wall_seconds = started.elapsed().as_secs_f64();
        let evolution = selection
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.finish_task(task, &server, evolution, wall_seconds, workers)
    }

    /// Sets up `task` for workers wherever they run: when a task was trained before, this
    /// first freezes that task's best pathway and re-initialises every other parameter.
    /// The workers' shared parameters and their population are handed out; give them back
    /// to [`PathNetA3c::finish_task`] when the server's stop rule holds.
    pub fn begin_task(&mut self, task: usize) -> Result<TaskStart, PathNetA3cError> {
        let a3c = self.config.a3c(task)?;
        if let Some(best) = self.previous.take() {
            self.net.transfer(&best, &mut self.transfer_rng)?;
        }
        self.evolution.begin_task(task);
        let server = ParameterServer::new(ServerConfig::from(&a3c), &self.net.params())?;
        Ok(TaskStart {
            server,
            evolution: self.evolution.clone(),
            frozen: self.net.frozen_ids(),
        })
    }

    /// Takes back what [`PathNetA3c::begin_task`] handed out once training `task` ended:
    /// the trained parameters, the statistics and the population whose best pathway the
    /// next task freezes.
    pub fn finish_task(
        &mut self,
        task: usize,
        server: &ParameterServer,
        evolution: Evolution,
        wall_seconds: f64,
        workers: Vec<PathNetWorkerReport>,
    ) -> Result<TaskReport, PathNetA3cError> {
        let a3c = self.config.a3c(task)?;
        self.evolution = evolution;
        self.net.load_all(&server.parameters())?;
        self.rmsprop_statistics = server.rmsprop_statistics();
        let best = self
            .evolution
            .best()
            .map(|(_, pathway, fitness)| (pathway.clone(), fitness));
        self.previous = best.as_ref().map(|(p, _)| p.clone());
        if self.previous.is_none() && task + 1 < self.config.tasks.len() {
            return Err(PathNetA3cError::NoBestPathway {
                task,
                episodes: self.config.episodes_per_fitness,
            });
        }
        Ok(TaskReport {
            task,
            env: a3c.env,
            stop: server.stop_reason(),
            stats: server.stats(),
            wall_seconds,
            best,
            frozen: self.net.frozen_ids(),
            evolution: self.evolution.stats().clone(),
            workers,
        })
    }
}

/// What of a [`PathNetA3c`] a checkpoint holds besides its parameters: the frozen modules,
/// the transfer step's random generator and the pathway the next task freezes. Its
/// population between tasks is a function of the seed and the task (see
/// [`Evolution::begin_task`]); a task's live population is saved with the task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedNetwork {
    frozen: Vec<ModuleId>,
    transfer_rng: SavedRng,
    previous: Option<Pathway>,
}

impl PathNetA3c {
    /// The super-network's state but its parameters, for a checkpoint.
    pub fn save(&self) -> SavedNetwork {
        SavedNetwork {
            frozen: self.net.frozen_ids(),
            transfer_rng: SavedRng::of(&self.transfer_rng),
            previous: self.previous.clone(),
        }
    }

    /// The super-network a checkpoint saved, with `params` (in parameter order) and its
    /// population set up for `task`; errors name the field that does not fit `config`.
    pub fn restore(
        config: &PathNetA3cConfig,
        seed: u64,
        task: usize,
        saved: SavedNetwork,
        params: &[ArrayD<f32>],
    ) -> Result<Self, PathNetA3cError> {
        let mut run = PathNetA3c::new(config, seed)?;
        if task >= config.tasks.len() {
            return Err(PathNetA3cError::UnknownTask {
                task,
                tasks: config.tasks.len(),
            });
        }
        run.net.load_all(params)?;
        run.net.freeze(&saved.frozen)?;
        if let Some(previous) = &saved.previous {
            previous
                .validate(&config.dims())
                .map_err(|err| PathNetA3cError::config("network.previous", "", err.to_string()))?;
        }
        run.transfer_rng = restore_rng(&saved.transfer_rng, "network.transfer_rng")?;
        run.previous = saved.previous;
        run.evolution.begin_task(task);
        Ok(run)
    }
}

/// What workers of one task share: the parameters (with their optimiser and stop rule), the
/// population of pathways, and the modules frozen by earlier tasks.
pub struct TaskStart {
    /// The task's parameters, optimiser statistics and stop rule.
    pub server: ParameterServer,
    /// The task's population, fresh pathways and no fitnesses.
    pub evolution: Evolution,
    /// Modules frozen by earlier tasks; workers push zero gradients for them.
    pub frozen: Vec<ModuleId>,
}

/// Every task in order, each after the transfer step from the one before.
pub fn run_transfer(
    config: &PathNetA3cConfig,
    seed: u64,
) -> Result<Vec<TaskReport>, PathNetA3cError> {
    let mut run = PathNetA3c::new(config, seed)?;
    (0..config.tasks.len())
        .map(|task| run.train_task(task))
        .collect()
}

/// The control: the last task alone on a fresh super-network, with the same settings, seed
/// and worker streams as in [`run_transfer`].
pub fn run_scratch(config: &PathNetA3cConfig, seed: u64) -> Result<TaskReport, PathNetA3cError> {
    let last = config.tasks.len().saturating_sub(1);
    PathNetA3c::new(config, seed)?.train_task(last)
}

/// Runs `config.workers` workers (one thread each) against `shared` until it answers
/// `stop`. When one fails the others finish their segment and stop, and the first error
/// (by index) is returned.
pub fn run_workers(
    config: &PathNetA3cConfig,
    frozen: &[ModuleId],
    shared: &dyn SharedParameters,
    selection: &Mutex<Evolution>,
    seed: u64,
) -> Result<Vec<PathNetWorkerReport>, PathNetA3cError> {
    let mut workers = (0..config.workers)
        .map(|i| PathNetWorker::new(config, frozen, selection, seed, i))
        .collect::<Result<Vec<_>, _>>()?;
    crate::local::run_threads(
        &mut workers,
        |worker| worker.report().worker as u64,
        |worker, cancel| worker.run(shared, selection, cancel),
    )
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}
