//! The spec of a safe-mutation PathNet experiment (`kind = "sm_pathnet"`): tasks learnt in
//! order on one super-network, each by a tournament GA over pathway genomes; after each task
//! its best genome's pathway is frozen for the next, and a from-scratch control arm learns
//! every later task on the bare base network in the same run.

use super::limits::{self, MemoryEstimate};
use super::{SpecError, invalid};
use pathnet_evo::sm_pathnet::{
    DataTask, Hybrid, PathwayProblem, PathwayTask, Selection, TournamentConfig,
};
use pathnet_evo::{EvoError, Operator};
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
    /// Units per module (default 16).
    #[serde(default = "default_units")]
    pub units: usize,
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
        let per_net = m * ((inputs + 1) * u + (l.saturating_sub(1)) * (u + 1) * u)
            + self.task_count() as u128 * (u + 1) * 16;
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
