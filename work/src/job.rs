//! A unit of work as the executor sees it: which network, which task, which pathway, which
//! parameter versions, and what training it produced.
//!
//! These types carry no transport: the coordinator's engine issues [`PathwayJob`]s and
//! accepts [`JobOutcome`]s, whether they travel over gRPC or stay in one process.

use ndarray::ArrayD;
use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetDims, PathNetError, build};
use std::path::PathBuf;

/// The shape of a linear PathNet super-network: enough for any machine to build a replica
/// whose every module has the coordinator's parameter shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Architecture {
    /// `L`, `M` and `N`.
    pub dims: PathNetDims,
    /// Units of every module.
    pub module_units: usize,
    /// Features of one input example.
    pub input_features: usize,
    /// Classes of each task's head, in task order.
    pub head_classes: Vec<usize>,
}

impl Architecture {
    /// Builds a super-network of this shape with parameters drawn from `seed`.
    pub fn build(&self, seed: u64) -> Result<PathNet<f32>, PathNetError> {
        let modules = build::LinearModules {
            inputs: self.input_features,
            units: self.module_units,
        };
        build::linear(self.dims, modules, &self.head_classes, seed)
    }
}

/// A two-class supervised task drawn from an MNIST-family dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisedTask {
    /// Directory with the IDX files, as the experiment names it; an executor may be told
    /// to read the files from elsewhere on its own machine.
    pub data_dir: PathBuf,
    /// The dataset classes that become labels 0 and 1.
    pub classes: [u8; 2],
    /// Fraction of pixels replaced by salt-and-pepper noise.
    pub noise: f32,
    /// Seed of that noise, so every machine builds the same noisy task.
    pub noise_seed: u64,
}

/// Train one pathway for `minibatches` steps of SGD and measure it.
#[derive(Debug, Clone, PartialEq)]
pub struct PathwayJob {
    /// The experiment; a replica built for another experiment is never reused.
    pub experiment: String,
    /// The super-network's shape; a replica of another shape is rebuilt.
    pub architecture: Architecture,
    /// Zero-based task index: selects the head.
    pub task_index: usize,
    /// The task the pathway trains on (its training split).
    pub task: SupervisedTask,
    /// Active module indices per hidden layer.
    pub pathway: Vec<Vec<usize>>,
    /// `T`.
    pub minibatches: usize,
    /// Examples per minibatch.
    pub batch_size: usize,
    /// SGD step size (no momentum); must be finite and positive.
    pub learning_rate: f32,
    /// Seeds the minibatch order, so the same job always trains on the same examples.
    pub data_seed: u64,
    /// Every module the pathway reads (its hidden modules and the task head) with the
    /// parameter version to train from.
    pub modules: Vec<(ModuleId, u64)>,
    /// Those of `modules` that are frozen: used, never trained, no delta reported.
    pub frozen: Vec<ModuleId>,
}

/// The parameters of one module at one version, as a replica loads them.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleParams {
    /// The module.
    pub id: ModuleId,
    /// The coordinator's version of these parameters (versions start at 1).
    pub version: u64,
    /// In the module's `params()` order.
    pub tensors: Vec<ArrayD<f32>>,
}

/// What training changed in one module: trained minus base parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleDelta {
    /// The trained module.
    pub id: ModuleId,
    /// The version the training started from.
    pub base_version: u64,
    /// In the module's `params()` order.
    pub tensors: Vec<ArrayD<f32>>,
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// The paper's fitness: minus the fraction of training examples misclassified.
    pub fitness: f64,
    /// Fraction of training examples classified correctly, as they were seen.
    pub training_accuracy: f64,
    /// Mean cross-entropy over the minibatches.
    pub mean_loss: f64,
    /// Examples trained on.
    pub examples: u64,
    /// One entry per trainable module of the job.
    pub deltas: Vec<ModuleDelta>,
}
