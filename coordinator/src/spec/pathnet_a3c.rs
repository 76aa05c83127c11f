//! The spec of a PathNet-A3C experiment (`kind = "pathnet_a3c"`): the `[pathnet_a3c]` table
//! is the reinforcement-learning crate's own config (tasks in order, super-network shape,
//! evolution and A3C settings).

use super::limits::{self, MemoryEstimate, dense_parameters};
use super::{SpecError, invalid};
use pathnet_rl::pathnet_a3c::{ModuleSpec, PathNetA3cConfig, PathNetA3cError};
use serde::{Deserialize, Serialize};

/// A PathNet-A3C experiment: tasks learnt in order on one super-network, each by A3C
/// workers whose pathways evolve, with the scratch control.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathNetA3cSpec {
    /// The experiment's name; a coordinator's experiment ids are `<name>-<number>`.
    pub name: String,
    /// Seeds the super-network's parameters, the pathways and every worker (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Also train the last task alone on a fresh super-network with the same settings and
    /// seed, the control that transfer is measured against.
    #[serde(default = "yes")]
    pub scratch_control: bool,
    /// The `[pathnet_a3c]` table: tasks in order, super-network shape, evolution and A3C
    /// settings.
    pub pathnet_a3c: PathNetA3cConfig,
}

fn yes() -> bool {
    true
}

impl PathNetA3cSpec {
    /// Checks every size against the coordinator's bounds, then the `[pathnet_a3c]` table
    /// (which builds each task's environment); the error names the first bad field.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.check_bounds()?;
        self.pathnet_a3c.validate().map_err(spec_error)
    }

    /// The sizes, each below its bound, so that nothing the spec asks for aborts the process
    /// (validating the table makes every task's environment, so these come first).
    fn check_bounds(&self) -> Result<(), SpecError> {
        use limits::*;
        let c = &self.pathnet_a3c;
        let set = |value: Option<usize>| value.unwrap_or(0);
        #[rustfmt::skip]
        let bounds = [
            ("pathnet_a3c.tasks", c.tasks.len(), MAX_TASKS, "tasks, each with a head"),
            ("pathnet_a3c.layers", c.layers, MAX_LAYERS, "layers"),
            ("pathnet_a3c.modules", c.modules, MAX_MODULES_PER_LAYER, "modules per layer"),
            ("pathnet_a3c.units", c.units, MAX_UNITS, "units per module"),
            ("pathnet_a3c.workers", c.workers, MAX_WORKERS, "workers"),
            ("pathnet_a3c.tournament_size", c.tournament_size, MAX_WORKERS, "workers"),
            ("pathnet_a3c.t_max", c.t_max, MAX_T_MAX, "rollout steps per update"),
            ("pathnet_a3c.episodes_per_fitness", c.episodes_per_fitness, MAX_STEPS, "episodes per fitness"),
            ("pathnet_a3c.conv_filters", set(c.conv_filters), MAX_CONV_FILTERS, "filters"),
            ("pathnet_a3c.conv_kernel", set(c.conv_kernel), MAX_CONV_KERNEL, "convolution size"),
            ("pathnet_a3c.conv_stride", set(c.conv_stride), MAX_CONV_KERNEL, "convolution size"),
            ("pathnet_a3c.conv_padding", set(c.conv_padding), MAX_CONV_KERNEL, "convolution size"),
        ];
        at_most_each(&bounds)
    }

    /// The memory of the run: the super-network and its heads held four times, as for A3C.
    /// Conv modules are counted with every observation value a channel, an upper bound.
    pub fn memory_estimate(&self) -> Result<MemoryEstimate, SpecError> {
        let c = &self.pathnet_a3c;
        let shapes = c.task_shapes().map_err(spec_error)?;
        let obs = shapes.iter().map(|s| s.obs_dim).max().unwrap_or(0);
        let modules = c.modules as u128;
        let later_layers = (c.layers as u128).saturating_sub(1);
        let (first, rest, features) = match c.module_spec() {
            ModuleSpec::Linear { units } => (
                dense_parameters(&[obs, units]),
                dense_parameters(&[units, units]),
                units,
            ),
            ModuleSpec::Conv(conv) => {
                let (f, k) = (conv.filters as u128, (conv.kernel * conv.kernel) as u128);
                (
                    (k * obs as u128 + 1) * f,
                    (k * f + 1) * f,
                    obs.saturating_mul(conv.filters),
                )
            }
        };
        let heads: u128 = shapes
            .iter()
            .map(|s| dense_parameters(&[features, s.actions + 1]))
            .sum();
        Ok(MemoryEstimate {
            field: "pathnet_a3c",
            parameters: modules * first + later_layers * modules * rest + heads,
            copies: 4,
            other_bytes: 0,
        })
    }

    /// The `[pathnet_a3c]` table as TOML text, as agents receive it.
    pub fn config_toml(&self) -> String {
        toml::to_string(&self.pathnet_a3c).expect("a PathNet-A3C config is plain TOML data")
    }
}

/// An error of the `[pathnet_a3c]` table, named by its path in the spec.
pub(super) fn spec_error(err: PathNetA3cError) -> SpecError {
    match err {
        PathNetA3cError::Config {
            field,
            value,
            expected,
        } => invalid(&format!("pathnet_a3c.{field}"), value, expected),
        other => invalid("pathnet_a3c", "", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::Spec;

    #[test]
    fn the_population_64_example_has_the_papers_atari_sizes() {
        let text = include_str!("../../../examples/pathnet_a3c_minatar_pop64.toml");
        let Spec::PathNetA3c(spec) = Spec::from_toml(text).unwrap() else {
            panic!("the example is not a pathnet_a3c spec");
        };
        let c = &spec.pathnet_a3c;
        assert_eq!(
            (c.workers, c.layers, c.modules, c.max_active),
            (64, 4, 10, 4)
        );
        assert_eq!(c.tasks.len(), 2);
        assert!(
            spec.scratch_control,
            "transfer is compared with the control"
        );
        spec.memory_estimate().unwrap();
    }
}
