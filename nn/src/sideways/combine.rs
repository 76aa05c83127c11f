//! How a stage merges its inputs when skip connections feed it: elementwise sum or
//! concatenation along axis 1 (features of `[batch, features]`, channels of NCHW).

use crate::Float;
use ndarray::{ArrayD, ArrayViewD, Axis, Slice, concatenate};

/// The merge of a stage's inputs (after each skip edge's adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// `z = sum_e x_e`; every input has the same shape. The gradient reaches every edge whole.
    #[default]
    Sum,
    /// `z = [x_0 | x_1 | ...]` along axis 1; the other axes agree. Each edge gets its slice of
    /// the gradient.
    Concat,
}

impl Combine {
    /// The name configs use: `sum` or `concat`.
    pub fn name(self) -> &'static str {
        match self {
            Combine::Sum => "sum",
            Combine::Concat => "concat",
        }
    }

    /// Whether inputs of these shapes can be combined.
    pub fn accepts(self, shapes: &[&[usize]]) -> bool {
        let Some(first) = shapes.first() else {
            return false;
        };
        match self {
            Combine::Sum => shapes.iter().all(|s| s == first),
            Combine::Concat => shapes.iter().all(|s| {
                s.len() == first.len()
                    && s.len() >= 2
                    && s.iter()
                        .zip(first.iter())
                        .enumerate()
                        .all(|(axis, (a, b))| axis == 1 || a == b)
            }),
        }
    }

    /// The combined tensor. Shapes were checked when the network was built; a mismatch here
    /// is a wiring bug.
    pub fn forward<F: Float>(self, parts: &[ArrayViewD<'_, F>]) -> ArrayD<F> {
        match self {
            Combine::Sum => {
                let mut sum = parts[0].to_owned();
                for part in &parts[1..] {
                    sum += part;
                }
                sum
            }
            Combine::Concat => concatenate(Axis(1), parts).expect("shapes checked at build time"),
        }
    }

    /// Splits the gradient of the combined tensor into one gradient per input; `widths` are
    /// the inputs' sizes along axis 1.
    pub fn backward<F: Float>(self, grad: ArrayViewD<'_, F>, widths: &[usize]) -> Vec<ArrayD<F>> {
        match self {
            Combine::Sum => widths.iter().map(|_| grad.to_owned()).collect(),
            Combine::Concat => {
                let mut start = 0;
                widths
                    .iter()
                    .map(|&w| {
                        let part = grad
                            .slice_axis(Axis(1), Slice::from(start..start + w))
                            .to_owned();
                        start += w;
                        part
                    })
                    .collect()
            }
        }
    }
}
