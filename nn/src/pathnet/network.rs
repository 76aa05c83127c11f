//! The super-network's storage: `L x M` shared modules plus one head per task, each with a
//! stable [`ModuleId`], a version counter and a frozen flag.

use super::{ModuleId, PathNetDims, PathNetError, Pathway};
use crate::device::{Device, PlaceError, try_place};
use crate::{Float, Layer};
use ndarray::{ArrayD, ArrayViewD};

/// A PathNet super-network.
///
/// Shared layer `l` feeds the sum of its active modules' outputs to every active module of
/// layer `l + 1`; the last shared layer's output goes, as it is, to the task's head (which
/// must therefore start with a [`crate::Flatten`] when the modules are convolutions). A module's version starts at 0 and increments every time any of its
/// parameters change (an optimiser step, [`PathNet::set_params`], a re-initialisation), so a
/// replica can tell which modules it needs to fetch.
pub struct PathNet<F: Float> {
    pub(super) dims: PathNetDims,
    pub(super) input_shape: Vec<usize>,
    pub(super) modules: Vec<Vec<Box<dyn Layer<F>>>>,
    pub(super) heads: Vec<Box<dyn Layer<F>>>,
    /// `L + 1` rows: the shared layers, then the heads.
    versions: Vec<Vec<u64>>,
    frozen: Vec<Vec<bool>>,
}

impl<F: Float> PathNet<F> {
    /// Assembles a super-network from ready-made modules: `modules[l][m]` is module `m` of
    /// shared layer `l` and `heads[t]` the head of task `t`. `input_shape` is the shape of
    /// one example (without the batch axis); it is checked on every forward pass.
    ///
    /// The modules of one layer must map the same input shape to the same output shape, and
    /// each layer's output shape must be the next layer's input shape; only the counts can be
    /// checked here, a wiring mistake surfaces as a panic in the first forward pass.
    pub fn from_parts(
        dims: PathNetDims,
        input_shape: Vec<usize>,
        modules: Vec<Vec<Box<dyn Layer<F>>>>,
        heads: Vec<Box<dyn Layer<F>>>,
    ) -> Result<Self, PathNetError> {
        dims.validate()?;
        if modules.len() != dims.layers {
            return Err(PathNetError::Build(format!(
                "{} module layers given, dims.layers = {}",
                modules.len(),
                dims.layers
            )));
        }
        if let Some((layer, row)) = modules
            .iter()
            .enumerate()
            .find(|(_, row)| row.len() != dims.modules)
        {
            return Err(PathNetError::Build(format!(
                "layer {layer} has {} modules, dims.modules = {}",
                row.len(),
                dims.modules
            )));
        }
        if heads.is_empty() {
            return Err(PathNetError::Build(
                "at least one task head is needed".into(),
            ));
        }
        let mut sizes: Vec<usize> = vec![dims.modules; dims.layers];
        sizes.push(heads.len());
        Ok(PathNet {
            dims,
            input_shape,
            modules,
            heads,
            versions: sizes.iter().map(|&n| vec![0; n]).collect(),
            frozen: sizes.iter().map(|&n| vec![false; n]).collect(),
        })
    }

    /// Its `L`, `M` and `N`.
    pub fn dims(&self) -> &PathNetDims {
        &self.dims
    }

    /// The shape of one example, without the batch axis.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Task heads it has.
    pub fn tasks(&self) -> usize {
        self.heads.len()
    }

    /// The id of task `task`'s head: the last layer, one entry per task.
    pub fn head_id(&self, task: usize) -> Result<ModuleId, PathNetError> {
        self.check_task(task)?;
        Ok(ModuleId::new(self.dims.layers, task))
    }

    /// Whether `id` is in the heads' layer (it need not exist).
    pub fn is_head(&self, id: ModuleId) -> bool {
        id.layer == self.dims.layers
    }

    /// Every module id: shared layers in order, then the heads.
    pub fn module_ids(&self) -> impl Iterator<Item = ModuleId> + '_ {
        self.versions
            .iter()
            .enumerate()
            .flat_map(|(layer, row)| (0..row.len()).map(move |index| ModuleId::new(layer, index)))
    }

    /// The module (or head) `id`.
    ///
    /// # Errors
    /// [`PathNetError::UnknownModule`] for an id outside the network.
    pub fn module(&self, id: ModuleId) -> Result<&dyn Layer<F>, PathNetError> {
        self.check_id(id)?;
        Ok(self.layer_ref(id))
    }

    /// The module's parameter tensors, in the module's `params()` order.
    pub fn params(&self, id: ModuleId) -> Result<Vec<ArrayViewD<'_, F>>, PathNetError> {
        Ok(self.module(id)?.params())
    }

    /// Overwrites a module's parameters (count, shapes and finiteness are checked first, so
    /// a rejected upload changes nothing) and increments its version. Frozen modules can be
    /// written: freezing only stops training from changing them.
    pub fn set_params(&mut self, id: ModuleId, params: &[ArrayD<F>]) -> Result<u64, PathNetError> {
        self.assign(id, params)?;
        Ok(self.bump(id))
    }

    /// Overwrites a module's parameters and sets its version to `version`, for a replica
    /// adopting a module together with the version its owner gave it.
    pub fn load_params(
        &mut self,
        id: ModuleId,
        params: &[ArrayD<F>],
        version: u64,
    ) -> Result<(), PathNetError> {
        self.assign(id, params)?;
        self.versions[id.layer][id.index] = version;
        Ok(())
    }

    /// The module's version: 0 when built, incremented whenever training or
    /// [`PathNet::set_params`] changes it, set by [`PathNet::load_params`].
    pub fn version(&self, id: ModuleId) -> Result<u64, PathNetError> {
        self.check_id(id)?;
        Ok(self.versions[id.layer][id.index])
    }

    /// Marks a module (shared or head) so that training and [`PathNet::reinit_unfrozen`]
    /// leave it unchanged; it is still used in forward passes.
    pub fn freeze(&mut self, id: ModuleId) -> Result<(), PathNetError> {
        self.set_frozen(id, true)
    }

    /// Lets training change the module again.
    pub fn unfreeze(&mut self, id: ModuleId) -> Result<(), PathNetError> {
        self.set_frozen(id, false)
    }

    /// Freezes every shared module `pathway` uses (its head is not included: freeze it by
    /// [`PathNet::head_id`] if the old task must keep working).
    pub fn freeze_pathway(&mut self, pathway: &Pathway) -> Result<(), PathNetError> {
        pathway.validate(&self.dims)?;
        for id in pathway.module_ids() {
            self.frozen[id.layer][id.index] = true;
        }
        Ok(())
    }

    /// Whether the module is frozen.
    pub fn is_frozen(&self, id: ModuleId) -> Result<bool, PathNetError> {
        self.check_id(id)?;
        Ok(self.frozen[id.layer][id.index])
    }

    /// Every frozen module, in [`PathNet::module_ids`] order.
    pub fn frozen_ids(&self) -> Vec<ModuleId> {
        self.module_ids()
            .filter(|id| self.frozen[id.layer][id.index])
            .collect()
    }

    /// Draws fresh parameters for every module that is not frozen, heads included, in
    /// [`PathNet::module_ids`] order (so a seeded `rng` gives the same network), and
    /// increments their versions. This is the transfer step: freeze the best pathway of the
    /// old task, then re-initialise the rest.
    pub fn reinit_unfrozen(&mut self, rng: &mut dyn rand::RngCore) -> Vec<ModuleId> {
        let ids: Vec<ModuleId> = self
            .module_ids()
            .filter(|id| !self.frozen[id.layer][id.index])
            .collect();
        for &id in &ids {
            self.layer_mut(id).reinit(rng);
            self.bump(id);
        }
        ids
    }

    /// Moves every module and head to `device` (see [`crate::place`]); versions and frozen
    /// flags stay. A module that cannot be placed stays where it was, and the error names it;
    /// the modules placed before it stay placed.
    pub fn place(&mut self, device: Device) -> Result<(), PlaceError> {
        for slot in self
            .modules
            .iter_mut()
            .flatten()
            .chain(self.heads.iter_mut())
        {
            let layer = std::mem::replace(slot, Box::new(crate::Flatten));
            *slot = match try_place(layer, device) {
                Ok(placed) => placed,
                Err((e, layer)) => {
                    *slot = layer;
                    return Err(e);
                }
            };
        }
        Ok(())
    }

    pub(super) fn check_task(&self, task: usize) -> Result<(), PathNetError> {
        if task >= self.heads.len() {
            return Err(PathNetError::UnknownTask {
                task,
                tasks: self.heads.len(),
            });
        }
        Ok(())
    }

    fn check_id(&self, id: ModuleId) -> Result<(), PathNetError> {
        match self.versions.get(id.layer) {
            Some(row) if id.index < row.len() => Ok(()),
            _ => Err(PathNetError::UnknownModule { id }),
        }
    }

    pub(super) fn layer_ref(&self, id: ModuleId) -> &dyn Layer<F> {
        if self.is_head(id) {
            self.heads[id.index].as_ref()
        } else {
            self.modules[id.layer][id.index].as_ref()
        }
    }

    pub(super) fn layer_mut(&mut self, id: ModuleId) -> &mut dyn Layer<F> {
        if self.is_head(id) {
            self.heads[id.index].as_mut()
        } else {
            self.modules[id.layer][id.index].as_mut()
        }
    }

    /// Only for ids already checked.
    pub(super) fn frozen_unchecked(&self, id: ModuleId) -> bool {
        self.frozen[id.layer][id.index]
    }

    /// Records a parameter change of an already checked id; returns the new version.
    pub(super) fn bump(&mut self, id: ModuleId) -> u64 {
        let version = &mut self.versions[id.layer][id.index];
        *version += 1;
        *version
    }

    fn set_frozen(&mut self, id: ModuleId, frozen: bool) -> Result<(), PathNetError> {
        self.check_id(id)?;
        self.frozen[id.layer][id.index] = frozen;
        Ok(())
    }

    fn assign(&mut self, id: ModuleId, params: &[ArrayD<F>]) -> Result<(), PathNetError> {
        let current = self.params(id)?;
        if current.len() != params.len() {
            return Err(PathNetError::ParamCount {
                id,
                expected: current.len(),
                actual: params.len(),
            });
        }
        for (param, (have, given)) in current.iter().zip(params).enumerate() {
            if have.shape() != given.shape() {
                return Err(PathNetError::ParamShape {
                    id,
                    param,
                    expected: have.shape().to_vec(),
                    actual: given.shape().to_vec(),
                });
            }
            if let Some(bad) = given.iter().find(|v| !v.is_finite()) {
                return Err(PathNetError::NonFinite {
                    id,
                    param,
                    value: bad.to_f64().unwrap_or(f64::NAN),
                });
            }
        }
        for (mut have, given) in self.layer_mut(id).params_mut().into_iter().zip(params) {
            have.assign(given);
        }
        Ok(())
    }
}
