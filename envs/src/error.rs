//! The one error type for everything an environment can reject.

use std::time::Duration;
use thiserror::Error;

/// Why an environment call was refused. Every variant names the offending value so the
/// message is actionable on its own (these reach users through `pathnet env trace`).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvError {
    /// `make` was given an id that is not registered.
    #[error("unknown environment {name:?}; registered environments: {known}")]
    UnknownEnv {
        /// The id as given.
        name: String,
        /// The registered ids, comma-separated, for the message.
        known: String,
    },

    /// `set_state` was given the wrong number of state values for this environment.
    #[error("{env}: state must have {expected} values, got {got}")]
    StateLength {
        /// The environment's id.
        env: &'static str,
        /// Values its state has (e.g. 4 for CartPole).
        expected: usize,
        /// Values given.
        got: usize,
    },

    /// `step` was given an action outside the action space (a wrong index, length or type;
    /// continuous values out of bounds are clipped instead, where Gymnasium clips them).
    #[error("{env}: invalid action {action}; the action space is {space}")]
    InvalidAction {
        /// The environment's id.
        env: String,
        /// The action, as written in the message.
        action: String,
        /// The action space, as written in the message.
        space: String,
    },

    /// `step` came before the first `reset` or `set_state`, or after a failed vector step.
    #[error("{env}: step called before reset (or set_state)")]
    NeedsReset {
        /// The environment's id (`SyncVectorEnv(<id>)` for a vector env).
        env: String,
    },

    /// A reset option, `make` keyword argument, wrapper setting or `set_state` field has a
    /// bad value.
    #[error("reset option {key:?}: {reason} (got {value})")]
    InvalidOption {
        /// The option's name, e.g. `"low"`, `"max_episode_steps"` or `"state.ball_x"`.
        key: String,
        /// Its value as given.
        value: String,
        /// What the value must be.
        reason: String,
    },

    /// Text from a user (a state or action on the command line, an environment variable)
    /// does not parse.
    #[error("could not parse {what} {value:?}: {reason}")]
    Parse {
        /// What the text was meant to be, e.g. "state value" or "action".
        what: &'static str,
        /// The text as given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },

    /// A vector step was given a different number of actions than there are sub-environments.
    #[error("expected {expected} actions (one per sub-environment), got {got}")]
    ActionCount {
        /// The number of sub-environments.
        expected: usize,
        /// The number of actions given.
        got: usize,
    },

    /// The environment cannot do this call: `set_state` on an environment without a
    /// settable state, or stepping a MinAtar episode that has terminated.
    #[error("{env}: {operation} is not supported by this environment")]
    Unsupported {
        /// The environment's id.
        env: String,
        /// The call refused, e.g. `"set_state"`.
        operation: &'static str,
    },

    /// A vector env cannot be built: no sub-environments, or sub-environments whose spaces
    /// differ.
    #[error("vector environment: {0}")]
    Vector(String),

    /// A space's bounds are unusable (mismatched lengths, `low > high`, a NaN), or a foreign
    /// environment's space has no counterpart here.
    #[error("invalid space: {0}")]
    InvalidSpace(String),

    /// A Gymnasium environment run in Python (the `python` feature) failed, or cannot be
    /// built; `reason` carries the Python traceback where there is one.
    #[error("{env}: {reason}")]
    Python {
        /// The Gymnasium id, e.g. `"ALE/Pong-v5"`.
        env: String,
        /// Python's error, with its traceback where there is one.
        reason: String,
    },

    /// A Gymnasium environment run in Python gave no reply to `call` (`gymnasium.make`,
    /// `reset`, `step`, ...) within `limit`. Its process was killed; later calls fail.
    #[error("{env}: no reply to {call} within {limit:?}; the Python process was killed")]
    Timeout {
        /// The Gymnasium id.
        env: String,
        /// The call that got no reply.
        call: &'static str,
        /// How long it was given.
        limit: Duration,
    },
}
