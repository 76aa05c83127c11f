//! Optimisers over a list of parameter tensors, in the order of [`crate::Layer::params`].
//!
//! [`Sgd`] and [`Adam`] keep private per-tensor state created on the first step. [`RmsProp`]
//! keeps its statistics in [`AtomicTensors`](crate::atomic_tensors::AtomicTensors) behind an `Arc`, so
//! that several A3C workers can share one set of statistics and update it (and the shared
//! parameters) concurrently without a lock.

mod adam;
mod rmsprop;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::Float;
use ndarray::{ArrayD, ArrayViewMutD};

/// One update rule over a fixed list of parameter tensors.
pub trait Optimizer<F: Float> {
    /// Applies one update to `params` given `grads` (same order and shapes).
    ///
    /// # Panics
    /// If `grads` do not match `params` or the tensors of earlier steps, a wiring bug.
    fn step(&mut self, params: &mut [ArrayViewMutD<'_, F>], grads: &[ArrayD<F>]);

    /// What the optimiser carries from one step to the next, for snapshots of a training
    /// run; an optimiser without private state (or whose state is shared) has none.
    fn state(&self) -> OptimizerState<F> {
        OptimizerState::default()
    }

    /// Continues from a [`Optimizer::state`] of an optimiser of the same kind and config.
    /// Tensor shapes are checked against the parameters at the next step (a caller taking a
    /// state from outside checks them first, see [`OptimizerState::tensors`]).
    fn restore(&mut self, state: OptimizerState<F>) -> Result<(), OptimError> {
        if state.tensors.is_empty() && state.steps == 0 {
            Ok(())
        } else {
            Err(OptimError {
                field: "state",
                value: state.tensors.len() as f64,
                expected: "no state: this optimiser keeps none of its own",
            })
        }
    }
}

/// An optimiser's state between steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptimizerState<F> {
    /// Steps taken (Adam's bias correction depends on it).
    pub steps: u64,
    /// Per-parameter statistics, empty before the first step: Adam's first moments then its
    /// second moments (two per parameter tensor, each shaped like it); SGD's velocities (one
    /// per parameter tensor, with momentum).
    pub tensors: Vec<ArrayD<F>>,
}

/// An optimiser setting with a value it cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("optimiser setting `{field}` = {value} is invalid: expected {expected}")]
pub struct OptimError {
    /// The setting, e.g. `lr`.
    pub field: &'static str,
    /// Its value.
    pub value: f64,
    /// What it must be, e.g. "a positive number".
    pub expected: &'static str,
}

/// Checks one hyperparameter, for the optimiser configs' `validate`.
fn require(
    field: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), OptimError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(OptimError {
            field,
            value,
            expected,
        })
    }
}

fn check_pairs<F: Float>(params: &[ArrayViewMutD<'_, F>], grads: &[ArrayD<F>]) {
    assert_eq!(
        params.len(),
        grads.len(),
        "{} parameter tensors but {} gradients",
        params.len(),
        grads.len()
    );
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        assert_eq!(
            p.shape(),
            g.shape(),
            "parameter {i} has shape {:?}, its gradient {:?}",
            p.shape(),
            g.shape()
        );
    }
}

/// Zero state shaped like `grads` on the first step; afterwards checks the shapes still agree.
fn ensure_state<F: Float>(state: &mut Vec<ArrayD<F>>, grads: &[ArrayD<F>]) {
    if state.is_empty() {
        *state = grads.iter().map(|g| ArrayD::zeros(g.raw_dim())).collect();
    }
    assert_eq!(
        state.len(),
        grads.len(),
        "optimiser was created for {} tensors, got {}",
        state.len(),
        grads.len()
    );
    for (i, (s, g)) in state.iter().zip(grads).enumerate() {
        assert_eq!(
            s.shape(),
            g.shape(),
            "tensor {i} changed shape from {:?} to {:?}",
            s.shape(),
            g.shape()
        );
    }
}

/// The L2 norm of all gradients taken together (accumulated in `f64`).
pub fn global_norm<F: Float>(grads: &[ArrayD<F>]) -> f64 {
    grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&v| {
            let v = v.to_f64().unwrap_or(f64::NAN);
            v * v
        })
        .sum::<f64>()
        .sqrt()
}

/// Scales all gradients together so that their global L2 norm is at most `max_norm`, and
/// returns the norm before clipping. Directions are preserved, unlike per-element clipping.
pub fn clip_grad_norm<F: Float>(grads: &mut [ArrayD<F>], max_norm: f64) -> f64 {
    let norm = global_norm(grads);
    if norm > max_norm {
        let scale = F::of(max_norm / norm);
        for g in grads.iter_mut() {
            *g *= scale;
        }
    }
    norm
}
