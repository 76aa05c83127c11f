//! The actor-learner loop every A3C worker runs, whatever its network.
//!
//! Each segment: fetch the global parameters; act for up to `t_max` steps (fewer when the
//! episode ends), sampling from π; compute n-step returns, the loss and its gradients; clip
//! the gradients to `max_grad_norm` (here, where they are computed, so every store receives
//! clipped gradients); push them. The network is behind [`Replica`]: a plain actor-critic
//! (`crate::worker`) or a pathway through a PathNet super-network (`crate::pathnet_a3c`).

use crate::config::A3cConfig;
use crate::error::RlError;
use crate::loss::{Actions, LossCoefs, LossParts};
use crate::returns::{SegmentEnd, n_step_returns_into};
use crate::shared_parameters::{GradientUpdate, PushOutcome, SharedParameters};
use ndarray::{Array1, ArrayD, ArrayView1, ArrayView2};
use pathnet_envs::{Action, BoxedEnv, Space};
use pathnet_nn::clip_grad_norm;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The network an actor-learner acts with and learns on.
pub(crate) trait Replica {
    type Error: From<RlError>;

    /// Values per observation the network reads; narrower observations are zero-padded.
    fn obs_dim(&self) -> usize;

    /// Loads the newest global parameters and returns their version.
    fn fetch(&mut self, shared: &dyn SharedParameters) -> Result<u64, Self::Error>;

    /// An episode starts: forget any recurrent state.
    fn begin_episode(&mut self) {}

    /// A segment starts: remember what the loss must replay it from.
    fn begin_segment(&mut self) {}

    /// The policy head's outputs for `obs`; advances any recurrent state.
    fn act(&mut self, obs: &[f32]) -> Result<Head<'_>, Self::Error>;

    /// The value of `obs` without advancing any recurrent state: the bootstrap value.
    fn value(&mut self, obs: &[f32]) -> Result<f32, Self::Error>;

    /// The loss of the segment just played (`obs` `[T, obs_dim]`) and its gradients, in the
    /// order of the global parameters.
    fn loss_and_grads(
        &mut self,
        obs: ArrayView2<'_, f32>,
        actions: Actions<'_, f32>,
        returns: ArrayView1<'_, f32>,
        coefs: LossCoefs,
    ) -> Result<(LossParts, Vec<ArrayD<f32>>), Self::Error>;
}

/// What the policy head says of one observation.
pub(crate) struct Head<'a> {
    /// Logits, or a Gaussian's mean.
    pub outputs: &'a [f32],
    /// A Gaussian head's log standard deviations.
    pub log_std: Option<&'a [f32]>,
}

/// The A3C settings the loop itself uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub t_max: usize,
    pub gamma: f64,
    pub reward_scale: f64,
    pub max_grad_norm: f64,
    pub coefs: LossCoefs,
}

impl Settings {
    /// The loop's settings of an `[a3c]` table.
    pub(crate) fn of(config: &A3cConfig) -> Self {
        Settings {
            t_max: config.t_max,
            gamma: config.gamma,
            reward_scale: config.reward_scale,
            max_grad_norm: config.max_grad_norm,
            coefs: LossCoefs {
                value_coef: config.value_coef,
                entropy_beta: config.entropy_beta,
            },
        }
    }
}

/// What an actor-learner has done so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub env_steps: u64,
    pub segments: u64,
    pub updates_applied: u64,
    /// Undiscounted returns of its finished episodes, in order.
    pub episode_returns: Vec<f64>,
    /// The loss of its last segment.
    pub last_loss: LossParts,
}

/// What one segment ended with.
pub(crate) struct SegmentDone {
    pub outcome: PushOutcome,
    /// The undiscounted return of the episode the segment finished, if it finished one.
    pub finished: Option<f64>,
}

/// One segment's experience, reused from segment to segment.
#[derive(Default)]
struct Segment {
    obs: Vec<f32>,
    discrete: Vec<usize>,
    /// `[T, dim]` row-major: the unclipped Gaussian samples.
    continuous: Vec<f32>,
    rewards: Vec<f64>,
    returns: Vec<f64>,
    finished: Vec<f64>,
}

/// An environment, a [`Replica`] and a random stream, stepped segment by segment.
pub(crate) struct ActorLearner<R> {
    pub replica: R,
    index: u64,
    settings: Settings,
    env: BoxedEnv,
    /// The seed of the first reset; later resets continue the environment's own stream.
    first_reset: Option<u64>,
    needs_reset: bool,
    rng: ChaCha8Rng,
    /// The current observation, padded to the replica's width.
    obs: Vec<f32>,
    episode_return: f64,
    env_action: Action,
    segment: Segment,
    pub tally: Tally,
}

impl<R: Replica> ActorLearner<R> {
    /// Worker `index` acting on `env` with `replica`, sampling from `rng`; the first reset
    /// is seeded with `first_reset`.
    pub(crate) fn new(
        index: u64,
        settings: Settings,
        env: BoxedEnv,
        replica: R,
        rng: ChaCha8Rng,
        first_reset: u64,
    ) -> Self {
        let env_action = match env.action_space() {
            Space::Discrete(d) => Action::Discrete(d.start),
            Space::Box(b) => Action::Continuous(vec![0.0; b.dim()]),
        };
        ActorLearner {
            obs: vec![0.0; replica.obs_dim()],
            replica,
            index,
            settings,
            env,
            first_reset: Some(first_reset),
            needs_reset: true,
            rng,
            episode_return: 0.0,
            env_action,
            segment: Segment::default(),
            tally: Tally::default(),
        }
    }

    /// The worker's index in its run.
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    /// One fetch–act–learn–push cycle.
    pub(crate) fn run_segment(
        &mut self,
        shared: &dyn SharedParameters,
    ) -> Result<SegmentDone, R::Error> {
        let version = self.replica.fetch(shared)?;
        if self.needs_reset {
            let (obs, _) = self
                .env
                .reset(self.first_reset.take())
                .map_err(RlError::from)?;
            self.obs[..obs.len()].copy_from_slice(obs);
            self.replica.begin_episode();
            self.episode_return = 0.0;
            self.needs_reset = false;
        }
        self.replica.begin_segment();
        let end = self.act()?;
        let steps = self.segment.rewards.len();
        self.tally.env_steps += steps as u64;
        let finished = end.episode_over().then_some(self.episode_return);
        if let Some(episode_return) = finished {
            self.segment.finished.push(episode_return);
            self.tally.episode_returns.push(episode_return);
            self.needs_reset = true;
        }

        let seg = &mut self.segment;
        n_step_returns_into(&seg.rewards, end, self.settings.gamma, &mut seg.returns);
        let returns: Array1<f32> = seg.returns.iter().map(|&r| r as f32).collect();
        let obs = ArrayView2::from_shape((steps, self.replica.obs_dim()), &seg.obs)
            .expect("one observation per step");
        let actions = match self.env.action_space() {
            Space::Discrete(_) => Actions::Discrete(&seg.discrete),
            Space::Box(b) => Actions::Continuous(
                ArrayView2::from_shape((steps, b.dim()), &seg.continuous)
                    .expect("one action per step"),
            ),
        };
        let (loss, mut grads) =
            self.replica
                .loss_and_grads(obs, actions, returns.view(), self.settings.coefs)?;
        let diverged = |what| RlError::Diverged {
            worker: self.index,
            what,
            at_env_step: self.tally.env_steps,
        };
        if !loss.total().is_finite() {
            return Err(diverged("loss").into());
        }
        if !clip_grad_norm(&mut grads, self.settings.max_grad_norm).is_finite() {
            return Err(diverged("gradient").into());
        }
        self.tally.last_loss = loss;
        self.tally.segments += 1;
        let outcome = shared.push(GradientUpdate {
            base_version: version,
            grads,
            env_steps: steps as u64,
            episode_returns: std::mem::take(&mut self.segment.finished),
        })?;
        self.tally.updates_applied += u64::from(outcome.applied);
        Ok(SegmentDone { outcome, finished })
    }

    /// Steps the environment for up to `t_max` steps, recording the segment.
    fn act(&mut self) -> Result<SegmentEnd, R::Error> {
        let seg = &mut self.segment;
        seg.obs.clear();
        seg.discrete.clear();
        seg.continuous.clear();
        seg.rewards.clear();
        for _ in 0..self.settings.t_max {
            seg.obs.extend_from_slice(&self.obs);
            let Head { outputs, log_std } = self.replica.act(&self.obs)?;
            match (&mut self.env_action, self.env.action_space()) {
                (Action::Discrete(a), Space::Discrete(space)) => {
                    let k = sample_categorical(outputs, &mut self.rng);
                    seg.discrete.push(k);
                    *a = space.start + k as i64;
                }
                (Action::Continuous(a), Space::Box(space)) => {
                    let log_std = log_std.expect("a Gaussian head");
                    a.clear();
                    for (d, (&mean, &s)) in outputs.iter().zip(log_std).enumerate() {
                        let noise: f32 = self.rng.sample(StandardNormal);
                        let x = mean + s.exp() * noise;
                        seg.continuous.push(x);
                        // Only the environment's copy is clipped; the loss sees the sample.
                        a.push(x.clamp(space.low()[d], space.high()[d]));
                    }
                }
                _ => unreachable!("the action matches the space it was built from"),
            }
            let step = self.env.step(&self.env_action).map_err(RlError::from)?;
            self.obs[..step.obs.len()].copy_from_slice(step.obs);
            self.episode_return += step.reward;
            seg.rewards.push(step.reward * self.settings.reward_scale);
            if step.terminated {
                return Ok(SegmentEnd::Terminated);
            }
            if step.truncated {
                let final_value = self.replica.value(&self.obs)?;
                return Ok(SegmentEnd::Truncated {
                    final_value: f64::from(final_value),
                });
            }
        }
        let next_value = self.replica.value(&self.obs)?;
        Ok(SegmentEnd::Continues {
            next_value: f64::from(next_value),
        })
    }
}

/// An index drawn from `softmax(logits)`.
pub(crate) fn sample_categorical(logits: &[f32], rng: &mut impl Rng) -> usize {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
    let total: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let mut u = rng.random::<f64>() * total;
    for (k, &l) in logits.iter().enumerate() {
        u -= f64::from(l - max).exp();
        if u < 0.0 {
            return k;
        }
    }
    // Round-off can leave `u` a hair above 0 after the last term.
    logits.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn categorical_sampling_follows_the_softmax() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let logits = [0.0f32, 1.0, (0.5f32).ln()];
        let mut counts = [0usize; 3];
        let n = 200_000;
        for _ in 0..n {
            counts[sample_categorical(&logits, &mut rng)] += 1;
        }
        let z = 1.0 + 1f64.exp() + 0.5;
        for (k, p) in [1.0 / z, 1f64.exp() / z, 0.5 / z].into_iter().enumerate() {
            let freq = counts[k] as f64 / n as f64;
            assert!((freq - p).abs() < 0.005, "action {k}: {freq} vs {p}");
        }
    }
}
