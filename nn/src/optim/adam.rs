//! Adam (Kingma & Ba) with bias-corrected moment estimates.

use super::{OptimError, Optimizer, OptimizerState, check_pairs, ensure_state, require};
use crate::Float;
use ndarray::{ArrayD, ArrayViewMutD, Zip};

/// Adam's hyperparameters; every key defaults to Kingma & Ba's value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Step size, positive (default 1e-3).
    pub lr: f64,
    /// Decay of the first-moment estimate, in `[0, 1)` (default 0.9).
    pub beta1: f64,
    /// Decay of the second-moment estimate, in `[0, 1)` (default 0.999).
    pub beta2: f64,
    /// Added to the denominator, positive (default 1e-8).
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`OptimError`] naming the first bad one.
    pub fn validate(&self) -> Result<(), OptimError> {
        require("lr", self.lr, self.lr > 0.0, "a positive number")?;
        require(
            "beta1",
            self.beta1,
            (0.0..1.0).contains(&self.beta1),
            "a number in [0, 1)",
        )?;
        require(
            "beta2",
            self.beta2,
            (0.0..1.0).contains(&self.beta2),
            "a number in [0, 1)",
        )?;
        require("eps", self.eps, self.eps > 0.0, "a positive number")
    }
}

/// `m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − lr·m̂ / (√v̂ + ε)` with
/// `m̂ = m / (1−β₁ᵗ)`, `v̂ = v / (1−β₂ᵗ)`.
#[derive(Debug, Clone)]
pub struct Adam<F> {
    config: AdamConfig,
    steps: i32,
    m: Vec<ArrayD<F>>,
    v: Vec<ArrayD<F>>,
}

impl<F: Float> Adam<F> {
    /// An optimiser with no moments yet (created on the first step).
    ///
    /// # Errors
    /// Invalid settings.
    pub fn new(config: AdamConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Adam {
            config,
            steps: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }

    /// Its settings.
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> i32 {
        self.steps
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn step(&mut self, params: &mut [ArrayViewMutD<'_, F>], grads: &[ArrayD<F>]) {
        check_pairs(params, grads);
        ensure_state(&mut self.m, grads);
        ensure_state(&mut self.v, grads);
        self.steps = self.steps.saturating_add(1);
        let c = self.config;
        // Bias corrections folded into the step size and epsilon, computed once in f64.
        let correction1 = 1.0 - c.beta1.powi(self.steps);
        let correction2 = 1.0 - c.beta2.powi(self.steps);
        let step = F::of(c.lr / correction1);
        let inv_sqrt_c2 = F::of(1.0 / correction2.sqrt());
        let (b1, b2, eps) = (F::of(c.beta1), F::of(c.beta2), F::of(c.eps));
        let (one_b1, one_b2) = (F::of(1.0 - c.beta1), F::of(1.0 - c.beta2));
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            Zip::from(p).and(g).and(m).and(v).for_each(|p, &g, m, v| {
                *m = b1 * *m + one_b1 * g;
                *v = b2 * *v + one_b2 * g * g;
                *p -= step * *m / (v.sqrt() * inv_sqrt_c2 + eps);
            });
        }
    }

    fn state(&self) -> OptimizerState<F> {
        OptimizerState {
            steps: self.steps.max(0) as u64,
            tensors: self.m.iter().chain(&self.v).cloned().collect(),
        }
    }

    fn restore(&mut self, state: OptimizerState<F>) -> Result<(), OptimError> {
        let bad = |field, value: f64, expected| {
            Err(OptimError {
                field,
                value,
                expected,
            })
        };
        let Ok(steps) = i32::try_from(state.steps) else {
            return bad("steps", state.steps as f64, "at most 2^31 - 1 steps");
        };
        if !state.tensors.len().is_multiple_of(2) {
            return bad(
                "state",
                state.tensors.len() as f64,
                "an even number of tensors (first moments, then second moments)",
            );
        }
        let mut m = state.tensors;
        let v = m.split_off(m.len() / 2);
        self.steps = steps;
        self.m = m;
        self.v = v;
        Ok(())
    }
}
