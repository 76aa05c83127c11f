//! One A3C actor-learner: its own environment, policy replica and random stream.
//!
//! Each segment: fetch the global parameters; act for up to `t_max` steps (fewer when the
//! episode ends), sampling from π; compute n-step returns, the loss and its gradients; clip
//! the gradients to `max_grad_norm` (here, where they are computed, so every store receives
//! clipped gradients); push them. Repeat until a push answers `stop`.

use crate::config::A3cConfig;
use crate::error::RlError;
use crate::loss::{Actions, LossCoefs, LossParts};
use crate::policy::{ActionHead, ActorCritic, Memory};
use crate::returns::{SegmentEnd, n_step_returns_into};
use crate::shared::{GradientUpdate, PushOutcome, SharedParameters};
use ndarray::{Array1, ArrayView2};
use pathnet_envs::{Action, BoxedEnv, Env, Space};
use pathnet_nn::clip_grad_norm;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one worker did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkerReport {
    pub worker: u64,
    pub env_steps: u64,
    pub segments: u64,
    pub updates_applied: u64,
    /// Undiscounted returns of its finished episodes, in order.
    pub episode_returns: Vec<f64>,
    /// The loss of its last segment.
    pub last_loss: LossParts,
}

/// The policy the run starts from: built for `config.env` from `seed`, identical for every
/// process that is given the same config and seed.
pub fn initial_policy(config: &A3cConfig, seed: u64) -> Result<ActorCritic<f32>, RlError> {
    let env = config.make_env()?;
    ActorCritic::for_env(&config.policy, &env, &mut stream(seed, 0))
}

/// Stream 0 of `seed` initialises the policy; worker `i` uses stream `i + 1`.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

pub struct Worker {
    index: u64,
    t_max: usize,
    gamma: f64,
    reward_scale: f64,
    max_grad_norm: f64,
    coefs: LossCoefs,
    env: BoxedEnv,
    /// The seed of the first reset; later resets continue the environment's own stream.
    first_reset: Option<u64>,
    needs_reset: bool,
    policy: ActorCritic<f32>,
    memory: Memory<f32>,
    rng: ChaCha8Rng,
    obs: Vec<f32>,
    episode_return: f64,
    env_action: Action,
    segment: Segment,
    report: WorkerReport,
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

impl Worker {
    /// Worker `index` of a run seeded with `seed`: its environment seed and action sampling
    /// come from the seed's stream `index + 1`.
    pub fn new(config: &A3cConfig, seed: u64, index: u64) -> Result<Self, RlError> {
        Self::with_env(config, config.make_env()?, seed, index)
    }

    /// A worker on an environment of the caller's (`config.env` is not used).
    pub fn with_env(
        config: &A3cConfig,
        env: BoxedEnv,
        seed: u64,
        index: u64,
    ) -> Result<Self, RlError> {
        config.validate_for(&env)?;
        let mut rng = stream(seed, index.wrapping_add(1));
        let policy = ActorCritic::for_env(&config.policy, &env, &mut rng)?;
        let env_action = match env.action_space() {
            Space::Discrete(d) => Action::Discrete(d.start),
            Space::Box(b) => Action::Continuous(vec![0.0; b.dim()]),
        };
        Ok(Worker {
            index,
            t_max: config.t_max,
            gamma: config.gamma,
            reward_scale: config.reward_scale,
            max_grad_norm: config.max_grad_norm,
            coefs: LossCoefs {
                value_coef: config.value_coef,
                entropy_beta: config.entropy_beta,
            },
            first_reset: Some(rng.next_u64()),
            needs_reset: true,
            obs: vec![0.0; policy.obs_dim()],
            memory: policy.memory(),
            policy,
            env,
            rng,
            episode_return: 0.0,
            env_action,
            segment: Segment::default(),
            report: WorkerReport {
                worker: index,
                env_steps: 0,
                segments: 0,
                updates_applied: 0,
                episode_returns: Vec::new(),
                last_loss: LossParts::default(),
            },
        })
    }

    pub fn report(&self) -> &WorkerReport {
        &self.report
    }

    pub fn policy(&self) -> &ActorCritic<f32> {
        &self.policy
    }

    /// Runs segments until a push answers `stop` or `cancel` is set.
    pub fn run(
        &mut self,
        shared: &dyn SharedParameters,
        cancel: &AtomicBool,
    ) -> Result<WorkerReport, RlError> {
        while !cancel.load(Ordering::Relaxed) {
            if self.run_segment(shared)?.stop {
                break;
            }
        }
        Ok(self.report.clone())
    }

    /// One fetch–act–learn–push cycle.
    pub fn run_segment(&mut self, shared: &dyn SharedParameters) -> Result<PushOutcome, RlError> {
        let version = shared.fetch(&mut self.policy.params_mut())?;
        if self.needs_reset {
            let (obs, _) = self.env.reset(self.first_reset.take())?;
            self.obs.copy_from_slice(obs);
            self.memory.reset();
            self.episode_return = 0.0;
            self.needs_reset = false;
        }
        let start = self.memory.state().cloned();
        let end = self.act()?;
        let steps = self.segment.rewards.len();
        self.report.env_steps += steps as u64;
        if end.episode_over() {
            self.segment.finished.push(self.episode_return);
            self.report.episode_returns.push(self.episode_return);
            self.needs_reset = true;
        }

        let seg = &mut self.segment;
        n_step_returns_into(&seg.rewards, end, self.gamma, &mut seg.returns);
        let returns: Array1<f32> = seg.returns.iter().map(|&r| r as f32).collect();
        let obs = ArrayView2::from_shape((steps, self.policy.obs_dim()), &seg.obs)
            .expect("one observation per step");
        let actions = match self.policy.head() {
            ActionHead::Categorical { .. } => Actions::Discrete(&seg.discrete),
            ActionHead::Gaussian { dim } => Actions::Continuous(
                ArrayView2::from_shape((steps, dim), &seg.continuous).expect("one action per step"),
            ),
        };
        let (loss, mut grads) =
            self.policy
                .loss_and_grads(obs, start.as_ref(), actions, returns.view(), self.coefs);
        let diverged = |what| RlError::Diverged {
            worker: self.index,
            what,
            at_env_step: self.report.env_steps,
        };
        if !loss.total().is_finite() {
            return Err(diverged("loss"));
        }
        if !clip_grad_norm(&mut grads, self.max_grad_norm).is_finite() {
            return Err(diverged("gradient"));
        }
        self.report.last_loss = loss;
        self.report.segments += 1;
        let outcome = shared.push(GradientUpdate {
            base_version: version,
            grads,
            env_steps: steps as u64,
            episode_returns: std::mem::take(&mut self.segment.finished),
        })?;
        self.report.updates_applied += u64::from(outcome.applied);
        Ok(outcome)
    }

    /// Steps the environment for up to `t_max` steps, recording the segment.
    fn act(&mut self) -> Result<SegmentEnd, RlError> {
        let seg = &mut self.segment;
        seg.obs.clear();
        seg.discrete.clear();
        seg.continuous.clear();
        seg.rewards.clear();
        for _ in 0..self.t_max {
            seg.obs.extend_from_slice(&self.obs);
            let (head, _) = self.policy.act(&self.obs, &mut self.memory);
            match (&mut self.env_action, self.env.action_space()) {
                (Action::Discrete(a), Space::Discrete(space)) => {
                    let k = sample_categorical(head, &mut self.rng);
                    seg.discrete.push(k);
                    *a = space.start + k as i64;
                }
                (Action::Continuous(a), Space::Box(space)) => {
                    let log_std = self.policy.log_std().expect("a Gaussian head");
                    a.clear();
                    for (d, (&mean, &s)) in head.iter().zip(log_std).enumerate() {
                        let noise: f32 = self.rng.sample(StandardNormal);
                        let x = mean + s.exp() * noise;
                        seg.continuous.push(x);
                        // Only the environment's copy is clipped; the loss sees the sample.
                        a.push(x.clamp(space.low()[d], space.high()[d]));
                    }
                }
                _ => unreachable!("the action matches the space it was built from"),
            }
            let step = self.env.step(&self.env_action)?;
            self.obs.copy_from_slice(step.obs);
            self.episode_return += step.reward;
            seg.rewards.push(step.reward * self.reward_scale);
            if step.terminated {
                return Ok(SegmentEnd::Terminated);
            }
            if step.truncated {
                let final_value = self.policy.peek_value(&self.obs, &mut self.memory);
                return Ok(SegmentEnd::Truncated {
                    final_value: f64::from(final_value),
                });
            }
        }
        let next_value = self.policy.peek_value(&self.obs, &mut self.memory);
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
    use ndarray::ArrayViewMutD;
    use pathnet_envs::{BoxSpace, CartPole, EnvError, Info, Options, Step};

    /// CartPole whose reset fails, as a Python environment's does once its process is gone.
    struct BrokenReset(CartPole);

    impl Env for BrokenReset {
        fn id(&self) -> &str {
            "BrokenReset"
        }
        fn observation_space(&self) -> &BoxSpace {
            self.0.observation_space()
        }
        fn action_space(&self) -> &Space {
            self.0.action_space()
        }
        fn reset_with_options(
            &mut self,
            _seed: Option<u64>,
            _options: Option<&Options>,
        ) -> Result<(&[f32], Info), EnvError> {
            Err(EnvError::Python {
                env: "BrokenReset".into(),
                reason: "the process is gone".into(),
            })
        }
        fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
            self.0.step(action)
        }
        fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
            self.0.set_state(state)
        }
        fn state(&self) -> Option<&[f64]> {
            self.0.state()
        }
    }

    /// Serves zeros; a push would mean the worker went on after the failed reset.
    struct Zeros;

    impl SharedParameters for Zeros {
        fn fetch(&self, _into: &mut [ArrayViewMutD<'_, f32>]) -> Result<u64, RlError> {
            Ok(0)
        }
        fn push(&self, _update: GradientUpdate) -> Result<PushOutcome, RlError> {
            Err(RlError::Remote("pushed after a failed reset".into()))
        }
    }

    #[test]
    fn a_failed_reset_is_the_workers_error() {
        let config = A3cConfig::new("CartPole-v1");
        let env = Box::new(BrokenReset(CartPole::new()));
        let mut worker = Worker::with_env(&config, env, 0, 0).unwrap();
        let err = worker.run_segment(&Zeros).unwrap_err();
        assert!(
            matches!(&err, RlError::Env(EnvError::Python { env, .. }) if env == "BrokenReset"),
            "{err}"
        );
        assert_eq!(worker.report().env_steps, 0);
    }

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
