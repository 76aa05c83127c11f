//! The picture of a PathNet population that monitoring draws: the L x M grid of modules,
//! how many members use each one, the best pathway so far and the modules frozen by
//! earlier tasks.

use pathnet_nn::pathnet::{ModuleId, PathNetDims, Pathway};
use serde::Serialize;

/// The pathways of the task being evolved, as the dashboard draws them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathwayView {
    /// The task (or, for runs in phases, the phase) these pathways are evolved on.
    pub task: usize,
    /// Hidden layers of the super-network (`L`).
    pub layers: usize,
    /// Modules per layer (`M`).
    pub modules_per_layer: usize,
    /// For each layer, the active modules of the best pathway found on the task so far.
    pub best: Option<Vec<Vec<usize>>>,
    /// For each layer and module, how many members of the population use the module.
    pub usage: Vec<Vec<u32>>,
    /// Shared modules frozen by earlier tasks, as `[layer, module]` (task heads left out:
    /// they are not on the grid).
    pub frozen: Vec<[usize; 2]>,
}

impl PathwayView {
    /// The view of task `task`'s population `members` on a network of `dims`, with its
    /// best pathway and the modules frozen so far.
    pub fn new<'a>(
        task: usize,
        dims: &PathNetDims,
        members: impl IntoIterator<Item = &'a Pathway>,
        best: Option<&Pathway>,
        frozen: impl IntoIterator<Item = ModuleId>,
    ) -> Self {
        let mut usage = vec![vec![0u32; dims.modules]; dims.layers];
        for id in members.into_iter().flat_map(Pathway::module_ids) {
            // A member is validated against the dims when created; skipping is only a guard.
            if let Some(count) = usage.get_mut(id.layer).and_then(|l| l.get_mut(id.index)) {
                *count += 1;
            }
        }
        PathwayView {
            task,
            layers: dims.layers,
            modules_per_layer: dims.modules,
            best: best.map(|p| p.layers().to_vec()),
            usage,
            frozen: frozen
                .into_iter()
                .filter(|id| id.layer < dims.layers)
                .map(|id| [id.layer, id.index])
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_members_and_heads_are_not_on_the_grid() {
        let dims = PathNetDims::new(2, 3, 2).unwrap();
        let a = Pathway::new(vec![vec![0, 1], vec![2]], &dims).unwrap();
        let b = Pathway::new(vec![vec![1], vec![2, 0]], &dims).unwrap();
        let frozen = [ModuleId::new(0, 1), ModuleId::new(2, 0)];
        let view = PathwayView::new(4, &dims, [&a, &b], Some(&b), frozen);
        assert_eq!(view.usage, vec![vec![1, 2, 0], vec![1, 0, 2]]);
        assert_eq!(view.best, Some(vec![vec![1], vec![2, 0]]));
        assert_eq!(view.frozen, vec![[0, 1]]);
        assert_eq!((view.task, view.layers, view.modules_per_layer), (4, 2, 3));
    }
}
