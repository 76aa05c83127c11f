//! The `[pathnet_a3c]` table: the tasks in training order, the super-network's size and
//! module kind, the evolution's `T` and `B`, and the A3C settings (the same keys, defaults
//! and checks as the `[a3c]` table, see [`A3cConfig`]).
//!
//! Unknown keys are rejected; [`PathNetA3cConfig::validate`] names the field and the bad
//! value. Each task is a table of its own because each has its own stop rule:
//!
//! ```toml
//! tasks = [
//!     { env = "CartPole-v1", stop = { target_return = 475.0, max_env_steps = 300000 } },
//!     { env = "Acrobot-v1", stop = { target_return = -100.0, max_env_steps = 300000 } },
//! ]
//! ```
//!
//! Conv modules, for pixel tasks (MinAtar's channel-first 10x10 grids):
//!
//! ```toml
//! module_kind = "conv"
//! conv_filters = 8     # output channels of every module
//! conv_kernel = 3
//! ```

use super::error::PathNetA3cError;
use super::network::{ConvSpec, ModuleSpec, check_grids};
use crate::config::{A3cConfig, StopConfig};
use crate::error::RlError;
use pathnet_envs::Space;
use pathnet_nn::pathnet::{PathNetDims, PathNetError};
use serde::{Deserialize, Serialize};

/// One task of the sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// A registered environment id with a `Discrete` action space.
    pub env: String,
    /// When training on this task ends; reaching `target_return` is what "solved" means in
    /// the transfer summary.
    #[serde(default)]
    pub stop: StopConfig,
}

impl TaskConfig {
    /// Task `env` trained until `stop` holds.
    pub fn new(env: impl Into<String>, stop: StopConfig) -> Self {
        TaskConfig {
            env: env.into(),
            stop,
        }
    }
}

/// What the shared modules are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// `Linear(.., units) + ReLU`, over any flat observations.
    #[default]
    Linear,
    /// `Conv2d + ReLU` over channel-first 10x10 grids (MinAtar); the heads flatten the last
    /// layer's maps.
    Conv,
}

/// An experiment's `[pathnet_a3c]` table (PathNet-A3C, Fernando et al. 2017), defaults
/// filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathNetA3cConfig {
    /// Trained in this order; each later task starts from the best pathway of the one
    /// before, frozen.
    pub tasks: Vec<TaskConfig>,
    /// `L`: shared layers.
    pub layers: usize,
    /// `M`: modules per layer.
    pub modules: usize,
    /// `N`: most active modules per layer in a pathway.
    pub max_active: usize,
    /// What every shared module is (default `linear`).
    pub module_kind: ModuleKind,
    /// Units of every `Linear + ReLU` module (`module_kind = "linear"` only).
    pub units: usize,
    /// Output channels of every conv module; only with `module_kind = "conv"` (default 8).
    pub conv_filters: Option<usize>,
    /// Side of the square kernels; only with `module_kind = "conv"` (default 3).
    pub conv_kernel: Option<usize>,
    /// Step of the kernels in both directions; only with `module_kind = "conv"` (default 1).
    pub conv_stride: Option<usize>,
    /// Zero padding on every side; only with `module_kind = "conv"` (default 0, so a 3x3
    /// kernel shrinks the 10x10 grid by 2 per layer).
    pub conv_padding: Option<usize>,
    /// `T`: episodes a pathway is played for; its fitness is their mean return.
    pub episodes_per_fitness: usize,
    /// `B`: how many other workers' latest fitnesses a worker compares itself with (all of
    /// them when fewer have one).
    pub tournament_size: usize,
    /// A3C workers (threads), one genotype each.
    pub workers: usize,
    /// Most environment steps per segment, as [`A3cConfig::t_max`].
    pub t_max: usize,
    /// Discount factor, as [`A3cConfig::gamma`].
    pub gamma: f64,
    /// The shared RMSProp's starting step size, as [`A3cConfig::learning_rate`].
    pub learning_rate: f64,
    /// Anneal the rate linearly to 0 at each task's `stop.max_env_steps`.
    pub anneal_learning_rate: bool,
    /// Decay of the shared mean squared gradient, as [`A3cConfig::rmsprop_alpha`].
    pub rmsprop_alpha: f64,
    /// Added under RMSProp's square root, as [`A3cConfig::rmsprop_eps`].
    pub rmsprop_eps: f64,
    /// Weight of the entropy bonus, as [`A3cConfig::entropy_beta`].
    pub entropy_beta: f64,
    /// Weight of the critic term, as [`A3cConfig::value_coef`].
    pub value_coef: f64,
    /// Global L2 norm each segment's gradient is clipped to, as [`A3cConfig::max_grad_norm`].
    pub max_grad_norm: f64,
    /// Factor applied to rewards before returns, as [`A3cConfig::reward_scale`].
    pub reward_scale: f64,
    /// Versions after which a push is dropped as stale, as [`A3cConfig::max_staleness`].
    pub max_staleness: u64,
}

impl Default for PathNetA3cConfig {
    /// No tasks (a config must list them); the super-network of the paper's supervised
    /// experiments (`L = 3, M = 10, N = 3`, 20 units); and the `[a3c]` defaults.
    fn default() -> Self {
        let a3c = A3cConfig::new("");
        PathNetA3cConfig {
            tasks: Vec::new(),
            layers: 3,
            modules: 10,
            max_active: 3,
            module_kind: ModuleKind::Linear,
            units: Self::DEFAULT_UNITS,
            conv_filters: None,
            conv_kernel: None,
            conv_stride: None,
            conv_padding: None,
            episodes_per_fitness: 5,
            tournament_size: 2,
            workers: 4,
            t_max: a3c.t_max,
            gamma: a3c.gamma,
            learning_rate: a3c.learning_rate,
            anneal_learning_rate: a3c.anneal_learning_rate,
            rmsprop_alpha: a3c.rmsprop_alpha,
            rmsprop_eps: a3c.rmsprop_eps,
            entropy_beta: a3c.entropy_beta,
            value_coef: a3c.value_coef,
            max_grad_norm: a3c.max_grad_norm,
            reward_scale: a3c.reward_scale,
            max_staleness: a3c.max_staleness,
        }
    }
}

/// What the super-network needs to know of one task's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskShape {
    /// The task's environment id.
    pub env: String,
    /// Width of the environment's observations, before padding.
    pub obs_dim: usize,
    /// Discrete actions; the head has one more output, the value.
    pub actions: usize,
}

impl PathNetA3cConfig {
    /// Units of a linear module when `units` is not given (the paper's supervised setting).
    pub const DEFAULT_UNITS: usize = 20;
    /// The conv module for keys not given: 8 filters of 3x3, stride 1, no padding.
    pub const DEFAULT_CONV: ConvSpec = ConvSpec {
        filters: 8,
        kernel: 3,
        stride: 1,
        padding: 0,
    };

    /// The modules `module_kind` and its keys ask for, with the defaults filled in.
    pub fn module_spec(&self) -> ModuleSpec {
        match self.module_kind {
            ModuleKind::Linear => ModuleSpec::Linear { units: self.units },
            ModuleKind::Conv => {
                let d = Self::DEFAULT_CONV;
                ModuleSpec::Conv(ConvSpec {
                    filters: self.conv_filters.unwrap_or(d.filters),
                    kernel: self.conv_kernel.unwrap_or(d.kernel),
                    stride: self.conv_stride.unwrap_or(d.stride),
                    padding: self.conv_padding.unwrap_or(d.padding),
                })
            }
        }
    }

    /// The super-network's `L`, `M` and `N`.
    pub fn dims(&self) -> PathNetDims {
        PathNetDims {
            layers: self.layers,
            modules: self.modules,
            max_active: self.max_active,
        }
    }

    /// Task `task` as an `[a3c]` table: the checks and the server settings of plain A3C
    /// apply to it unchanged.
    pub fn a3c(&self, task: usize) -> Result<A3cConfig, PathNetA3cError> {
        let spec = self.tasks.get(task).ok_or(PathNetA3cError::UnknownTask {
            task,
            tasks: self.tasks.len(),
        })?;
        Ok(A3cConfig {
            env: spec.env.clone(),
            t_max: self.t_max,
            gamma: self.gamma,
            learning_rate: self.learning_rate,
            anneal_learning_rate: self.anneal_learning_rate,
            rmsprop_alpha: self.rmsprop_alpha,
            rmsprop_eps: self.rmsprop_eps,
            entropy_beta: self.entropy_beta,
            value_coef: self.value_coef,
            max_grad_norm: self.max_grad_norm,
            reward_scale: self.reward_scale,
            max_staleness: self.max_staleness,
            workers: self.workers,
            stop: spec.stop.clone(),
            ..A3cConfig::new("")
        })
    }

    /// Every task's observation width and action count (this makes each environment once).
    pub fn task_shapes(&self) -> Result<Vec<TaskShape>, PathNetA3cError> {
        (0..self.tasks.len())
            .map(|task| {
                let env = self.a3c(task)?.make_env().map_err(|e| in_task(task, e))?;
                match env.action_space() {
                    Space::Discrete(d) if d.n > 0 => Ok(TaskShape {
                        env: self.tasks[task].env.clone(),
                        obs_dim: env.observation_space().dim(),
                        actions: d.n as usize,
                    }),
                    space => Err(PathNetA3cError::config(
                        format!("tasks[{task}].env"),
                        format!("{:?}", self.tasks[task].env),
                        format!(
                            "an environment with a non-empty Discrete action space (the \
                             heads are categorical); it has {space}"
                        ),
                    )),
                }
            })
            .collect()
    }

    /// Checks every setting and every task's environment.
    pub fn validate(&self) -> Result<(), PathNetA3cError> {
        if self.tasks.is_empty() {
            return Err(PathNetA3cError::config(
                "tasks",
                "[]",
                "at least one task, e.g. [{ env = \"CartPole-v1\" }]",
            ));
        }
        self.dims().validate().map_err(|e| match e {
            PathNetError::Dims {
                field,
                value,
                reason,
            } => PathNetA3cError::config(field, value, reason),
            other => other.into(),
        })?;
        if self.episodes_per_fitness == 0 {
            return Err(PathNetA3cError::config(
                "episodes_per_fitness",
                0,
                "at least 1",
            ));
        }
        self.validate_modules()?;
        for task in 0..self.tasks.len() {
            self.a3c(task)?.validate().map_err(|e| in_task(task, e))?;
        }
        let shapes = self.task_shapes()?;
        if self.module_kind == ModuleKind::Conv {
            check_grids(&shapes)?;
        }
        Ok(())
    }

    /// The keys of the module kind: set only for their kind, positive, and conv maps that
    /// stay at least as large as the kernel through every layer.
    fn validate_modules(&self) -> Result<(), PathNetA3cError> {
        let conv = self.module_kind == ModuleKind::Conv;
        let conv_keys = [
            ("conv_filters", self.conv_filters),
            ("conv_kernel", self.conv_kernel),
            ("conv_stride", self.conv_stride),
            ("conv_padding", self.conv_padding),
        ];
        if !conv && let Some((field, Some(value))) = conv_keys.iter().find(|(_, v)| v.is_some()) {
            return Err(PathNetA3cError::config(
                *field,
                value,
                "only allowed with module_kind = \"conv\"",
            ));
        }
        // `units` has a default in the table, so only a changed value can be told apart.
        if conv && self.units != Self::DEFAULT_UNITS {
            return Err(PathNetA3cError::config(
                "units",
                self.units,
                "only used with module_kind = \"linear\"; conv modules have conv_filters \
                 channels",
            ));
        }
        let spec = match self.module_spec() {
            ModuleSpec::Linear { units } => {
                return if units == 0 {
                    Err(PathNetA3cError::config("units", 0, "at least 1"))
                } else {
                    Ok(())
                };
            }
            ModuleSpec::Conv(spec) => spec,
        };
        for (field, value) in [
            ("conv_filters", spec.filters),
            ("conv_kernel", spec.kernel),
            ("conv_stride", spec.stride),
        ] {
            if value == 0 {
                return Err(PathNetA3cError::config(field, 0, "at least 1"));
            }
        }
        spec.output_grid(self.layers)
            .map(drop)
            .map_err(|(layer, height, width)| {
                PathNetA3cError::config(
                    "conv_kernel",
                    spec.kernel,
                    format!(
                        "a kernel that fits the maps of every layer: layer {layer} of {} gets \
                         {height}x{width} maps (padding {}, stride {}); use fewer layers, a \
                         smaller kernel or stride, or more conv_padding",
                        self.layers, spec.padding, spec.stride
                    ),
                )
            })
    }
}

/// Names a task's own keys (`env`, `stop.*`) by their place in the `tasks` list; the shared
/// A3C keys keep their names.
fn in_task(task: usize, error: RlError) -> PathNetA3cError {
    match error {
        RlError::Config {
            field,
            value,
            expected,
        } => {
            let field = if field == "env" || field.starts_with("stop.") {
                format!("tasks[{task}].{field}")
            } else {
                field
            };
            PathNetA3cError::Config {
                field,
                value,
                expected,
            }
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests;
