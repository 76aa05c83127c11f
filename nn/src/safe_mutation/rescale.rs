//! SM-R: safe mutation through rescaling. A random direction is kept and only its length is
//! chosen, by a line search on the output divergence over the stored inputs.

use super::{Perturbation, SafeMutationError, normal_like, param_lens, positive};
use crate::{Float, Layer};
use ndarray::{ArrayD, ArrayViewD};
use rand::Rng;

/// Growth (or shrink) factor of the step while looking for a bracket around the target.
const BRACKET_FACTOR: f64 = 4.0;
/// Bracketing gives up after this many steps: 4^40 spans any sensible step size.
const BRACKET_STEPS: usize = 40;

/// What SM-R aims for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RescaleConfig {
    /// Desired `mean((y' - y)^2)` over all stored inputs and outputs.
    pub target: f64,
    /// Accepted relative miss: the search stops once `|divergence - target| <= tolerance * target`.
    pub tolerance: f64,
    /// Bisection steps after bracketing before giving up.
    pub max_steps: usize,
}

impl RescaleConfig {
    /// A search for `target` within 1% in at most 100 bisection steps.
    pub fn new(target: f64) -> Self {
        RescaleConfig {
            target,
            tolerance: 0.01,
            max_steps: 100,
        }
    }
}

/// The outcome of [`sm_r`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rescaled<F> {
    /// `step` times a unit-norm random direction.
    pub perturbation: Perturbation<F>,
    /// Euclidean length of the perturbation.
    pub step: f64,
    /// Divergence the network reaches with the perturbation applied.
    pub divergence: f64,
}

/// `mean((y - reference)^2)` over every element of `net`'s output on `inputs`.
pub fn divergence<F: Float, L: Layer<F> + ?Sized>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
    reference: &ArrayD<F>,
) -> f64 {
    let output = net.forward(inputs).output;
    let n = output.len().max(1) as f64;
    let sum: F = output
        .iter()
        .zip(reference.iter())
        .map(|(&y, &r)| (y - r) * (y - r))
        .sum();
    sum.to_f64().unwrap_or(f64::NAN) / n
}

/// Draws a unit random direction and line-searches (bisection on the log of the step) the step
/// at which the output divergence on `inputs` is within tolerance of the target. `net` is only
/// probed: its parameters are restored before returning, whatever the outcome.
pub fn sm_r<F, L, R>(
    net: &mut L,
    inputs: ArrayViewD<'_, F>,
    cfg: &RescaleConfig,
    rng: &mut R,
) -> Result<Rescaled<F>, SafeMutationError>
where
    F: Float,
    L: Layer<F> + ?Sized,
    R: Rng + ?Sized,
{
    positive("target", cfg.target)?;
    positive("tolerance", cfg.tolerance)?;
    if inputs.shape().first().copied().unwrap_or(0) == 0 {
        return Err(SafeMutationError::NoInputs);
    }
    let mut direction = Perturbation {
        deltas: normal_like::<F, R>(&param_lens(net), 1.0, rng),
    };
    let norm = direction.norm();
    if norm > F::zero() {
        direction
            .deltas
            .iter_mut()
            .flatten()
            .for_each(|d| *d /= norm);
    }
    let reference = net.forward(inputs.view()).output;
    let original: Vec<ArrayD<F>> = net.params().iter().map(|p| p.to_owned()).collect();
    let mut eval = |step: f64| -> Result<f64, SafeMutationError> {
        direction.apply_scaled(net, F::of(step))?;
        let d = divergence(net, inputs.view(), &reference);
        for (mut p, o) in net.params_mut().into_iter().zip(&original) {
            p.assign(o);
        }
        Ok(d)
    };
    let close = |d: f64| (d - cfg.target).abs() <= cfg.tolerance * cfg.target;
    let mut closest = f64::NAN;
    let mut note = |d: f64| {
        if closest.is_nan() || (d - cfg.target).abs() < (closest - cfg.target).abs() {
            closest = d;
        }
    };
    let done = |step: f64, divergence: f64, direction: &Perturbation<F>| Rescaled {
        perturbation: Perturbation {
            deltas: direction
                .deltas
                .iter()
                .map(|t| t.iter().map(|&d| d * F::of(step)).collect())
                .collect(),
        },
        step,
        divergence,
    };

    let (mut lo, mut hi) = (None::<f64>, None::<f64>);
    let mut step = 1.0;
    let mut largest = 0.0f64;
    for _ in 0..BRACKET_STEPS {
        let d = eval(step)?;
        note(d);
        largest = largest.max(d);
        if close(d) {
            return Ok(done(step, d, &direction));
        }
        if d < cfg.target {
            lo = Some(step);
            if hi.is_some() {
                break;
            }
            step *= BRACKET_FACTOR;
        } else {
            hi = Some(step);
            if lo.is_some() {
                break;
            }
            step /= BRACKET_FACTOR;
        }
    }
    let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
        return if hi.is_none() {
            Err(SafeMutationError::TargetUnreachable {
                target: cfg.target,
                reached: largest,
            })
        } else {
            Err(no_convergence(cfg, BRACKET_STEPS, closest))
        };
    };
    for _ in 0..cfg.max_steps {
        let mid = (lo * hi).sqrt();
        let d = eval(mid)?;
        note(d);
        if close(d) {
            return Ok(done(mid, d, &direction));
        }
        if d < cfg.target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Err(no_convergence(cfg, cfg.max_steps, closest))
}

fn no_convergence(cfg: &RescaleConfig, iterations: usize, achieved: f64) -> SafeMutationError {
    SafeMutationError::NoConvergence {
        target: cfg.target,
        tolerance: cfg.tolerance,
        iterations,
        achieved,
    }
}
