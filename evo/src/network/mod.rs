//! The networks genomes describe, built deterministically from an initial seed.

mod lstm;

pub use lstm::StackedLstm;

use crate::EvoError;
use pathnet_nn::{Init, Layer, Linear, Relu, Sequential, Sigmoid};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A network architecture. All weights are drawn Xavier-uniform (biases zero, LSTM forget
/// gates 1) from a `ChaCha8Rng` seeded with the genome's initial seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NetworkSpec {
    /// [`StackedLstm`]: input `[batch, steps, inputs]`, output class probabilities.
    Lstm {
        /// Features per time step.
        inputs: usize,
        /// Units per cell.
        hidden: usize,
        /// Stacked cells, at least 1.
        cells: usize,
        /// Classes of the softmax head.
        outputs: usize,
    },
    /// `Linear(inputs, hidden) + ReLU`, then `hidden_layers` times `Linear(hidden, hidden) +
    /// ReLU`, then `Linear(hidden, outputs) + Sigmoid`: `hidden_layers + 2` weight layers.
    Mlp {
        /// Input features.
        inputs: usize,
        /// Units of every hidden layer.
        hidden: usize,
        /// `Linear(hidden, hidden)` layers between the first and the last; may be 0.
        hidden_layers: usize,
        /// Sigmoid outputs.
        outputs: usize,
    },
}

impl NetworkSpec {
    /// Checks every size; the error names the field (`network.hidden`, ...).
    pub fn validate(&self) -> Result<(), EvoError> {
        let positive = |field, value: usize| {
            if value == 0 {
                Err(EvoError::invalid(field, value, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        match *self {
            NetworkSpec::Lstm {
                inputs,
                hidden,
                cells,
                outputs,
            } => {
                positive("network.inputs", inputs)?;
                positive("network.hidden", hidden)?;
                positive("network.cells", cells)?;
                positive("network.outputs", outputs)
            }
            NetworkSpec::Mlp {
                inputs,
                hidden,
                outputs,
                ..
            } => {
                positive("network.inputs", inputs)?;
                positive("network.hidden", hidden)?;
                positive("network.outputs", outputs)
            }
        }
    }

    /// The network of a generation-0 genome with initial seed `seed`.
    pub fn build(&self, seed: u64) -> Box<dyn Layer<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match *self {
            NetworkSpec::Lstm {
                inputs,
                hidden,
                cells,
                outputs,
            } => Box::new(StackedLstm::new(inputs, hidden, cells, outputs, &mut rng)),
            NetworkSpec::Mlp {
                inputs,
                hidden,
                hidden_layers,
                outputs,
            } => {
                let mut net = Sequential::default()
                    .with(Linear::new(inputs, hidden, Init::XavierUniform, &mut rng))
                    .with(Relu);
                for _ in 0..hidden_layers {
                    net = net
                        .with(Linear::new(hidden, hidden, Init::XavierUniform, &mut rng))
                        .with(Relu);
                }
                Box::new(
                    net.with(Linear::new(hidden, outputs, Init::XavierUniform, &mut rng))
                        .with(Sigmoid),
                )
            }
        }
    }

    /// Number of weights and biases.
    pub fn param_count(&self) -> usize {
        match *self {
            NetworkSpec::Lstm {
                inputs,
                hidden,
                cells,
                outputs,
            } => {
                let gates = 4 * hidden;
                let first = inputs * gates + hidden * gates + gates;
                let rest = (cells.saturating_sub(1)) * (2 * hidden * gates + gates);
                first + rest + hidden * outputs + outputs
            }
            NetworkSpec::Mlp {
                inputs,
                hidden,
                hidden_layers,
                outputs,
            } => {
                (inputs + 1) * hidden
                    + hidden_layers * (hidden + 1) * hidden
                    + (hidden + 1) * outputs
            }
        }
    }

    /// Bytes of the weights as `f32`, what shipping the network itself would cost.
    pub fn weight_bytes(&self) -> usize {
        4 * self.param_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_count_matches_the_built_network() {
        for spec in [
            NetworkSpec::Lstm {
                inputs: 1,
                hidden: 15,
                cells: 2,
                outputs: 2,
            },
            NetworkSpec::Mlp {
                inputs: 11,
                hidden: 15,
                hidden_layers: 6,
                outputs: 2,
            },
        ] {
            let net = spec.build(1);
            let n: usize = net.params().iter().map(|p| p.len()).sum();
            assert_eq!(n, spec.param_count(), "{spec:?}");
        }
    }

    #[test]
    fn same_seed_same_weights() {
        let spec = NetworkSpec::Mlp {
            inputs: 3,
            hidden: 4,
            hidden_layers: 2,
            outputs: 2,
        };
        let flat = |seed| -> Vec<f32> {
            spec.build(seed)
                .params()
                .iter()
                .flat_map(|p| p.iter().copied().collect::<Vec<_>>())
                .collect()
        };
        assert_eq!(flat(5), flat(5));
        assert_ne!(flat(5), flat(6));
    }
}
