//! The spec of a neuroevolution experiment (`kind = "neuroevolution"`): the `[ga]` table is
//! the neuroevolution crate's own config (task, network, operator, GA), so the coordinator
//! and the in-process run read one schema with one set of defaults.

use super::{SpecError, invalid};
use pathnet_evo::{EvoError, SafeMutationConfig};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaSpec {
    pub name: String,
    /// Seeds every initial genome and mutation; it is the `[ga]` table's seed.
    #[serde(default)]
    pub seed: u64,
    pub ga: SafeMutationConfig,
}

impl GaSpec {
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.ga.seed != 0 && self.ga.seed != self.seed {
            return Err(invalid(
                "ga.seed",
                self.ga.seed,
                "set the experiment's seed with the top-level `seed` key",
            ));
        }
        self.config().validate().map_err(spec_error)
    }

    /// The `[ga]` config with the experiment's seed.
    pub fn config(&self) -> SafeMutationConfig {
        SafeMutationConfig {
            seed: self.seed,
            ..self.ga.clone()
        }
    }
}

/// An error of the `[ga]` table, named by its path in the spec.
pub fn spec_error(err: EvoError) -> SpecError {
    match err {
        EvoError::Invalid {
            field,
            value,
            reason,
        } => SpecError::Invalid {
            field: format!("ga.{field}"),
            value,
            reason,
        },
        other => SpecError::Invalid {
            field: "ga".into(),
            value: String::new(),
            reason: other.to_string(),
        },
    }
}
