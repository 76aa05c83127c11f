//! Fully connected layer `y = x W + b` with `W` of shape `[in, out]`.

use super::fixed_rank;
use crate::matmul::{matmul, matmul_into};
use crate::{Backward, Cache, Float, Forward, Init, Layer};
use ndarray::{Array1, Array2, ArrayD, ArrayViewD, ArrayViewMutD, Axis, Ix2};
use rand::Rng;

/// `y = x W + b` over `[batch, in]`; parameters `weight` (`[in, out]`) then `bias`
/// (`[out]`).
pub struct Linear<F> {
    weight: Array2<F>,
    bias: Array1<F>,
    init: Init,
}

impl<F: Float> Linear<F> {
    /// A layer with weights drawn by `init` and zero bias.
    pub fn new<R: Rng + ?Sized>(inputs: usize, outputs: usize, init: Init, rng: &mut R) -> Self {
        let weight = init
            .sample(&[inputs, outputs], inputs, outputs, rng)
            .into_dimensionality()
            .expect("sampled with two axes");
        Linear {
            weight,
            bias: Array1::zeros(outputs),
            init,
        }
    }

    /// A layer with the given parameters; [`Layer::reinit`] then uses Xavier-uniform.
    ///
    /// # Panics
    /// If `bias` does not have one entry per column of `weight`.
    pub fn from_params(weight: Array2<F>, bias: Array1<F>) -> Self {
        assert_eq!(
            weight.ncols(),
            bias.len(),
            "linear: weight {:?} and bias {:?} disagree on the output width",
            weight.shape(),
            bias.shape()
        );
        Linear {
            weight,
            bias,
            init: Init::XavierUniform,
        }
    }

    /// Input width `in`.
    pub fn inputs(&self) -> usize {
        self.weight.nrows()
    }

    /// Output width `out`.
    pub fn outputs(&self) -> usize {
        self.weight.ncols()
    }

    /// `W`, `[in, out]`.
    pub fn weight(&self) -> &Array2<F> {
        &self.weight
    }

    /// `b`, `[out]`.
    pub fn bias(&self) -> &Array1<F> {
        &self.bias
    }
}

impl<F: Float> Layer<F> for Linear<F> {
    fn name(&self) -> String {
        format!("linear({}->{})", self.inputs(), self.outputs())
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let x = fixed_rank::<F, Ix2>(input, &|| self.name(), "input");
        let mut y = Array2::zeros((x.nrows(), self.outputs()));
        y += &self.bias;
        matmul_into(y.view_mut(), x, self.weight.view(), true);
        Forward {
            output: y.into_dyn(),
            cache: Cache::new(x.to_owned()),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let dy = fixed_rank::<F, Ix2>(output_grad, &|| self.name(), "output gradient");
        let dx = matmul(dy, self.weight.t());
        Backward {
            input_grad: dx.into_dyn(),
            param_grads: self.backward_params(cache, dy.into_dyn()),
        }
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Vec<ArrayD<F>> {
        let x: &Array2<F> = cache.get();
        let dy = fixed_rank::<F, Ix2>(output_grad, &|| self.name(), "output gradient");
        let d_weight = matmul(x.t(), dy);
        let d_bias = dy.sum_axis(Axis(0));
        vec![d_weight.into_dyn(), d_bias.into_dyn()]
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        vec![self.weight.view().into_dyn(), self.bias.view().into_dyn()]
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        vec![
            self.weight.view_mut().into_dyn(),
            self.bias.view_mut().into_dyn(),
        ]
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        *self = Linear::new(self.inputs(), self.outputs(), self.init, rng);
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
