//! Forward and backward passes of one pathway through the super-network.

use super::{ModuleId, PathNet, PathNetError, Pathway};
use crate::{Backward, Cache, Float, Forward, Layer};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

/// What a pathway's forward pass keeps for its backward pass. It records the pathway and
/// task it was made for, so a backward pass cannot be paired with the wrong modules.
pub struct PathwayCache {
    pathway: Pathway,
    task: usize,
    /// One cache per active module, in the pathway's order.
    layers: Vec<Vec<Cache>>,
    head: Cache,
    output_shape: Vec<usize>,
}

impl PathwayCache {
    pub fn pathway(&self) -> &Pathway {
        &self.pathway
    }

    pub fn task(&self) -> usize {
        self.task
    }
}

pub struct PathwayForward<F> {
    /// The task head's output, `[batch, classes]`.
    pub output: ArrayD<F>,
    pub cache: PathwayCache,
}

/// The gradients of one module's parameters, in its `params()` order.
#[derive(Debug, Clone)]
pub struct ModuleGrads<F> {
    pub id: ModuleId,
    pub grads: Vec<ArrayD<F>>,
}

/// The result of a pathway's backward pass: only the active modules and the task's head
/// appear in `modules` (shared modules layer by layer in pathway order, the head last).
#[derive(Debug, Clone)]
pub struct PathwayGrads<F> {
    pub input_grad: ArrayD<F>,
    pub modules: Vec<ModuleGrads<F>>,
}

impl<F: Float> PathNet<F> {
    /// Runs `input` (`[batch, ..input_shape]`) through `pathway`'s active modules and the head
    /// of `task`.
    pub fn forward(
        &self,
        pathway: &Pathway,
        task: usize,
        input: ArrayViewD<'_, F>,
    ) -> Result<PathwayForward<F>, PathNetError> {
        pathway.validate(&self.dims)?;
        self.check_task(task)?;
        self.check_input(input.shape())?;
        Ok(self.forward_checked(pathway, task, input))
    }

    /// The vector-Jacobian product of the pass `cache` was recorded in: `output_grad` is
    /// d loss / d output. Call it on the network that made `cache` and before changing any
    /// of the pathway's parameters, since modules use their current weights here.
    pub fn backward(
        &self,
        cache: &PathwayCache,
        output_grad: ArrayViewD<'_, F>,
    ) -> Result<PathwayGrads<F>, PathNetError> {
        if output_grad.shape() != cache.output_shape.as_slice() {
            return Err(PathNetError::BatchShape {
                what: "pathway output gradient",
                expected: format!("{:?}", cache.output_shape),
                actual: output_grad.shape().to_vec(),
            });
        }
        Ok(self.backward_checked(cache, output_grad))
    }

    fn check_input(&self, shape: &[usize]) -> Result<(), PathNetError> {
        if shape.len() != self.input_shape.len() + 1 || shape[1..] != self.input_shape[..] {
            return Err(PathNetError::BatchShape {
                what: "pathway input",
                expected: format!("[batch, {:?}]", self.input_shape),
                actual: shape.to_vec(),
            });
        }
        Ok(())
    }

    fn forward_checked(
        &self,
        pathway: &Pathway,
        task: usize,
        input: ArrayViewD<'_, F>,
    ) -> PathwayForward<F> {
        let mut layers = Vec::with_capacity(pathway.num_layers());
        let mut current: Option<ArrayD<F>> = None;
        for (layer, active) in pathway.layers().iter().enumerate() {
            let x = current.as_ref().map_or_else(|| input.view(), |a| a.view());
            let mut caches = Vec::with_capacity(active.len());
            let mut sum: Option<ArrayD<F>> = None;
            for &index in active {
                let Forward { output, cache } = self.modules[layer][index].forward(x.view());
                caches.push(cache);
                match &mut sum {
                    None => sum = Some(output),
                    Some(total) => *total += &output,
                }
            }
            layers.push(caches);
            current = Some(sum.expect("a validated pathway has no empty layer"));
        }
        let shared = current.expect("a validated pathway has at least one layer");
        let Forward { output, cache } = self.heads[task].forward(shared.view());
        PathwayForward {
            cache: PathwayCache {
                pathway: pathway.clone(),
                task,
                layers,
                head: cache,
                output_shape: output.shape().to_vec(),
            },
            output,
        }
    }

    fn backward_checked(
        &self,
        cache: &PathwayCache,
        output_grad: ArrayViewD<'_, F>,
    ) -> PathwayGrads<F> {
        let head = self.heads[cache.task].backward(&cache.head, output_grad);
        let mut grad = head.input_grad;
        let mut per_layer = Vec::with_capacity(cache.layers.len());
        for (layer, (active, caches)) in cache
            .pathway
            .layers()
            .iter()
            .zip(&cache.layers)
            .enumerate()
            .rev()
        {
            // Every active module saw the same input and contributed additively to the
            // output, so each receives the full output gradient and the input gradients add.
            let mut input_grad: Option<ArrayD<F>> = None;
            let mut grads = Vec::with_capacity(active.len());
            for (&index, module_cache) in active.iter().zip(caches) {
                let Backward {
                    input_grad: dx,
                    param_grads,
                } = self.modules[layer][index].backward(module_cache, grad.view());
                grads.push(ModuleGrads {
                    id: ModuleId::new(layer, index),
                    grads: param_grads,
                });
                match &mut input_grad {
                    None => input_grad = Some(dx),
                    Some(total) => *total += &dx,
                }
            }
            per_layer.push(grads);
            grad = input_grad.expect("a validated pathway has no empty layer");
        }
        let mut modules: Vec<ModuleGrads<F>> = per_layer.into_iter().rev().flatten().collect();
        modules.push(ModuleGrads {
            id: ModuleId::new(self.dims.layers, cache.task),
            grads: head.param_grads,
        });
        PathwayGrads {
            input_grad: grad,
            modules,
        }
    }

    /// Views one pathway of this network as a single [`Layer`], whose parameters are the
    /// active modules' and the head's (in [`PathwayGrads::modules`] order). Useful wherever a
    /// generic layer is expected, such as the gradient-check harness.
    pub fn pathway_layer(
        &mut self,
        pathway: Pathway,
        task: usize,
    ) -> Result<PathwayLayer<'_, F>, PathNetError> {
        pathway.validate(&self.dims)?;
        self.check_task(task)?;
        let ids = pathway
            .module_ids()
            .chain(std::iter::once(ModuleId::new(self.dims.layers, task)))
            .collect();
        Ok(PathwayLayer {
            net: self,
            pathway,
            task,
            ids,
        })
    }
}

/// A pathway borrowed from its super-network, behaving as one [`Layer`].
///
/// `forward` panics on an input of the wrong shape, as the built-in layers do.
pub struct PathwayLayer<'a, F: Float> {
    net: &'a mut PathNet<F>,
    pathway: Pathway,
    task: usize,
    ids: Vec<ModuleId>,
}

impl<F: Float> PathwayLayer<'_, F> {
    /// The modules whose parameters [`Layer::params`] lists, in that order.
    pub fn module_ids(&self) -> &[ModuleId] {
        &self.ids
    }
}

impl<F: Float> Layer<F> for PathwayLayer<'_, F> {
    fn name(&self) -> String {
        format!("pathway[{}] task {}", self.pathway, self.task)
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        if let Err(e) = self.net.check_input(input.shape()) {
            panic!("{}: {e}", self.name());
        }
        let PathwayForward { output, cache } =
            self.net.forward_checked(&self.pathway, self.task, input);
        Forward {
            output,
            cache: Cache::new(cache),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let grads = self
            .net
            .backward(cache.get::<PathwayCache>(), output_grad)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name()));
        Backward {
            input_grad: grads.input_grad,
            param_grads: grads.modules.into_iter().flat_map(|m| m.grads).collect(),
        }
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        self.ids
            .iter()
            .flat_map(|&id| self.net.layer_ref(id).params())
            .collect()
    }

    /// Handing out mutable views counts as an update of every module on the pathway, since
    /// what the caller writes cannot be observed.
    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        for &id in &self.ids {
            self.net.bump(id);
        }
        // Split the borrow so that each distinct module is borrowed mutably exactly once.
        let PathNet { modules, heads, .. } = &mut *self.net;
        let mut out = Vec::new();
        for (layer, row) in modules.iter_mut().enumerate() {
            let active = self.pathway.layer(layer);
            let mut picked: Vec<(usize, &mut Box<dyn Layer<F>>)> = row
                .iter_mut()
                .enumerate()
                .filter(|(index, _)| active.contains(index))
                .collect();
            // Report in pathway order, matching `params` and the gradients.
            picked.sort_by_key(|(index, _)| active.iter().position(|a| a == index));
            for (_, module) in picked {
                out.extend(module.params_mut());
            }
        }
        out.extend(heads[self.task].params_mut());
        out
    }

    /// Re-initialises the pathway's modules and head, incrementing their versions.
    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        for &id in &self.ids {
            self.net.layer_mut(id).reinit(rng);
            self.net.bump(id);
        }
    }
}
