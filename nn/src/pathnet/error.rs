//! Errors raised by the PathNet super-network and its genotypes.

use super::ModuleId;
use crate::LossError;

/// Everything that can be wrong with a pathway, a module id, a parameter upload or a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PathNetError {
    #[error("invalid PathNet dimensions: `{field}` = {value}: {reason}")]
    Dims {
        field: &'static str,
        value: usize,
        reason: String,
    },
    #[error("pathway has {actual} layers, the super-network has {expected}")]
    LayerCount { expected: usize, actual: usize },
    #[error("pathway layer {layer} has no active module; at least one is needed")]
    EmptyLayer { layer: usize },
    #[error("pathway layer {layer} has {actual} active modules, at most {max} are allowed")]
    TooManyActive {
        layer: usize,
        actual: usize,
        max: usize,
    },
    #[error(
        "pathway layer {layer} position {position}: module index {value} is out of range \
         (the layer has {modules} modules)"
    )]
    IndexOutOfRange {
        layer: usize,
        position: usize,
        value: usize,
        modules: usize,
    },
    #[error(
        "pathway layer {layer} position {position}: module index {value} is already active \
         at position {first}"
    )]
    Duplicate {
        layer: usize,
        position: usize,
        value: usize,
        first: usize,
    },
    #[error("task {task} does not exist (the super-network has {tasks} task heads)")]
    UnknownTask { task: usize, tasks: usize },
    #[error("module {id} does not exist")]
    UnknownModule { id: ModuleId },
    #[error("module {id}: {actual} parameter tensors given, it has {expected}")]
    ParamCount {
        id: ModuleId,
        expected: usize,
        actual: usize,
    },
    #[error("module {id} parameter {param}: shape {actual:?} given, expected {expected:?}")]
    ParamShape {
        id: ModuleId,
        param: usize,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("module {id} parameter {param}: value {value} is not finite")]
    NonFinite {
        id: ModuleId,
        param: usize,
        value: f64,
    },
    #[error("{what}: shape {actual:?} given, expected {expected}")]
    BatchShape {
        what: &'static str,
        expected: String,
        actual: Vec<usize>,
    },
    #[error("task {task}: {source}")]
    Loss {
        task: usize,
        #[source]
        source: LossError,
    },
    #[error("task {task} head output has shape {shape:?}, expected [batch, classes]")]
    HeadOutput { task: usize, shape: Vec<usize> },
    #[error("{what} needs at least one example, got none")]
    NoData { what: &'static str },
    #[error("mutation rate {rate} is not a probability in [0, 1]")]
    MutationRate { rate: f64 },
    #[error("super-network construction: {0}")]
    Build(String),
}
