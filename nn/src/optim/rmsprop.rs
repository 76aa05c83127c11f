//! RMSProp in the A3C form, with statistics that several workers can share.
//!
//! `g² ← α·g² + (1−α)·g²ₜ; θ ← θ − lr·g / √(g² + ε)`.
//!
//! The running `g²` lives in [`AtomicTensors`] behind an `Arc`. [`RmsProp::share`] hands out
//! another handle onto the same statistics, and [`RmsProp::step_shared`] takes `&self`, so A3C
//! workers each hold a handle (or one `Arc<RmsProp>`) and update the shared parameters and
//! statistics concurrently, element by element, with no lock, as in the A3C paper's shared
//! RMSProp. Concurrent updates to the same element may race; see [`crate::shared`].

use super::{OptimError, Optimizer, check_pairs, require};
use crate::Float;
use crate::shared::AtomicTensors;
use ndarray::{ArrayD, ArrayViewMutD};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmsPropConfig {
    pub lr: f64,
    pub alpha: f64,
    /// Added under the square root. A3C used 0.1, much larger than the usual 1e-8, which
    /// damps steps on parameters whose gradients have been tiny so far.
    pub eps: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 7e-4,
            alpha: 0.99,
            eps: 0.1,
        }
    }
}

impl RmsPropConfig {
    pub fn validate(&self) -> Result<(), OptimError> {
        require("lr", self.lr, self.lr > 0.0, "a positive number")?;
        require(
            "alpha",
            self.alpha,
            (0.0..1.0).contains(&self.alpha),
            "a number in [0, 1)",
        )?;
        require("eps", self.eps, self.eps > 0.0, "a positive number")
    }
}

#[derive(Debug, Clone)]
pub struct RmsProp<F: Float> {
    config: RmsPropConfig,
    square_avg: Arc<AtomicTensors<F>>,
}

impl<F: Float> RmsProp<F> {
    /// An optimiser with fresh (zero) statistics for tensors of `shapes`.
    pub fn new(config: RmsPropConfig, shapes: &[Vec<usize>]) -> Result<Self, OptimError> {
        Self::with_statistics(config, Arc::new(AtomicTensors::zeros(shapes)))
    }

    /// An optimiser over existing (possibly shared) statistics.
    pub fn with_statistics(
        config: RmsPropConfig,
        square_avg: Arc<AtomicTensors<F>>,
    ) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(RmsProp { config, square_avg })
    }

    /// Another handle onto the same statistics, e.g. for a new worker.
    pub fn share(&self) -> Self {
        self.clone()
    }

    pub fn config(&self) -> RmsPropConfig {
        self.config
    }

    /// The shared running averages of squared gradients.
    pub fn statistics(&self) -> &Arc<AtomicTensors<F>> {
        &self.square_avg
    }

    /// Applies one update to shared parameters, lock-free.
    ///
    /// # Panics
    /// If `params`, `grads` and the statistics disagree in count or shape.
    pub fn step_shared(&self, params: &AtomicTensors<F>, grads: &[ArrayD<F>]) {
        params.check_shapes(grads.iter().map(|g| g.shape()));
        self.square_avg
            .check_shapes(grads.iter().map(|g| g.shape()));
        for (i, g) in grads.iter().enumerate() {
            // A tensor without any gradient belongs to a module the update did not use (a
            // PathNet module off the worker's pathway, or a frozen one). Decaying its
            // statistics would make its first steps once it is used again far too large.
            if g.iter().all(|v| *v == F::zero()) {
                continue;
            }
            let g = g.as_standard_layout();
            let targets = params.elements(i).iter().zip(self.square_avg.elements(i));
            for ((p, s), &g) in targets.zip(g.iter()) {
                F::store(p, F::load(p) - self.delta(s, g));
            }
        }
    }

    /// Updates the statistic `s` with gradient `g` and returns the parameter decrement.
    #[inline]
    fn delta(&self, s: &F::Atomic, g: F) -> F {
        let alpha = F::of(self.config.alpha);
        let avg = alpha * F::load(s) + (F::one() - alpha) * g * g;
        F::store(s, avg);
        F::of(self.config.lr) * g / (avg + F::of(self.config.eps)).sqrt()
    }
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    /// Updates local parameters; the statistics are still the shared ones.
    fn step(&mut self, params: &mut [ArrayViewMutD<'_, F>], grads: &[ArrayD<F>]) {
        check_pairs(params, grads);
        self.square_avg
            .check_shapes(grads.iter().map(|g| g.shape()));
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let stats = self.square_avg.elements(i);
            for ((p, &g), s) in p.iter_mut().zip(g.iter()).zip(stats) {
                *p -= self.delta(s, g);
            }
        }
    }
}
