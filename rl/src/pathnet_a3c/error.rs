//! The error type of PathNet-A3C: bad settings (named by their key in the `[pathnet_a3c]`
//! table), refusals of the super-network, and the A3C machinery's own errors.

use crate::error::RlError;
use pathnet_nn::pathnet::PathNetError;

#[derive(Debug, thiserror::Error)]
pub enum PathNetA3cError {
    /// A setting from a config file or the user; `field` is its dotted path in the
    /// `[pathnet_a3c]` table, e.g. `tasks[1].stop.window`.
    #[error("pathnet_a3c setting `{field}` = {value} is invalid: {expected}")]
    Config {
        field: String,
        value: String,
        expected: String,
    },

    #[error(transparent)]
    PathNet(#[from] PathNetError),

    #[error(transparent)]
    Rl(#[from] RlError),

    #[error("worker {worker} does not exist (the population has {workers} workers)")]
    UnknownWorker { worker: usize, workers: usize },

    #[error("worker {worker} reported fitness {value}, which is not finite")]
    InvalidFitness { worker: usize, value: f64 },

    /// Transfer needs the best pathway of the task before, and no worker finished a fitness
    /// evaluation there.
    #[error(
        "task {task} ended before any worker finished {episodes} episodes, so it has no \
         best pathway to freeze (raise its stop.max_env_steps or lower episodes_per_fitness)"
    )]
    NoBestPathway { task: usize, episodes: usize },

    #[error("task {task} does not exist (the config lists {tasks} tasks)")]
    UnknownTask { task: usize, tasks: usize },
}

impl PathNetA3cError {
    pub(crate) fn config(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        PathNetA3cError::Config {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
