//! Per-weight output sensitivities for the SM-G operators, and the rescaling they feed.
//!
//! Outputs are flattened per example: output `k` is the `k`-th element of one example's output
//! in logical order. All three gradients are exact (backward passes, no finite differences).

use super::{SafeMutationError, check_shape, param_lens};
use crate::{Float, Forward, Layer};
use ndarray::{ArrayD, ArrayViewD, Axis, Slice};

/// Sensitivities below this (but non-zero) are raised to it, so that a weight the outputs
/// barely depend on is not perturbed by an unbounded amount.
pub const SENSITIVITY_FLOOR: f64 = 0.01;

/// How the per-weight sensitivity `s` is measured over the stored inputs `x_1..x_T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gradient {
    /// SM-G-SUM: `s = sqrt(sum_k (sum_t dy_k(x_t)/dw)^2)`. Per-example gradients of opposite
    /// sign cancel, which is cheap (one backward per output over the whole batch) but can
    /// understate sensitivity.
    Sum,
    /// SM-G-ABS: `s = sqrt(sum_k (mean_t |dy_k(x_t)/dw|)^2)`, no cancellation; one backward per
    /// output per example.
    Abs,
    /// SM-G-SO: `s = sqrt(|H d|)` with `H` the Hessian of the divergence `D` (see
    /// [`hessian_direction`]) and `d` the unit direction of the drawn perturbation.
    SecondOrder,
}

/// The raw sensitivity `s` per weight (before [`scale`]'s floor rules). `delta` is the drawn
/// perturbation; only [`Gradient::SecondOrder`] looks at it (for its direction).
pub fn sensitivity<F, L>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
    gradient: Gradient,
    delta: &[Vec<F>],
) -> Result<Vec<Vec<F>>, SafeMutationError>
where
    F: Float,
    L: Layer<F> + ?Sized,
{
    let lens = param_lens(net);
    check_shape(&lens, delta)?;
    if inputs.shape().first().copied().unwrap_or(0) == 0 {
        return Err(SafeMutationError::NoInputs);
    }
    Ok(match gradient {
        Gradient::Sum => sum_sensitivity(net, inputs, &lens),
        Gradient::Abs => abs_sensitivity(net, inputs, &lens),
        Gradient::SecondOrder => {
            let norm = delta.iter().flatten().map(|&d| d * d).sum::<F>().sqrt();
            let direction: Vec<Vec<F>> = if norm > F::zero() {
                delta
                    .iter()
                    .map(|t| t.iter().map(|&d| d / norm).collect())
                    .collect()
            } else {
                delta.to_vec()
            };
            let mut hd = hessian_direction(net, inputs, &direction)?;
            hd.iter_mut().flatten().for_each(|v| *v = v.abs().sqrt());
            hd
        }
    })
}

/// `H d` for the divergence `D(w') = mean_t sum_k (y_k(x_t; w') - y_k(x_t; w))^2` at `w' = w`.
///
/// `grad D(w') = (2/T) sum_t J_t(w')^T (y_t(w') - y_t(w))`, so
/// `H(w') = (2/T) sum_t [J_t^T J_t + sum_k (y_tk(w') - y_tk(w)) hess y_tk(w')]`. At `w' = w`
/// every residual is zero and the second term vanishes: the Gauss-Newton form
/// `H d = (2/T) sum_t J_t^T (J_t d)` is exact there. `J_t d` is assembled from one backward per
/// output per example, and `J_t^T v` is one more backward per example.
pub fn hessian_direction<F, L>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
    direction: &[Vec<F>],
) -> Result<Vec<Vec<F>>, SafeMutationError>
where
    F: Float,
    L: Layer<F> + ?Sized,
{
    let lens = param_lens(net);
    check_shape(&lens, direction)?;
    let examples = per_example(net, inputs)?;
    let weight = F::of(2.0 / examples.len() as f64);
    let mut hd = zeros(&lens);
    for Forward { output, cache } in &examples {
        let mut v = ArrayD::<F>::zeros(output.shape());
        for k in 0..output.len() {
            let row = net.backward_params(cache, one_hot(output.shape(), k).view());
            let jd: F = row
                .iter()
                .zip(direction)
                .map(|(g, d)| g.iter().zip(d).map(|(&g, &d)| g * d).sum::<F>())
                .sum();
            flat_mut(&mut v)[k] = jd * weight;
        }
        add_into(&mut hd, &net.backward_params(cache, v.view()), |g| g);
    }
    Ok(hd)
}

/// `delta' = delta / s` per weight, where `s` is first set to 1 wherever it is exactly zero
/// (weights the outputs do not depend on keep plain Gaussian noise) and otherwise raised to at
/// least [`SENSITIVITY_FLOOR`]. Both arguments must have the same tensor lengths.
pub fn scale<F: Float>(delta: &[Vec<F>], s: &[Vec<F>]) -> Result<Vec<Vec<F>>, SafeMutationError> {
    check_shape(&s.iter().map(Vec::len).collect::<Vec<_>>(), delta)?;
    let floor = F::of(SENSITIVITY_FLOOR);
    Ok(delta
        .iter()
        .zip(s)
        .map(|(d, s)| {
            d.iter()
                .zip(s)
                .map(|(&d, &s)| {
                    let s = if s == F::zero() {
                        F::one()
                    } else {
                        s.max(floor)
                    };
                    d / s
                })
                .collect()
        })
        .collect())
}

fn sum_sensitivity<F: Float, L: Layer<F> + ?Sized>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
    lens: &[usize],
) -> Vec<Vec<F>> {
    let Forward { output, cache } = net.forward(inputs);
    let batch = output.shape()[0];
    let outputs = output.len() / batch;
    let mut squares = zeros(lens);
    for k in 0..outputs {
        // Ones on output k of every example: the backward then sums the per-example gradients.
        let mut seed = ArrayD::<F>::zeros(output.shape());
        let flat = flat_mut(&mut seed);
        for t in 0..batch {
            flat[t * outputs + k] = F::one();
        }
        add_into(
            &mut squares,
            &net.backward_params(&cache, seed.view()),
            |g| g * g,
        );
    }
    sqrt_all(squares)
}

fn abs_sensitivity<F: Float, L: Layer<F> + ?Sized>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
    lens: &[usize],
) -> Vec<Vec<F>> {
    let examples = per_example(net, inputs).expect("batch checked non-empty");
    let inv_batch = F::of(1.0 / examples.len() as f64);
    let outputs = examples[0].output.len();
    let mut squares = zeros(lens);
    for k in 0..outputs {
        let mut mean_abs = zeros(lens);
        for Forward { output, cache } in &examples {
            let grads = net.backward_params(cache, one_hot(output.shape(), k).view());
            add_into(&mut mean_abs, &grads, |g| g.abs() * inv_batch);
        }
        for (sq, m) in squares.iter_mut().flatten().zip(mean_abs.iter().flatten()) {
            *sq += *m * *m;
        }
    }
    sqrt_all(squares)
}

/// One forward pass per example (batch of one), so that backward passes give per-example
/// Jacobian rows.
fn per_example<F: Float, L: Layer<F> + ?Sized>(
    net: &L,
    inputs: ArrayViewD<'_, F>,
) -> Result<Vec<Forward<F>>, SafeMutationError> {
    let batch = inputs.shape().first().copied().unwrap_or(0);
    if batch == 0 {
        return Err(SafeMutationError::NoInputs);
    }
    Ok((0..batch)
        .map(|t| net.forward(inputs.slice_axis(Axis(0), Slice::from(t..t + 1))))
        .collect())
}

fn one_hot<F: Float>(shape: &[usize], k: usize) -> ArrayD<F> {
    let mut a = ArrayD::zeros(shape);
    flat_mut(&mut a)[k] = F::one();
    a
}

fn flat_mut<F>(a: &mut ArrayD<F>) -> &mut [F] {
    a.as_slice_mut()
        .expect("freshly allocated arrays are contiguous")
}

fn zeros<F: Float>(lens: &[usize]) -> Vec<Vec<F>> {
    lens.iter().map(|&n| vec![F::zero(); n]).collect()
}

fn add_into<F: Float>(acc: &mut [Vec<F>], grads: &[ArrayD<F>], f: impl Fn(F) -> F) {
    for (a, g) in acc.iter_mut().zip(grads) {
        for (a, &g) in a.iter_mut().zip(g.iter()) {
            *a += f(g);
        }
    }
}

fn sqrt_all<F: Float>(mut v: Vec<Vec<F>>) -> Vec<Vec<F>> {
    v.iter_mut().flatten().for_each(|x| *x = x.sqrt());
    v
}
