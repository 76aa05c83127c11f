//! Softmax cross-entropy on the device.

use super::{CudaError, GpuTensor};
use crate::loss::LossError;
use ndarray::ArrayD;

/// Cross-entropy of softmax(`logits`) (`[batch, classes]` on a device) against integer class
/// targets, averaged over the batch, as [`crate::cross_entropy`]: the loss value (which waits
/// for the device) and `d loss / d logits` on the device.
pub fn cross_entropy(logits: &GpuTensor, targets: &[usize]) -> Result<(f32, GpuTensor), CudaError> {
    let shape = logits.shape();
    let [rows, classes] = shape[..] else {
        return Err(CudaError::Shape(format!(
            "cross-entropy: logits must be [batch, classes], got shape {shape:?}"
        )));
    };
    let invalid = |e: LossError| CudaError::Shape(format!("cross-entropy: {e}"));
    if rows != targets.len() {
        return Err(invalid(LossError::TargetCount {
            rows,
            targets: targets.len(),
        }));
    }
    if rows == 0 {
        return Err(invalid(LossError::Empty));
    }
    if let Some((sample, &class)) = targets.iter().enumerate().find(|&(_, &c)| c >= classes) {
        return Err(invalid(LossError::ClassOutOfRange {
            sample,
            class,
            classes,
        }));
    }
    let gpu = logits.gpu().clone();
    let host_targets: Vec<i32> = targets.iter().map(|&t| t as i32).collect();
    let device_targets = gpu
        .stream
        .clone_htod(&host_targets)
        .map_err(|e| gpu.driver_error(e))?;
    let mut grad = GpuTensor::uninit(&gpu, shape)?;
    let mut row_loss = GpuTensor::uninit(&gpu, &[rows])?;
    gpu.cross_entropy_kernel(
        logits.slice(),
        &device_targets,
        grad.slice_mut(),
        row_loss.slice_mut(),
        rows,
        classes,
    )
    .map_err(|e| gpu.driver_error(e))?;
    let row_loss: ArrayD<f32> = row_loss.download()?;
    Ok((row_loss.sum() / rows as f32, grad))
}
