//! The one error type for everything an environment can reject.

use std::time::Duration;
use thiserror::Error;

/// Why an environment call was refused. Every variant names the offending value so the
/// message is actionable on its own (these reach users through `pathnet env trace`).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvError {
    #[error("unknown environment {name:?}; registered environments: {known}")]
    UnknownEnv { name: String, known: String },

    #[error("{env}: state must have {expected} values, got {got}")]
    StateLength {
        env: &'static str,
        expected: usize,
        got: usize,
    },

    #[error("{env}: invalid action {action}; the action space is {space}")]
    InvalidAction {
        env: String,
        action: String,
        space: String,
    },

    #[error("{env}: step called before reset (or set_state)")]
    NeedsReset { env: String },

    #[error("reset option {key:?}: {reason} (got {value})")]
    InvalidOption {
        key: String,
        value: String,
        reason: String,
    },

    #[error("could not parse {what} {value:?}: {reason}")]
    Parse {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("expected {expected} actions (one per sub-environment), got {got}")]
    ActionCount { expected: usize, got: usize },

    #[error("{env}: {operation} is not supported by this environment")]
    Unsupported {
        env: String,
        operation: &'static str,
    },

    #[error("vector environment: {0}")]
    Vector(String),

    #[error("invalid space: {0}")]
    InvalidSpace(String),

    /// A Gymnasium environment run in Python (the `python` feature) failed, or cannot be
    /// built; `reason` carries the Python traceback where there is one.
    #[error("{env}: {reason}")]
    Python { env: String, reason: String },

    /// A Gymnasium environment run in Python gave no reply to `call` (`gymnasium.make`,
    /// `reset`, `step`, ...) within `limit`. Its process was killed; later calls fail.
    #[error("{env}: no reply to {call} within {limit:?}; the Python process was killed")]
    Timeout {
        env: String,
        call: &'static str,
        limit: Duration,
    },
}
