//! The layer interface every module implements.

use crate::Float;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use std::any::Any;

/// Whatever a layer's forward pass keeps for its backward pass (inputs, pre-activations,
/// im2col buffers). Opaque so that a device backend can keep it in device memory.
pub struct Cache(Box<dyn Any + Send + Sync>);

impl Cache {
    /// Keeps `value` for the backward pass.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Cache(Box::new(value))
    }

    /// An empty cache, for layers whose backward needs nothing.
    pub fn none() -> Self {
        Cache(Box::new(()))
    }

    /// The cached value. Panics only on a programming error: a cache handed to a layer of
    /// another kind than the one that produced it.
    pub fn get<T: Any>(&self) -> &T {
        self.0
            .downcast_ref::<T>()
            .expect("cache passed to backward of a different layer type than produced it")
    }
}

/// The result of a forward pass.
pub struct Forward<F> {
    /// The layer's output, batch axis first.
    pub output: ArrayD<F>,
    /// What the backward pass at this point needs.
    pub cache: Cache,
}

/// The result of a backward pass: d loss / d input and d loss / d parameter for each
/// parameter, in the order of [`Layer::params`].
pub struct Backward<F> {
    /// d loss / d input, shaped like the input.
    pub input_grad: ArrayD<F>,
    /// d loss / d parameter, one per parameter tensor, each shaped like it.
    pub param_grads: Vec<ArrayD<F>>,
}

/// A differentiable function of one tensor with zero or more parameter tensors.
///
/// The first axis of every input and output is the batch axis.
pub trait Layer<F: Float>: Send + Sync {
    /// A short human-readable description, e.g. `linear(784->20)`.
    fn name(&self) -> String;

    /// The output on `input` (batch axis first) and the cache its backward pass needs.
    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F>;

    /// Vector-Jacobian product at the point the cache was recorded.
    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F>;

    /// The parameter gradients of [`Layer::backward`] alone, for callers that have no use for
    /// the input gradient (the first layer of a network, whose input is data). Layers where the
    /// input gradient is expensive (convolutions) override this to skip it.
    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Vec<ArrayD<F>> {
        self.backward(cache, output_grad).param_grads
    }

    /// Every parameter tensor, in a fixed order that gradients and optimisers follow.
    fn params(&self) -> Vec<ArrayViewD<'_, F>>;

    /// Every parameter tensor mutably, in [`Layer::params`] order.
    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>>;

    /// Draws fresh initial values for all parameters from `rng`.
    fn reinit(&mut self, rng: &mut dyn rand::RngCore);

    /// The concrete layer, for code that moves a network to another device and needs to know
    /// what it is made of. Layers a device backend cannot rebuild keep the default `None`.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}
