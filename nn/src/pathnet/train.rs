//! Training a pathway for `T` minibatches, the paper's fitness, and accuracy evaluation.
//!
//! Updates reach only the pathway's active modules and its task's head, and never a frozen
//! module. Each module has its own optimiser instance (modules are shared between pathways,
//! so optimiser state such as Adam's moments belongs to the module, not to a pathway).

use super::{ModuleGrads, ModuleId, PathNet, PathNetError, Pathway, PathwayGrads};
use crate::{Float, Optimizer, cross_entropy};
use ndarray::{ArrayD, ArrayView2, ArrayViewD, Axis, Ix2};
use std::collections::BTreeMap;

/// One optimiser per module, created on the module's first update by `make(id, shapes)`,
/// where `shapes` are the module's parameter shapes (what `RmsProp::new` needs).
pub struct ModuleOptimizers<O> {
    make: Box<MakeOptimizer<O>>,
    by_module: BTreeMap<ModuleId, O>,
}

type MakeOptimizer<O> = dyn FnMut(ModuleId, &[Vec<usize>]) -> O + Send;

impl<O> ModuleOptimizers<O> {
    /// No optimiser yet; `make(id, shapes)` creates each module's on its first update.
    pub fn new(make: impl FnMut(ModuleId, &[Vec<usize>]) -> O + Send + 'static) -> Self {
        ModuleOptimizers {
            make: Box::new(make),
            by_module: BTreeMap::new(),
        }
    }

    /// Every module starts from a clone of `prototype`: right for optimisers whose state is
    /// created on the first step, such as [`crate::Sgd`] and [`crate::Adam`].
    pub fn cloning(prototype: O) -> Self
    where
        O: Clone + Send + 'static,
    {
        Self::new(move |_, _| prototype.clone())
    }

    /// Drops the optimiser state of `ids`, e.g. after [`PathNet::reinit_unfrozen`]: state
    /// accumulated for the old parameters says nothing about the new ones.
    pub fn reset(&mut self, ids: &[ModuleId]) {
        for id in ids {
            self.by_module.remove(id);
        }
    }

    /// Modules that have an optimiser so far.
    pub fn modules(&self) -> impl Iterator<Item = ModuleId> + '_ {
        self.by_module.keys().copied()
    }
}

/// A minibatch: inputs `[batch, ..input_shape]` and one class label per row.
#[derive(Debug, Clone)]
pub struct Batch<'a, F> {
    /// `[batch, ..input_shape]`.
    pub inputs: ArrayViewD<'a, F>,
    /// One class per row of `inputs`.
    pub labels: &'a [usize],
}

/// Splits a dataset into consecutive minibatches of `size` rows (the last may be smaller).
pub fn batches<'a, F>(
    inputs: ArrayViewD<'a, F>,
    labels: &'a [usize],
    size: usize,
) -> Result<Vec<Batch<'a, F>>, PathNetError> {
    if size == 0 {
        return Err(PathNetError::Dims {
            field: "batch_size",
            value: size,
            reason: "must be at least 1".into(),
        });
    }
    let rows = inputs.shape().first().copied().unwrap_or(0);
    if rows != labels.len() {
        return Err(PathNetError::BatchShape {
            what: "dataset inputs",
            expected: format!("{} rows, one per label", labels.len()),
            actual: inputs.shape().to_vec(),
        });
    }
    let mut out = Vec::with_capacity(rows.div_ceil(size));
    let mut rest = inputs;
    for labels in labels.chunks(size) {
        let (inputs, tail) = rest.split_at(Axis(0), labels.len());
        out.push(Batch { inputs, labels });
        rest = tail;
    }
    Ok(out)
}

/// What training a pathway measured, over the batches as they were seen (each batch's
/// predictions are counted before the update it causes, as in the paper).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Mean cross-entropy of each batch.
    pub losses: Vec<f64>,
    /// Examples seen, over all batches.
    pub examples: usize,
    /// Of those, how many the pathway got wrong before the update of their batch.
    pub misclassified: usize,
}

impl TrainReport {
    /// The paper's fitness: minus the fraction of training examples misclassified.
    pub fn fitness(&self) -> f64 {
        -(self.misclassified as f64) / self.examples as f64
    }

    /// Mean of the per-batch losses.
    pub fn mean_loss(&self) -> f64 {
        self.losses.iter().sum::<f64>() / self.losses.len() as f64
    }
}

/// Accuracy and loss of a pathway on a dataset, without updating anything.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Examples evaluated.
    pub examples: usize,
    /// Of those, how many the pathway's argmax got right.
    pub correct: usize,
    /// Cross-entropy averaged over examples.
    pub mean_loss: f64,
}

impl EvalReport {
    /// `correct / examples`, in `[0, 1]`.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.examples as f64
    }
}

impl<F: Float> PathNet<F> {
    /// Applies `grads` with each module's optimiser, skipping frozen modules, and increments
    /// the versions of the modules it changed, which it returns.
    pub fn apply_grads<O: Optimizer<F>>(
        &mut self,
        grads: &PathwayGrads<F>,
        optimizers: &mut ModuleOptimizers<O>,
    ) -> Result<Vec<ModuleId>, PathNetError> {
        self.apply_module_grads(&grads.modules, optimizers)
    }

    /// [`PathNet::apply_grads`] for gradients without an input gradient, such as those of
    /// [`PathNet::backward_params`].
    pub fn apply_module_grads<O: Optimizer<F>>(
        &mut self,
        modules: &[ModuleGrads<F>],
        optimizers: &mut ModuleOptimizers<O>,
    ) -> Result<Vec<ModuleId>, PathNetError> {
        // Check every module first so that a bad id cannot leave a half-applied update.
        for module in modules {
            let params = self.params(module.id)?;
            if params.len() != module.grads.len() {
                return Err(PathNetError::ParamCount {
                    id: module.id,
                    expected: params.len(),
                    actual: module.grads.len(),
                });
            }
            for (param, (p, g)) in params.iter().zip(&module.grads).enumerate() {
                if p.shape() != g.shape() {
                    return Err(PathNetError::ParamShape {
                        id: module.id,
                        param,
                        expected: p.shape().to_vec(),
                        actual: g.shape().to_vec(),
                    });
                }
            }
        }
        let mut updated = Vec::new();
        for module in modules {
            if self.frozen_unchecked(module.id) {
                continue;
            }
            let layer = self.layer_mut(module.id);
            let optimizer = optimizers.by_module.entry(module.id).or_insert_with(|| {
                let shapes: Vec<Vec<usize>> =
                    layer.params().iter().map(|p| p.shape().to_vec()).collect();
                (optimizers.make)(module.id, &shapes)
            });
            optimizer.step(&mut layer.params_mut(), &module.grads);
            self.bump(module.id);
            updated.push(module.id);
        }
        Ok(updated)
    }

    /// Trains `pathway` on `task` with one cross-entropy step per batch (the paper's `T`
    /// minibatches), updating only its unfrozen active modules and head.
    pub fn train_pathway<'a, O: Optimizer<F>>(
        &mut self,
        pathway: &Pathway,
        task: usize,
        batches: impl IntoIterator<Item = Batch<'a, F>>,
        optimizers: &mut ModuleOptimizers<O>,
    ) -> Result<TrainReport, PathNetError> {
        let mut report = TrainReport {
            losses: Vec::new(),
            examples: 0,
            misclassified: 0,
        };
        let mut correct = 0;
        pathway.validate(&self.dims)?;
        self.check_task(task)?;
        for batch in batches {
            self.check_input(batch.inputs.shape())?;
            let (output, pass) = self.forward_pass(pathway, task, batch.inputs);
            let logits = logits(&output, task)?;
            let loss = cross_entropy(logits, batch.labels)
                .map_err(|source| PathNetError::Loss { task, source })?;
            correct += count_correct(logits, batch.labels);
            report.examples += batch.labels.len();
            report.losses.push(loss.value.to_f64().unwrap_or(f64::NAN));
            // The loss gradient has the logits' shape, so the pass needs no further checks;
            // and training needs neither the input gradient nor frozen modules' gradients.
            let grads = self.trainable_grads(pathway, task, &pass, loss.grad.view().into_dyn());
            self.apply_module_grads(&grads, optimizers)?;
        }
        if report.examples == 0 {
            return Err(PathNetError::NoData {
                what: "training a pathway",
            });
        }
        report.misclassified = report.examples - correct;
        Ok(report)
    }

    /// Accuracy and mean loss of `pathway` on `task` over `batches`.
    pub fn evaluate<'a>(
        &self,
        pathway: &Pathway,
        task: usize,
        batches: impl IntoIterator<Item = Batch<'a, F>>,
    ) -> Result<EvalReport, PathNetError> {
        let (mut examples, mut correct, mut loss_sum) = (0, 0, 0.0);
        pathway.validate(&self.dims)?;
        self.check_task(task)?;
        for batch in batches {
            self.check_input(batch.inputs.shape())?;
            let (output, _) = self.forward_pass(pathway, task, batch.inputs);
            let logits = logits(&output, task)?;
            let loss = cross_entropy(logits, batch.labels)
                .map_err(|source| PathNetError::Loss { task, source })?;
            correct += count_correct(logits, batch.labels);
            examples += batch.labels.len();
            loss_sum += loss.value.to_f64().unwrap_or(f64::NAN) * batch.labels.len() as f64;
        }
        if examples == 0 {
            return Err(PathNetError::NoData {
                what: "evaluating a pathway",
            });
        }
        Ok(EvalReport {
            examples,
            correct,
            mean_loss: loss_sum / examples as f64,
        })
    }
}

fn logits<F: Float>(output: &ArrayD<F>, task: usize) -> Result<ArrayView2<'_, F>, PathNetError> {
    output
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| PathNetError::HeadOutput {
            task,
            shape: output.shape().to_vec(),
        })
}

/// Rows whose largest logit is the label's. A row with a NaN never counts as correct: a
/// diverged pathway must not earn fitness.
fn count_correct<F: Float>(logits: ArrayView2<'_, F>, labels: &[usize]) -> usize {
    logits
        .outer_iter()
        .zip(labels)
        .filter(|(row, label)| {
            let target = row[**label];
            !row.iter().any(|v| v.is_nan())
                && row
                    .iter()
                    .enumerate()
                    .all(|(class, &v)| v < target || (v == target && class >= **label))
        })
        .count()
}
