//! The crate's error type.

use pathnet_nn::pathnet::PathNetError;
use pathnet_nn::safe_mutation::SafeMutationError;

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum EvoError {
    /// A configuration or job field with a value that cannot be used.
    #[error("`{field}` = {value}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("mutation {index} of the genome: {source}")]
    Mutation {
        index: usize,
        source: SafeMutationError,
    },
    #[error("genome encoding: {0}")]
    Decode(String),
    #[error(
        "stored parameters do not fit the network: {expected} tensors of sizes {expected_lens:?} \
         expected, got sizes {got_lens:?}"
    )]
    ParamShape {
        expected: usize,
        expected_lens: Vec<usize>,
        got_lens: Vec<usize>,
    },
    #[error("pathway: {0}")]
    PathNet(#[from] PathNetError),
    #[error("environment: {0}")]
    Env(String),
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
