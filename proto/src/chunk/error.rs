//! The error type of tensor chunking.

use thiserror::Error;

use super::F32_BYTES;

/// Why a tensor could not be split or reassembled; every variant but `EmptyName`
/// names the tensor. Names and shapes came from a peer, so messages quote them bounded.
#[derive(Debug, Clone, Error)]
pub enum ChunkError {
    /// Tensors are keyed by name, so an empty one cannot be told apart.
    #[error("tensor name is empty")]
    EmptyName,
    #[error("tensor `{}`: chunk limit of {max_chunk_bytes} bytes cannot hold one {F32_BYTES}-byte element", crate::quote(.tensor))]
    ChunkLimitTooSmall {
        tensor: String,
        max_chunk_bytes: usize,
    },
    #[error("tensor `{}`: shape {} has more elements than this machine can address", crate::quote(.tensor), crate::quote_list(.shape))]
    ShapeOverflow { tensor: String, shape: Vec<u64> },
    #[error("tensor `{}`: shape {} needs {expected} elements but the data has {actual}", crate::quote(.tensor), crate::quote_list(.shape))]
    ShapeMismatch {
        tensor: String,
        shape: Vec<u64>,
        expected: u64,
        actual: u64,
    },
    #[error("tensor `{}`: dtype {dtype} is not supported, only DTYPE_F32", crate::quote(.tensor))]
    UnsupportedDtype { tensor: String, dtype: String },
    #[error("tensor `{}`: chunk at offset {offset} has shape {}, earlier chunks have {}", crate::quote(.tensor), crate::quote_list(.found), crate::quote_list(.expected))]
    InconsistentShape {
        tensor: String,
        offset: u64,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    #[error("tensor `{}`: received a chunk of tensor `{}` instead", crate::quote(.expected), crate::quote(.found))]
    NameMismatch { expected: String, found: String },
    #[error("tensor `{}`: chunk at offset {offset} has {len} data bytes, not a multiple of {F32_BYTES}", crate::quote(.tensor))]
    RaggedData {
        tensor: String,
        offset: u64,
        len: usize,
    },
    #[error("tensor `{}`: chunk at offset {offset} carries no data", crate::quote(.tensor))]
    EmptyChunk { tensor: String, offset: u64 },
    #[error("tensor `{}`: chunk covers elements {start}..{end} but the tensor has only {len}", crate::quote(.tensor))]
    OutOfBounds {
        tensor: String,
        start: u64,
        end: u64,
        len: u64,
    },
    #[error("tensor `{}`: chunk covering elements {start}..{end} overlaps elements {other_start}..{other_end} received earlier", crate::quote(.tensor))]
    Overlap {
        tensor: String,
        start: u64,
        end: u64,
        other_start: u64,
        other_end: u64,
    },
    #[error("tensor `{}`: elements {start}..{end} were never received", crate::quote(.tensor))]
    Missing {
        tensor: String,
        start: u64,
        end: u64,
    },
    #[error("tensor `{}`: element {index} is {value}, not a finite number", crate::quote(.tensor))]
    NonFinite {
        tensor: String,
        index: u64,
        value: f32,
    },
}
