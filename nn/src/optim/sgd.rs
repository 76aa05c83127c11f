//! Stochastic gradient descent with optional (heavy-ball) momentum.

use super::{OptimError, Optimizer, OptimizerState, check_pairs, ensure_state, require};
use crate::Float;
use ndarray::{ArrayD, ArrayViewMutD, Zip};

/// SGD's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Step size, positive.
    pub lr: f64,
    /// 0 disables momentum.
    #[serde(default)]
    pub momentum: f64,
}

impl SgdConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`OptimError`] naming the first bad one.
    pub fn validate(&self) -> Result<(), OptimError> {
        require("lr", self.lr, self.lr > 0.0, "a positive number")?;
        require(
            "momentum",
            self.momentum,
            (0.0..1.0).contains(&self.momentum),
            "a number in [0, 1)",
        )
    }
}

/// `v ← μ·v + g; θ ← θ − lr·v` (the PyTorch convention; plain `θ ← θ − lr·g` when `μ = 0`).
#[derive(Debug, Clone)]
pub struct Sgd<F> {
    config: SgdConfig,
    velocity: Vec<ArrayD<F>>,
}

impl<F: Float> Sgd<F> {
    /// An optimiser with no velocity yet (created on the first step).
    ///
    /// # Errors
    /// Invalid settings.
    pub fn new(config: SgdConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Sgd {
            config,
            velocity: Vec::new(),
        })
    }

    /// Its settings.
    pub fn config(&self) -> SgdConfig {
        self.config
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut [ArrayViewMutD<'_, F>], grads: &[ArrayD<F>]) {
        check_pairs(params, grads);
        let lr = F::of(self.config.lr);
        if self.config.momentum == 0.0 {
            for (p, g) in params.iter_mut().zip(grads) {
                p.scaled_add(-lr, g);
            }
            return;
        }
        ensure_state(&mut self.velocity, grads);
        let mu = F::of(self.config.momentum);
        for ((p, g), v) in params.iter_mut().zip(grads).zip(&mut self.velocity) {
            Zip::from(p).and(g).and(v).for_each(|p, &g, v| {
                *v = mu * *v + g;
                *p -= lr * *v;
            });
        }
    }

    fn state(&self) -> OptimizerState<F> {
        OptimizerState {
            steps: 0,
            tensors: self.velocity.clone(),
        }
    }

    fn restore(&mut self, state: OptimizerState<F>) -> Result<(), OptimError> {
        if self.config.momentum == 0.0 && !state.tensors.is_empty() {
            return Err(OptimError {
                field: "state",
                value: state.tensors.len() as f64,
                expected: "no tensors: SGD without momentum keeps no velocity",
            });
        }
        self.velocity = state.tensors;
        Ok(())
    }
}
