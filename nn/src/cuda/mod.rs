//! The CUDA backend (feature `cuda`): device tensors, a memory pool per device, cuBLAS
//! products, kernels compiled at run time by NVRTC, and [`GpuNet`], a network whose parameters
//! and activations live in device memory behind the ordinary [`crate::Layer`] interface.
//!
//! The CUDA libraries are loaded when a device is first opened, not linked, so a build with the
//! feature still runs (and reports "no CUDA device") on a machine without them. Everything runs
//! in `f32`, on one stream per device, so work submitted from several threads is ordered by the
//! stream and buffers can be reused as soon as they are released. See
//! `docs/decisions/0003-cuda-device.md`.

mod launch;
mod loss;
mod net;
mod ops;
mod optim;
mod tensor;

pub use loss::cross_entropy;
pub use net::{GpuNet, GpuNetCache};
pub use optim::GpuOptimizer;
pub use tensor::GpuTensor;

use crate::device::{Device, PlaceError, Placed};
use crate::{Float, Layer};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use launch::Kernels;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Why the CUDA backend could not open a device, place a layer or run an operation; each
/// names the device (`cuda:N`) or the layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CudaError {
    /// No driver, or no device: the reason comes from the driver's loader.
    #[error("no CUDA device: {0}")]
    Unavailable(String),
    /// A device ordinal beyond the devices present.
    #[error("cuda:{ordinal} does not exist ({count} CUDA devices)")]
    NoSuchDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// Devices present.
        count: usize,
    },
    /// The CUDA driver failed (an allocation, a copy, a launch).
    #[error("CUDA driver on cuda:{ordinal}: {message}")]
    Driver {
        /// The device.
        ordinal: usize,
        /// The driver's error.
        message: String,
    },
    /// cuBLAS failed to start or to run a matrix product.
    #[error("cuBLAS on cuda:{ordinal}: {message}")]
    Blas {
        /// The device.
        ordinal: usize,
        /// cuBLAS's error.
        message: String,
    },
    /// NVRTC could not compile the kernels for the device.
    #[error("compiling the CUDA kernels for cuda:{ordinal}: {message}")]
    Compile {
        /// The device.
        ordinal: usize,
        /// The compiler's log.
        message: String,
    },
    /// A layer the backend cannot run.
    #[error(
        "`{layer}` has no CUDA implementation (supported: linear, conv2d, relu, tanh, sigmoid, elu, flatten, softmax, log_softmax and sequentials of them)"
    )]
    Unsupported {
        /// The layer's name.
        layer: String,
    },
    /// Tensors on two different devices met in one operation (the two ordinals).
    #[error(
        "tensors on cuda:{0} and cuda:{1} were combined: copy one over first with GpuTensor::to"
    )]
    DeviceMismatch(usize, usize),
    /// An operation's operands have shapes it cannot take; the message names the operation.
    #[error("{0}")]
    Shape(String),
}

/// One CUDA device opened by this process: its context and stream, a cuBLAS handle, the
/// compiled kernels and the pool of released buffers.
pub struct Gpu {
    ordinal: usize,
    name: String,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
    /// Released buffers by element count. Allocation on the device costs far more than a
    /// kernel launch, and a training loop asks for the same sizes every step.
    pool: Mutex<HashMap<usize, Vec<CudaSlice<f32>>>>,
    /// A vector of ones for bias gradients (column sums as a product), grown on demand.
    ones: Mutex<Option<CudaSlice<f32>>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu(cuda:{}, {})", self.ordinal, self.name)
    }
}

/// Opened devices, so that every layer on `cuda:N` shares one context, stream and pool.
fn registry() -> &'static Mutex<HashMap<usize, Arc<Gpu>>> {
    static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
    GPUS.get_or_init(Default::default)
}

/// The number of CUDA devices, or why there are none usable (driver library missing, no
/// device, or cuBLAS/NVRTC missing).
pub fn device_count() -> Result<usize, String> {
    let missing = launch::missing_libraries();
    if !missing.is_empty() {
        return Err(format!(
            "{} not found (is LD_LIBRARY_PATH set to the CUDA libraries?)",
            missing.join(", ")
        ));
    }
    match CudaContext::device_count() {
        Ok(0) => Err("the CUDA driver reports no device".into()),
        Ok(n) => Ok(n as usize),
        Err(e) => Err(format!("the CUDA driver failed: {e}")),
    }
}

/// The usable devices with their names and memory; empty when there are none.
pub(crate) fn describe_devices() -> Vec<crate::device::DeviceDescription> {
    let Ok(count) = device_count() else {
        return Vec::new();
    };
    (0..count)
        .filter_map(|ordinal| {
            let ctx = CudaContext::new(ordinal).ok()?;
            Some(crate::device::DeviceDescription {
                device: Device::Cuda(ordinal),
                name: ctx.name().unwrap_or_else(|_| "unknown".into()),
                memory_bytes: ctx.total_mem().map_or(0, |m| m as u64),
            })
        })
        .collect()
}

impl Gpu {
    /// The device `cuda:ordinal`, opened on first use: creates its context, stream and
    /// cuBLAS handle and compiles the kernels for its architecture.
    pub fn open(ordinal: usize) -> Result<Arc<Gpu>, CudaError> {
        let mut gpus = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gpu) = gpus.get(&ordinal) {
            return Ok(gpu.clone());
        }
        let count = device_count().map_err(CudaError::Unavailable)?;
        if ordinal >= count {
            return Err(CudaError::NoSuchDevice { ordinal, count });
        }
        let driver = |e: cudarc::driver::DriverError| CudaError::Driver {
            ordinal,
            message: e.to_string(),
        };
        let ctx = CudaContext::new(ordinal).map_err(driver)?;
        launch::single_stream(&ctx);
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(|e| CudaError::Blas {
            ordinal,
            message: e.to_string(),
        })?;
        let kernels =
            Kernels::compile(&ctx).map_err(|message| CudaError::Compile { ordinal, message })?;
        let gpu = Arc::new(Gpu {
            ordinal,
            name: ctx.name().unwrap_or_else(|_| "unknown".into()),
            stream,
            blas,
            kernels,
            pool: Mutex::new(HashMap::new()),
            ones: Mutex::new(None),
        });
        gpus.insert(ordinal, gpu.clone());
        Ok(gpu)
    }

    /// The device's ordinal, `N` of `cuda:N`.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The device as [`Device::Cuda`].
    pub fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }

    /// The device's name as the driver reports it, e.g. `NVIDIA H200`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until all work submitted to the device has finished (for timing).
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(|e| self.driver_error(e))
    }

    /// Frees every pooled buffer; returns the bytes released.
    pub fn trim_pool(&self) -> usize {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = pool
            .iter()
            .map(|(len, bufs)| len * bufs.len() * std::mem::size_of::<f32>())
            .sum();
        pool.clear();
        bytes
    }

    /// Bytes held by released buffers waiting for reuse.
    pub fn pooled_bytes(&self) -> usize {
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter()
            .map(|(len, bufs)| len * bufs.len() * std::mem::size_of::<f32>())
            .sum()
    }

    fn driver_error(&self, e: cudarc::driver::DriverError) -> CudaError {
        CudaError::Driver {
            ordinal: self.ordinal,
            message: e.to_string(),
        }
    }

    fn blas_error(&self, e: cudarc::cublas::result::CublasError) -> CudaError {
        CudaError::Blas {
            ordinal: self.ordinal,
            message: e.to_string(),
        }
    }

    /// A buffer of `len` elements with unspecified contents: a pooled one of that size if
    /// there is one, else a fresh allocation (after emptying the pool once if the device is out
    /// of memory).
    fn take(&self, len: usize) -> Result<CudaSlice<f32>, CudaError> {
        let reused = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.get_mut(&len).and_then(Vec::pop)
        };
        if let Some(buf) = reused {
            return Ok(buf);
        }
        match launch::alloc(&self.stream, len) {
            Ok(buf) => Ok(buf),
            Err(_) if self.trim_pool() > 0 => {
                launch::alloc(&self.stream, len).map_err(|e| self.driver_error(e))
            }
            Err(e) => Err(self.driver_error(e)),
        }
    }

    fn give_back(&self, buf: CudaSlice<f32>) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.entry(buf.len()).or_default().push(buf);
    }
}

/// [`crate::device::try_place`] on a CUDA device: `layer` must be an `f32` layer.
pub(crate) fn place_generic<F: Float>(layer: Box<dyn Layer<F>>, ordinal: usize) -> Placed<F> {
    let device = Device::Cuda(ordinal);
    let failed = |layer: &dyn Layer<F>, reason: String| PlaceError::Failed {
        layer: layer.name(),
        device,
        reason,
    };
    if std::any::TypeId::of::<F>() != std::any::TypeId::of::<f32>() {
        let e = failed(layer.as_ref(), "only f32 layers run on CUDA devices".into());
        return Err((e, layer));
    }
    let built = Gpu::open(ordinal).and_then(|gpu| GpuNet::lowered(layer_f32(&layer), &gpu));
    match built {
        Ok(parts) => {
            let net: Box<dyn Layer<f32>> = Box::new(GpuNet::assemble(parts, cast_box(layer)));
            Ok(cast_box(net))
        }
        Err(e) => Err((failed(layer.as_ref(), e.to_string()), layer)),
    }
}

/// The layer as an `f32` layer; only called once `F` is known to be `f32`.
#[allow(clippy::borrowed_box)] // the box itself is what is downcast
fn layer_f32<F: Float>(layer: &Box<dyn Layer<F>>) -> &dyn Layer<f32> {
    let any: &dyn std::any::Any = layer;
    any.downcast_ref::<Box<dyn Layer<f32>>>()
        .expect("F is f32, checked by the caller")
        .as_ref()
}

/// `Box<dyn Layer<A>>` as `Box<dyn Layer<B>>` for `A` and `B` the same type.
fn cast_box<A: Float, B: Float>(layer: Box<dyn Layer<A>>) -> Box<dyn Layer<B>> {
    let any: Box<dyn std::any::Any> = Box::new(layer);
    *any.downcast::<Box<dyn Layer<B>>>()
        .expect("the same float type, checked by the caller")
}
