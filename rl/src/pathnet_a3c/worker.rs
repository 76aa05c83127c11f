//! One PathNet-A3C actor-learner: an A3C worker whose network is its pathway through the
//! shared super-network plus its task's head.
//!
//! Each segment: fetch the whole parameter list, load the pathway's modules and head into
//! the replica, act for up to `t_max` steps, push the loss gradients (zeros outside the
//! pathway, and for frozen modules). After every `T` finished episodes the worker reports
//! their mean return as its fitness and switches to the pathway the evolution answers with,
//! if any; a switch always falls between two episodes.

use super::config::PathNetA3cConfig;
use super::error::PathNetA3cError;
use super::evolution::PathwaySelection;
use super::network::PathNetActorCritic;
use crate::error::RlError;
use crate::loss::{LossCoefs, LossParts};
use crate::returns::{SegmentEnd, n_step_returns_into};
use crate::shared::{GradientUpdate, PushOutcome, SharedParameters};
use crate::worker::sample_categorical;
use ndarray::{Array1, ArrayD, ArrayView2, ArrayViewMutD};
use pathnet_envs::{Action, BoxedEnv, Space};
use pathnet_nn::clip_grad_norm;
use pathnet_nn::pathnet::{ModuleId, Pathway};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one worker did on one task.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PathNetWorkerReport {
    pub worker: usize,
    pub task: usize,
    pub env_steps: u64,
    pub segments: u64,
    pub updates_applied: u64,
    /// Undiscounted returns of its finished episodes, in order.
    pub episode_returns: Vec<f64>,
    /// The fitnesses it reported, in order.
    pub fitness: Vec<f64>,
    /// How often it took another worker's pathway.
    pub pathway_changes: u64,
    pub last_loss: LossParts,
}

/// The random stream of worker `worker` on task `task`: separate from the network's
/// (streams below 2^32) and from every other worker's and task's.
pub(super) fn worker_stream(seed: u64, task: usize, worker: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((task as u64 + 1) << 32) | worker as u64);
    rng
}

pub struct PathNetWorker {
    index: usize,
    task: usize,
    t_max: usize,
    gamma: f64,
    reward_scale: f64,
    max_grad_norm: f64,
    coefs: LossCoefs,
    episodes_per_fitness: usize,
    env: BoxedEnv,
    env_start: i64,
    first_reset: Option<u64>,
    needs_reset: bool,
    net: PathNetActorCritic<f32>,
    pathway: Pathway,
    /// The pathway's modules and head: what each fetch loads.
    modules: Vec<ModuleId>,
    fetched: Vec<ArrayD<f32>>,
    rng: ChaCha8Rng,
    /// The current observation, padded to the network's input width.
    obs: Vec<f32>,
    episode_return: f64,
    /// Returns of the current pathway's episodes since its last fitness report.
    evaluated: Vec<f64>,
    seg_obs: Vec<f32>,
    seg_actions: Vec<usize>,
    seg_rewards: Vec<f64>,
    seg_returns: Vec<f64>,
    seg_finished: Vec<f64>,
    report: PathNetWorkerReport,
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
        let env_start = match env.action_space() {
            Space::Discrete(d) => d.start,
            Space::Box(_) => {
                return Err(PathNetA3cError::config(
                    format!("tasks[{task}].env"),
                    format!("{:?}", a3c.env),
                    "an environment with a Discrete action space",
                ));
            }
        };
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
        Ok(PathNetWorker {
            index,
            task,
            t_max: config.t_max,
            gamma: config.gamma,
            reward_scale: config.reward_scale,
            max_grad_norm: config.max_grad_norm,
            coefs: LossCoefs {
                value_coef: config.value_coef,
                entropy_beta: config.entropy_beta,
            },
            episodes_per_fitness: config.episodes_per_fitness,
            env,
            env_start,
            first_reset: Some(rng.next_u64()),
            needs_reset: true,
            obs: vec![0.0; net.input_dim()],
            net,
            pathway,
            modules,
            fetched,
            rng,
            episode_return: 0.0,
            evaluated: Vec::new(),
            seg_obs: Vec::new(),
            seg_actions: Vec::new(),
            seg_rewards: Vec::new(),
            seg_returns: Vec::new(),
            seg_finished: Vec::new(),
            report: PathNetWorkerReport {
                worker: index,
                task,
                env_steps: 0,
                segments: 0,
                updates_applied: 0,
                episode_returns: Vec::new(),
                fitness: Vec::new(),
                pathway_changes: 0,
                last_loss: LossParts::default(),
            },
        })
    }

    pub fn report(&self) -> &PathNetWorkerReport {
        &self.report
    }

    pub fn pathway(&self) -> &Pathway {
        &self.pathway
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
        Ok(self.report.clone())
    }

    /// One fetch–act–learn–push cycle, then the fitness report if `T` episodes are done.
    pub fn run_segment(
        &mut self,
        shared: &dyn SharedParameters,
        selection: &dyn PathwaySelection,
    ) -> Result<PushOutcome, PathNetA3cError> {
        let version = {
            let mut views: Vec<ArrayViewMutD<'_, f32>> =
                self.fetched.iter_mut().map(|t| t.view_mut()).collect();
            shared.fetch(&mut views)?
        };
        self.net.load(&self.fetched, self.modules.iter().copied())?;
        if self.needs_reset {
            let (obs, _) = self
                .env
                .reset(self.first_reset.take())
                .map_err(RlError::from)?;
            self.obs[..obs.len()].copy_from_slice(obs);
            self.episode_return = 0.0;
            self.needs_reset = false;
        }
        let end = self.act()?;
        let steps = self.seg_rewards.len();
        self.report.env_steps += steps as u64;
        if end.episode_over() {
            self.seg_finished.push(self.episode_return);
            self.report.episode_returns.push(self.episode_return);
            self.evaluated.push(self.episode_return);
            self.needs_reset = true;
        }

        n_step_returns_into(&self.seg_rewards, end, self.gamma, &mut self.seg_returns);
        let returns: Array1<f32> = self.seg_returns.iter().map(|&r| r as f32).collect();
        let obs = ArrayView2::from_shape((steps, self.net.input_dim()), &self.seg_obs)
            .expect("one observation per step");
        let (loss, mut grads) = self.net.loss_and_grads(
            &self.pathway,
            self.task,
            obs,
            &self.seg_actions,
            returns.view(),
            self.coefs,
        )?;
        let diverged = |what| RlError::Diverged {
            worker: self.index as u64,
            what,
            at_env_step: self.report.env_steps,
        };
        if !loss.total().is_finite() {
            return Err(diverged("loss").into());
        }
        if !clip_grad_norm(&mut grads, self.max_grad_norm).is_finite() {
            return Err(diverged("gradient").into());
        }
        self.report.last_loss = loss;
        self.report.segments += 1;
        let outcome = shared.push(GradientUpdate {
            base_version: version,
            grads,
            env_steps: steps as u64,
            episode_returns: std::mem::take(&mut self.seg_finished),
        })?;
        self.report.updates_applied += u64::from(outcome.applied);
        if self.evaluated.len() == self.episodes_per_fitness {
            self.evaluate(selection)?;
        }
        Ok(outcome)
    }

    /// Reports the mean return of the last `T` episodes and adopts the answer.
    fn evaluate(&mut self, selection: &dyn PathwaySelection) -> Result<(), PathNetA3cError> {
        let fitness = self.evaluated.iter().sum::<f64>() / self.evaluated.len() as f64;
        self.evaluated.clear();
        self.report.fitness.push(fitness);
        if let Some(pathway) = selection.report_fitness(self.index, fitness)? {
            self.modules = self.net.pathway_modules(&pathway, self.task)?;
            self.pathway = pathway;
            self.report.pathway_changes += 1;
        }
        Ok(())
    }

    /// Steps the environment for up to `t_max` steps, recording the segment.
    fn act(&mut self) -> Result<SegmentEnd, PathNetA3cError> {
        self.seg_obs.clear();
        self.seg_actions.clear();
        self.seg_rewards.clear();
        for _ in 0..self.t_max {
            self.seg_obs.extend_from_slice(&self.obs);
            let (logits, _) = self.net.act(&self.pathway, self.task, &self.obs)?;
            let k = sample_categorical(&logits, &mut self.rng);
            self.seg_actions.push(k);
            let step = self
                .env
                .step(&Action::Discrete(self.env_start + k as i64))
                .map_err(RlError::from)?;
            self.obs[..step.obs.len()].copy_from_slice(step.obs);
            self.episode_return += step.reward;
            self.seg_rewards.push(step.reward * self.reward_scale);
            if step.terminated {
                return Ok(SegmentEnd::Terminated);
            }
            if step.truncated {
                let (_, final_value) = self.net.act(&self.pathway, self.task, &self.obs)?;
                return Ok(SegmentEnd::Truncated {
                    final_value: f64::from(final_value),
                });
            }
        }
        let (_, next_value) = self.net.act(&self.pathway, self.task, &self.obs)?;
        Ok(SegmentEnd::Continues {
            next_value: f64::from(next_value),
        })
    }
}
