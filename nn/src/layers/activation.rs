//! Element-wise activations. Each caches its output, from which its derivative follows.

use crate::{Backward, Cache, Float, Forward, Layer};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};

/// The parameter-related methods of a layer that has none.
macro_rules! no_params {
    () => {
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
    };
}

fn map_forward<F: Float>(input: ArrayViewD<'_, F>, f: impl Fn(F) -> F) -> Forward<F> {
    let output = input.mapv(f);
    Forward {
        cache: Cache::new(output.clone()),
        output,
    }
}

/// `dx = dy · f'(x)`, with `f'` expressed through the cached output `y`.
fn backward_from_output<F: Float>(
    cache: &Cache,
    output_grad: ArrayViewD<'_, F>,
    derivative: impl Fn(F) -> F,
) -> Backward<F> {
    let input_grad = zip_map(output_grad, cache.get(), |d, y| d * derivative(y));
    Backward {
        input_grad,
        param_grads: Vec::new(),
    }
}

/// `f(a, b)` element-wise into a new array. Contiguous operands (the usual case) take a flat
/// loop that vectorises; ndarray's dynamic-rank `Zip` is several times slower here.
fn zip_map<F: Float>(a: ArrayViewD<'_, F>, b: &ArrayD<F>, f: impl Fn(F, F) -> F) -> ArrayD<F> {
    assert_eq!(
        a.shape(),
        b.shape(),
        "gradient shape differs from the layer's output shape"
    );
    match (a.as_slice(), b.as_slice()) {
        (Some(xs), Some(ys)) => {
            let out = xs.iter().zip(ys).map(|(&x, &y)| f(x, y)).collect();
            ArrayD::from_shape_vec(b.raw_dim(), out).expect("same element count")
        }
        _ => Zip::from(&a).and(b).map_collect(|&x, &y| f(x, y)),
    }
}

/// `max(x, 0)`. The gradient at exactly 0 is taken as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

impl<F: Float> Layer<F> for Relu {
    fn name(&self) -> String {
        "relu".into()
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        // The output is positive exactly where the input was, so it doubles as the mask.
        map_forward(input, |x| x.max(F::zero()))
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let zero = F::zero();
        let input_grad = zip_map(
            output_grad,
            cache.get(),
            |d, y| if y > zero { d } else { zero },
        );
        Backward {
            input_grad,
            param_grads: Vec::new(),
        }
    }

    no_params!();
}

/// `x` for `x > 0`, `alpha·(eˣ − 1)` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Elu {
    /// The negative saturation value, usually 1.
    pub alpha: f64,
}

impl Default for Elu {
    fn default() -> Self {
        Elu { alpha: 1.0 }
    }
}

impl<F: Float> Layer<F> for Elu {
    fn name(&self) -> String {
        format!("elu({})", self.alpha)
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let alpha = F::of(self.alpha);
        map_forward(
            input,
            |x| if x > F::zero() { x } else { alpha * x.exp_m1() },
        )
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        // For x ≤ 0, d/dx alpha·(eˣ − 1) = alpha·eˣ = y + alpha.
        let alpha = F::of(self.alpha);
        backward_from_output(cache, output_grad, |y| {
            if y > F::zero() { F::one() } else { y + alpha }
        })
    }

    no_params!();
}

/// `tanh(x)`, elementwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

impl<F: Float> Layer<F> for Tanh {
    fn name(&self) -> String {
        "tanh".into()
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        map_forward(input, F::tanh)
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        backward_from_output(cache, output_grad, |y| F::one() - y * y)
    }

    no_params!();
}

/// The logistic function `1 / (1 + e⁻ˣ)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

impl<F: Float> Layer<F> for Sigmoid {
    fn name(&self) -> String {
        "sigmoid".into()
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        map_forward(input, sigmoid)
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        backward_from_output(cache, output_grad, |y| y * (F::one() - y))
    }

    no_params!();
}

/// Logistic function that does not overflow for large negative inputs.
pub(crate) fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}
