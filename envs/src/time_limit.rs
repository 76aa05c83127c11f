//! Gymnasium's `TimeLimit` wrapper: truncates an episode after a fixed number of steps.

use crate::env::{Env, Info, Options, Step};
use crate::error::EnvError;
use crate::space::{Action, BoxSpace, Space};

/// Sets `truncated` once `max_episode_steps` steps have been taken since the last reset, and
/// on every step after that (Gymnasium does not stop you stepping on). The counter restarts
/// at reset only; `set_state` passes through without touching it, just as assigning
/// `env.unwrapped.state` leaves the wrapper's `_elapsed_steps` alone.
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: u64,
    elapsed_steps: u64,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env`, truncating after `max_episode_steps` steps.
    ///
    /// # Errors
    /// [`EnvError::InvalidOption`] when `max_episode_steps` is 0.
    pub fn new(env: E, max_episode_steps: u64) -> Result<Self, EnvError> {
        if max_episode_steps == 0 {
            return Err(EnvError::InvalidOption {
                key: "max_episode_steps".to_string(),
                value: "0".to_string(),
                reason: "must be positive".to_string(),
            });
        }
        Ok(TimeLimit {
            env,
            max_episode_steps,
            elapsed_steps: 0,
        })
    }

    /// Steps after which every step is truncated; at least 1.
    pub fn max_episode_steps(&self) -> u64 {
        self.max_episode_steps
    }

    /// Steps taken since the last reset (Gymnasium's `_elapsed_steps`).
    pub fn elapsed_steps(&self) -> u64 {
        self.elapsed_steps
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped environment, mutably; stepping it directly bypasses the step counter.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the environment, dropping the step counter.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    fn id(&self) -> &str {
        self.env.id()
    }

    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }

    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset_with_options(
        &mut self,
        seed: Option<u64>,
        options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        self.elapsed_steps = 0;
        self.env.reset_with_options(seed, options)
    }

    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        let mut step = self.env.step(action)?;
        self.elapsed_steps += 1;
        if self.elapsed_steps >= self.max_episode_steps {
            step.truncated = true;
        }
        Ok(step)
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.env.set_state(state)
    }

    fn state(&self) -> Option<&[f64]> {
        self.env.state()
    }
}
