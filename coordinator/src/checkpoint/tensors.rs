//! Named float32 tensors to and from the safetensors format, which Python's `safetensors`
//! package (and so numpy and PyTorch) reads as it is.

use ndarray::ArrayD;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;

/// Tensors by name, in the order they are written.
pub type Tensors = Vec<(String, ArrayD<f32>)>;

/// The safetensors bytes of `tensors`, little-endian float32, with `metadata` (string pairs,
/// the format's `__metadata__`).
pub fn encode(tensors: &Tensors, metadata: HashMap<String, String>) -> Result<Vec<u8>, String> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| t.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, t), data)| {
            TensorView::new(Dtype::F32, t.shape().to_vec(), data)
                .map(|view| (name.as_str(), view))
                .map_err(|err| format!("tensor `{name}`: {err}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = (!metadata.is_empty()).then_some(metadata);
    safetensors::serialize(views, metadata).map_err(|err| err.to_string())
}

/// The tensors and metadata of safetensors `bytes`; every tensor must be float32.
pub fn decode(bytes: &[u8]) -> Result<(Tensors, HashMap<String, String>), String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|err| err.to_string())?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(bytes).map_err(|err| err.to_string())?;
    let mut tensors = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(format!(
                "tensor `{}`: dtype {:?}, expected F32",
                pathnet_proto::quote(name),
                view.dtype()
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let array = ArrayD::from_shape_vec(view.shape().to_vec(), values)
            .map_err(|err| format!("tensor `{}`: {err}", pathnet_proto::quote(name)))?;
        tensors.push((name.to_owned(), array));
    }
    // The file orders tensors its own way; by name, a file always reads back the same.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, metadata))
}
