//! The master copy of the super-network's parameters, versioned per module, and the checks
//! every incoming delta passes before it touches them.
//!
//! Deltas are applied Hogwild-style, as in the paper: added to the parameters as they are
//! now, even when other results changed them since the delta's base version. A result is
//! checked whole first (modules, tensor counts and shapes, finiteness of the delta and of
//! the sum), so a refused result changes nothing.

use ndarray::ArrayD;
use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetError, Pathway};
use pathnet_work::{ModuleDelta, ModuleParams};

/// Why a result's module deltas were refused; nothing of the result was applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeltaError {
    /// The super-network has no such module.
    #[error("module {module} does not exist")]
    UnknownModule {
        /// The module the delta named.
        module: ModuleId,
    },
    /// The module is frozen (an earlier task's best pathway).
    #[error("module {module} is frozen and takes no updates")]
    Frozen {
        /// The frozen module.
        module: ModuleId,
    },
    /// The evaluation's pathway does not train the module.
    #[error("module {module} is not trained by this evaluation")]
    NotTrained {
        /// The module the delta named.
        module: ModuleId,
    },
    /// Two deltas name the same module.
    #[error("module {module} appears more than once")]
    Duplicate {
        /// The repeated module.
        module: ModuleId,
    },
    /// The delta's base version is 0 or above the module's current version.
    #[error("module {module}: base version {base} was never assigned (current version {current})")]
    BadBaseVersion {
        /// The module.
        module: ModuleId,
        /// The version the delta claims to start from.
        base: u64,
        /// The module's version now.
        current: u64,
    },
    /// The delta has another number of tensors than the module.
    #[error("module {module}: {actual} delta tensors given, the module has {expected}")]
    TensorCount {
        /// The module.
        module: ModuleId,
        /// The module's tensors.
        expected: usize,
        /// The delta's tensors.
        actual: usize,
    },
    /// A delta tensor's shape differs from the module's tensor.
    #[error("module {module} tensor {tensor}: shape {actual:?} given, expected {expected:?}")]
    Shape {
        /// The module.
        module: ModuleId,
        /// Index of the tensor in the module's `params()` order.
        tensor: usize,
        /// The module tensor's shape.
        expected: Vec<usize>,
        /// The delta tensor's shape.
        actual: Vec<usize>,
    },
    /// A delta element is NaN or infinite.
    #[error("module {module} tensor {tensor}: element {index} is {value}, not a finite number")]
    NonFinite {
        /// The module.
        module: ModuleId,
        /// Index of the tensor in the module's `params()` order.
        tensor: usize,
        /// Index of the element in the tensor, in row-major order.
        index: usize,
        /// The element.
        value: f32,
    },
    /// Adding a finite delta would make a parameter infinite.
    #[error("module {module} tensor {tensor}: adding the delta makes element {index} {value}")]
    Overflow {
        /// The module.
        module: ModuleId,
        /// Index of the tensor in the module's `params()` order.
        tensor: usize,
        /// Index of the element in the tensor, in row-major order.
        index: usize,
        /// The sum, not finite.
        value: f32,
    },
}

/// Deltas checked and summed with the current parameters, ready to be committed.
#[derive(Debug)]
pub struct PreparedUpdate {
    modules: Vec<(ModuleId, u64, Vec<ArrayD<f32>>)>,
}

/// Parameters of many modules, each with its tensors in the module's `params()` order.
pub type ModuleTensors = Vec<(ModuleId, Vec<ArrayD<f32>>)>;

/// Owns the super-network whose parameters every pathway trains.
pub struct ParameterStore {
    net: PathNet<f32>,
}

impl ParameterStore {
    /// Takes ownership of `net` and gives every module version 1: on the wire 0 means
    /// "never assigned", so a replica can use it for placeholders.
    pub fn new(mut net: PathNet<f32>) -> Result<Self, PathNetError> {
        for id in net.module_ids().collect::<Vec<_>>() {
            let tensors: Vec<ArrayD<f32>> = net.params(id)?.iter().map(|p| p.to_owned()).collect();
            net.load_params(id, &tensors, 1)?;
        }
        Ok(ParameterStore { net })
    }

    /// The super-network, read-only.
    pub fn net(&self) -> &PathNet<f32> {
        &self.net
    }

    /// Module `id`'s current version; an error for a module the network does not have.
    pub fn version(&self, id: ModuleId) -> Result<u64, PathNetError> {
        self.net.version(id)
    }

    /// Whether module `id` is frozen; an error for a module the network does not have.
    pub fn is_frozen(&self, id: ModuleId) -> Result<bool, PathNetError> {
        self.net.is_frozen(id)
    }

    /// A copy of one module's current parameters and version.
    pub fn snapshot(&self, id: ModuleId) -> Result<ModuleParams, PathNetError> {
        Ok(ModuleParams {
            id,
            version: self.net.version(id)?,
            tensors: self.net.params(id)?.iter().map(|p| p.to_owned()).collect(),
        })
    }

    /// Checks `deltas` against the modules an evaluation may train and sums them with the
    /// current parameters, without changing anything yet.
    pub fn prepare(
        &self,
        deltas: &[ModuleDelta],
        trainable: &[ModuleId],
    ) -> Result<PreparedUpdate, DeltaError> {
        let mut modules: Vec<(ModuleId, u64, Vec<ArrayD<f32>>)> = Vec::with_capacity(deltas.len());
        for delta in deltas {
            let module = delta.id;
            let current = self
                .net
                .version(module)
                .map_err(|_| DeltaError::UnknownModule { module })?;
            if self.net.is_frozen(module).unwrap_or(false) {
                return Err(DeltaError::Frozen { module });
            }
            if !trainable.contains(&module) {
                return Err(DeltaError::NotTrained { module });
            }
            if modules.iter().any(|(id, ..)| *id == module) {
                return Err(DeltaError::Duplicate { module });
            }
            if delta.base_version == 0 || delta.base_version > current {
                return Err(DeltaError::BadBaseVersion {
                    module,
                    base: delta.base_version,
                    current,
                });
            }
            let params = self
                .net
                .params(module)
                .map_err(|_| DeltaError::UnknownModule { module })?;
            if params.len() != delta.tensors.len() {
                return Err(DeltaError::TensorCount {
                    module,
                    expected: params.len(),
                    actual: delta.tensors.len(),
                });
            }
            let mut summed = Vec::with_capacity(params.len());
            for (tensor, (param, change)) in params.iter().zip(&delta.tensors).enumerate() {
                if param.shape() != change.shape() {
                    return Err(DeltaError::Shape {
                        module,
                        tensor,
                        expected: param.shape().to_vec(),
                        actual: change.shape().to_vec(),
                    });
                }
                if let Some((index, &value)) =
                    change.iter().enumerate().find(|(_, v)| !v.is_finite())
                {
                    return Err(DeltaError::NonFinite {
                        module,
                        tensor,
                        index,
                        value,
                    });
                }
                let sum = param + change;
                if let Some((index, &value)) = sum.iter().enumerate().find(|(_, v)| !v.is_finite())
                {
                    return Err(DeltaError::Overflow {
                        module,
                        tensor,
                        index,
                        value,
                    });
                }
                summed.push(sum);
            }
            modules.push((module, delta.base_version, summed));
        }
        Ok(PreparedUpdate { modules })
    }

    /// Writes prepared parameters, one version step per module. Returns how many deltas
    /// were computed against an older version than the one they were added to.
    pub fn commit(&mut self, update: PreparedUpdate) -> Result<CommitStats, PathNetError> {
        let mut stats = CommitStats::default();
        for (id, base, tensors) in update.modules {
            let on_base = self.net.version(id)? == base;
            self.net.set_params(id, &tensors)?;
            stats.modules += 1;
            if on_base {
                stats.from_base.push((id, self.net.version(id)?));
            } else {
                stats.stale += 1;
            }
        }
        Ok(stats)
    }

    /// Sets a module's parameters, version and frozen flag as a checkpoint saved them.
    pub fn load(
        &mut self,
        id: ModuleId,
        tensors: &[ArrayD<f32>],
        version: u64,
        frozen: bool,
    ) -> Result<(), PathNetError> {
        self.net.load_params(id, tensors, version)?;
        if frozen {
            self.net.freeze(id)
        } else {
            self.net.unfreeze(id)
        }
    }

    /// Every module's parameters, in [`PathNet::module_ids`] order.
    pub fn capture(&self) -> Result<ModuleTensors, PathNetError> {
        capture(&self.net)
    }

    /// Unfreezes every module and overwrites the given ones (as `capture` returns them).
    /// Versions step forward, never back, so a replica holding an older copy of a module
    /// sees that it must fetch it again.
    pub fn replace_all(&mut self, modules: &ModuleTensors) -> Result<(), PathNetError> {
        for id in self.net.frozen_ids() {
            self.net.unfreeze(id)?;
        }
        for (id, tensors) in modules {
            self.net.set_params(*id, tensors)?;
        }
        Ok(())
    }

    /// The transfer step: freeze `best`'s modules, draw fresh parameters for every other
    /// module (heads included) and bump their versions. Returns the re-initialised ids.
    pub fn transfer(
        &mut self,
        best: &Pathway,
        rng: &mut dyn rand::RngCore,
    ) -> Result<Vec<ModuleId>, PathNetError> {
        self.net.freeze_pathway(best)?;
        Ok(self.net.reinit_unfrozen(rng))
    }
}

/// Every module's parameters of `net`, in [`PathNet::module_ids`] order.
pub(super) fn capture(net: &PathNet<f32>) -> Result<ModuleTensors, PathNetError> {
    net.module_ids()
        .map(|id| Ok((id, net.params(id)?.iter().map(|p| p.to_owned()).collect())))
        .collect()
}

/// What one commit did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitStats {
    pub modules: u64,
    pub stale: u64,
    /// The modules whose delta was added to its own base version, with the version that
    /// made: their parameters are now exactly base + delta.
    pub from_base: Vec<(ModuleId, u64)>,
}
