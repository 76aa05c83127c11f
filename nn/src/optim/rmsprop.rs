//! RMSProp in the A3C form, with statistics that several workers can share.
//!
//! `g² ← α·g² + (1−α)·g²ₜ; θ ← θ − lr·g / √(g² + ε)`.
//!
//! The running `g²` lives in [`AtomicTensors`] behind an `Arc`. [`RmsProp::share`] hands out
//! another handle onto the same statistics, and [`RmsProp::step_shared`] takes `&self`, so A3C
//! workers each hold a handle (or one `Arc<RmsProp>`) and update the shared parameters and
//! statistics concurrently, with no lock, as in the A3C paper's shared RMSProp. Concurrent
//! updates to the same element may race; see [`crate::atomic_tensors`].
//!
//! The shared step works through each tensor in chunks of 64 elements. It copies a chunk's
//! statistics out of the atomics into a stack buffer, computes the new statistics and the
//! parameter decrements over plain buffers, then stores the statistics back and subtracts each
//! decrement from its parameter. The compiler cannot vectorise arithmetic on atomics (every
//! relaxed load and store stays a scalar access), but it does vectorise the buffer loop, whose
//! square roots and divisions are most of the step's cost. Every element still goes through the
//! same operations in the same order, so results are bit for bit those of an element-wise loop.

use super::{OptimError, Optimizer, check_pairs, require};
use crate::Float;
use crate::atomic_tensors::{AtomicTensors, load_slice};
use ndarray::{ArrayD, ArrayViewMutD};
use std::sync::Arc;

/// Elements per chunk of the shared step: long enough that the vectorised loop dominates the
/// loop overhead, short enough that the buffers stay in L1 and a racing writer's statistic is
/// overwritten only within a short window. 256 measured slower.
const CHUNK: usize = 64;

/// RMSProp's hyperparameters; the defaults are A3C's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmsPropConfig {
    /// Step size, positive (default 7e-4).
    pub lr: f64,
    /// Decay of the running mean of squared gradients, in `[0, 1)` (default 0.99).
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
    /// Checks every setting.
    ///
    /// # Errors
    /// [`OptimError`] naming the first bad one.
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

/// RMSProp over statistics that clones share (see the module docs); cloning is sharing.
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

    /// Its settings.
    pub fn config(&self) -> RmsPropConfig {
        self.config
    }

    /// The shared running averages of squared gradients.
    pub fn statistics(&self) -> &Arc<AtomicTensors<F>> {
        &self.square_avg
    }

    /// Applies one update to shared parameters, lock-free.
    ///
    /// Works through each tensor in chunks of 64 elements (see the module documentation). A
    /// statistic stays loaded for the length of its chunk, a parameter only between its own
    /// load and store, as element by element; a writer racing inside that window may lose its
    /// update, which Hogwild accepts.
    ///
    /// # Panics
    /// If `params`, `grads` and the statistics disagree in count or shape.
    pub fn step_shared(&self, params: &AtomicTensors<F>, grads: &[ArrayD<F>]) {
        params.check_shapes(grads.iter().map(|g| g.shape()));
        self.square_avg
            .check_shapes(grads.iter().map(|g| g.shape()));
        let rule = Rule::new(&self.config);
        let mut s_buf = [F::zero(); CHUNK];
        let mut d_buf = [F::zero(); CHUNK];
        for (i, g) in grads.iter().enumerate() {
            let g = g.as_standard_layout();
            let g = g.as_slice().expect("a standard-layout array is contiguous");
            // A tensor without any gradient belongs to a module the update did not use (a
            // PathNet module off the worker's pathway, or a frozen one). Decaying its
            // statistics would make its first steps once it is used again far too large.
            if g.iter().all(|v| *v == F::zero()) {
                continue;
            }
            let chunks = params
                .elements(i)
                .chunks(CHUNK)
                .zip(self.square_avg.elements(i).chunks(CHUNK))
                .zip(g.chunks(CHUNK));
            for ((p_shared, s_shared), g) in chunks {
                let (s, d) = (&mut s_buf[..g.len()], &mut d_buf[..g.len()]);
                load_slice(s_shared, s);
                rule.apply(s, d, g);
                // The subtraction stays scalar: vectorising it would need the parameters
                // copied into a buffer and back, which measured slower than this loop.
                let updates = s.iter().zip(d.iter());
                for ((s_atomic, p_atomic), (&avg, &decrement)) in
                    s_shared.iter().zip(p_shared).zip(updates)
                {
                    F::store(s_atomic, avg);
                    F::store(p_atomic, F::load(p_atomic) - decrement);
                }
            }
        }
    }
}

/// The update with its hyperparameters converted to `F` once per step.
struct Rule<F> {
    lr: F,
    alpha: F,
    one_minus_alpha: F,
    eps: F,
}

impl<F: Float> Rule<F> {
    fn new(config: &RmsPropConfig) -> Self {
        let alpha = F::of(config.alpha);
        Rule {
            lr: F::of(config.lr),
            alpha,
            one_minus_alpha: F::one() - alpha,
            eps: F::of(config.eps),
        }
    }

    /// The new statistic and the parameter's decrement for one element. The order of
    /// operations is part of the contract: every path through the optimiser uses this one, so
    /// shared, local, chunked and element-wise steps agree bit for bit.
    #[inline(always)]
    fn element(&self, s: F, g: F) -> (F, F) {
        let avg = self.alpha * s + self.one_minus_alpha * g * g;
        (avg, self.lr * g / (avg + self.eps).sqrt())
    }

    /// Replaces `square_avg` with the new statistics and fills `decrements`; a plain loop
    /// over equally long slices, which the compiler vectorises.
    #[inline]
    fn apply(&self, square_avg: &mut [F], decrements: &mut [F], grads: &[F]) {
        for ((s, d), &g) in square_avg.iter_mut().zip(decrements).zip(grads) {
            (*s, *d) = self.element(*s, g);
        }
    }
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    /// Updates local parameters; the statistics are still the shared ones.
    fn step(&mut self, params: &mut [ArrayViewMutD<'_, F>], grads: &[ArrayD<F>]) {
        check_pairs(params, grads);
        self.square_avg
            .check_shapes(grads.iter().map(|g| g.shape()));
        let rule = Rule::new(&self.config);
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let stats = self.square_avg.elements(i);
            for ((p, &g), s) in p.iter_mut().zip(g.iter()).zip(stats) {
                let (avg, decrement) = rule.element(F::load(s), g);
                F::store(s, avg);
                *p -= decrement;
            }
        }
    }
}
