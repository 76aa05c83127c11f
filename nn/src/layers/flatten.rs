//! Collapses every axis after the batch axis into one, e.g. NCHW feature maps before a
//! fully connected layer.

use crate::{Backward, Cache, Float, Forward, Layer};
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};

/// `[batch, d1, d2, ...]` to `[batch, d1 * d2 * ...]`, row-major; no parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten;

impl<F: Float> Layer<F> for Flatten {
    fn name(&self) -> String {
        "flatten".into()
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let shape = input.shape().to_vec();
        let batch = *shape.first().expect("flatten: input needs a batch axis");
        let features: usize = shape[1..].iter().product();
        let output = input
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[batch, features]))
            .expect("standard layout reshapes to the same element count");
        Forward {
            output,
            cache: Cache::new(shape),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let shape: &Vec<usize> = cache.get();
        let input_grad = output_grad
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))
            .unwrap_or_else(|_| {
                panic!(
                    "flatten: output gradient {:?} does not match input {shape:?}",
                    output_grad.shape()
                )
            });
        Backward {
            input_grad,
            param_grads: Vec::new(),
        }
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        Vec::new()
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        Vec::new()
    }

    fn reinit(&mut self, _rng: &mut dyn rand::RngCore) {}

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
