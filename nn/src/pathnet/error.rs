//! Errors raised by the PathNet super-network and its genotypes.

use super::ModuleId;
use crate::LossError;

/// Everything that can be wrong with a pathway, a module id, a parameter upload or a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PathNetError {
    /// `L`, `M`, `N` (or a size derived from them, like a batch size) that cannot be used.
    #[error("invalid PathNet dimensions: `{field}` = {value}: {reason}")]
    Dims {
        /// The setting, e.g. `max_active`.
        field: &'static str,
        /// Its value.
        value: usize,
        /// What it must be.
        reason: String,
    },
    /// A pathway with another number of layers than the super-network's `L`.
    #[error("pathway has {actual} layers, the super-network has {expected}")]
    LayerCount {
        /// `L`.
        expected: usize,
        /// Layers in the pathway.
        actual: usize,
    },
    /// A pathway layer with no active module, through which nothing would flow.
    #[error("pathway layer {layer} has no active module; at least one is needed")]
    EmptyLayer {
        /// The layer, 0-based.
        layer: usize,
    },
    /// A pathway layer with more than `N` active modules.
    #[error("pathway layer {layer} has {actual} active modules, at most {max} are allowed")]
    TooManyActive {
        /// The layer, 0-based.
        layer: usize,
        /// Active modules in it.
        actual: usize,
        /// `N`.
        max: usize,
    },
    /// A pathway entry naming a module index of `M` or more.
    #[error(
        "pathway layer {layer} position {position}: module index {value} is out of range \
         (the layer has {modules} modules)"
    )]
    IndexOutOfRange {
        /// The layer, 0-based.
        layer: usize,
        /// The entry's position within the layer.
        position: usize,
        /// The module index given.
        value: usize,
        /// `M`.
        modules: usize,
    },
    /// A pathway layer naming the same module twice.
    #[error(
        "pathway layer {layer} position {position}: module index {value} is already active \
         at position {first}"
    )]
    Duplicate {
        /// The layer, 0-based.
        layer: usize,
        /// The repeated entry's position.
        position: usize,
        /// The module index repeated.
        value: usize,
        /// The position where it first appears.
        first: usize,
    },
    /// A task index with no head.
    #[error("task {task} does not exist (the super-network has {tasks} task heads)")]
    UnknownTask {
        /// The index given.
        task: usize,
        /// Heads the super-network has.
        tasks: usize,
    },
    /// A module id outside the grid and the heads.
    #[error("module {id} does not exist")]
    UnknownModule {
        /// The id given.
        id: ModuleId,
    },
    /// A parameter upload with another number of tensors than the module has.
    #[error("module {id}: {actual} parameter tensors given, it has {expected}")]
    ParamCount {
        /// The module.
        id: ModuleId,
        /// Tensors the module has.
        expected: usize,
        /// Tensors given.
        actual: usize,
    },
    /// A parameter upload with a tensor of the wrong shape.
    #[error("module {id} parameter {param}: shape {actual:?} given, expected {expected:?}")]
    ParamShape {
        /// The module.
        id: ModuleId,
        /// The tensor's position in the module's parameter list.
        param: usize,
        /// The module's shape for it.
        expected: Vec<usize>,
        /// The shape given.
        actual: Vec<usize>,
    },
    /// A parameter upload holding a NaN or infinity.
    #[error("module {id} parameter {param}: value {value} is not finite")]
    NonFinite {
        /// The module.
        id: ModuleId,
        /// The tensor's position in the module's parameter list.
        param: usize,
        /// The first non-finite value found.
        value: f64,
    },
    /// Inputs or labels whose shape does not fit the super-network or each other.
    #[error("{what}: shape {actual:?} given, expected {expected}")]
    BatchShape {
        /// What was given, e.g. "dataset inputs".
        what: &'static str,
        /// The shape it needs, in words.
        expected: String,
        /// The shape given.
        actual: Vec<usize>,
    },
    /// The task's loss refused the head's output or the labels.
    #[error("task {task}: {source}")]
    Loss {
        /// The task.
        task: usize,
        /// The loss's error.
        #[source]
        source: LossError,
    },
    /// A task head whose output is not `[batch, classes]`, so no class can be read off it.
    #[error("task {task} head output has shape {shape:?}, expected [batch, classes]")]
    HeadOutput {
        /// The task.
        task: usize,
        /// The head output's shape.
        shape: Vec<usize>,
    },
    /// Training or evaluating a pathway on no examples.
    #[error("{what} needs at least one example, got none")]
    NoData {
        /// What was asked, e.g. "training a pathway".
        what: &'static str,
    },
    /// A mutation probability outside `[0, 1]`.
    #[error("mutation rate {rate} is not a probability in [0, 1]")]
    MutationRate {
        /// The rate given.
        rate: f64,
    },
    /// Modules or heads handed to the constructor that do not form an `L x M` grid with at
    /// least one head, or modules whose shapes do not chain.
    #[error("super-network construction: {0}")]
    Build(String),
}
