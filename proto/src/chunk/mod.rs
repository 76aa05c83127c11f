//! Splitting f32 tensors into wire-sized [`TensorChunk`]s and putting them back together.
//!
//! Chunks arrive from other machines, so reassembly trusts nothing: every chunk is
//! checked against the tensor's name, shape and dtype, its bounds, overlaps with
//! chunks already received and the finiteness of its values, and completeness is
//! checked at the end. Memory grows only with data actually received, never with
//! a shape a peer merely claims.

mod assemble;
mod error;

pub use assemble::{TensorAssembler, assemble_tensors};
pub use error::ChunkError;

use crate::v1::{Dtype, TensorChunk};

/// Bytes per element of [`Dtype::F32`].
const F32_BYTES: usize = 4;

/// Data bytes per tensor chunk for messages of at most `max_message_bytes`: half the message,
/// which leaves room for the chunk's name and shape and the enclosing message's other fields
/// (at least one element, so a tiny limit still moves data).
pub fn chunk_data_bytes(max_message_bytes: usize) -> usize {
    (max_message_bytes / 2).max(F32_BYTES)
}

/// A whole named tensor: row-major `f32` data of the given shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name within its module, e.g. `"weight"`.
    pub name: String,
    /// Elements per axis, row-major; empty for a scalar.
    pub shape: Vec<u64>,
    /// Row-major flattened elements; as many as the shape's product.
    pub data: Vec<f32>,
}

impl Tensor {
    /// Splits this tensor into chunks carrying at most `max_chunk_bytes` of data each.
    ///
    /// # Errors
    /// As [`split_tensor`].
    pub fn split(&self, max_chunk_bytes: usize) -> Result<Vec<TensorChunk>, ChunkError> {
        split_tensor(&self.name, &self.shape, &self.data, max_chunk_bytes)
    }
}

/// Splits a named row-major tensor into chunks of at most `max_chunk_bytes` data
/// bytes each, in offset order.
///
/// The limit bounds the `data` field only; callers budgeting for a message size
/// leave room for the name, shape and enclosing message. A zero-element tensor
/// yields one empty chunk, so the receiver still learns its name and shape.
///
/// # Errors
/// An empty name, a limit below one element, a shape whose element count differs
/// from `data.len()` (or overflows), or a non-finite value.
pub fn split_tensor(
    name: &str,
    shape: &[u64],
    data: &[f32],
    max_chunk_bytes: usize,
) -> Result<Vec<TensorChunk>, ChunkError> {
    if name.is_empty() {
        return Err(ChunkError::EmptyName);
    }
    let expected = element_count(name, shape)?;
    let actual = data.len() as u64;
    if expected != actual {
        return Err(ChunkError::ShapeMismatch {
            tensor: name.to_owned(),
            shape: shape.to_vec(),
            expected,
            actual,
        });
    }
    let per_chunk = max_chunk_bytes / F32_BYTES;
    if per_chunk == 0 {
        return Err(ChunkError::ChunkLimitTooSmall {
            tensor: name.to_owned(),
            max_chunk_bytes,
        });
    }
    check_finite(name, 0, data)?;

    let chunk = |offset: usize, elements: &[f32]| TensorChunk {
        tensor_name: name.to_owned(),
        shape: shape.to_vec(),
        dtype: Dtype::F32.into(),
        offset: offset as u64,
        data: le_bytes(elements),
    };
    if data.is_empty() {
        return Ok(vec![chunk(0, &[])]);
    }
    Ok(data
        .chunks(per_chunk)
        .enumerate()
        .map(|(i, elements)| chunk(i * per_chunk, elements))
        .collect())
}

fn element_count(tensor: &str, shape: &[u64]) -> Result<u64, ChunkError> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        // Data must also fit in memory here, not just in a u64.
        .filter(|&n| usize::try_from(n).is_ok_and(|n| n.checked_mul(F32_BYTES).is_some()))
        .ok_or_else(|| ChunkError::ShapeOverflow {
            tensor: tensor.to_owned(),
            shape: shape.to_vec(),
        })
}

fn check_finite(tensor: &str, offset: u64, values: &[f32]) -> Result<(), ChunkError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ChunkError::NonFinite {
            tensor: tensor.to_owned(),
            index: offset + i as u64,
            value: values[i],
        }),
        None => Ok(()),
    }
}

/// `values` as little-endian bytes. Sized up front and filled value by value, which compiles
/// to plain stores; collecting a `flat_map` of byte arrays grows the vector byte by byte.
fn le_bytes(values: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * F32_BYTES);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}
