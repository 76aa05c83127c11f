//! Forward and backward passes of one pathway through the super-network.

mod pathway_layer;

pub use pathway_layer::PathwayLayer;

use super::{ModuleId, PathNet, PathNetError, Pathway};
use crate::{Cache, Float, Forward};
use ndarray::{ArrayD, ArrayViewD};

/// What a pathway's forward pass keeps for its backward pass. It records the pathway and
/// task it was made for, so a backward pass cannot be paired with the wrong modules.
pub struct PathwayCache {
    pathway: Pathway,
    task: usize,
    pass: PassCache,
    output_shape: Vec<usize>,
}

impl PathwayCache {
    /// The pathway the forward pass ran.
    pub fn pathway(&self) -> &Pathway {
        &self.pathway
    }

    /// The task whose head it ended in.
    pub fn task(&self) -> usize {
        self.task
    }
}

/// The module caches of one pass, without the pathway they belong to: training runs many
/// passes of one pathway and need not copy it into each.
pub(super) struct PassCache {
    /// One cache per active module, in the pathway's order.
    layers: Vec<Vec<Cache>>,
    head: Cache,
}

/// A pathway's forward pass: the output and what its backward pass needs.
pub struct PathwayForward<F> {
    /// The task head's output, `[batch, classes]`.
    pub output: ArrayD<F>,
    /// For the backward pass of this very pathway and task.
    pub cache: PathwayCache,
}

/// The gradients of one module's parameters, in its `params()` order.
#[derive(Debug, Clone)]
pub struct ModuleGrads<F> {
    /// The module.
    pub id: ModuleId,
    /// One gradient per parameter tensor, shaped like it.
    pub grads: Vec<ArrayD<F>>,
}

/// The result of a pathway's backward pass: only the active modules and the task's head
/// appear in `modules` (shared modules layer by layer in pathway order, the head last).
#[derive(Debug, Clone)]
pub struct PathwayGrads<F> {
    /// The gradient with respect to the pathway's input, shaped like it.
    pub input_grad: ArrayD<F>,
    /// The parameter gradients of every module the pathway used, head last.
    pub modules: Vec<ModuleGrads<F>>,
}

/// What a backward pass must produce; work that nothing wanted depends on is skipped.
#[derive(Clone, Copy)]
struct Wanted {
    input_grad: bool,
    /// Whether frozen modules' parameter gradients are wanted too.
    frozen: bool,
}

impl Wanted {
    /// [`PathNet::backward`].
    const EVERYTHING: Wanted = Wanted {
        input_grad: true,
        frozen: true,
    };
    /// [`PathNet::backward_params`].
    const TRAINABLE: Wanted = Wanted {
        input_grad: false,
        frozen: false,
    };
    /// [`Layer::backward_params`] of a [`PathwayLayer`], which knows nothing of freezing.
    const PARAMS: Wanted = Wanted {
        input_grad: false,
        frozen: true,
    };
}

/// The results of a backward pass, as [`Wanted`].
struct Computed<F> {
    input_grad: Option<ArrayD<F>>,
    modules: Vec<ModuleGrads<F>>,
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
        Ok(self.forward_recorded(pathway, task, input))
    }

    /// The vector-Jacobian product of the pass `cache` was recorded in: `output_grad` is
    /// d loss / d output. Call it on the network that made `cache` and before changing any
    /// of the pathway's parameters, since modules use their current weights here.
    pub fn backward(
        &self,
        cache: &PathwayCache,
        output_grad: ArrayViewD<'_, F>,
    ) -> Result<PathwayGrads<F>, PathNetError> {
        let Computed {
            input_grad,
            modules,
        } = self.backward_recorded(cache, output_grad, Wanted::EVERYTHING)?;
        Ok(PathwayGrads {
            input_grad: input_grad.expect("the input gradient was asked for"),
            modules,
        })
    }

    /// The parameter gradients training applies, and only those: what [`PathNet::backward`]
    /// gives for the pathway's unfrozen modules and head (bit for bit, in the same order),
    /// without the input gradient and without the frozen modules. Gradients still flow
    /// through frozen modules to unfrozen ones below them, but no work is spent below the
    /// lowest layer that has an unfrozen module.
    pub fn backward_params(
        &self,
        cache: &PathwayCache,
        output_grad: ArrayViewD<'_, F>,
    ) -> Result<Vec<ModuleGrads<F>>, PathNetError> {
        Ok(self
            .backward_recorded(cache, output_grad, Wanted::TRAINABLE)?
            .modules)
    }

    pub(super) fn check_input(&self, shape: &[usize]) -> Result<(), PathNetError> {
        if shape.len() != self.input_shape.len() + 1 || shape[1..] != self.input_shape[..] {
            return Err(PathNetError::BatchShape {
                what: "pathway input",
                expected: format!("[batch, {:?}]", self.input_shape),
                actual: shape.to_vec(),
            });
        }
        Ok(())
    }

    fn forward_recorded(
        &self,
        pathway: &Pathway,
        task: usize,
        input: ArrayViewD<'_, F>,
    ) -> PathwayForward<F> {
        let (output, pass) = self.forward_pass(pathway, task, input);
        PathwayForward {
            cache: PathwayCache {
                pathway: pathway.clone(),
                task,
                pass,
                output_shape: output.shape().to_vec(),
            },
            output,
        }
    }

    fn backward_recorded(
        &self,
        cache: &PathwayCache,
        output_grad: ArrayViewD<'_, F>,
        wanted: Wanted,
    ) -> Result<Computed<F>, PathNetError> {
        if output_grad.shape() != cache.output_shape.as_slice() {
            return Err(PathNetError::BatchShape {
                what: "pathway output gradient",
                expected: format!("{:?}", cache.output_shape),
                actual: output_grad.shape().to_vec(),
            });
        }
        Ok(self.backward_pass(&cache.pathway, cache.task, &cache.pass, output_grad, wanted))
    }

    /// The forward pass of an already validated pathway, task and input shape.
    pub(super) fn forward_pass(
        &self,
        pathway: &Pathway,
        task: usize,
        input: ArrayViewD<'_, F>,
    ) -> (ArrayD<F>, PassCache) {
        let mut layers = Vec::with_capacity(pathway.num_layers());
        let mut current: Option<ArrayD<F>> = None;
        for (layer, active) in pathway.layers().iter().enumerate() {
            let x = current.as_ref().map_or_else(|| input.view(), |a| a.view());
            let mut caches = Vec::with_capacity(active.len());
            let mut sum: Option<ArrayD<F>> = None;
            for &index in active {
                let Forward { output, cache } = self.modules[layer][index].forward(x.view());
                caches.push(cache);
                accumulate(&mut sum, output);
            }
            layers.push(caches);
            current = Some(sum.expect("a validated pathway has no empty layer"));
        }
        let shared = current.expect("a validated pathway has at least one layer");
        let Forward { output, cache } = self.heads[task].forward(shared.view());
        (
            output,
            PassCache {
                layers,
                head: cache,
            },
        )
    }

    /// The parameter gradients training applies (see [`PathNet::backward_params`]), for a
    /// pass of an already validated pathway whose output gradient has the output's shape.
    pub(super) fn trainable_grads(
        &self,
        pathway: &Pathway,
        task: usize,
        pass: &PassCache,
        output_grad: ArrayViewD<'_, F>,
    ) -> Vec<ModuleGrads<F>> {
        self.backward_pass(pathway, task, pass, output_grad, Wanted::TRAINABLE)
            .modules
    }

    /// Walks the pathway backwards computing what `wanted` asks for. A layer's input
    /// gradient is needed only if some wanted parameter lies below it; a module whose input
    /// gradient is not needed runs the cheaper parameters-only backward, and one whose
    /// parameters are not wanted either is skipped.
    fn backward_pass(
        &self,
        pathway: &Pathway,
        task: usize,
        pass: &PassCache,
        output_grad: ArrayViewD<'_, F>,
        wanted: Wanted,
    ) -> Computed<F> {
        let wants = |id: ModuleId| wanted.frozen || !self.frozen_unchecked(id);
        // Layers at or below this one need no gradient flowing into them from above.
        let lowest = if wanted.input_grad {
            Some(0)
        } else {
            pathway
                .module_ids()
                .find(|&id| wants(id))
                .map(|id| id.layer)
        };
        let head_id = ModuleId::new(self.dims.layers, task);
        let head = &self.heads[task];
        let mut head_grads = None;
        let mut grad = if lowest.is_some() {
            let b = head.backward(&pass.head, output_grad);
            head_grads = wants(head_id).then_some(b.param_grads);
            Some(b.input_grad)
        } else {
            if wants(head_id) {
                head_grads = Some(head.backward_params(&pass.head, output_grad));
            }
            None
        };
        let mut per_layer = Vec::with_capacity(pass.layers.len());
        for (layer, (active, caches)) in pathway.layers().iter().zip(&pass.layers).enumerate().rev()
        {
            let (Some(dy), Some(lowest)) = (grad.take(), lowest) else {
                break;
            };
            if layer < lowest {
                break;
            }
            let needs_input_grad = wanted.input_grad || layer > lowest;
            // Every active module saw the same input and contributed additively to the
            // output, so each receives the full output gradient and the input gradients add.
            let mut input_grad: Option<ArrayD<F>> = None;
            let mut grads = Vec::with_capacity(active.len());
            for (&index, cache) in active.iter().zip(caches) {
                let id = ModuleId::new(layer, index);
                let module = &self.modules[layer][index];
                let param_grads = if needs_input_grad {
                    let b = module.backward(cache, dy.view());
                    accumulate(&mut input_grad, b.input_grad);
                    b.param_grads
                } else if wants(id) {
                    module.backward_params(cache, dy.view())
                } else {
                    continue;
                };
                if wants(id) {
                    grads.push(ModuleGrads {
                        id,
                        grads: param_grads,
                    });
                }
            }
            per_layer.push(grads);
            grad = input_grad;
        }
        let mut modules: Vec<ModuleGrads<F>> = per_layer.into_iter().rev().flatten().collect();
        if let Some(grads) = head_grads {
            modules.push(ModuleGrads { id: head_id, grads });
        }
        Computed {
            input_grad: grad.filter(|_| wanted.input_grad),
            modules,
        }
    }
}

/// Adds `term` into `sum`, taking it as the sum when there is none yet. Module outputs and
/// gradients are fresh, contiguous arrays, so a flat loop does it; ndarray's dynamic-rank
/// `+=` walks them several times slower.
fn accumulate<F: Float>(sum: &mut Option<ArrayD<F>>, term: ArrayD<F>) {
    let Some(total) = sum else {
        *sum = Some(term);
        return;
    };
    assert_eq!(
        total.shape(),
        term.shape(),
        "the modules of one layer disagree on their output shape"
    );
    match (total.as_slice_mut(), term.as_slice()) {
        (Some(t), Some(x)) => t.iter_mut().zip(x).for_each(|(t, &x)| *t += x),
        _ => *total += &term,
    }
}
