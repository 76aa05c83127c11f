//! Upper bounds on what a spec may ask for, and the memory an experiment would take, checked
//! before anything is allocated.
//!
//! A spec comes from a user or over the network, and a size in it turns into allocations: a
//! population of 10^12 or 10^9-unit modules would abort the coordinator process rather than
//! fail. Every size therefore has a bound far above any real experiment (each with its reason
//! in `docs/specs.md`), and the parameters the experiment's networks would hold are estimated
//! from the spec and compared with a ceiling the coordinator's operator sets.

use super::{SpecError, invalid};

/// Pathways or genomes in a population: 10^6 is 4000 times the papers' largest (250).
pub const MAX_POPULATION: usize = 1_000_000;
/// Hidden layers of a super-network or network: the papers use 3 to 6.
pub const MAX_LAYERS: usize = 64;
/// Modules per layer of a super-network: the papers use 10 to 20.
pub const MAX_MODULES_PER_LAYER: usize = 1024;
/// Units of a module or width of a hidden layer.
pub const MAX_UNITS: usize = 65_536;
/// Tasks learnt in sequence, each with its own head: PathNet learns 2 to 4.
pub const MAX_TASKS: usize = 256;
/// Minibatches per evaluation (T) and examples per minibatch: both travel as 32-bit integers,
/// and a million is beyond any evaluation the papers run (T = 50, batch 16).
pub const MAX_MINIBATCHES: usize = 1_000_000;
/// Examples per minibatch (see [`MAX_MINIBATCHES`]).
pub const MAX_BATCH_SIZE: usize = 65_536;
/// Rollout steps per update (A3C's t_max, 5 or 20 in the papers): each worker keeps them all.
pub const MAX_T_MAX: usize = 100_000;
/// Workers of one run (A3C threads or leases); each holds a copy of the network.
pub const MAX_WORKERS: usize = 10_000;
/// Steps, episodes and windows counted per evaluation.
pub const MAX_STEPS: usize = 10_000_000;
/// Parity sequence length: all `2^bits` sequences are evaluated, so 20 bits is a million.
pub const MAX_PARITY_BITS: usize = 20;
/// Convolution filters of a layer.
pub const MAX_CONV_FILTERS: usize = 4096;
/// Convolution kernel side, in pixels.
pub const MAX_CONV_KERNEL: usize = 64;

/// The default ceiling on an experiment's estimated memory: 16 GiB.
pub const DEFAULT_MAX_EXPERIMENT_BYTES: u64 = 16 << 30;

/// Bytes of one parameter (f32).
const PARAMETER_BYTES: u128 = 4;

/// `value` of `field` must be at most `max`.
pub(crate) fn at_most(field: &str, value: usize, max: usize, why: &str) -> Result<(), SpecError> {
    if value > max {
        Err(invalid(
            field,
            value,
            format!("must be at most {max} ({why})"),
        ))
    } else {
        Ok(())
    }
}

/// Each `(field, value, max, what)`: the first value above its bound is refused.
pub(crate) fn at_most_each(bounds: &[(&str, usize, usize, &str)]) -> Result<(), SpecError> {
    bounds
        .iter()
        .try_for_each(|&(field, value, max, what)| at_most(field, value, max, what))
}

/// The memory an experiment would hold: its parameters, as many times as it keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// What the estimate is named by in an error: the table whose sizes make the networks.
    pub field: &'static str,
    /// Parameters of all networks the experiment builds.
    pub parameters: u128,
    /// How many copies of them it keeps at once (see the kinds' estimates).
    pub copies: u32,
    /// Memory that is not parameters (populations, rollouts), in bytes.
    pub other_bytes: u128,
}

impl MemoryEstimate {
    /// The estimate in bytes: 4 per parameter per copy, plus `other_bytes`; saturates
    /// rather than overflows.
    pub fn bytes(&self) -> u128 {
        self.parameters
            .saturating_mul(PARAMETER_BYTES)
            .saturating_mul(u128::from(self.copies))
            .saturating_add(self.other_bytes)
    }

    /// Refuses the experiment when it would take more than `ceiling` bytes.
    pub fn check(&self, ceiling: u64) -> Result<(), SpecError> {
        let bytes = self.bytes();
        if bytes <= u128::from(ceiling) {
            return Ok(());
        }
        Err(invalid(
            self.field,
            format!("{} parameters", self.parameters),
            format!(
                "the experiment would take about {} ({} parameters x {PARAMETER_BYTES} bytes x \
                 {} copies, plus {} of populations and buffers), over the coordinator's \
                 ceiling of {} (--max-experiment-bytes)",
                human(bytes),
                self.parameters,
                self.copies,
                human(self.other_bytes),
                human(u128::from(ceiling)),
            ),
        ))
    }
}

/// Bytes in the largest binary unit that keeps the number at least 1.
fn human(bytes: u128) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Parameters of a fully connected stack through `widths` (inputs first), with biases.
pub(crate) fn dense_parameters(widths: &[usize]) -> u128 {
    widths
        .windows(2)
        .map(|w| (w[0] as u128 + 1) * w[1] as u128)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_parameters_times_bytes_times_copies() {
        let estimate = MemoryEstimate {
            field: "pathnet",
            parameters: 1000,
            copies: 3,
            other_bytes: 8,
        };
        assert_eq!(estimate.bytes(), 12_008);
        assert!(estimate.check(12_008).is_ok());
        let err = estimate.check(12_007).unwrap_err().to_string();
        assert!(
            err.contains("`pathnet`") && err.contains("1000 parameters"),
            "{err}"
        );
        assert_eq!(dense_parameters(&[4, 3, 2]), 5 * 3 + 4 * 2);
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
