//! One A3C actor-learner: its own environment, policy replica and random stream, running the
//! shared segment loop (`crate::actor_learner`) on a plain actor-critic until a push answers
//! `stop`.

use crate::actor_learner::{ActorLearner, Head, Replica, Settings};
use crate::config::A3cConfig;
use crate::error::RlError;
use crate::loss::{Actions, LossCoefs, LossParts};
use crate::policy::{ActorCritic, Memory, RecurrentState};
use crate::shared_parameters::{PushOutcome, SharedParameters};
use ndarray::{ArrayD, ArrayView1, ArrayView2};
use pathnet_envs::BoxedEnv;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one worker did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkerReport {
    /// The worker's index (its random stream is `index + 1`).
    pub worker: u64,
    /// Environment steps it took.
    pub env_steps: u64,
    /// Segments it completed, one gradient push each.
    pub segments: u64,
    /// Of its pushes, those the shared parameters applied (the rest were too stale).
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

/// The plain actor-critic as an actor-learner's network: the recurrent state travels with it.
struct Policy {
    policy: ActorCritic<f32>,
    memory: Memory<f32>,
    /// The recurrent state the current segment started from.
    start: Option<RecurrentState<f32>>,
}

impl Replica for Policy {
    type Error = RlError;

    fn obs_dim(&self) -> usize {
        self.policy.obs_dim()
    }

    fn fetch(&mut self, shared: &dyn SharedParameters) -> Result<u64, RlError> {
        shared.fetch(&mut self.policy.params_mut())
    }

    fn begin_episode(&mut self) {
        self.memory.reset();
    }

    fn begin_segment(&mut self) {
        self.start = self.memory.state().cloned();
    }

    fn act(&mut self, obs: &[f32]) -> Result<Head<'_>, RlError> {
        let (outputs, _) = self.policy.act(obs, &mut self.memory);
        let log_std = self.policy.log_std().map(|s| {
            s.as_slice()
                .expect("log standard deviations are one contiguous vector")
        });
        Ok(Head { outputs, log_std })
    }

    fn value(&mut self, obs: &[f32]) -> Result<f32, RlError> {
        Ok(self.policy.peek_value(obs, &mut self.memory))
    }

    fn loss_and_grads(
        &mut self,
        obs: ArrayView2<'_, f32>,
        actions: Actions<'_, f32>,
        returns: ArrayView1<'_, f32>,
        coefs: LossCoefs,
    ) -> Result<(LossParts, Vec<ArrayD<f32>>), RlError> {
        Ok(self
            .policy
            .loss_and_grads(obs, self.start.as_ref(), actions, returns, coefs))
    }
}

/// One A3C actor-learner.
pub struct Worker {
    inner: ActorLearner<Policy>,
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
        let first_reset = rng.next_u64();
        let settings = Settings::of(config);
        let replica = Policy {
            memory: policy.memory(),
            policy,
            start: None,
        };
        Ok(Worker {
            inner: ActorLearner::new(index, settings, env, replica, rng, first_reset),
        })
    }

    /// What it has done so far.
    pub fn report(&self) -> WorkerReport {
        let tally = self.inner.tally.clone();
        WorkerReport {
            worker: self.inner.index(),
            env_steps: tally.env_steps,
            segments: tally.segments,
            updates_applied: tally.updates_applied,
            episode_returns: tally.episode_returns,
            last_loss: tally.last_loss,
        }
    }

    /// Its local copy of the policy, as of its last fetch and segment.
    pub fn policy(&self) -> &ActorCritic<f32> {
        &self.inner.replica.policy
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
        Ok(self.report())
    }

    /// One fetch–act–learn–push cycle.
    pub fn run_segment(&mut self, shared: &dyn SharedParameters) -> Result<PushOutcome, RlError> {
        Ok(self.inner.run_segment(shared)?.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_parameters::GradientUpdate;
    use ndarray::ArrayViewMutD;
    use pathnet_envs::{Action, BoxSpace, CartPole, Env, EnvError, Info, Options, Space, Step};

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
}
