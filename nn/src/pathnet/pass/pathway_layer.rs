//! One pathway of a super-network seen as a single [`Layer`].

use super::{PathwayCache, PathwayForward, Wanted};
use crate::pathnet::{ModuleId, PathNet, PathNetError, Pathway};
use crate::{Backward, Cache, Float, Forward, Layer};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

impl<F: Float> PathNet<F> {
    /// Views one pathway of this network as a single [`Layer`], whose parameters are the
    /// active modules' and the head's (in [`PathwayGrads::modules`](super::PathwayGrads::modules)
    /// order). Useful wherever a generic layer is expected, such as the gradient-check harness.
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
            self.net.forward_recorded(&self.pathway, self.task, input);
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

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Vec<ArrayD<F>> {
        self.net
            .backward_recorded(cache.get::<PathwayCache>(), output_grad, Wanted::PARAMS)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name()))
            .modules
            .into_iter()
            .flat_map(|m| m.grads)
            .collect()
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
