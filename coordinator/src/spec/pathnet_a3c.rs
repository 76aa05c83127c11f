//! The spec of a PathNet-A3C experiment (`kind = "pathnet_a3c"`): the `[pathnet_a3c]` table
//! is the reinforcement-learning crate's own config (tasks in order, super-network shape,
//! evolution and A3C settings).

use super::{SpecError, invalid};
use pathnet_rl::pathnet_a3c::{PathNetA3cConfig, PathNetA3cError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathNetA3cSpec {
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    /// Also train the last task alone on a fresh super-network with the same settings and
    /// seed, the control that transfer is measured against.
    #[serde(default = "yes")]
    pub scratch_control: bool,
    pub pathnet_a3c: PathNetA3cConfig,
}

fn yes() -> bool {
    true
}

impl PathNetA3cSpec {
    pub fn validate(&self) -> Result<(), SpecError> {
        self.pathnet_a3c.validate().map_err(spec_error)
    }

    /// The `[pathnet_a3c]` table as TOML text, as agents receive it.
    pub fn config_toml(&self) -> String {
        toml::to_string(&self.pathnet_a3c).expect("a PathNet-A3C config is plain TOML data")
    }
}

/// An error of the `[pathnet_a3c]` table, named by its path in the spec.
pub fn spec_error(err: PathNetA3cError) -> SpecError {
    match err {
        PathNetA3cError::Config {
            field,
            value,
            expected,
        } => invalid(&format!("pathnet_a3c.{field}"), value, expected),
        other => invalid("pathnet_a3c", "", other.to_string()),
    }
}
