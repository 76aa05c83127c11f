//! The crate's error type.

use pathnet_nn::pathnet::PathNetError;
use pathnet_nn::safe_mutation::SafeMutationError;

/// Why a config, a job, a genome or an evaluation could not be used; each variant names the
/// field, mutation or file at fault.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum EvoError {
    /// A configuration or job field with a value that cannot be used.
    #[error("`{field}` = {value}: {reason}")]
    Invalid {
        /// The field's key, e.g. `tournament_size`.
        field: &'static str,
        /// Its value as given.
        value: String,
        /// What it must be.
        reason: String,
    },
    /// Replaying a genome's mutation failed (e.g. an operator that needs experience got
    /// none).
    #[error("mutation {index} of the genome: {source}")]
    Mutation {
        /// The mutation's position in the genome's seed list (0 is the initialisation).
        index: usize,
        /// The operator's error.
        source: SafeMutationError,
    },
    /// A genome's wire encoding is malformed (truncated, an unknown operator code, ...).
    #[error("genome encoding: {0}")]
    Decode(String),
    /// Cached or stored parameters do not fit the network being rebuilt.
    #[error(
        "stored parameters do not fit the network: {expected} tensors of sizes {expected_lens:?} \
         expected, got sizes {got_lens:?}"
    )]
    ParamShape {
        /// Tensors the network has.
        expected: usize,
        /// Elements of each of the network's tensors.
        expected_lens: Vec<usize>,
        /// Elements of each tensor given.
        got_lens: Vec<usize>,
    },
    /// The PathNet super-network refused a pathway or a module.
    #[error("pathway: {0}")]
    PathNet(#[from] PathNetError),
    /// An environment of a reinforcement-learning task could not be made or stepped.
    #[error("environment: {0}")]
    Env(String),
    /// A supervised task's dataset could not be loaded or does not fit the network; the
    /// message names its directory.
    #[error("dataset: {0}")]
    Data(String),
}

impl EvoError {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        EvoError::Invalid {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
