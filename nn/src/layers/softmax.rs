//! Softmax and log-softmax over the last axis of `[batch, classes]`, as functions and as
//! layers. Both subtract the row maximum first so that large logits do not overflow.

use super::fixed_rank;
use crate::{Backward, Cache, Float, Forward, Layer};
use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, Ix2, Zip};

/// Row-wise `exp(x − logsumexp(x))`.
pub fn log_softmax<F: Float>(logits: ArrayView2<'_, F>) -> Array2<F> {
    let mut out = logits.to_owned();
    for mut row in out.rows_mut() {
        let max = row.fold(F::neg_infinity(), |m, &x| m.max(x));
        let log_sum = row.iter().map(|&x| (x - max).exp()).sum::<F>().ln() + max;
        row.mapv_inplace(|x| x - log_sum);
    }
    out
}

/// Row-wise `exp(x) / sum(exp(x))`, computed as the exponential of [`log_softmax`].
pub fn softmax<F: Float>(logits: ArrayView2<'_, F>) -> Array2<F> {
    let mut out = log_softmax(logits);
    out.mapv_inplace(F::exp);
    out
}

/// [`softmax`] as a layer over `[batch, classes]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Softmax;

impl<F: Float> Layer<F> for Softmax {
    fn name(&self) -> String {
        "softmax".into()
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let y = softmax(fixed_rank::<F, Ix2>(input, &|| "softmax".into(), "input"));
        Forward {
            cache: Cache::new(y.clone()),
            output: y.into_dyn(),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        // dx = y ⊙ (dy − ⟨dy, y⟩) per row.
        let y: &Array2<F> = cache.get();
        let dy = fixed_rank::<F, Ix2>(output_grad, &|| "softmax".into(), "output gradient");
        let dot = (&dy * y).sum_axis(Axis(1)).insert_axis(Axis(1));
        let mut dx = &dy - &dot;
        dx *= y;
        Backward {
            input_grad: dx.into_dyn(),
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

/// [`log_softmax`] as a layer over `[batch, classes]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSoftmax;

impl<F: Float> Layer<F> for LogSoftmax {
    fn name(&self) -> String {
        "log_softmax".into()
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let y = log_softmax(fixed_rank::<F, Ix2>(
            input,
            &|| "log_softmax".into(),
            "input",
        ));
        Forward {
            cache: Cache::new(y.clone()),
            output: y.into_dyn(),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        // dx = dy − softmax(x) · Σ dy per row, with softmax(x) = exp(y).
        let y: &Array2<F> = cache.get();
        let dy = fixed_rank::<F, Ix2>(output_grad, &|| "log_softmax".into(), "output gradient");
        let total = dy.sum_axis(Axis(1));
        let mut dx = dy.to_owned();
        Zip::from(dx.rows_mut())
            .and(y.rows())
            .and(&total)
            .for_each(|mut dx, y, &t| {
                Zip::from(&mut dx)
                    .and(&y)
                    .for_each(|d, &y| *d -= y.exp() * t);
            });
        Backward {
            input_grad: dx.into_dyn(),
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
