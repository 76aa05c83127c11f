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

/// How SM-R's line search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LineSearch<F> {
    /// A step within tolerance of the target.
    Hit(Rescaled<F>),
    /// No step within tolerance (`reason` says why: the outputs saturate below the target, or
    /// bisection did not converge). `closest` is the tried step whose divergence came nearest
    /// the target (the smallest such step on a tie, so a saturated search does not pick a
    /// larger step than it needs); `None` only if no tried step gave a finite divergence.
    GaveUp {
        /// The tried step nearest the target, if any gave a finite divergence.
        closest: Option<Rescaled<F>>,
        /// Why no step hit the target.
        reason: SafeMutationError,
    },
}

/// Draws a unit random direction and line-searches (bisection on the log of the step) the step
/// at which the output divergence on `inputs` is within tolerance of the target. `net` is only
/// probed: its parameters are restored before returning, whatever the outcome. A search that
/// misses the target is an error here; [`sm_r_search`] returns the closest step instead.
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
    match sm_r_search(net, inputs, cfg, rng)? {
        LineSearch::Hit(r) => Ok(r),
        LineSearch::GaveUp { reason, .. } => Err(reason),
    }
}

/// As [`sm_r`], but a search that misses the target returns the closest step it tried (see
/// [`LineSearch::GaveUp`]). The random draw and the steps tried are the same as `sm_r`'s.
pub fn sm_r_search<F, L, R>(
    net: &mut L,
    inputs: ArrayViewD<'_, F>,
    cfg: &RescaleConfig,
    rng: &mut R,
) -> Result<LineSearch<F>, SafeMutationError>
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
    // The (step, divergence) nearest the target so far; ties go to the smaller step.
    let mut closest: Option<(f64, f64)> = None;
    let mut note = |step: f64, d: f64| {
        if !d.is_finite() {
            return;
        }
        let better = match closest {
            None => true,
            Some((s, c)) => {
                let (miss, best) = ((d - cfg.target).abs(), (c - cfg.target).abs());
                miss < best || (miss == best && step < s)
            }
        };
        if better {
            closest = Some((step, d));
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
        note(step, d);
        largest = largest.max(d);
        if close(d) {
            return Ok(LineSearch::Hit(done(step, d, &direction)));
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
    let gave_up = |reason: SafeMutationError, closest: Option<(f64, f64)>| {
        Ok(LineSearch::GaveUp {
            closest: closest.map(|(s, d)| done(s, d, &direction)),
            reason,
        })
    };
    let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
        let best = closest.map_or(f64::NAN, |c| c.1);
        let reason = if hi.is_none() {
            SafeMutationError::TargetUnreachable {
                target: cfg.target,
                reached: largest,
            }
        } else {
            no_convergence(cfg, BRACKET_STEPS, best)
        };
        return gave_up(reason, closest);
    };
    for _ in 0..cfg.max_steps {
        let mid = (lo * hi).sqrt();
        let d = eval(mid)?;
        note(mid, d);
        if close(d) {
            return Ok(LineSearch::Hit(done(mid, d, &direction)));
        }
        if d < cfg.target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let best = closest.map_or(f64::NAN, |c| c.1);
    gave_up(no_convergence(cfg, cfg.max_steps, best), closest)
}

fn no_convergence(cfg: &RescaleConfig, iterations: usize, achieved: f64) -> SafeMutationError {
    SafeMutationError::NoConvergence {
        target: cfg.target,
        tolerance: cfg.tolerance,
        iterations,
        achieved,
    }
}
