//! The categorical head: `π = softmax(logits)`, for `Discrete` action spaces.
//!
//! With `p = softmax(z)` and `log p` from a stable log-softmax:
//! `d(−A·log p_a)/dz_k = −A·(1[k = a] − p_k)` and, for `H = −Σ p log p`,
//! `dH/dz_k = −p_k (log p_k + H)`.

use super::to_f64;
use ndarray::Array2;
use pathnet_nn::Float;

/// `−Σ_t A_t log π(a_t)`; adds its gradient to `d_logits`.
///
/// # Panics
/// If an action is out of range for the logits (a wiring bug).
pub(crate) fn policy_term<F: Float>(
    logp: &Array2<F>,
    actions: &[usize],
    advantages: &[F],
    d_logits: &mut Array2<F>,
) -> f64 {
    assert_eq!(actions.len(), logp.nrows(), "one action per step");
    let mut total = 0.0;
    for (t, (&a, &adv)) in actions.iter().zip(advantages).enumerate() {
        assert!(
            a < logp.ncols(),
            "action {a} out of range for {} logits",
            logp.ncols()
        );
        let (row, mut d) = (logp.row(t), d_logits.row_mut(t));
        total -= to_f64(adv) * to_f64(row[a]);
        for (k, (d, &lp)) in d.iter_mut().zip(row).enumerate() {
            let onehot = if k == a { F::one() } else { F::zero() };
            *d -= adv * (onehot - lp.exp());
        }
    }
    total
}

/// Adds the gradient of `−beta · Σ_t H_t` to `d_logits` and returns `Σ_t H_t` (unweighted).
pub(crate) fn entropy_term<F: Float>(logp: &Array2<F>, beta: f64, d_logits: &mut Array2<F>) -> f64 {
    let beta = F::of(beta);
    let mut total = 0.0;
    for (row, mut d) in logp.rows().into_iter().zip(d_logits.rows_mut()) {
        let h = -row.iter().map(|&lp| lp.exp() * lp).sum::<F>();
        total += to_f64(h);
        for (d, &lp) in d.iter_mut().zip(row) {
            *d += beta * lp.exp() * (lp + h);
        }
    }
    total
}
