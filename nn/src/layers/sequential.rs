//! A chain of layers that is itself a layer.

use crate::{Backward, Cache, Float, Forward, Layer};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

/// Layers applied in order; its parameters are every layer's, in layer order. Empty, it is
/// the identity.
pub struct Sequential<F> {
    layers: Vec<Box<dyn Layer<F>>>,
}

struct SequentialCache(Vec<Cache>);

impl<F: Float> Sequential<F> {
    /// The chain of `layers`, first applied first.
    pub fn new(layers: Vec<Box<dyn Layer<F>>>) -> Self {
        Sequential { layers }
    }

    /// Appends a layer, builder style.
    pub fn with(mut self, layer: impl Layer<F> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a layer.
    pub fn push(&mut self, layer: Box<dyn Layer<F>>) {
        self.layers.push(layer);
    }

    /// The layers, first applied first.
    pub fn layers(&self) -> &[Box<dyn Layer<F>>] {
        &self.layers
    }

    /// The layers, mutably.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer<F>>] {
        &mut self.layers
    }

    /// The layers, taken apart.
    pub fn into_layers(self) -> Vec<Box<dyn Layer<F>>> {
        self.layers
    }
}

impl<F: Float> Default for Sequential<F> {
    fn default() -> Self {
        Sequential::new(Vec::new())
    }
}

impl<F: Float> Layer<F> for Sequential<F> {
    fn name(&self) -> String {
        let inner: Vec<String> = self.layers.iter().map(|l| l.name()).collect();
        format!("sequential[{}]", inner.join(", "))
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let mut caches = Vec::with_capacity(self.layers.len());
        let mut current: Option<ArrayD<F>> = None;
        for layer in &self.layers {
            let x = current.as_ref().map_or_else(|| input.view(), |a| a.view());
            let Forward { output, cache } = layer.forward(x);
            caches.push(cache);
            current = Some(output);
        }
        let output = current.unwrap_or_else(|| input.to_owned());
        Forward {
            output,
            cache: Cache::new(SequentialCache(caches)),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let SequentialCache(caches) = cache.get();
        let mut grad: Option<ArrayD<F>> = None;
        let mut per_layer = Vec::with_capacity(self.layers.len());
        for (layer, cache) in self.layers.iter().zip(caches).rev() {
            let dy = grad
                .as_ref()
                .map_or_else(|| output_grad.view(), |a| a.view());
            let Backward {
                input_grad,
                param_grads,
            } = layer.backward(cache, dy);
            per_layer.push(param_grads);
            grad = Some(input_grad);
        }
        Backward {
            input_grad: grad.unwrap_or_else(|| output_grad.to_owned()),
            param_grads: per_layer.into_iter().rev().flatten().collect(),
        }
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Vec<ArrayD<F>> {
        let SequentialCache(caches) = cache.get();
        let Some((first, rest)) = self.layers.split_first() else {
            return Vec::new();
        };
        let mut grad: Option<ArrayD<F>> = None;
        let mut per_layer = Vec::with_capacity(self.layers.len());
        for (layer, cache) in rest.iter().zip(&caches[1..]).rev() {
            let dy = grad
                .as_ref()
                .map_or_else(|| output_grad.view(), |a| a.view());
            let Backward {
                input_grad,
                param_grads,
            } = layer.backward(cache, dy);
            per_layer.push(param_grads);
            grad = Some(input_grad);
        }
        let dy = grad
            .as_ref()
            .map_or_else(|| output_grad.view(), |a| a.view());
        per_layer.push(first.backward_params(&caches[0], dy));
        per_layer.into_iter().rev().flatten().collect()
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.params_mut())
            .collect()
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        for layer in &mut self.layers {
            layer.reinit(rng);
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
