//! Gymnasium 1.x's `SyncVectorEnv`: N copies of an environment stepped in lockstep, with
//! batched observations and automatic resets.
//!
//! Autoreset follows Gymnasium 1.x: `NextStep` by default (as `gymnasium.make_vec` does), or
//! `SameStep` on request; Gymnasium's `Disabled` mode is not provided. One deliberate
//! difference in shape: infos are a list with one map per sub-environment rather than
//! Gymnasium's dict of arrays with `_key` masks, and `SameStep`'s `final_obs`/`final_info`
//! are accessors on [`VecStep`] instead of info entries.

use crate::env::{BoxedEnv, Env, Info};
use crate::error::EnvError;
use crate::space::{Action, Space};

/// When a finished sub-environment is reset, as in `gymnasium.vector.AutoresetMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoresetMode {
    /// Gymnasium's default. The step that ends an episode returns its last observation;
    /// the *next* `step` call ignores that sub-environment's action, resets it, and returns
    /// the reset observation with reward 0 and both flags false.
    #[default]
    NextStep,
    /// The ending step resets at once: it returns the reset observation, and the episode's
    /// last observation and info are kept in `final_obs` / `final_infos`.
    SameStep,
}

/// The batched result of [`SyncVectorEnv::step`]. Observations are row-major,
/// `num_envs x obs_dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct VecStep<'a> {
    /// Every sub-environment's observation, `num_envs x obs_dim` row-major ([`obs_of`]
    /// slices out one).
    ///
    /// [`obs_of`]: VecStep::obs_of
    pub obs: &'a [f32],
    /// One reward per sub-environment.
    pub rewards: &'a [f64],
    /// Gymnasium's `terminated`, one per sub-environment.
    pub terminations: &'a [bool],
    /// Gymnasium's `truncated`, one per sub-environment.
    pub truncations: &'a [bool],
    /// One info map per sub-environment.
    pub infos: &'a [Info],
    obs_dim: usize,
    mode: AutoresetMode,
    final_obs: &'a [f32],
    final_infos: &'a [Info],
}

impl VecStep<'_> {
    /// Sub-environment `i`'s observation.
    pub fn obs_of(&self, i: usize) -> &[f32] {
        &self.obs[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    /// In [`AutoresetMode::SameStep`], the last observation of the episode sub-environment
    /// `i` just finished; `None` if it did not finish or in the other mode.
    pub fn final_obs(&self, i: usize) -> Option<&[f32]> {
        self.ended_same_step(i)
            .then(|| &self.final_obs[i * self.obs_dim..(i + 1) * self.obs_dim])
    }

    /// In [`AutoresetMode::SameStep`], the info of the step that finished sub-environment `i`.
    pub fn final_info(&self, i: usize) -> Option<&Info> {
        self.ended_same_step(i).then(|| &self.final_infos[i])
    }

    fn ended_same_step(&self, i: usize) -> bool {
        self.mode == AutoresetMode::SameStep && (self.terminations[i] || self.truncations[i])
    }
}

/// Steps its sub-environments one after another on the calling thread.
pub struct SyncVectorEnv {
    envs: Vec<BoxedEnv>,
    mode: AutoresetMode,
    obs_dim: usize,
    obs: Vec<f32>,
    rewards: Vec<f64>,
    terminations: Vec<bool>,
    truncations: Vec<bool>,
    autoreset: Vec<bool>,
    infos: Vec<Info>,
    final_obs: Vec<f32>,
    final_infos: Vec<Info>,
    // False until the first reset, and again after a step failed part-way (some
    // sub-environments stepped, some not): only a reset makes the batch consistent.
    ready: bool,
}

impl SyncVectorEnv {
    /// All sub-environments must share observation and action spaces, like Gymnasium checks.
    pub fn new(envs: Vec<BoxedEnv>, mode: AutoresetMode) -> Result<Self, EnvError> {
        let Some(first) = envs.first() else {
            return Err(EnvError::Vector("needs at least one environment".into()));
        };
        let (obs_space, act_space) = (first.observation_space(), first.action_space());
        if let Some(odd) = envs
            .iter()
            .find(|e| e.observation_space() != obs_space || e.action_space() != act_space)
        {
            return Err(EnvError::Vector(format!(
                "{} has different spaces from {}",
                odd.id(),
                first.id()
            )));
        }
        let n = envs.len();
        let obs_dim = obs_space.dim();
        Ok(SyncVectorEnv {
            envs,
            mode,
            obs_dim,
            obs: vec![0.0; n * obs_dim],
            rewards: vec![0.0; n],
            terminations: vec![false; n],
            truncations: vec![false; n],
            autoreset: vec![false; n],
            infos: vec![Info::new(); n],
            final_obs: vec![0.0; n * obs_dim],
            final_infos: vec![Info::new(); n],
            ready: false,
        })
    }

    /// The number of sub-environments; at least 1.
    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// Values per sub-environment observation (the row length of the batched `obs`).
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// When finished sub-environments are reset.
    pub fn autoreset_mode(&self) -> AutoresetMode {
        self.mode
    }

    /// The action space of one sub-environment (`single_action_space`).
    pub fn single_action_space(&self) -> &Space {
        self.envs[0].action_space()
    }

    /// The sub-environments, in batch order.
    pub fn envs(&self) -> &[BoxedEnv] {
        &self.envs
    }

    /// Resets every sub-environment; with a seed, sub-environment `i` gets `seed + i`.
    ///
    /// If a sub-environment fails to reset, the error is returned and the vector env must be
    /// reset again before stepping.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<(&[f32], &[Info]), EnvError> {
        self.ready = false;
        for (i, env) in self.envs.iter_mut().enumerate() {
            let (obs, info) = env.reset(seed.map(|s| s.wrapping_add(i as u64)))?;
            self.obs[i * self.obs_dim..(i + 1) * self.obs_dim].copy_from_slice(obs);
            self.infos[i] = info;
        }
        self.terminations.fill(false);
        self.truncations.fill(false);
        self.autoreset.fill(false);
        self.ready = true;
        Ok((&self.obs, &self.infos))
    }

    /// Steps every sub-environment with its action (one per sub-environment).
    ///
    /// If a sub-environment rejects its action (or fails to step or to reset automatically),
    /// the ones before it have already stepped; the error is returned and the vector env must
    /// be reset before stepping again.
    pub fn step(&mut self, actions: &[Action]) -> Result<VecStep<'_>, EnvError> {
        if actions.len() != self.envs.len() {
            return Err(EnvError::ActionCount {
                expected: self.envs.len(),
                got: actions.len(),
            });
        }
        if !self.ready {
            return Err(EnvError::NeedsReset {
                env: format!("SyncVectorEnv({})", self.envs[0].id()),
            });
        }
        self.ready = false;
        for (i, (env, action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let row = i * self.obs_dim..(i + 1) * self.obs_dim;
            if self.mode == AutoresetMode::NextStep && self.autoreset[i] {
                let (obs, info) = env.reset(None)?;
                self.obs[row].copy_from_slice(obs);
                self.infos[i] = info;
                self.rewards[i] = 0.0;
                self.terminations[i] = false;
                self.truncations[i] = false;
                continue;
            }
            let step = env.step(action)?;
            let ended = step.terminated || step.truncated;
            self.rewards[i] = step.reward;
            self.terminations[i] = step.terminated;
            self.truncations[i] = step.truncated;
            if self.mode == AutoresetMode::SameStep && ended {
                self.final_obs[row.clone()].copy_from_slice(step.obs);
                self.final_infos[i] = step.info;
                let (obs, info) = env.reset(None)?;
                self.obs[row].copy_from_slice(obs);
                self.infos[i] = info;
            } else {
                self.obs[row].copy_from_slice(step.obs);
                self.infos[i] = step.info;
            }
        }
        for ((a, t), u) in self
            .autoreset
            .iter_mut()
            .zip(&self.terminations)
            .zip(&self.truncations)
        {
            *a = *t || *u;
        }
        self.ready = true;
        Ok(VecStep {
            obs: &self.obs,
            rewards: &self.rewards,
            terminations: &self.terminations,
            truncations: &self.truncations,
            infos: &self.infos,
            obs_dim: self.obs_dim,
            mode: self.mode,
            final_obs: &self.final_obs,
            final_infos: &self.final_infos,
        })
    }
}
