//! The tasks genomes are evaluated on. Each is a deterministic fitness function of a network:
//! the same weights always give the same fitness, verdict and stored experience.

pub mod maze;
pub mod parity;

use crate::EvoError;
use crate::network::NetworkSpec;
use ndarray::ArrayD;
use pathnet_nn::Layer;
use serde::{Deserialize, Serialize};

/// The fitness of a network whose outputs are not finite (its weights overflowed).
pub const BROKEN_FITNESS: f64 = -1e8;

/// A task with its size: what a job names so that an executor evaluates the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskSpec {
    /// [`parity`] over every `bits`-bit sequence.
    Parity {
        /// Sequence length, 1 to 16; all `2^bits` sequences are evaluated.
        bits: usize,
    },
    /// The breadcrumb hard [`maze`], `steps` simulation steps per episode.
    Maze {
        /// Simulation steps per episode, at least 1.
        steps: usize,
    },
}

/// The result of evaluating one network.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Higher is better.
    pub fitness: f64,
    /// Whether the network solved the task (parity: every sequence right; maze: the goal
    /// reached), which ends a run.
    pub solved: bool,
    /// Inputs the network saw during the evaluation (batch axis first), kept for the
    /// safe-mutation operators when this network becomes a parent.
    pub experience: ArrayD<f32>,
}

impl TaskSpec {
    /// Checks the size; the error names the config key (`parity_bits`, `maze_steps`).
    pub fn validate(&self) -> Result<(), EvoError> {
        match *self {
            TaskSpec::Parity { bits } if !(1..=16).contains(&bits) => Err(EvoError::invalid(
                "parity_bits",
                bits,
                "must be between 1 and 16",
            )),
            TaskSpec::Maze { steps } if steps == 0 => {
                Err(EvoError::invalid("maze_steps", steps, "must be at least 1"))
            }
            _ => Ok(()),
        }
    }

    /// The task's network: `layers` stacked LSTM cells for parity, `layers` hidden layers of
    /// an MLP for the maze, each of `hidden` units.
    pub fn network(&self, hidden: usize, layers: usize) -> NetworkSpec {
        match self {
            TaskSpec::Parity { .. } => NetworkSpec::Lstm {
                inputs: 1,
                hidden,
                cells: layers,
                outputs: parity::OUTPUTS,
            },
            TaskSpec::Maze { .. } => NetworkSpec::Mlp {
                inputs: maze::INPUTS,
                hidden,
                hidden_layers: layers,
                outputs: maze::OUTPUTS,
            },
        }
    }

    /// Checks that `network` reads this task's inputs and writes its outputs.
    pub fn check_network(&self, network: &NetworkSpec) -> Result<(), EvoError> {
        let fits = match (self, network) {
            (
                TaskSpec::Parity { .. },
                NetworkSpec::Lstm {
                    inputs, outputs, ..
                },
            ) => *inputs == 1 && *outputs == parity::OUTPUTS,
            (
                TaskSpec::Maze { .. },
                NetworkSpec::Mlp {
                    inputs, outputs, ..
                },
            ) => *inputs == maze::INPUTS && *outputs == maze::OUTPUTS,
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(EvoError::invalid(
                "network",
                format!("{network:?}"),
                format!("does not fit task {self:?}"),
            ))
        }
    }

    /// Runs `net` on the task, keeping at most `max_experience` of its inputs as experience.
    /// Deterministic: the same weights give the same evaluation.
    pub fn evaluate(&self, net: &dyn Layer<f32>, max_experience: usize) -> Evaluation {
        match *self {
            TaskSpec::Parity { bits } => parity::evaluate(net, bits, max_experience),
            TaskSpec::Maze { steps } => maze::evaluate(net, steps, max_experience),
        }
    }
}

/// `min(len, max)` indices spread evenly over `0..len`, first included.
pub(crate) fn evenly_spaced(len: usize, max: usize) -> Vec<usize> {
    let take = len.min(max);
    (0..take).map(|i| i * len / take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_indices() {
        assert_eq!(evenly_spaced(4, 10), [0, 1, 2, 3]);
        assert_eq!(evenly_spaced(200, 100).len(), 100);
        assert_eq!(evenly_spaced(200, 100)[1], 2);
        assert_eq!(evenly_spaced(10, 3), [0, 3, 6]);
        assert!(evenly_spaced(0, 3).is_empty());
        assert!(evenly_spaced(5, 0).is_empty());
    }
}
