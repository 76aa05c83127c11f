//! The `[pathnet_a3c]` table: the tasks in training order, the super-network's size, the
//! evolution's `T` and `B`, and the A3C settings (the same keys, defaults and checks as the
//! `[a3c]` table, see [`A3cConfig`]).
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

use super::error::PathNetA3cError;
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
    pub fn new(env: impl Into<String>, stop: StopConfig) -> Self {
        TaskConfig {
            env: env.into(),
            stop,
        }
    }
}

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
    /// Units of every `Linear + ReLU` module.
    pub units: usize,
    /// `T`: episodes a pathway is played for; its fitness is their mean return.
    pub episodes_per_fitness: usize,
    /// `B`: how many other workers' latest fitnesses a worker compares itself with (all of
    /// them when fewer have one).
    pub tournament_size: usize,
    /// A3C workers (threads), one genotype each.
    pub workers: usize,
    pub t_max: usize,
    pub gamma: f64,
    pub learning_rate: f64,
    /// Anneal the rate linearly to 0 at each task's `stop.max_env_steps`.
    pub anneal_learning_rate: bool,
    pub rmsprop_alpha: f64,
    pub rmsprop_eps: f64,
    pub entropy_beta: f64,
    pub value_coef: f64,
    pub max_grad_norm: f64,
    pub reward_scale: f64,
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
            units: 20,
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
    pub env: String,
    /// Width of the environment's observations, before padding.
    pub obs_dim: usize,
    /// Discrete actions; the head has one more output, the value.
    pub actions: usize,
}

impl PathNetA3cConfig {
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
        for (field, value) in [
            ("units", self.units),
            ("episodes_per_fitness", self.episodes_per_fitness),
        ] {
            if value == 0 {
                return Err(PathNetA3cError::config(field, value, "at least 1"));
            }
        }
        for task in 0..self.tasks.len() {
            self.a3c(task)?.validate().map_err(|e| in_task(task, e))?;
        }
        self.task_shapes().map(drop)
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
mod tests {
    use super::*;

    #[test]
    fn the_task_list_and_dims_parse() {
        let c: PathNetA3cConfig = toml::from_str(
            r#"
            tasks = [{ env = "CartPole-v1", stop = { target_return = 400.0 } }, { env = "Acrobot-v1" }]
            layers = 2
            tournament_size = 3
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.tasks[0].stop.target_return, Some(400.0));
        assert_eq!(c.tasks[1].env, "Acrobot-v1");
        assert_eq!(c.dims(), PathNetDims::new(2, 10, 3).unwrap());
        let shapes = c.task_shapes().unwrap();
        assert_eq!((shapes[0].obs_dim, shapes[0].actions), (4, 2));
        assert_eq!((shapes[1].obs_dim, shapes[1].actions), (6, 3));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = toml::from_str::<PathNetA3cConfig>("tasks = []\nmodule = 3").unwrap_err();
        assert!(e.to_string().contains("module"), "{e}");
        let e = toml::from_str::<PathNetA3cConfig>("tasks = [{ env = \"CartPole-v1\", t = 1 }]")
            .unwrap_err();
        assert!(e.to_string().contains('t'), "{e}");
    }

    #[test]
    fn validation_names_the_field_and_value() {
        let base = PathNetA3cConfig {
            tasks: vec![
                TaskConfig::new("CartPole-v1", StopConfig::default()),
                TaskConfig::new("Acrobot-v1", StopConfig::default()),
            ],
            ..PathNetA3cConfig::default()
        };
        base.validate().unwrap();
        type Edit = Box<dyn Fn(&mut PathNetA3cConfig)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (Box::new(|c| c.tasks.clear()), "`tasks`", "[]"),
            (
                Box::new(|c| c.tasks[1].env = "Pendulum-v1".into()),
                "`tasks[1].env`",
                "Pendulum-v1",
            ),
            (
                Box::new(|c| c.tasks[0].env = "Nope-v0".into()),
                "`tasks[0].env`",
                "Nope-v0",
            ),
            (
                Box::new(|c| c.tasks[1].stop.window = 0),
                "`tasks[1].stop.window`",
                "= 0",
            ),
            (Box::new(|c| c.layers = 0), "`layers`", "= 0"),
            (Box::new(|c| c.max_active = 11), "`max_active`", "= 11"),
            (Box::new(|c| c.units = 0), "`units`", "= 0"),
            (
                Box::new(|c| c.episodes_per_fitness = 0),
                "`episodes_per_fitness`",
                "= 0",
            ),
            (Box::new(|c| c.workers = 0), "`workers`", "= 0"),
            (Box::new(|c| c.gamma = 2.0), "`gamma`", "= 2"),
            (Box::new(|c| c.t_max = 0), "`t_max`", "= 0"),
        ];
        for (edit, field, value) in cases {
            let mut c = base.clone();
            edit(&mut c);
            let message = c.validate().unwrap_err().to_string();
            assert!(message.contains(field), "{message} lacks {field}");
            assert!(message.contains(value), "{message} lacks {value}");
        }
    }
}
