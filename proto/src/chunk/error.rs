//! The error type of tensor chunking.

use thiserror::Error;

use super::F32_BYTES;

/// Why a tensor could not be split or reassembled; every variant but `EmptyName`
/// names the tensor.
#[derive(Debug, Clone, Error)]
pub enum ChunkError {
    /// Tensors are keyed by name, so an empty one cannot be told apart.
    #[error("tensor name is empty")]
    EmptyName,
    #[error(
        "tensor `{tensor}`: chunk limit of {max_chunk_bytes} bytes cannot hold one {F32_BYTES}-byte element"
    )]
    ChunkLimitTooSmall {
        tensor: String,
        max_chunk_bytes: usize,
    },
    #[error("tensor `{tensor}`: shape {shape:?} has more elements than this machine can address")]
    ShapeOverflow { tensor: String, shape: Vec<u64> },
    #[error(
        "tensor `{tensor}`: shape {shape:?} needs {expected} elements but the data has {actual}"
    )]
    ShapeMismatch {
        tensor: String,
        shape: Vec<u64>,
        expected: u64,
        actual: u64,
    },
    #[error("tensor `{tensor}`: dtype {dtype} is not supported, only DTYPE_F32")]
    UnsupportedDtype { tensor: String, dtype: String },
    #[error(
        "tensor `{tensor}`: chunk at offset {offset} has shape {found:?}, earlier chunks have {expected:?}"
    )]
    InconsistentShape {
        tensor: String,
        offset: u64,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    #[error("tensor `{expected}`: received a chunk of tensor `{found}` instead")]
    NameMismatch { expected: String, found: String },
    #[error(
        "tensor `{tensor}`: chunk at offset {offset} has {len} data bytes, not a multiple of {F32_BYTES}"
    )]
    RaggedData {
        tensor: String,
        offset: u64,
        len: usize,
    },
    #[error("tensor `{tensor}`: chunk at offset {offset} carries no data")]
    EmptyChunk { tensor: String, offset: u64 },
    #[error(
        "tensor `{tensor}`: chunk covers elements {start}..{end} but the tensor has only {len}"
    )]
    OutOfBounds {
        tensor: String,
        start: u64,
        end: u64,
        len: u64,
    },
    #[error(
        "tensor `{tensor}`: chunk covering elements {start}..{end} overlaps elements {other_start}..{other_end} received earlier"
    )]
    Overlap {
        tensor: String,
        start: u64,
        end: u64,
        other_start: u64,
        other_end: u64,
    },
    #[error("tensor `{tensor}`: elements {start}..{end} were never received")]
    Missing {
        tensor: String,
        start: u64,
        end: u64,
    },
    #[error("tensor `{tensor}`: element {index} is {value}, not a finite number")]
    NonFinite {
        tensor: String,
        index: u64,
        value: f32,
    },
}
