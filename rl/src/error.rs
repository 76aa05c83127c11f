//! The one error type of the crate: bad settings, environment refusals, tensors that do not
//! match, and failures of a remote parameter store behind [`crate::SharedParameters`].

use pathnet_envs::EnvError;

#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// A setting from a config file or the user; `field` is its dotted path in the `[a3c]` table.
    #[error("a3c setting `{field}` = {value} is invalid: {expected}")]
    Config {
        field: String,
        value: String,
        expected: String,
    },

    #[error(transparent)]
    Env(#[from] EnvError),

    /// Tensors handed to or received from the shared parameters do not fit the policy.
    #[error("{what}: tensor {index} has shape {got:?}, expected {expected:?}")]
    Shape {
        what: &'static str,
        index: usize,
        expected: Vec<usize>,
        got: Vec<usize>,
    },

    #[error("{what}: {got} tensors given, expected {expected}")]
    TensorCount {
        what: &'static str,
        expected: usize,
        got: usize,
    },

    /// Training blew up; `at_env_step` says when, so a run can be retried with a lower rate.
    #[error(
        "worker {worker}: non-finite {what} after {at_env_step} env steps \
         (try a lower learning_rate or max_grad_norm)"
    )]
    Diverged {
        worker: u64,
        what: &'static str,
        at_env_step: u64,
    },

    #[error("gradient update: tensor {index} holds a non-finite value")]
    NonFiniteGradient { index: usize },

    #[error("gradient update: episode return {value} is not finite")]
    NonFiniteReturn { value: f64 },

    #[error("gradient update based on version {base_version}, but the newest is {current}")]
    FutureVersion { base_version: u64, current: u64 },

    /// A remote implementation of [`crate::SharedParameters`] could not be reached or refused.
    #[error("shared parameters unavailable: {0}")]
    Remote(#[source] Box<dyn std::error::Error + Send + Sync>),

    #[error("worker {worker} panicked")]
    WorkerPanicked { worker: u64 },
}

impl RlError {
    /// A [`RlError::Config`] for `field` holding `value`.
    pub(crate) fn config(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        RlError::Config {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
