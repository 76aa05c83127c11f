//! The spec of a safe-mutation PathNet experiment (`kind = "sm_pathnet"`): tasks learnt in
//! order on one super-network, each by a tournament GA over pathway genomes; after each task
//! its best genome's pathway is frozen for the next, and a from-scratch control arm learns
//! every later task on the bare base network in the same run.

use super::limits::{self, MemoryEstimate};
use super::{SpecError, invalid};
use pathnet_evo::sm_pathnet::{
    ConvLayers, DataTask, Hybrid, PathwayProblem, PathwayTask, Selection, TournamentConfig,
};
use pathnet_evo::{EvoError, Operator};
use pathnet_rl::pathnet_a3c::{ModuleKind, PathNetA3cConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A safe-mutation PathNet experiment (docs/sm_pathnet.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmPathNetSpec {
    /// The experiment's name; a coordinator's experiment ids are `<name>-<number>`.
    pub name: String,
    /// Seeds the base weights, every genome and mutation, the tournaments and the episodes
    /// (default 0).
    #[serde(default)]
    pub seed: u64,
    /// The `[sm_pathnet]` table.
    pub sm_pathnet: SmPathNetConfig,
}

fn default_layers() -> usize {
    3
}
fn default_modules() -> usize {
    10
}
fn default_max_active() -> usize {
    3
}
fn default_units() -> usize {
    16
}
fn default_episodes() -> usize {
    2
}
fn default_experience() -> usize {
    100
}
fn default_population() -> usize {
    16
}
fn default_tournament() -> usize {
    5
}
fn default_sigma() -> f64 {
    0.05
}
fn default_true() -> bool {
    true
}
fn default_eval_examples() -> usize {
    256
}

/// One `[[sm_pathnet.tasks]]` entry: an environment (`env`), or two classes of a dataset
/// of the MNIST family (`data`, `classes`, optionally `noise`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// An environment with discrete actions and flat observations, e.g. `CartPole-v1`;
    /// exactly one of `env` and `data` is given.
    #[serde(default)]
    pub env: Option<String>,
    /// Directory with the IDX files (as for the PathNet kind's `[data] dir`).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// The two classes: the first becomes label 0.
    #[serde(default)]
    pub classes: Option<[u8; 2]>,
    /// Fraction of pixels replaced by salt-and-pepper noise, in [0, 1] (default 0).
    #[serde(default)]
    pub noise: f32,
}

/// The `[sm_pathnet]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmPathNetConfig {
    /// One environment per task, learnt in this order (e.g. CartPole then Acrobot): a
    /// shorthand for `tasks` with only environments.
    #[serde(default)]
    pub envs: Vec<String>,
    /// The tasks in order, each an environment or a dataset's class pair.
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
    /// Examples in a dataset task's fixed evaluation batch (its fitness is the accuracy;
    /// default 256).
    #[serde(default = "default_eval_examples")]
    pub eval_examples: usize,
    /// `T` minibatches of SGD before each evaluation (dataset tasks only; default none),
    /// e.g. `{ minibatches = 50, batch_size = 16, learning_rate = 0.01 }`.
    #[serde(default)]
    pub hybrid: Option<Hybrid>,
    /// `L`: hidden layers of the super-network (default 3).
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// `M`: modules per layer (default 10).
    #[serde(default = "default_modules")]
    pub modules: usize,
    /// `N`: most modules a pathway uses in one layer, in 1..=`modules` (default 3).
    #[serde(default = "default_max_active")]
    pub max_active: usize,
    /// Units per module (default 16; `module_kind = "linear"` only).
    #[serde(default = "default_units")]
    pub units: usize,
    /// `linear` (default): `Linear + ReLU` modules over flat observations; `conv`: `Conv2d +
    /// ReLU` modules over channel-first 10x10 grids (MinAtar), as PathNet-A3C builds them.
    #[serde(default)]
    pub module_kind: ModuleKind,
    /// Output channels of every conv module (`module_kind = "conv"` only; default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_filters: Option<usize>,
    /// Side of the square kernels (`module_kind = "conv"` only; default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_kernel: Option<usize>,
    /// Step of the kernels on both axes (`module_kind = "conv"` only; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_stride: Option<usize>,
    /// Zero cells on every side of a layer's input (`module_kind = "conv"` only; default 0,
    /// so a 3x3 kernel shrinks the maps by 2 a layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_padding: Option<usize>,
    /// Episodes per evaluation; fitness is their mean return (default 2).
    #[serde(default = "default_episodes")]
    pub episodes: usize,
    /// Observations kept per evaluation for the safe-mutation operators (default 100).
    #[serde(default = "default_experience")]
    pub experience: usize,
    /// `binary` (PathNet's tournament) or `steady_state`.
    pub selection: Selection,
    /// Genomes per task and arm (default 16).
    #[serde(default = "default_population")]
    pub population: usize,
    /// Genomes drawn per tournament, steady-state selection only (default 5).
    #[serde(default = "default_tournament")]
    pub tournament_size: usize,
    /// `control`, `sm_r`, `sm_g_sum`, `sm_g_abs` or `sm_g_so`.
    pub operator: Operator,
    /// Mutation magnitude (for SM-R, the target divergence of the outputs; default 0.05).
    #[serde(default = "default_sigma")]
    pub sigma: f64,
    /// Evaluations per task and arm.
    pub evaluations_per_task: u64,
    /// The fitness that ends a task early, for the first tasks (a task without one runs its
    /// whole budget).
    #[serde(default)]
    pub target_fitness: Vec<f64>,
    /// Learn every later task from scratch too, as the transfer's control (default true).
    #[serde(default = "default_true")]
    pub scratch_control: bool,
}

impl SmPathNetSpec {
    /// Checks the tasks, every size against the coordinator's bounds and the GA settings;
    /// the error names the first bad field (`sm_pathnet.tasks[i].<field>` for a task).
    pub fn validate(&self) -> Result<(), SpecError> {
        use limits::*;
        let c = &self.sm_pathnet;
        self.validate_tasks()?;
        self.validate_modules()?;
        let tasks = self.task_count();
        #[rustfmt::skip]
        let bounds = [
            ("sm_pathnet.tasks", tasks, MAX_TASKS, "tasks"),
            ("sm_pathnet.layers", c.layers, MAX_LAYERS, "layers"),
            ("sm_pathnet.modules", c.modules, MAX_MODULES_PER_LAYER, "modules per layer"),
            ("sm_pathnet.units", c.units, MAX_UNITS, "units"),
            ("sm_pathnet.population", c.population, MAX_POPULATION, "genomes"),
            ("sm_pathnet.tournament_size", c.tournament_size, MAX_POPULATION, "genomes"),
            ("sm_pathnet.episodes", c.episodes, MAX_STEPS, "episodes per evaluation"),
            ("sm_pathnet.experience", c.experience, MAX_STEPS, "observations kept"),
            ("sm_pathnet.eval_examples", c.eval_examples, MAX_STEPS, "examples"),
        ];
        at_most_each(&bounds)?;
        if c.target_fitness.len() > tasks {
            return Err(invalid(
                "sm_pathnet.target_fitness",
                format!("{:?}", c.target_fitness),
                format!("at most one per task ({tasks})"),
            ));
        }
        if let Some(t) = c.target_fitness.iter().find(|t| !t.is_finite()) {
            return Err(invalid("sm_pathnet.target_fitness", t, "must be finite"));
        }
        self.problem().validate().map_err(spec_error)?;
        self.tournament(0).validate().map_err(spec_error)
    }

    /// The conv keys only with conv modules, `units` only with linear ones, and every conv
    /// size within the coordinator's bounds.
    fn validate_modules(&self) -> Result<(), SpecError> {
        use limits::*;
        let c = &self.sm_pathnet;
        let keys = [
            ("sm_pathnet.conv_filters", c.conv_filters, MAX_CONV_FILTERS),
            ("sm_pathnet.conv_kernel", c.conv_kernel, MAX_CONV_KERNEL),
            ("sm_pathnet.conv_stride", c.conv_stride, MAX_CONV_KERNEL),
            ("sm_pathnet.conv_padding", c.conv_padding, MAX_CONV_KERNEL),
        ];
        match c.module_kind {
            ModuleKind::Linear => {
                if let Some((field, Some(value), _)) = keys.iter().find(|(_, v, _)| v.is_some()) {
                    return Err(invalid(
                        field,
                        value,
                        "only allowed with module_kind = \"conv\"",
                    ));
                }
            }
            ModuleKind::Conv => {
                // `units` has a default, so only a changed value can be told apart.
                if c.units != default_units() {
                    return Err(invalid(
                        "sm_pathnet.units",
                        c.units,
                        "only used with module_kind = \"linear\"; conv modules have \
                         conv_filters channels",
                    ));
                }
                for (field, value, most) in keys {
                    if let Some(value) = value
                        && value > most
                    {
                        return Err(invalid(field, value, format!("at most {most}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// The conv modules the spec asks for, defaults (PathNet-A3C's) filled in; `None` for
    /// linear modules.
    pub fn conv(&self) -> Option<ConvLayers> {
        let c = &self.sm_pathnet;
        let d = PathNetA3cConfig::DEFAULT_CONV;
        (c.module_kind == ModuleKind::Conv).then(|| ConvLayers {
            filters: c.conv_filters.unwrap_or(d.filters),
            kernel: c.conv_kernel.unwrap_or(d.kernel),
            stride: c.conv_stride.unwrap_or(d.stride),
            padding: c.conv_padding.unwrap_or(d.padding),
        })
    }

    fn task_count(&self) -> usize {
        self.sm_pathnet.envs.len() + self.sm_pathnet.tasks.len()
    }

    /// Each task says either an environment or a dataset's class pair; `envs` and `tasks`
    /// are not mixed.
    fn validate_tasks(&self) -> Result<(), SpecError> {
        let c = &self.sm_pathnet;
        if c.envs.is_empty() == c.tasks.is_empty() {
            return Err(invalid(
                "sm_pathnet.tasks",
                format!("{} envs and {} tasks", c.envs.len(), c.tasks.len()),
                "name the tasks either in `envs` or in `[[sm_pathnet.tasks]]`, not both",
            ));
        }
        for (i, t) in c.tasks.iter().enumerate() {
            let field = |name: &str| format!("sm_pathnet.tasks[{i}].{name}");
            match (&t.env, &t.data) {
                (Some(_), Some(dir)) => {
                    return Err(invalid(
                        &field("data"),
                        dir.display(),
                        "a task is an environment (`env`) or a dataset (`data`), not both",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        &field("env"),
                        "(missing)",
                        "name an environment (`env`) or a dataset directory (`data`)",
                    ));
                }
                (Some(env), None) => {
                    if let Some(classes) = t.classes {
                        return Err(invalid(
                            &field("classes"),
                            format!("{classes:?}"),
                            format!("only dataset tasks have classes; {env} is an environment"),
                        ));
                    }
                }
                (None, Some(_)) => {
                    let Some([a, b]) = t.classes else {
                        return Err(invalid(
                            &field("classes"),
                            "(missing)",
                            "a dataset task names its two classes, e.g. [5, 7]",
                        ));
                    };
                    if a == b || a.max(b) > 9 {
                        return Err(invalid(
                            &field("classes"),
                            format!("[{a}, {b}]"),
                            "two different classes of the ten (0 to 9)",
                        ));
                    }
                    if !(0.0..=1.0).contains(&t.noise) {
                        return Err(invalid(&field("noise"), t.noise, "must be in [0, 1]"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The tasks in order (after [`Self::validate`], every entry is well formed).
    pub fn tasks(&self) -> Vec<PathwayTask> {
        let c = &self.sm_pathnet;
        let envs = c.envs.iter().map(|id| PathwayTask::Env(id.clone()));
        let tasks = c
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| match (&t.env, &t.data) {
                (Some(id), _) => PathwayTask::Env(id.clone()),
                (None, dir) => PathwayTask::Data(DataTask {
                    dir: dir.clone().unwrap_or_default(),
                    classes: t.classes.unwrap_or([0, 1]),
                    noise: t.noise,
                    // Each task's noise pattern is its own, fixed by the run's seed.
                    noise_seed: self.seed.wrapping_add(0x6E6F_6973 + i as u64),
                }),
            });
        envs.chain(tasks).collect()
    }

    /// What every evaluation of the run solves: the tasks, the super-network and the
    /// evaluation settings, with the seeds derived from `seed`.
    pub fn problem(&self) -> PathwayProblem {
        let c = &self.sm_pathnet;
        PathwayProblem {
            tasks: self.tasks(),
            layers: c.layers,
            modules: c.modules,
            max_active: c.max_active,
            units: c.units,
            conv: self.conv(),
            base_seed: self.seed,
            episodes: c.episodes,
            // Episodes differ from the base weights' draw but are fixed for the whole run.
            episode_seed: self.seed.wrapping_add(1_000_003),
            max_experience: c.experience,
            eval_examples: c.eval_examples,
            hybrid: c.hybrid,
        }
    }

    /// The tournament of task `task`; `arm` 0 is the transfer arm, 1 the scratch control.
    pub fn tournament_arm(&self, task: usize, arm: u64) -> TournamentConfig {
        let c = &self.sm_pathnet;
        TournamentConfig {
            selection: c.selection,
            population: c.population,
            tournament_size: c.tournament_size,
            operator: c.operator,
            sigma: c.sigma,
            max_evaluations: c.evaluations_per_task,
            target_fitness: c.target_fitness.get(task).copied(),
            seed: self
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(2 * task as u64 + arm + 1),
        }
    }

    /// The transfer arm's tournament of task `task`.
    pub fn tournament(&self, task: usize) -> TournamentConfig {
        self.tournament_arm(task, 0)
    }

    /// Networks held at once: the evaluation's and the rebuild cache's (bounded at 512 MiB,
    /// counted as 4 copies here); genomes themselves are seed lists.
    pub fn memory_estimate(&self) -> Result<MemoryEstimate, SpecError> {
        let c = &self.sm_pathnet;
        let inputs = self.problem().inputs().map_err(spec_error)? as u128;
        let (l, m, u) = (c.layers as u128, c.modules as u128, c.units as u128);
        let tasks = self.task_count() as u128;
        let per_net = match self.conv() {
            None => {
                m * ((inputs + 1) * u + (l.saturating_sub(1)) * (u + 1) * u) + tasks * (u + 1) * 16
            }
            Some(conv) => {
                // Channels of a 10x10 grid; the heads read at most `filters` full-size maps.
                let (f, k) = (conv.filters as u128, (conv.kernel as u128).pow(2));
                let channels = inputs.div_ceil(100);
                m * ((k * channels + 1) * f + l.saturating_sub(1) * (k * f + 1) * f)
                    + tasks * (100 * f + 1) * 16
            }
        };
        Ok(MemoryEstimate {
            field: "sm_pathnet",
            parameters: per_net,
            copies: 4,
            other_bytes: c.population as u128 * 512,
        })
    }
}

/// An error of the `[sm_pathnet]` table, named by its path in the spec.
fn spec_error(err: EvoError) -> SpecError {
    match err {
        EvoError::Invalid {
            field,
            value,
            reason,
        } => invalid(&format!("sm_pathnet.{field}"), value, reason),
        other => invalid("sm_pathnet", "", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    fn parse(text: &str) -> Result<SmPathNetSpec, SpecError> {
        let Spec::SmPathNet(spec) = Spec::from_toml(text)? else {
            panic!("an sm_pathnet spec");
        };
        spec.validate()?;
        Ok(spec)
    }

    const MINATAR: &str = r#"
        kind = "sm_pathnet"
        name = "t"
        [sm_pathnet]
        envs = ["MinAtar/Breakout-v1", "MinAtar/Freeway-v1"]
        module_kind = "conv"
        layers = 2
        selection = "binary"
        operator = "sm_g_sum"
        evaluations_per_task = 16
    "#;

    #[test]
    fn conv_modules_take_pathnet_a3cs_defaults_and_the_example_parses() {
        let spec = parse(MINATAR).unwrap();
        let conv = spec.problem().conv.expect("conv modules");
        let d = PathNetA3cConfig::DEFAULT_CONV;
        assert_eq!(
            (conv.filters, conv.kernel, conv.stride, conv.padding),
            (d.filters, d.kernel, d.stride, d.padding)
        );
        assert_eq!(spec.problem().input_shape().unwrap(), [7, 10, 10]);
        assert!(spec.memory_estimate().unwrap().parameters > 0);
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/sm_pathnet_minatar.toml"
        );
        let spec = parse(&std::fs::read_to_string(example).unwrap()).unwrap();
        assert_eq!(spec.conv().map(|c| c.filters), Some(8));
        // Without `module_kind`, linear modules as before.
        let linear = parse(&MINATAR.replace("module_kind = \"conv\"", "")).unwrap();
        assert_eq!(linear.problem().conv, None);
    }

    #[test]
    fn module_keys_are_refused_by_field() {
        for (from, to, field) in [
            (
                "module_kind = \"conv\"",
                "conv_filters = 4",
                "sm_pathnet.conv_filters",
            ),
            ("layers = 2", "layers = 2\nunits = 8", "sm_pathnet.units"),
            (
                "layers = 2",
                "layers = 2\nconv_kernel = 99",
                "sm_pathnet.conv_kernel",
            ),
            (
                "layers = 2",
                "layers = 3\nconv_kernel = 5",
                "sm_pathnet.conv_kernel",
            ),
            (
                "layers = 2",
                "layers = 2\nconv_filters = 0",
                "sm_pathnet.conv_filters",
            ),
            (
                "\"MinAtar/Freeway-v1\"",
                "\"CartPole-v1\"",
                "sm_pathnet.module_kind",
            ),
        ] {
            let err = parse(&MINATAR.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(field), "{to}: {err}");
        }
    }
}
