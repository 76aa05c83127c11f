//! Safe mutations (Lehman, Chen, Clune & Stanley 2018): Gaussian weight perturbations rescaled
//! per weight so that a mutation changes the network's outputs on a set of stored inputs by a
//! controlled amount, instead of by whatever the raw weight scale happens to cause.
//!
//! Operators, each returning a [`Perturbation`] (one flat vector per parameter tensor, in
//! [`Layer::params`] order and logical element order) that [`Perturbation::apply`] adds to a
//! network:
//! - control, [`gaussian`]: `delta ~ N(0, sigma^2)` per weight;
//! - SM-G-SUM, SM-G-ABS and SM-G-SO, [`sm_g`] with a [`Gradient`]: `delta / s` with the
//!   per-weight sensitivity `s` of [`sensitivity`];
//! - SM-R, [`sm_r`]: a random direction whose length is line-searched so the output
//!   divergence on the stored inputs hits a target.
//!
//! The stored inputs are a batch (first axis) of recent observations; the paper keeps up to 100.
//! Cost grows with it: SM-G-SUM takes one backward pass per output over the whole batch, SM-G-ABS
//! and SM-G-SO one per output per example, SM-R a forward pass per line-search step.
//!
//! Every operator draws only from the rng it is given, so one seed gives one mutation.

mod rescale;
mod sensitivity;

pub use rescale::{LineSearch, RescaleConfig, Rescaled, divergence, sm_r, sm_r_search};
pub use sensitivity::{Gradient, SENSITIVITY_FLOOR, hessian_direction, scale, sensitivity};

use crate::{Float, Layer};
use ndarray::ArrayViewD;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Why a safe mutation could not be drawn or applied.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SafeMutationError {
    /// The stored inputs are an empty batch; the operators have nothing to measure on.
    #[error("safe mutation needs at least one stored input, got a batch of 0")]
    NoInputs,
    /// A setting that must be finite and positive is not.
    #[error("{field} must be finite and positive, got {value}")]
    NotPositive {
        /// The setting: `sigma`, `target` or `tolerance`.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A perturbation with another number of tensors than the network has parameters.
    #[error("perturbation has {got} tensors but the network has {expected} parameter tensors")]
    TensorCount {
        /// Parameter tensors of the network.
        expected: usize,
        /// Tensors of the perturbation.
        got: usize,
    },
    /// A perturbation tensor whose length differs from its parameter's.
    #[error("perturbation tensor {index} has {got} elements but the parameter has {expected}")]
    TensorLen {
        /// The tensor's position, in `params()` order.
        index: usize,
        /// Elements of the parameter.
        expected: usize,
        /// Elements of the perturbation tensor.
        got: usize,
    },
    /// SM-R: even the largest step tried does not move the outputs as far as the target
    /// (saturated outputs).
    #[error(
        "target divergence {target:e} is unreachable: the largest step tried reached only {reached:e}"
    )]
    TargetUnreachable {
        /// The divergence asked for.
        target: f64,
        /// The largest divergence any step reached.
        reached: f64,
    },
    /// SM-R: bisection ran out of iterations before getting within tolerance.
    #[error(
        "line search did not reach divergence {target:e} within tolerance {tolerance:e} in {iterations} steps (closest {achieved:e})"
    )]
    NoConvergence {
        /// The divergence asked for.
        target: f64,
        /// How close counts as hitting it.
        tolerance: f64,
        /// Bisection steps taken.
        iterations: usize,
        /// The closest divergence reached.
        achieved: f64,
    },
}

/// A weight change: one flat vector per parameter tensor, in `params()` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Perturbation<F> {
    /// Per parameter tensor, its change in logical element order.
    pub deltas: Vec<Vec<F>>,
}

impl<F: Float> Perturbation<F> {
    /// Adds the perturbation to `net`'s parameters. The shape is checked before anything is
    /// written, so a mismatch leaves the network untouched.
    pub fn apply<L: Layer<F> + ?Sized>(&self, net: &mut L) -> Result<(), SafeMutationError> {
        self.apply_scaled(net, F::one())
    }

    /// Adds `factor` times the perturbation to `net`'s parameters.
    pub fn apply_scaled<L: Layer<F> + ?Sized>(
        &self,
        net: &mut L,
        factor: F,
    ) -> Result<(), SafeMutationError> {
        check_shape(&param_lens(net), &self.deltas)?;
        for (mut param, delta) in net.params_mut().into_iter().zip(&self.deltas) {
            for (w, &d) in param.iter_mut().zip(delta) {
                *w += factor * d;
            }
        }
        Ok(())
    }

    /// Clips every weight's change to `[-limit, limit]` (the reference implementation's guard
    /// against a single weight jumping far, e.g. where SM-G divides by a tiny sensitivity).
    /// Changes already inside the interval are kept bit for bit.
    pub fn clip(&mut self, limit: F) {
        for d in self.deltas.iter_mut().flatten() {
            if *d > limit {
                *d = limit;
            } else if *d < -limit {
                *d = -limit;
            }
        }
    }

    /// Euclidean norm over all tensors.
    pub fn norm(&self) -> F {
        self.deltas
            .iter()
            .flatten()
            .map(|&d| d * d)
            .sum::<F>()
            .sqrt()
    }
}

/// The control operator: independent `N(0, sigma^2)` noise on every weight.
pub fn gaussian<F, L, R>(
    net: &L,
    sigma: f64,
    rng: &mut R,
) -> Result<Perturbation<F>, SafeMutationError>
where
    F: Float,
    L: Layer<F> + ?Sized,
    R: Rng + ?Sized,
{
    positive("sigma", sigma)?;
    Ok(Perturbation {
        deltas: normal_like(&param_lens(net), sigma, rng),
    })
}

/// SM-G-SUM, SM-G-ABS or SM-G-SO: Gaussian noise divided per weight by the sensitivity of the
/// outputs on `inputs` (batch axis first) to that weight, floored as described at [`scale`].
pub fn sm_g<F, L, R>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
    gradient: Gradient,
    sigma: f64,
    rng: &mut R,
) -> Result<Perturbation<F>, SafeMutationError>
where
    F: Float,
    L: Layer<F> + ?Sized,
    R: Rng + ?Sized,
{
    let raw = gaussian(net, sigma, rng)?;
    let s = sensitivity(net, inputs, gradient, &raw.deltas)?;
    Ok(Perturbation {
        deltas: scale(&raw.deltas, &s)?,
    })
}

fn positive(field: &'static str, value: f64) -> Result<(), SafeMutationError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SafeMutationError::NotPositive { field, value })
    }
}

fn param_lens<F: Float, L: Layer<F> + ?Sized>(net: &L) -> Vec<usize> {
    net.params().iter().map(|p| p.len()).collect()
}

fn check_shape<F>(lens: &[usize], tensors: &[Vec<F>]) -> Result<(), SafeMutationError> {
    if lens.len() != tensors.len() {
        return Err(SafeMutationError::TensorCount {
            expected: lens.len(),
            got: tensors.len(),
        });
    }
    for (index, (&expected, t)) in lens.iter().zip(tensors).enumerate() {
        if t.len() != expected {
            return Err(SafeMutationError::TensorLen {
                index,
                expected,
                got: t.len(),
            });
        }
    }
    Ok(())
}

fn normal_like<F: Float, R: Rng + ?Sized>(lens: &[usize], sigma: f64, rng: &mut R) -> Vec<Vec<F>> {
    lens.iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    F::of(sigma * z)
                })
                .collect()
        })
        .collect()
}
