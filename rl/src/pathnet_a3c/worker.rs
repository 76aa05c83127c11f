//! One PathNet-A3C actor-learner: an A3C worker whose network is its pathway through the
//! shared super-network plus its task's head.
//!
//! Each segment (the shared loop of `crate::actor_learner`): fetch the whole parameter list,
//! load the pathway's modules and head into the replica, act for up to `t_max` steps, push
//! the loss gradients (zeros outside the pathway, and for frozen modules). After every `T` finished episodes the worker reports
//! their mean return as its fitness and switches to the pathway the evolution answers with,
//! if any; a switch always falls between two episodes.

use super::config::PathNetA3cConfig;
use super::error::PathNetA3cError;
use super::evolution::PathwaySelection;
use super::network::PathNetActorCritic;
use crate::actor_learner::{ActorLearner, Head, Replica, Settings};
use crate::loss::{Actions, LossCoefs, LossParts};
use crate::shared_parameters::{PushOutcome, SharedParameters};
use ndarray::{ArrayD, ArrayView1, ArrayView2, ArrayViewMutD};
use pathnet_envs::Space;
use pathnet_nn::pathnet::{ModuleId, Pathway};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one worker did on one task.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PathNetWorkerReport {
    /// The worker's index in the population.
    pub worker: usize,
    /// The task it trained, 0-based.
    pub task: usize,
    /// Environment steps it took.
    pub env_steps: u64,
    /// Segments it completed, one gradient push each.
    pub segments: u64,
    /// Of its pushes, those the shared parameters applied (the rest were too stale).
    pub updates_applied: u64,
    /// Undiscounted returns of its finished episodes, in order.
    pub episode_returns: Vec<f64>,
    /// The fitnesses it reported, in order.
    pub fitness: Vec<f64>,
    /// How often it took another worker's pathway.
    pub pathway_changes: u64,
    /// The loss of its last segment.
    pub last_loss: LossParts,
}

/// The random stream of worker `worker` on task `task`: separate from the network's
/// (streams below 2^32) and from every other worker's and task's.
pub(super) fn worker_stream(seed: u64, task: usize, worker: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((task as u64 + 1) << 32) | worker as u64);
    rng
}

/// A pathway through the super-network plus its task's head, as an actor-learner's network.
struct PathwayReplica {
    task: usize,
    net: PathNetActorCritic<f32>,
    pathway: Pathway,
    /// The pathway's modules and head: what each fetch loads.
    modules: Vec<ModuleId>,
    fetched: Vec<ArrayD<f32>>,
    /// The logits of the last observation acted on.
    logits: Vec<f32>,
}

impl Replica for PathwayReplica {
    type Error = PathNetA3cError;

    fn obs_dim(&self) -> usize {
        self.net.input_dim()
    }

    fn fetch(&mut self, shared: &dyn SharedParameters) -> Result<u64, PathNetA3cError> {
        let version = {
            let mut views: Vec<ArrayViewMutD<'_, f32>> =
                self.fetched.iter_mut().map(|t| t.view_mut()).collect();
            shared.fetch(&mut views)?
        };
        self.net.load(&self.fetched, self.modules.iter().copied())?;
        Ok(version)
    }

    fn act(&mut self, obs: &[f32]) -> Result<Head<'_>, PathNetA3cError> {
        let (logits, _) = self.net.act(&self.pathway, self.task, obs)?;
        self.logits = logits;
        Ok(Head {
            outputs: &self.logits,
            log_std: None,
        })
    }

    fn value(&mut self, obs: &[f32]) -> Result<f32, PathNetA3cError> {
        Ok(self.net.act(&self.pathway, self.task, obs)?.1)
    }

    fn loss_and_grads(
        &mut self,
        obs: ArrayView2<'_, f32>,
        actions: Actions<'_, f32>,
        returns: ArrayView1<'_, f32>,
        coefs: LossCoefs,
    ) -> Result<(LossParts, Vec<ArrayD<f32>>), PathNetA3cError> {
        let Actions::Discrete(actions) = actions else {
            unreachable!("PathNet-A3C environments have discrete action spaces")
        };
        self.net
            .loss_and_grads(&self.pathway, self.task, obs, actions, returns, coefs)
    }
}

/// One PathNet-A3C actor-learner.
pub struct PathNetWorker {
    inner: ActorLearner<PathwayReplica>,
    episodes_per_fitness: usize,
    /// Returns of the current pathway's episodes since its last fitness report.
    evaluated: Vec<f64>,
    /// The fitnesses it reported, in order.
    fitness: Vec<f64>,
    /// How often it took another worker's pathway.
    pathway_changes: u64,
}

impl PathNetWorker {
    /// Worker `index` of a run seeded with `seed`, on the task and pathway `selection`
    /// assigns it. `frozen` are the modules earlier tasks froze; its replica is built from
    /// `config` and overwritten by every fetch.
    pub fn new(
        config: &PathNetA3cConfig,
        frozen: &[ModuleId],
        selection: &dyn PathwaySelection,
        seed: u64,
        index: usize,
    ) -> Result<Self, PathNetA3cError> {
        let (task, pathway) = selection.assignment(index)?;
        let a3c = config.a3c(task)?;
        let env = a3c.make_env()?;
        if let Space::Box(_) = env.action_space() {
            return Err(PathNetA3cError::config(
                format!("tasks[{task}].env"),
                format!("{:?}", a3c.env),
                "an environment with a Discrete action space",
            ));
        }
        let mut rng = worker_stream(seed, task, index);
        let mut net = PathNetActorCritic::new(
            config.dims(),
            config.module_spec(),
            config.task_shapes()?,
            rng.next_u64(),
        )?;
        net.freeze(frozen)?;
        let modules = net.pathway_modules(&pathway, task)?;
        let fetched = net.params().iter().map(|p| p.to_owned()).collect();
        let first_reset = rng.next_u64();
        let settings = Settings::of(&a3c);
        let replica = PathwayReplica {
            task,
            net,
            pathway,
            modules,
            fetched,
            logits: Vec::new(),
        };
        Ok(PathNetWorker {
            inner: ActorLearner::new(index as u64, settings, env, replica, rng, first_reset),
            episodes_per_fitness: config.episodes_per_fitness,
            evaluated: Vec::new(),
            fitness: Vec::new(),
            pathway_changes: 0,
        })
    }

    /// What it has done so far.
    pub fn report(&self) -> PathNetWorkerReport {
        let tally = self.inner.tally.clone();
        PathNetWorkerReport {
            worker: self.inner.index() as usize,
            task: self.inner.replica.task,
            env_steps: tally.env_steps,
            segments: tally.segments,
            updates_applied: tally.updates_applied,
            episode_returns: tally.episode_returns,
            fitness: self.fitness.clone(),
            pathway_changes: self.pathway_changes,
            last_loss: tally.last_loss,
        }
    }

    /// The pathway it currently trains.
    pub fn pathway(&self) -> &Pathway {
        &self.inner.replica.pathway
    }

    /// Runs segments until a push answers `stop` or `cancel` is set.
    pub fn run(
        &mut self,
        shared: &dyn SharedParameters,
        selection: &dyn PathwaySelection,
        cancel: &AtomicBool,
    ) -> Result<PathNetWorkerReport, PathNetA3cError> {
        while !cancel.load(Ordering::Relaxed) {
            if self.run_segment(shared, selection)?.stop {
                break;
            }
        }
        Ok(self.report())
    }

    /// One fetch–act–learn–push cycle, then the fitness report if `T` episodes are done.
    pub fn run_segment(
        &mut self,
        shared: &dyn SharedParameters,
        selection: &dyn PathwaySelection,
    ) -> Result<PushOutcome, PathNetA3cError> {
        let done = self.inner.run_segment(shared)?;
        self.evaluated.extend(done.finished);
        if self.evaluated.len() == self.episodes_per_fitness {
            self.evaluate(selection)?;
        }
        Ok(done.outcome)
    }

    /// Reports the mean return of the last `T` episodes and adopts the answer.
    fn evaluate(&mut self, selection: &dyn PathwaySelection) -> Result<(), PathNetA3cError> {
        let fitness = self.evaluated.iter().sum::<f64>() / self.evaluated.len() as f64;
        self.evaluated.clear();
        self.fitness.push(fitness);
        let worker = self.inner.index() as usize;
        if let Some(pathway) = selection.report_fitness(worker, fitness)? {
            let replica = &mut self.inner.replica;
            replica.modules = replica.net.pathway_modules(&pathway, replica.task)?;
            replica.pathway = pathway;
            self.pathway_changes += 1;
        }
        Ok(())
    }
}
