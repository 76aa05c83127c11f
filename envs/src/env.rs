//! The `Env` trait (Gymnasium's `gymnasium.Env`), its step result, and reset options.

use crate::error::EnvError;
use crate::space::{Action, BoxSpace, Space};
use serde_json::Value;

/// Gymnasium's `info` dict. The environments here never put anything in it, and an empty map
/// does not allocate, so returning one per step is free.
pub type Info = serde_json::Map<String, Value>;

/// Gymnasium's reset `options` dict (e.g. `{"low": -0.1, "high": 0.1}` for CartPole).
pub type Options = serde_json::Map<String, Value>;

/// What `step` returns: Gymnasium's `(obs, reward, terminated, truncated, info)`. The
/// observation borrows the environment's buffer so stepping never allocates; copy it out if
/// it must outlive the next call.
#[derive(Debug, Clone, PartialEq)]
pub struct Step<'a> {
    /// The observation after the action, as many values as the observation space's `dim`.
    pub obs: &'a [f32],
    /// The reward for this step, in the environment's own units.
    pub reward: f64,
    /// The episode reached a terminal state of the task (the pole fell, the goal was
    /// reached): nothing follows, so a learner does not bootstrap from `obs`.
    pub terminated: bool,
    /// The episode was cut off from outside the task (a time limit): bootstrap from `obs`.
    pub truncated: bool,
    /// Gymnasium's `info` dict for this step.
    pub info: Info,
}

/// An environment with Gymnasium's API and semantics. Observations are float32 vectors (all
/// Gymnasium classic-control observation spaces are float32 Boxes); internal state is f64,
/// as in Gymnasium.
pub trait Env {
    /// The registered name, e.g. `"CartPole-v1"`.
    fn id(&self) -> &str;

    /// `env.observation_space`: every observation has its `dim` values.
    fn observation_space(&self) -> &BoxSpace;

    /// `env.action_space`: what `step` accepts.
    fn action_space(&self) -> &Space;

    /// `env.reset(seed=..., options=...)`. Options the environment does not know are
    /// ignored, as in Gymnasium; known ones with bad values are an error.
    fn reset_with_options(
        &mut self,
        seed: Option<u64>,
        options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError>;

    /// `env.reset(seed=...)`. The native environments never fail here; an environment run
    /// elsewhere (a Python process) can.
    fn reset(&mut self, seed: Option<u64>) -> Result<(&[f32], Info), EnvError> {
        self.reset_with_options(seed, None)
    }

    /// `env.step(action)`. Actions outside the action space are an error, except that
    /// continuous actions are clipped to their bounds where Gymnasium clips them.
    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError>;

    /// Overwrites the internal state with the same numbers as `env.unwrapped.state` in
    /// Gymnasium. Like assigning that attribute, this touches nothing else (no step counters).
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError>;

    /// The internal state (`env.unwrapped.state`); `None` before the first reset, and for
    /// foreign environments that do not expose it.
    fn state(&self) -> Option<&[f64]>;
}

/// What `make` hands out.
pub type BoxedEnv = Box<dyn Env + Send>;

impl<E: Env + ?Sized> Env for Box<E> {
    fn id(&self) -> &str {
        (**self).id()
    }
    fn observation_space(&self) -> &BoxSpace {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset_with_options(
        &mut self,
        seed: Option<u64>,
        options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        (**self).reset_with_options(seed, options)
    }
    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        (**self).step(action)
    }
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        (**self).set_state(state)
    }
    fn state(&self) -> Option<&[f64]> {
        (**self).state()
    }
}

/// The error for an action outside `space`.
pub(crate) fn invalid_action(env: &str, action: &Action, space: &Space) -> EnvError {
    EnvError::InvalidAction {
        env: env.to_string(),
        action: action.to_string(),
        space: space.to_string(),
    }
}

/// Reads a numeric reset option, like Gymnasium's `verify_number_and_cast`.
pub(crate) fn number_option(
    options: Option<&Options>,
    key: &str,
    default: f64,
) -> Result<f64, EnvError> {
    match options.and_then(|o| o.get(key)) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| EnvError::InvalidOption {
            key: key.to_string(),
            value: v.to_string(),
            reason: "not a number".to_string(),
        }),
    }
}

/// Gymnasium's `maybe_parse_reset_bounds`: `low`/`high` options with defaults, `low <= high`.
pub(crate) fn reset_bounds(
    options: Option<&Options>,
    default_low: f64,
    default_high: f64,
) -> Result<(f64, f64), EnvError> {
    let low = number_option(options, "low", default_low)?;
    let high = number_option(options, "high", default_high)?;
    if low > high {
        return Err(EnvError::InvalidOption {
            key: "low".to_string(),
            value: low.to_string(),
            reason: format!("must not exceed high ({high})"),
        });
    }
    Ok((low, high))
}

/// The common `set_state` length check.
pub(crate) fn check_state_len(
    env: &'static str,
    state: &[f64],
    expected: usize,
) -> Result<(), EnvError> {
    if state.len() == expected {
        Ok(())
    } else {
        Err(EnvError::StateLength {
            env,
            expected,
            got: state.len(),
        })
    }
}
