//! The error type of PathNet-A3C: bad settings (named by their key in the `[pathnet_a3c]`
//! table), refusals of the super-network, and the A3C machinery's own errors.

use crate::error::RlError;
use pathnet_nn::pathnet::PathNetError;

/// Why a PathNet-A3C run, its config or an evolution step failed.
#[derive(Debug, thiserror::Error)]
pub enum PathNetA3cError {
    /// A setting from a config file or the user; `field` is its dotted path in the
    /// `[pathnet_a3c]` table, e.g. `tasks[1].stop.window`.
    #[error("pathnet_a3c setting `{field}` = {value} is invalid: {expected}")]
    Config {
        /// The setting's dotted path.
        field: String,
        /// Its value as given.
        value: String,
        /// What it must be.
        expected: String,
    },

    /// The super-network refused a pathway, a parameter list or its dimensions.
    #[error(transparent)]
    PathNet(#[from] PathNetError),

    /// The A3C machinery failed (an environment, a tensor exchange, a diverged worker).
    #[error(transparent)]
    Rl(#[from] RlError),

    /// A fitness or pathway request named a worker outside the population.
    #[error("worker {worker} does not exist (the population has {workers} workers)")]
    UnknownWorker {
        /// The index given.
        worker: usize,
        /// The population's size.
        workers: usize,
    },

    /// A worker reported a NaN or infinite fitness, which no tournament could rank.
    #[error("worker {worker} reported fitness {value}, which is not finite")]
    InvalidFitness {
        /// The worker's index.
        worker: usize,
        /// The fitness reported.
        value: f64,
    },

    /// Transfer needs the best pathway of the task before, and no worker finished a fitness
    /// evaluation there.
    #[error(
        "task {task} ended before any worker finished {episodes} episodes, so it has no \
         best pathway to freeze (raise its stop.max_env_steps or lower episodes_per_fitness)"
    )]
    NoBestPathway {
        /// The task that ended, 0-based.
        task: usize,
        /// `T`, the episodes one fitness evaluation needs.
        episodes: usize,
    },

    /// A task index beyond the config's task list.
    #[error("task {task} does not exist (the config lists {tasks} tasks)")]
    UnknownTask {
        /// The index given, 0-based.
        task: usize,
        /// How many tasks the config lists.
        tasks: usize,
    },
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
