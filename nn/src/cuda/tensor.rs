//! Device tensors: a pooled buffer of `f32` on one device plus a row-major shape. Copies
//! between the host and devices are explicit ([`GpuTensor::upload`], [`GpuTensor::download`],
//! [`GpuTensor::to`]).

use super::{CudaError, Gpu};
use crate::device::Device;
use cudarc::driver::CudaSlice;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::sync::Arc;

/// A device tensor. Cloning one (or reshaping it with [`GpuTensor::view_as`]) shares the
/// buffer, as an activation shared by two layers' caches does; writing needs the only handle.
#[derive(Clone)]
pub struct GpuTensor {
    buf: Arc<Pooled>,
    shape: Vec<usize>,
    gpu: Arc<Gpu>,
}

/// A device buffer that goes back to its device's pool when the last tensor using it is gone.
struct Pooled {
    /// Always `Some` until dropped.
    slice: Option<CudaSlice<f32>>,
    gpu: Arc<Gpu>,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(slice) = self.slice.take() {
            self.gpu.give_back(slice);
        }
    }
}

impl std::fmt::Debug for GpuTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuTensor(cuda:{}, {:?})", self.gpu.ordinal, self.shape)
    }
}

impl GpuTensor {
    /// A tensor of `shape` whose contents the caller overwrites before reading.
    pub(super) fn uninit(gpu: &Arc<Gpu>, shape: &[usize]) -> Result<Self, CudaError> {
        let len = shape.iter().product();
        let pooled = Pooled {
            slice: Some(gpu.take(len)?),
            gpu: gpu.clone(),
        };
        Ok(GpuTensor {
            buf: Arc::new(pooled),
            shape: shape.to_vec(),
            gpu: gpu.clone(),
        })
    }

    /// A tensor of `shape` on `gpu`, all zeros.
    pub fn zeros(gpu: &Arc<Gpu>, shape: &[usize]) -> Result<Self, CudaError> {
        let mut t = Self::uninit(gpu, shape)?;
        let len = t.len();
        gpu.stream
            .memset_zeros(&mut t.slice_mut().slice_mut(..len))
            .map_err(|e| gpu.driver_error(e))?;
        Ok(t)
    }

    /// Copies a host array to the device.
    pub fn upload(gpu: &Arc<Gpu>, host: ArrayViewD<'_, f32>) -> Result<Self, CudaError> {
        let mut t = Self::uninit(gpu, host.shape())?;
        t.write(host)?;
        Ok(t)
    }

    /// Overwrites the tensor with a host array of the same shape.
    pub fn write(&mut self, host: ArrayViewD<'_, f32>) -> Result<(), CudaError> {
        if host.shape() != self.shape.as_slice() {
            return Err(CudaError::Shape(format!(
                "writing a host array of shape {:?} into a device tensor of shape {:?}",
                host.shape(),
                self.shape
            )));
        }
        let host = host.as_standard_layout();
        let data = host.as_slice().expect("standard layout");
        let len = self.len();
        let gpu = self.gpu.clone();
        gpu.stream
            .memcpy_htod(data, &mut self.slice_mut().slice_mut(..len))
            .map_err(|e| gpu.driver_error(e))
    }

    /// Copies the tensor to the host (waits for the work that produces it).
    pub fn download(&self) -> Result<ArrayD<f32>, CudaError> {
        let mut host = vec![0.0f32; self.len()];
        self.gpu
            .stream
            .memcpy_dtoh(&self.slice().slice(..self.len()), &mut host)
            .map_err(|e| self.gpu.driver_error(e))?;
        // A copy into pageable memory has finished when the call returns; synchronising
        // makes that explicit instead of relying on the driver's staging rules.
        self.gpu.synchronize()?;
        Ok(ArrayD::from_shape_vec(IxDyn(&self.shape), host).expect("length matches the shape"))
    }

    /// An explicit copy onto another device (through the host: devices need not share a
    /// peer link), or a device-side copy on the same device.
    pub fn to(&self, gpu: &Arc<Gpu>) -> Result<GpuTensor, CudaError> {
        if gpu.ordinal == self.gpu.ordinal {
            let mut copy = Self::uninit(gpu, &self.shape)?;
            let len = self.len();
            gpu.stream
                .memcpy_dtod(
                    &self.slice().slice(..len),
                    &mut copy.slice_mut().slice_mut(..len),
                )
                .map_err(|e| gpu.driver_error(e))?;
            return Ok(copy);
        }
        GpuTensor::upload(gpu, self.download()?.view())
    }

    /// Its shape, row-major.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Elements: the product of the shape.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The device it lives on.
    pub fn device(&self) -> Device {
        self.gpu.device()
    }

    /// The device it lives on, as the backend's handle.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The same elements under another shape with as many elements, sharing the buffer.
    pub fn view_as(&self, shape: &[usize]) -> Result<Self, CudaError> {
        if shape.iter().product::<usize>() != self.len() {
            return Err(CudaError::Shape(format!(
                "cannot reshape {:?} to {shape:?}",
                self.shape
            )));
        }
        Ok(GpuTensor {
            buf: self.buf.clone(),
            shape: shape.to_vec(),
            gpu: self.gpu.clone(),
        })
    }

    /// Adds `other` (same shape and device) into this tensor.
    pub fn add_assign(&mut self, other: &GpuTensor) -> Result<(), CudaError> {
        self.same_device(other)?;
        if self.shape != other.shape {
            return Err(CudaError::Shape(format!(
                "adding a tensor of shape {:?} into one of shape {:?}",
                other.shape, self.shape
            )));
        }
        let (n, gpu) = (self.len(), self.gpu.clone());
        gpu.add_into(self.slice_mut(), other.slice(), n)
            .map_err(|e| gpu.driver_error(e))
    }

    pub(super) fn same_device(&self, other: &GpuTensor) -> Result<(), CudaError> {
        if self.gpu.ordinal != other.gpu.ordinal {
            return Err(CudaError::DeviceMismatch(
                self.gpu.ordinal,
                other.gpu.ordinal,
            ));
        }
        Ok(())
    }

    /// The device buffer; pooled buffers may be longer than the tensor.
    pub(super) fn slice(&self) -> &CudaSlice<f32> {
        self.buf.slice.as_ref().expect("live buffer")
    }

    /// # Panics
    /// If another tensor shares the buffer: the backend only writes tensors it just created
    /// or owns (parameters, optimiser state), so this is a wiring bug.
    pub(super) fn slice_mut(&mut self) -> &mut CudaSlice<f32> {
        Arc::get_mut(&mut self.buf)
            .expect("writing a device tensor whose buffer is shared")
            .slice
            .as_mut()
            .expect("live buffer")
    }

    /// Takes the buffer out of the pool's keeping, for buffers the device holds for good.
    pub(super) fn into_slice(mut self) -> CudaSlice<f32> {
        Arc::get_mut(&mut self.buf)
            .expect("an unshared buffer")
            .slice
            .take()
            .expect("live buffer")
    }
}
