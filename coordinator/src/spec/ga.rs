//! The spec of a neuroevolution experiment (`kind = "neuroevolution"`): the `[ga]` table is
//! the neuroevolution crate's own config (task, network, operator, GA), so the coordinator
//! and the in-process run read one schema with one set of defaults.

use super::limits::{self, MemoryEstimate};
use super::{SpecError, invalid};
use pathnet_evo::{EvoError, SafeMutationConfig};
use serde::{Deserialize, Serialize};

/// A neuroevolution experiment: a GA over seed-list genomes with safe mutations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaSpec {
    /// The experiment's name; a coordinator's experiment ids are `<name>-<number>`.
    pub name: String,
    /// Seeds every initial genome and mutation; it is the `[ga]` table's seed.
    #[serde(default)]
    pub seed: u64,
    /// The `[ga]` table: task, network, mutation operator and GA settings.
    pub ga: SafeMutationConfig,
}

impl GaSpec {
    /// Checks that `ga.seed` is unset or the top-level `seed`, every size against the
    /// coordinator's bounds, then the `[ga]` table; the error names the first bad field.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.ga.seed != 0 && self.ga.seed != self.seed {
            return Err(invalid(
                "ga.seed",
                self.ga.seed,
                "set the experiment's seed with the top-level `seed` key",
            ));
        }
        self.check_bounds()?;
        self.config().validate().map_err(spec_error)
    }

    /// The sizes, each below its bound, so that nothing the spec asks for aborts the process.
    fn check_bounds(&self) -> Result<(), SpecError> {
        use limits::*;
        let ga = &self.ga;
        let set = |value: Option<usize>| value.unwrap_or(0);
        #[rustfmt::skip]
        let bounds = [
            ("ga.population", ga.population, MAX_POPULATION, "genomes"),
            ("ga.tournament_size", set(ga.tournament_size), MAX_POPULATION, "genomes"),
            ("ga.parents", set(ga.parents), MAX_POPULATION, "genomes"),
            ("ga.elites", set(ga.elites), MAX_POPULATION, "genomes"),
            ("ga.hidden", set(ga.hidden), MAX_UNITS, "units"),
            ("ga.layers", set(ga.layers), MAX_LAYERS, "layers or LSTM cells"),
            ("ga.parity_bits", set(ga.parity_bits), MAX_PARITY_BITS, "all 2^bits sequences are evaluated"),
            ("ga.maze_steps", set(ga.maze_steps), MAX_STEPS, "steps per episode"),
            ("ga.experience", ga.experience, MAX_STEPS, "inputs kept"),
        ];
        at_most_each(&bounds)
    }

    /// The memory of the run: the network of an evaluation held three times (the parent, the
    /// child and the rebuild cache's copy), plus the population's seed lists.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        let config = self.config();
        MemoryEstimate {
            field: "ga",
            parameters: config.problem().network.param_count() as u128,
            copies: 3,
            other_bytes: config.population as u128 * 256,
        }
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
pub(super) fn spec_error(err: EvoError) -> SpecError {
    match err {
        EvoError::Invalid {
            field,
            value,
            reason,
        } => invalid(&format!("ga.{field}"), value, reason),
        other => invalid("ga", "", other.to_string()),
    }
}
