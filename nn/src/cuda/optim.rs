//! SGD, RMSProp and Adam steps on device parameters, with the update rules (and order of
//! operations) of the CPU optimisers in [`crate::optim`].

use super::{CudaError, GpuTensor};
use crate::optim::OptimError;
use crate::{AdamConfig, RmsPropConfig, SgdConfig};

/// An optimiser whose state lives next to the parameters it updates.
pub struct GpuOptimizer {
    rule: Rule,
    /// Per parameter tensor: velocity (SGD with momentum), squared-gradient average
    /// (RMSProp), or first then second moments (Adam). Created on the first step.
    state: Vec<Vec<GpuTensor>>,
    steps: i32,
}

enum Rule {
    Sgd(SgdConfig),
    RmsProp(RmsPropConfig),
    Adam(AdamConfig),
}

impl GpuOptimizer {
    /// SGD (with momentum when `config.momentum > 0`), as [`crate::Sgd`].
    pub fn sgd(config: SgdConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Self::with(Rule::Sgd(config)))
    }

    /// RMSProp with statistics private to this optimiser (the CPU [`crate::RmsProp`]
    /// rule; sharing statistics between workers is a CPU-side Hogwild feature).
    pub fn rmsprop(config: RmsPropConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Self::with(Rule::RmsProp(config)))
    }

    /// Adam, as [`crate::Adam`].
    pub fn adam(config: AdamConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Self::with(Rule::Adam(config)))
    }

    fn with(rule: Rule) -> Self {
        GpuOptimizer {
            rule,
            state: Vec::new(),
            steps: 0,
        }
    }

    fn slots(&self) -> usize {
        match self.rule {
            Rule::Sgd(c) if c.momentum == 0.0 => 0,
            Rule::Sgd(_) | Rule::RmsProp(_) => 1,
            Rule::Adam(_) => 2,
        }
    }

    /// Applies one update to `params` given `grads` (same order, shapes and device).
    pub fn step(&mut self, params: &mut [GpuTensor], grads: &[GpuTensor]) -> Result<(), CudaError> {
        if params.len() != grads.len() {
            return Err(CudaError::Shape(format!(
                "{} parameter tensors but {} gradients",
                params.len(),
                grads.len()
            )));
        }
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            p.same_device(g)?;
            if p.shape() != g.shape() {
                return Err(CudaError::Shape(format!(
                    "parameter {i} has shape {:?}, its gradient {:?}",
                    p.shape(),
                    g.shape()
                )));
            }
        }
        if self.state.is_empty() {
            let slots = self.slots();
            self.state = params
                .iter()
                .map(|p| {
                    (0..slots)
                        .map(|_| GpuTensor::zeros(p.gpu(), p.shape()))
                        .collect()
                })
                .collect::<Result<_, _>>()?;
        }
        if self.state.len() != params.len()
            || self
                .state
                .iter()
                .zip(params.iter())
                .any(|(s, p)| s.first().is_some_and(|s| s.shape() != p.shape()))
        {
            return Err(CudaError::Shape(
                "the parameters changed count or shape since the optimiser's first step".into(),
            ));
        }
        self.steps = self.steps.saturating_add(1);
        let (name, hyper) = self.hyperparameters();
        for ((p, g), state) in params.iter_mut().zip(grads).zip(&mut self.state) {
            let gpu = p.gpu().clone();
            let state = state.iter_mut().map(|s| s.slice_mut()).collect();
            gpu.update(name, p.slice_mut(), g.slice(), state, &hyper)
                .map_err(|e| gpu.driver_error(e))?;
        }
        Ok(())
    }

    /// The kernel and its scalar arguments, converted to f32 as the CPU optimisers do.
    fn hyperparameters(&self) -> (&'static str, Vec<f32>) {
        match self.rule {
            Rule::Sgd(c) if c.momentum == 0.0 => ("sgd", vec![c.lr as f32]),
            Rule::Sgd(c) => ("sgd_momentum", vec![c.lr as f32, c.momentum as f32]),
            Rule::RmsProp(c) => {
                let alpha = c.alpha as f32;
                (
                    "rmsprop",
                    vec![c.lr as f32, alpha, 1.0 - alpha, c.eps as f32],
                )
            }
            Rule::Adam(c) => {
                let correction1 = 1.0 - c.beta1.powi(self.steps);
                let correction2 = 1.0 - c.beta2.powi(self.steps);
                let hyper = [
                    c.lr / correction1,
                    1.0 / correction2.sqrt(),
                    c.beta1,
                    c.beta2,
                    1.0 - c.beta1,
                    1.0 - c.beta2,
                    c.eps,
                ];
                ("adam", hyper.iter().map(|&h| h as f32).collect())
            }
        }
    }
}
