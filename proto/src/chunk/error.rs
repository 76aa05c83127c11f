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
    /// The data limit per chunk is below one element, so no chunk could carry data.
    #[error("tensor `{}`: chunk limit of {max_chunk_bytes} bytes cannot hold one {F32_BYTES}-byte element", crate::quote(.tensor))]
    ChunkLimitTooSmall {
        /// The tensor being split.
        tensor: String,
        /// The limit given, in data bytes per chunk.
        max_chunk_bytes: usize,
    },
    /// The shape's element count (or its size in bytes) overflows `u64` or this machine's
    /// `usize`; checked before any memory is reserved for it.
    #[error("tensor `{}`: shape {} has more elements than this machine can address", crate::quote(.tensor), crate::quote_list(.shape))]
    ShapeOverflow {
        /// The tensor whose shape is too large.
        tensor: String,
        /// The shape as given, elements per axis.
        shape: Vec<u64>,
    },
    /// The data to split does not hold exactly the shape's number of elements.
    #[error("tensor `{}`: shape {} needs {expected} elements but the data has {actual}", crate::quote(.tensor), crate::quote_list(.shape))]
    ShapeMismatch {
        /// The tensor being split.
        tensor: String,
        /// The shape as given, elements per axis.
        shape: Vec<u64>,
        /// Elements the shape needs (the product of its axes).
        expected: u64,
        /// Elements the data holds.
        actual: u64,
    },
    /// A chunk's dtype is not `DTYPE_F32`, the only one reassembly accepts.
    #[error("tensor `{}`: dtype {dtype} is not supported, only DTYPE_F32", crate::quote(.tensor))]
    UnsupportedDtype {
        /// The tensor being reassembled.
        tensor: String,
        /// The dtype's protobuf name, or its number when the enum does not know it.
        dtype: String,
    },
    /// A chunk claims a different shape than the tensor's first chunk did.
    #[error("tensor `{}`: chunk at offset {offset} has shape {}, earlier chunks have {}", crate::quote(.tensor), crate::quote_list(.found), crate::quote_list(.expected))]
    InconsistentShape {
        /// The tensor being reassembled.
        tensor: String,
        /// The chunk's first element, as an index into the flattened tensor.
        offset: u64,
        /// The shape fixed by the first chunk.
        expected: Vec<u64>,
        /// The shape this chunk claims.
        found: Vec<u64>,
    },
    /// A chunk of another tensor was pushed into this tensor's assembler.
    #[error("tensor `{}`: received a chunk of tensor `{}` instead", crate::quote(.expected), crate::quote(.found))]
    NameMismatch {
        /// The tensor being reassembled.
        expected: String,
        /// The tensor the chunk belongs to.
        found: String,
    },
    /// A chunk's data is not a whole number of 4-byte elements.
    #[error("tensor `{}`: chunk at offset {offset} has {len} data bytes, not a multiple of {F32_BYTES}", crate::quote(.tensor))]
    RaggedData {
        /// The tensor being reassembled.
        tensor: String,
        /// The chunk's first element, as an index into the flattened tensor.
        offset: u64,
        /// The chunk's data length, in bytes.
        len: usize,
    },
    /// A chunk of a non-empty tensor carries no data (only a zero-element tensor is sent
    /// as one empty chunk).
    #[error("tensor `{}`: chunk at offset {offset} carries no data", crate::quote(.tensor))]
    EmptyChunk {
        /// The tensor being reassembled.
        tensor: String,
        /// The chunk's first element, as an index into the flattened tensor.
        offset: u64,
    },
    /// A chunk reaches past the tensor's last element.
    #[error("tensor `{}`: chunk covers elements {start}..{end} but the tensor has only {len}", crate::quote(.tensor))]
    OutOfBounds {
        /// The tensor being reassembled.
        tensor: String,
        /// The chunk's first element (flattened index).
        start: u64,
        /// One past the chunk's last element (flattened index, saturating).
        end: u64,
        /// The tensor's element count, from its shape.
        len: u64,
    },
    /// A chunk covers elements an earlier chunk already delivered (a repeated offset counts,
    /// so duplicates are caught).
    #[error("tensor `{}`: chunk covering elements {start}..{end} overlaps elements {other_start}..{other_end} received earlier", crate::quote(.tensor))]
    Overlap {
        /// The tensor being reassembled.
        tensor: String,
        /// The new chunk's first element (flattened index).
        start: u64,
        /// One past the new chunk's last element.
        end: u64,
        /// The earlier chunk's first element.
        other_start: u64,
        /// One past the earlier chunk's last element.
        other_end: u64,
    },
    /// Reassembly was finished with a gap: these elements never arrived (the first gap only).
    #[error("tensor `{}`: elements {start}..{end} were never received", crate::quote(.tensor))]
    Missing {
        /// The tensor being reassembled.
        tensor: String,
        /// The gap's first element (flattened index).
        start: u64,
        /// One past the gap's last element.
        end: u64,
    },
    /// An element is NaN or infinite; refused both when splitting and when reassembling.
    #[error("tensor `{}`: element {index} is {value}, not a finite number", crate::quote(.tensor))]
    NonFinite {
        /// The tensor holding it.
        tensor: String,
        /// The element's index into the flattened tensor (the first such element).
        index: u64,
        /// The value found.
        value: f32,
    },
}
