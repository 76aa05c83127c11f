//! Reassembly of tensors from chunks received in any order.

use std::collections::{BTreeMap, HashMap};

use super::{ChunkError, F32_BYTES, Tensor, check_finite, element_count};
use crate::v1::{Dtype, TensorChunk};

/// Reassembles one tensor from its chunks, received in any order.
///
/// Chunks are validated as they are pushed, so a bad one is reported at once and a
/// stream can be abandoned early; [`finish`](Self::finish) then checks that nothing is missing.
#[derive(Debug)]
pub struct TensorAssembler {
    name: String,
    shape: Vec<u64>,
    len: u64,
    /// Received slices keyed by start offset; keeps overlap checks logarithmic.
    parts: BTreeMap<u64, Vec<f32>>,
}

impl TensorAssembler {
    /// Starts reassembly from the tensor's first chunk, which fixes its name and shape.
    ///
    /// # Errors
    /// The same checks as [`push`](Self::push).
    pub fn new(first: TensorChunk) -> Result<Self, ChunkError> {
        if first.tensor_name.is_empty() {
            return Err(ChunkError::EmptyName);
        }
        let len = element_count(&first.tensor_name, &first.shape)?;
        let mut assembler = Self {
            name: first.tensor_name.clone(),
            shape: first.shape.clone(),
            len,
            parts: BTreeMap::new(),
        };
        assembler.push(first)?;
        Ok(assembler)
    }

    /// The tensor's name, as set by the first chunk.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds one chunk of the tensor.
    ///
    /// # Errors
    /// A chunk of another tensor, a different shape, a dtype other than F32, data
    /// not a whole number of elements, an empty chunk of a non-empty tensor, a
    /// range beyond the tensor or overlapping an earlier chunk, or a non-finite value.
    pub fn push(&mut self, chunk: TensorChunk) -> Result<(), ChunkError> {
        let tensor = || self.name.clone();
        if chunk.tensor_name != self.name {
            return Err(ChunkError::NameMismatch {
                expected: tensor(),
                found: chunk.tensor_name,
            });
        }
        let start = chunk.offset;
        if chunk.shape != self.shape {
            return Err(ChunkError::InconsistentShape {
                tensor: tensor(),
                offset: start,
                expected: self.shape.clone(),
                found: chunk.shape,
            });
        }
        if chunk.dtype != i32::from(Dtype::F32) {
            let dtype = Dtype::try_from(chunk.dtype)
                .map_or_else(|_| chunk.dtype.to_string(), |d| d.as_str_name().to_owned());
            return Err(ChunkError::UnsupportedDtype {
                tensor: tensor(),
                dtype,
            });
        }
        if !chunk.data.len().is_multiple_of(F32_BYTES) {
            return Err(ChunkError::RaggedData {
                tensor: tensor(),
                offset: start,
                len: chunk.data.len(),
            });
        }
        if chunk.data.is_empty() && self.len != 0 {
            return Err(ChunkError::EmptyChunk {
                tensor: tensor(),
                offset: start,
            });
        }
        let count = (chunk.data.len() / F32_BYTES) as u64;
        let end = start.saturating_add(count);
        if end > self.len || start > self.len {
            return Err(ChunkError::OutOfBounds {
                tensor: tensor(),
                start,
                end,
                len: self.len,
            });
        }
        if let Some((other_start, other_end)) = self.overlapping(start, end) {
            return Err(ChunkError::Overlap {
                tensor: tensor(),
                start,
                end,
                other_start,
                other_end,
            });
        }
        let values: Vec<f32> = chunk
            .data
            .chunks_exact(F32_BYTES)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        check_finite(&self.name, start, &values)?;
        self.parts.insert(start, values);
        Ok(())
    }

    /// The earlier range that `start..end` overlaps, if any. A repeated start
    /// offset counts as overlap even for empty ranges, so duplicates are caught.
    fn overlapping(&self, start: u64, end: u64) -> Option<(u64, u64)> {
        let range_of = |(&s, v): (&u64, &Vec<f32>)| (s, s + v.len() as u64);
        let before = self.parts.range(..=start).next_back().map(range_of);
        if let Some((s, e)) = before
            && (s == start || e > start)
        {
            return Some((s, e));
        }
        let after = self.parts.range(start + 1..).next().map(range_of);
        after.filter(|&(s, _)| s < end)
    }

    /// Completes the tensor.
    ///
    /// # Errors
    /// [`ChunkError::Missing`] naming the first gap when elements were never received.
    pub fn finish(self) -> Result<Tensor, ChunkError> {
        let mut next = 0;
        for (&start, values) in &self.parts {
            if start > next {
                return Err(self.missing(next, start));
            }
            next = start + values.len() as u64;
        }
        if next < self.len {
            return Err(self.missing(next, self.len));
        }
        // One part is the common case (a tensor within one chunk): no copy at all.
        let data = if self.parts.len() == 1 {
            self.parts.into_values().next().unwrap_or_default()
        } else {
            let mut data = Vec::with_capacity(self.len as usize);
            for part in self.parts.into_values() {
                data.extend_from_slice(&part);
            }
            data
        };
        Ok(Tensor {
            name: self.name,
            shape: self.shape,
            data,
        })
    }

    fn missing(&self, start: u64, end: u64) -> ChunkError {
        ChunkError::Missing {
            tensor: self.name.clone(),
            start,
            end,
        }
    }
}

/// Reassembles every tensor in a mixed set of chunks, e.g. all chunks of one
/// module, returning the tensors in the order their first chunk appeared.
///
/// # Errors
/// The first problem any tensor has, as [`TensorAssembler`] reports it.
pub fn assemble_tensors(
    chunks: impl IntoIterator<Item = TensorChunk>,
) -> Result<Vec<Tensor>, ChunkError> {
    let mut assemblers: Vec<TensorAssembler> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for chunk in chunks {
        match by_name.get(&chunk.tensor_name) {
            Some(&i) => assemblers[i].push(chunk)?,
            None => {
                let assembler = TensorAssembler::new(chunk)?;
                by_name.insert(assembler.name().to_owned(), assemblers.len());
                assemblers.push(assembler);
            }
        }
    }
    assemblers
        .into_iter()
        .map(TensorAssembler::finish)
        .collect()
}
