//! The one error type of the crate: bad settings, environment refusals, tensors that do not
//! match, and failures of a remote parameter store behind [`crate::SharedParameters`].

use pathnet_envs::EnvError;

/// Why training, a config or a parameter exchange failed; each variant names the setting,
/// tensor or worker at fault.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// A setting from a config file or the user; `field` is its dotted path in the `[a3c]` table.
    #[error("a3c setting `{field}` = {value} is invalid: {expected}")]
    Config {
        /// The setting's dotted path, e.g. `policy.hidden[1]`.
        field: String,
        /// Its value as given.
        value: String,
        /// What it must be.
        expected: String,
    },

    /// The environment refused a call (an unknown id, an invalid action, ...).
    #[error(transparent)]
    Env(#[from] EnvError),

    /// Tensors handed to or received from the shared parameters do not fit the policy.
    #[error("{what}: tensor {index} has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The exchange, e.g. "gradient update" or "parameter fetch".
        what: &'static str,
        /// The tensor's position in the parameter list.
        index: usize,
        /// The policy's shape for it.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },

    /// A parameter exchange carried a different number of tensors than the policy has.
    #[error("{what}: {got} tensors given, expected {expected}")]
    TensorCount {
        /// The exchange, e.g. "gradient update" or "PathNet parameter list".
        what: &'static str,
        /// Tensors the policy has.
        expected: usize,
        /// Tensors given.
        got: usize,
    },

    /// Training blew up; `at_env_step` says when, so a run can be retried with a lower rate.
    #[error(
        "worker {worker}: non-finite {what} after {at_env_step} env steps \
         (try a lower learning_rate or max_grad_norm)"
    )]
    Diverged {
        /// The worker's index.
        worker: u64,
        /// What went non-finite: "loss" or "gradient".
        what: &'static str,
        /// The worker's own environment steps so far.
        at_env_step: u64,
    },

    /// A pushed gradient holds a NaN or infinity; the shared parameters refuse it whole.
    #[error("gradient update: tensor {index} holds a non-finite value")]
    NonFiniteGradient {
        /// The tensor's position in the parameter list.
        index: usize,
    },

    /// A pushed update reports a non-finite episode return, which would poison the stop rule.
    #[error("gradient update: episode return {value} is not finite")]
    NonFiniteReturn {
        /// The return reported.
        value: f64,
    },

    /// A pushed update claims a parameter version newer than any published: a peer that
    /// did not fetch from this store.
    #[error("gradient update based on version {base_version}, but the newest is {current}")]
    FutureVersion {
        /// The version the update says it was computed against.
        base_version: u64,
        /// The newest version the store has published.
        current: u64,
    },

    /// A remote implementation of [`crate::SharedParameters`] could not be reached or refused.
    #[error("shared parameters unavailable: {0}")]
    Remote(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A worker thread panicked (a bug, not bad input); its siblings are stopped.
    #[error("worker {worker} panicked")]
    WorkerPanicked {
        /// The worker's index.
        worker: u64,
    },
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
