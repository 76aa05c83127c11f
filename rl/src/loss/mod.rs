//! The actor-critic loss of one segment (Mnih et al. 2016), its parts and its gradients with
//! respect to the network outputs.
//!
//! Over the segment's steps `t` (summed, not averaged, as the paper accumulates per-step
//! gradients), with `A_t = R_t − V(s_t)` held constant (no gradient flows from the policy term
//! into the critic):
//!
//! - policy: `−Σ log π(a_t|s_t) · A_t`
//! - value: `value_coef · Σ ½ (R_t − V(s_t))²`. The ½ makes `d/dV = value_coef · (V − R)`, so
//!   `value_coef = 1` is the plain regression gradient; the default 0.5 halves it.
//! - entropy: `−entropy_beta · Σ H(π(·|s_t))`, a bonus for staying stochastic.
//!
//! Two heads: [`categorical`] over logits for `Discrete` action spaces, and [`gaussian`], a
//! diagonal Gaussian with network mean and a state-independent learned log standard deviation,
//! for `Box` spaces. Gaussian actions are the unclipped samples; only the copy sent to the
//! environment is clipped to the bounds.

pub mod categorical;
pub mod gaussian;
#[cfg(test)]
mod tests;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use pathnet_nn::Float;

/// The weights of the value and entropy terms (the policy term has weight 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossCoefs {
    /// Weight of the critic term `½ Σ (R_t − V(s_t))²`, at least 0.
    pub value_coef: f64,
    /// Weight of the entropy bonus, at least 0.
    pub entropy_beta: f64,
}

/// The loss terms of one segment, each already weighted, so `total` is their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct LossParts {
    /// `−Σ log π(a_t|s_t) · A_t`, the advantages held constant.
    pub policy: f64,
    /// `value_coef · Σ ½ (R_t − V(s_t))²`.
    pub value: f64,
    /// `−entropy_beta · Σ H`.
    pub entropy: f64,
    /// Mean policy entropy per step (unweighted), to watch exploration collapse.
    pub mean_entropy: f64,
}

impl LossParts {
    /// The loss the gradients are of: `policy + value + entropy`.
    pub fn total(&self) -> f64 {
        self.policy + self.value + self.entropy
    }
}

/// Gradients of the total loss with respect to the network outputs.
#[derive(Debug, Clone)]
pub struct LossGrads<F> {
    /// `[T, head width]`: w.r.t. the logits, or the Gaussian mean.
    pub head: Array2<F>,
    /// `[T]`: w.r.t. the value estimates.
    pub values: Array1<F>,
    /// W.r.t. the Gaussian log standard deviation; `None` for the categorical head.
    pub log_std: Option<Array1<F>>,
}

/// The actions taken in a segment, in the form each head needs.
#[derive(Debug, Clone, Copy)]
pub enum Actions<'a, F> {
    /// Indices into the logits (0-based, whatever the action space's `start`).
    Discrete(&'a [usize]),
    /// `[T, dim]`: the sampled, unclipped actions.
    Continuous(ArrayView2<'a, F>),
}

/// The segment's outputs that the loss reads.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a, F> {
    /// Logits or Gaussian means, `[T, head width]`.
    pub head: ArrayView2<'a, F>,
    /// `[dim]`, for the Gaussian head only.
    pub log_std: Option<ArrayView1<'a, F>>,
    /// `[T]`: the critic's estimates `V(s_t)`.
    pub values: ArrayView1<'a, F>,
}

/// The loss of one segment and its gradients, dispatched on the kind of `actions`.
///
/// # Panics
/// If the shapes disagree, or a Gaussian head comes without `log_std` (wiring bugs).
pub fn actor_critic_loss<F: Float>(
    outputs: Outputs<'_, F>,
    actions: Actions<'_, F>,
    returns: ArrayView1<'_, F>,
    coefs: LossCoefs,
) -> (LossParts, LossGrads<F>) {
    let steps = outputs.values.len();
    assert!(
        returns.len() == steps && outputs.head.nrows() == steps,
        "loss: {} values, {} returns, {} head rows",
        steps,
        returns.len(),
        outputs.head.nrows()
    );
    let advantages: Vec<F> = returns
        .iter()
        .zip(outputs.values)
        .map(|(&r, &v)| r - v)
        .collect();
    loss_with_advantages(outputs, actions, returns, &advantages, coefs)
}

/// [`actor_critic_loss`] with the advantages given: the loss as a function of the outputs
/// when the advantages are constants, which is what its gradients are the gradients of.
pub(crate) fn loss_with_advantages<F: Float>(
    outputs: Outputs<'_, F>,
    actions: Actions<'_, F>,
    returns: ArrayView1<'_, F>,
    advantages: &[F],
    coefs: LossCoefs,
) -> (LossParts, LossGrads<F>) {
    let steps = outputs.values.len();
    assert_eq!(advantages.len(), steps, "loss: one advantage per step");
    let mut grads = LossGrads {
        head: Array2::zeros(outputs.head.raw_dim()),
        values: Array1::zeros(steps),
        log_std: None,
    };
    let mut parts = LossParts {
        value: value_term(outputs.values, returns, coefs.value_coef, &mut grads.values),
        ..LossParts::default()
    };
    let entropy_sum = match actions {
        Actions::Discrete(actions) => {
            assert!(
                outputs.log_std.is_none(),
                "loss: log_std given to a categorical head"
            );
            let logp = pathnet_nn::layers::log_softmax(outputs.head);
            parts.policy = categorical::policy_term(&logp, actions, advantages, &mut grads.head);
            categorical::entropy_term(&logp, coefs.entropy_beta, &mut grads.head)
        }
        Actions::Continuous(actions) => {
            let log_std = outputs
                .log_std
                .expect("loss: a Gaussian head needs log_std");
            let mut d_log_std = Array1::zeros(log_std.len());
            parts.policy = gaussian::policy_term(
                outputs.head,
                log_std,
                actions,
                advantages,
                &mut grads.head,
                &mut d_log_std,
            );
            let h = gaussian::entropy_term(log_std, steps, coefs.entropy_beta, &mut d_log_std);
            grads.log_std = Some(d_log_std);
            h
        }
    };
    parts.entropy = -coefs.entropy_beta * entropy_sum;
    parts.mean_entropy = entropy_sum / steps.max(1) as f64;
    (parts, grads)
}

/// `coef · Σ ½ (R − V)²`; adds its gradient to `d_values`.
pub(crate) fn value_term<F: Float>(
    values: ArrayView1<'_, F>,
    returns: ArrayView1<'_, F>,
    coef: f64,
    d_values: &mut Array1<F>,
) -> f64 {
    let mut total = 0.0;
    for ((&v, &r), d) in values.iter().zip(returns).zip(d_values.iter_mut()) {
        let diff = v - r;
        *d += F::of(coef) * diff;
        total += 0.5 * to_f64(diff) * to_f64(diff);
    }
    coef * total
}

pub(crate) fn to_f64<F: Float>(x: F) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}
