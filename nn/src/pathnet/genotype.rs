//! Pathway genotypes: which modules of each layer a pathway uses, and module ids.

use super::PathNetError;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The size of a super-network: `L` layers of `M` modules, at most `N` active per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PathNetDims {
    /// `L`: shared layers (the per-task head comes after them and is not counted).
    pub layers: usize,
    /// `M`: modules per layer.
    pub modules: usize,
    /// `N`: most modules a pathway may use in one layer.
    pub max_active: usize,
}

impl PathNetDims {
    /// `L` layers of `M` modules, at most `N` active per layer.
    ///
    /// # Errors
    /// [`PathNetError::Dims`] for a zero size or `N > M`.
    pub fn new(layers: usize, modules: usize, max_active: usize) -> Result<Self, PathNetError> {
        let dims = PathNetDims {
            layers,
            modules,
            max_active,
        };
        dims.validate()?;
        Ok(dims)
    }

    /// Rejects sizes no pathway can satisfy; fields are public, so anything built by hand or
    /// deserialised is checked again wherever it is used.
    pub fn validate(&self) -> Result<(), PathNetError> {
        let bad = |field, value, reason: &str| PathNetError::Dims {
            field,
            value,
            reason: reason.to_owned(),
        };
        if self.layers == 0 {
            return Err(bad("layers", self.layers, "must be at least 1"));
        }
        if self.modules == 0 {
            return Err(bad("modules", self.modules, "must be at least 1"));
        }
        if self.max_active == 0 {
            return Err(bad("max_active", self.max_active, "must be at least 1"));
        }
        if self.max_active > self.modules {
            return Err(bad(
                "max_active",
                self.max_active,
                &format!("cannot exceed modules = {}", self.modules),
            ));
        }
        Ok(())
    }
}

/// The stable address of one parameter-owning module.
///
/// Shared modules have `layer < L` and `index < M`. The task heads form the last layer:
/// the head of task `t` is `ModuleId { layer: L, index: t }`, so heads are versioned,
/// shipped and frozen exactly like shared modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ModuleId {
    /// The layer, 0-based; `L` for the task heads.
    pub layer: usize,
    /// The module within its layer (for a head, the task).
    pub index: usize,
}

impl ModuleId {
    /// The module `index` of layer `layer`.
    pub fn new(layer: usize, index: usize) -> Self {
        ModuleId { layer, index }
    }
}

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.layer, self.index)
    }
}

/// A pathway: for each of the `L` layers, the distinct indices of its active modules
/// (between 1 and `N` of them), in the order they were drawn.
///
/// The order is kept because mutation works per position, but it never affects the
/// network's output: a layer sums its active modules. A deserialised pathway is unchecked
/// until used: everything that takes a pathway validates it against the network's dims.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pathway {
    layers: Vec<Vec<usize>>,
}

impl Pathway {
    /// Builds a pathway after checking it against `dims`.
    pub fn new(layers: Vec<Vec<usize>>, dims: &PathNetDims) -> Result<Self, PathNetError> {
        let pathway = Pathway { layers };
        pathway.validate(dims)?;
        Ok(pathway)
    }

    /// A pathway of exactly `N` distinct modules per layer, drawn uniformly from `seed`.
    pub fn random(dims: &PathNetDims, seed: u64) -> Result<Self, PathNetError> {
        Self::random_with(dims, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// As [`Pathway::random`], drawing from a caller's generator (e.g. one per population).
    pub fn random_with(
        dims: &PathNetDims,
        rng: &mut dyn rand::RngCore,
    ) -> Result<Self, PathNetError> {
        dims.validate()?;
        let layers = (0..dims.layers)
            .map(|_| sample(rng, dims.modules, dims.max_active).into_vec())
            .collect();
        Ok(Pathway { layers })
    }

    /// Checks the layer count, each layer's size (1..=N), every index (< M) and that no
    /// index repeats within a layer.
    pub fn validate(&self, dims: &PathNetDims) -> Result<(), PathNetError> {
        dims.validate()?;
        if self.layers.len() != dims.layers {
            return Err(PathNetError::LayerCount {
                expected: dims.layers,
                actual: self.layers.len(),
            });
        }
        for (layer, active) in self.layers.iter().enumerate() {
            if active.is_empty() {
                return Err(PathNetError::EmptyLayer { layer });
            }
            for (position, &value) in active.iter().enumerate() {
                if value >= dims.modules {
                    return Err(PathNetError::IndexOutOfRange {
                        layer,
                        position,
                        value,
                        modules: dims.modules,
                    });
                }
                if let Some(first) = active[..position].iter().position(|&v| v == value) {
                    return Err(PathNetError::Duplicate {
                        layer,
                        position,
                        value,
                        first,
                    });
                }
            }
            // Checked after duplicates so that N copies of one index plus one more are
            // reported as the duplicate they are, not as a size problem.
            if active.len() > dims.max_active {
                return Err(PathNetError::TooManyActive {
                    layer,
                    actual: active.len(),
                    max: dims.max_active,
                });
            }
        }
        Ok(())
    }

    /// Layers of the pathway (`L` once validated).
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The active module indices of `layer`.
    ///
    /// # Panics
    /// If `layer >= self.num_layers()`.
    pub fn layer(&self, layer: usize) -> &[usize] {
        &self.layers[layer]
    }

    /// Every layer's active module indices.
    pub fn layers(&self) -> &[Vec<usize>] {
        &self.layers
    }

    /// Ids of every shared module this pathway uses, layer by layer (the head excluded).
    pub fn module_ids(&self) -> impl Iterator<Item = ModuleId> + '_ {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(layer, active)| active.iter().map(move |&index| ModuleId { layer, index }))
    }

    /// Whether the pathway uses the shared module `id` (never true for a head).
    pub fn uses(&self, id: ModuleId) -> bool {
        self.layers
            .get(id.layer)
            .is_some_and(|active| active.contains(&id.index))
    }

    /// Mutable access for the GA operators, which keep the invariants themselves.
    pub(super) fn layers_mut(&mut self) -> &mut [Vec<usize>] {
        &mut self.layers
    }
}

impl fmt::Display for Pathway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layers: Vec<String> = self
            .layers
            .iter()
            .map(|active| {
                let items: Vec<String> = active.iter().map(usize::to_string).collect();
                format!("[{}]", items.join(","))
            })
            .collect();
        write!(f, "{}", layers.join(" "))
    }
}
