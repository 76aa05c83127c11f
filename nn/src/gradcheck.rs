//! Finite-difference gradient checks, usable from any crate's tests.
//!
//! The scalar probed is `loss = sum(output * R)` with a fixed random `R`, so the analytic side
//! is one backward pass with `output_grad = R`, and the numeric side is a central difference
//! of `loss` per input or parameter element. Everything runs in `f64`.
//!
//! Piecewise-linear layers (ReLU) have kinks; when a perturbation straddles one, the central
//! difference is meaningless. An element that fails is therefore re-examined with one-sided
//! differences: if they disagree with each other and the analytic value matches one of them,
//! the element sits on a kink and is skipped rather than failed. A wrong gradient almost never
//! matches a one-sided difference, and too many skipped elements is itself an error.

use crate::{Forward, Layer};
use ndarray::{ArrayD, ArrayViewD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Step size and acceptance thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Perturbation for the central difference.
    pub eps: f64,
    /// Largest accepted [`rel_error`].
    pub tolerance: f64,
    /// Denominator floor in [`rel_error`]: near-zero gradients are compared absolutely against
    /// `tolerance * floor`, since f64 round-off in the loss makes tiny numeric gradients noisy.
    pub floor: f64,
    /// Largest fraction of elements of one tensor that may be skipped as kinks.
    pub max_kink_fraction: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            eps: 1e-5,
            tolerance: 1e-4,
            floor: 1e-4,
            max_kink_fraction: 0.25,
        }
    }
}

/// `|a - b| / max(|a| + |b|, floor)`: relative where the values are sizeable, absolute (scaled
/// by `1/floor`) where both are near zero.
pub fn rel_error(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / (a.abs() + b.abs()).max(floor)
}

/// How a gradient check failed; `what` names the tensor (e.g. `Linear(3, 2) param 1`).
#[derive(Debug, thiserror::Error)]
pub enum GradCheckError {
    /// An element whose analytic and numeric gradients disagree beyond the tolerance.
    #[error(
        "{what}[{index}]: analytic {analytic:e} vs numeric {numeric:e} (relative error {rel:e} > {tolerance:e})"
    )]
    Mismatch {
        /// The tensor.
        what: String,
        /// The element, in logical (row-major) order.
        index: usize,
        /// The backward pass's value.
        analytic: f64,
        /// The central difference.
        numeric: f64,
        /// Their [`rel_error`].
        rel: f64,
        /// The largest accepted.
        tolerance: f64,
    },
    /// The backward pass returned a gradient shaped unlike its tensor.
    #[error("{what}: analytic gradient has shape {analytic:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        what: String,
        /// The gradient's shape.
        analytic: Vec<usize>,
        /// The tensor's shape.
        expected: Vec<usize>,
    },
    /// The backward pass returned another number of parameter gradients than the layer has
    /// parameters.
    #[error("{what}: backward returned {got} parameter gradients for {expected} parameters")]
    ParamCount {
        /// The layer.
        what: String,
        /// Gradients returned.
        got: usize,
        /// Parameter tensors of the layer.
        expected: usize,
    },
    /// More than `max_kink_fraction` of a tensor's elements were skipped as kinks.
    #[error("{what}: {kinks} of {len} elements sit on kinks; the check is not informative")]
    TooManyKinks {
        /// The tensor.
        what: String,
        /// Elements skipped.
        kinks: usize,
        /// Elements of the tensor.
        len: usize,
    },
}

/// Outcome of a passing check of one tensor.
#[derive(Debug, Clone, Copy, Default)]
pub struct TensorReport {
    /// The largest [`rel_error`] of any checked element.
    pub max_rel_error: f64,
    /// Elements compared (kinks excluded).
    pub checked: usize,
    /// Elements skipped as sitting on a kink.
    pub kinks: usize,
}

/// Outcome of a passing layer check: the input first, then each parameter in `params()` order.
#[derive(Debug, Clone, Default)]
pub struct LayerReport {
    /// The input gradient's check.
    pub input: TensorReport,
    /// Each parameter gradient's check, in `params()` order.
    pub params: Vec<TensorReport>,
}

/// Checks `analytic` against central differences of `loss` around `x`.
///
/// `loss` receives `x` with one element perturbed; `what` names the tensor in errors.
pub fn check_tensor(
    what: &str,
    x: &ArrayD<f64>,
    analytic: &ArrayD<f64>,
    mut loss: impl FnMut(&ArrayD<f64>) -> f64,
    cfg: &Config,
) -> Result<TensorReport, GradCheckError> {
    if analytic.shape() != x.shape() {
        return Err(GradCheckError::Shape {
            what: what.into(),
            analytic: analytic.shape().to_vec(),
            expected: x.shape().to_vec(),
        });
    }
    // Standard layout so that flat slice indices follow the logical order of `analytic.iter()`.
    let mut probe = x.as_standard_layout().into_owned();
    let analytic: Vec<f64> = analytic.iter().copied().collect();
    let base = loss(x);
    let mut report = TensorReport::default();
    for (index, &a) in analytic.iter().enumerate() {
        let mut at = |delta: f64, probe: &mut ArrayD<f64>| {
            let orig = probe.as_slice().expect("standard layout")[index];
            probe.as_slice_mut().expect("standard layout")[index] = orig + delta;
            let value = loss(probe);
            probe.as_slice_mut().expect("standard layout")[index] = orig;
            value
        };
        let plus = at(cfg.eps, &mut probe);
        let minus = at(-cfg.eps, &mut probe);
        let numeric = (plus - minus) / (2.0 * cfg.eps);
        let rel = rel_error(a, numeric, cfg.floor);
        if rel <= cfg.tolerance {
            report.max_rel_error = report.max_rel_error.max(rel);
            report.checked += 1;
            continue;
        }
        if on_kink(a, base, plus, minus, cfg) {
            report.kinks += 1;
            continue;
        }
        return Err(GradCheckError::Mismatch {
            what: what.into(),
            index,
            analytic: a,
            numeric,
            rel,
            tolerance: cfg.tolerance,
        });
    }
    if report.kinks as f64 > cfg.max_kink_fraction * analytic.len() as f64 && report.kinks > 1 {
        return Err(GradCheckError::TooManyKinks {
            what: what.into(),
            kinks: report.kinks,
            len: analytic.len(),
        });
    }
    Ok(report)
}

/// At a kink within `eps` on one side, the difference on the other side is smooth and agrees
/// with the analytic gradient up to its `O(eps)` truncation error, while the central difference
/// is off by half the slope jump. For a wrong analytic gradient both one-sided differences are
/// about as far off as the central one, so demanding a much closer one-sided match separates
/// the two cases.
fn on_kink(analytic: f64, base: f64, plus: f64, minus: f64, cfg: &Config) -> bool {
    let forward = (plus - base) / cfg.eps;
    let backward = (base - minus) / cfg.eps;
    let central = (plus - minus) / (2.0 * cfg.eps);
    let (best, off) = if (analytic - forward).abs() < (analytic - backward).abs() {
        (forward, backward)
    } else {
        (backward, forward)
    };
    let loose = 1e-3;
    (analytic - best).abs() < 0.25 * (analytic - central).abs()
        && rel_error(analytic, best, cfg.floor) < loose
        && (analytic - off).abs() > 1.5 * (analytic - central).abs()
}

/// Checks the input gradient and every parameter gradient of `layer` at `input`, probing
/// with `loss = sum(output * R)` for a standard-normal `R` drawn from `rng`.
pub fn check_layer<L, R>(
    layer: &mut L,
    input: &ArrayD<f64>,
    rng: &mut R,
    cfg: &Config,
) -> Result<LayerReport, GradCheckError>
where
    L: Layer<f64> + ?Sized,
    R: Rng + ?Sized,
{
    let name = layer.name();
    let Forward { output, cache } = layer.forward(input.view());
    let weights = random_normal(output.shape(), rng);
    let backward = layer.backward(&cache, weights.view());
    let probe = |layer: &L, x: ArrayViewD<'_, f64>| (layer.forward(x).output * &weights).sum();

    let input_report = check_tensor(
        &format!("{name} input"),
        input,
        &backward.input_grad,
        |x| probe(layer, x.view()),
        cfg,
    )?;

    let n_params = layer.params().len();
    if backward.param_grads.len() != n_params {
        return Err(GradCheckError::ParamCount {
            what: name,
            got: backward.param_grads.len(),
            expected: n_params,
        });
    }
    let mut params = Vec::with_capacity(n_params);
    for (i, analytic) in backward.param_grads.iter().enumerate() {
        let original = layer.params()[i].to_owned();
        let report = check_tensor(
            &format!("{name} param {i}"),
            &original,
            analytic,
            |p| {
                layer.params_mut()[i].assign(p);
                probe(layer, input.view())
            },
            cfg,
        );
        layer.params_mut()[i].assign(&original);
        params.push(report?);
    }
    Ok(LayerReport {
        input: input_report,
        params,
    })
}

/// A tensor of independent standard-normal entries.
pub fn random_normal<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> ArrayD<f64> {
    ArrayD::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

/// An rng for a randomized test: seeded from `PATHNET_TEST_SEED` when set (to reproduce a
/// failure), otherwise from the OS. The seed is printed, and test harnesses show it on failure.
pub fn test_rng() -> (u64, ChaCha8Rng) {
    let seed = match std::env::var("PATHNET_TEST_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PATHNET_TEST_SEED must be an unsigned integer, got {s:?}")),
        Err(_) => rand::random(),
    };
    eprintln!("seed {seed} (rerun with PATHNET_TEST_SEED={seed})");
    (seed, ChaCha8Rng::seed_from_u64(seed))
}
