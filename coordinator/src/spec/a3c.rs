//! The spec of an A3C experiment (`kind = "a3c"`): the `[a3c]` table is the reinforcement
//! learning crate's own config, so the coordinator, the agents and the in-process run read
//! one schema with one set of defaults.

use super::{SpecError, invalid};
use pathnet_rl::{A3cConfig, RlError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A3cSpec {
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    /// Most A3C worker leases outstanding at once over all agents; each agent holds as many
    /// as its `--workers`.
    #[serde(default = "default_max_workers")]
    pub max_workers: usize,
    pub a3c: A3cConfig,
}

fn default_max_workers() -> usize {
    64
}

impl A3cSpec {
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.max_workers == 0 {
            return Err(invalid("max_workers", 0, "must be at least 1"));
        }
        self.a3c.validate().map_err(spec_error)
    }

    /// The `[a3c]` table as TOML text, as agents receive it.
    pub fn config_toml(&self) -> String {
        toml::to_string(&self.a3c).expect("an A3C config is plain TOML data")
    }
}

/// An error of the `[a3c]` table, named by its path in the spec.
pub fn spec_error(err: RlError) -> SpecError {
    match err {
        RlError::Config {
            field,
            value,
            expected,
        } => SpecError::Invalid {
            field: format!("a3c.{field}"),
            value,
            reason: expected,
        },
        other => SpecError::Invalid {
            field: "a3c".into(),
            value: String::new(),
            reason: other.to_string(),
        },
    }
}
