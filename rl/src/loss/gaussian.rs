//! The diagonal Gaussian head, for `Box` action spaces: mean from the network, one learned
//! log standard deviation `s` per action dimension shared by all states.
//!
//! `log π(a) = Σ_d −½((a_d − μ_d)/σ_d)² − s_d − ½ log 2π` with `σ = eˢ`, so
//! `d log π/dμ_d = (a_d − μ_d)/σ_d²` and `d log π/ds_d = ((a_d − μ_d)/σ_d)² − 1`; the entropy
//! `H = Σ_d s_d + ½(1 + log 2π)` has `dH/ds_d = 1`.

use super::to_f64;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use pathnet_nn::Float;
use std::f64::consts::PI;

/// `−Σ_t A_t log π(a_t)`; adds its gradients to `d_mean` and `d_log_std`.
pub(crate) fn policy_term<F: Float>(
    mean: ArrayView2<'_, F>,
    log_std: ArrayView1<'_, F>,
    actions: ArrayView2<'_, F>,
    advantages: &[F],
    d_mean: &mut Array2<F>,
    d_log_std: &mut Array1<F>,
) -> f64 {
    assert_eq!(mean.shape(), actions.shape(), "one action vector per mean");
    assert_eq!(
        mean.ncols(),
        log_std.len(),
        "one log_std per action dimension"
    );
    let half_log_2pi = 0.5 * (2.0 * PI).ln();
    let mut total = 0.0;
    for (t, &adv) in advantages.iter().enumerate() {
        let mut log_prob = 0.0;
        for d in 0..mean.ncols() {
            let (s, mu, a) = (log_std[d], mean[(t, d)], actions[(t, d)]);
            let inv_var = (-(s + s)).exp();
            let z2 = (a - mu) * (a - mu) * inv_var;
            log_prob += -0.5 * to_f64(z2) - to_f64(s) - half_log_2pi;
            d_mean[(t, d)] -= adv * (a - mu) * inv_var;
            d_log_std[d] -= adv * (z2 - F::one());
        }
        total -= to_f64(adv) * log_prob;
    }
    total
}

/// Adds the gradient of `−beta · Σ_t H` over `steps` steps to `d_log_std`; returns `Σ_t H`.
pub(crate) fn entropy_term<F: Float>(
    log_std: ArrayView1<'_, F>,
    steps: usize,
    beta: f64,
    d_log_std: &mut Array1<F>,
) -> f64 {
    let per_dim = 0.5 * (1.0 + (2.0 * PI).ln());
    let h: f64 = log_std.iter().map(|&s| to_f64(s) + per_dim).sum();
    let n = steps as f64;
    for d in d_log_std.iter_mut() {
        *d -= F::of(beta * n);
    }
    h * n
}
