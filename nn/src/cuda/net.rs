//! [`GpuNet`]: a layer (or a [`crate::Sequential`] of layers) moved to a CUDA device, usable
//! both through device tensors and through the ordinary [`Layer`] interface.

use super::ops::{Op, OpCache, lower};
use super::{CudaError, Gpu, GpuOptimizer, GpuTensor};
use crate::{Backward, Cache, Forward, Layer};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use std::sync::{Arc, OnceLock};

/// A network on one CUDA device.
///
/// Its parameters live in device memory. A host copy is made when the [`Layer`] interface
/// asks for the parameters ([`Layer::params`]) and is then kept until a device-side
/// optimiser step changes them; writing through [`Layer::params_mut`] makes the host copy the
/// current one, uploaded again before the next pass. So a network on the device can still be
/// trained, checkpointed and shipped by code written for the CPU, and trained fast on the
/// device with [`GpuNet::step`].
///
/// Through [`Layer`], each call copies its input to the device and its results back; a chain of
/// layers on one device should therefore be one `GpuNet` (build it from a
/// [`crate::Sequential`]), and hot loops should use [`GpuNet::forward_device`] and
/// [`GpuNet::backward_device`] with data already on the device.
pub struct GpuNet {
    gpu: Arc<Gpu>,
    ops: Vec<Op>,
    /// The CPU layer it was made from: its structure and initialiser, for [`Layer::reinit`].
    template: Box<dyn Layer<f32>>,
    name: String,
    /// At least one of the two is set; the device copy, when set, is current.
    device: OnceLock<Vec<GpuTensor>>,
    host: OnceLock<Vec<ArrayD<f32>>>,
}

pub(super) struct Lowered {
    gpu: Arc<Gpu>,
    ops: Vec<Op>,
    host: Vec<ArrayD<f32>>,
    device: Vec<GpuTensor>,
}

/// The device-side caches of one forward pass.
pub struct GpuNetCache {
    ops: Vec<OpCache>,
}

impl GpuNet {
    /// Moves `layer` to `gpu`: a supported layer or a sequential of supported layers (linear,
    /// conv2d, the activations, flatten, softmax, log-softmax).
    pub fn new(layer: Box<dyn Layer<f32>>, gpu: &Arc<Gpu>) -> Result<Self, CudaError> {
        let parts = Self::lowered(layer.as_ref(), gpu)?;
        Ok(Self::assemble(parts, layer))
    }

    /// Everything that can fail in [`GpuNet::new`], done without taking the layer.
    pub(super) fn lowered(layer: &dyn Layer<f32>, gpu: &Arc<Gpu>) -> Result<Lowered, CudaError> {
        let mut ops = Vec::new();
        let mut host = Vec::new();
        lower(layer, &mut ops, &mut host)?;
        let device = upload_all(gpu, &host)?;
        Ok(Lowered {
            gpu: gpu.clone(),
            ops,
            host,
            device,
        })
    }

    pub(super) fn assemble(parts: Lowered, layer: Box<dyn Layer<f32>>) -> Self {
        GpuNet {
            name: format!("cuda:{}[{}]", parts.gpu.ordinal(), layer.name()),
            gpu: parts.gpu,
            ops: parts.ops,
            template: layer,
            device: OnceLock::from(parts.device),
            host: OnceLock::from(parts.host),
        }
    }

    /// The device it runs on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The parameters in device memory, uploading the host copy first if it is newer.
    pub fn device_params(&self) -> Result<&[GpuTensor], CudaError> {
        if let Some(params) = self.device.get() {
            return Ok(params);
        }
        let host = self.host.get().expect("one copy is always current");
        let uploaded = upload_all(&self.gpu, host)?;
        Ok(self.device.get_or_init(|| uploaded))
    }

    /// The forward pass on device tensors.
    pub fn forward_device(&self, input: &GpuTensor) -> Result<(GpuTensor, GpuNetCache), CudaError> {
        if input.gpu().ordinal() != self.gpu.ordinal() {
            return Err(CudaError::DeviceMismatch(
                input.gpu().ordinal(),
                self.gpu.ordinal(),
            ));
        }
        let params = self.device_params()?;
        let mut x = input.clone();
        let mut caches = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let (y, cache) = op.forward(params, x)?;
            caches.push(cache);
            x = y;
        }
        Ok((x, GpuNetCache { ops: caches }))
    }

    /// The backward pass on device tensors: the input gradient when `input_grad` is set (the
    /// first layer's is skipped otherwise, its input being data) and the parameter gradients in
    /// [`Layer::params`] order.
    pub fn backward_device(
        &self,
        cache: &GpuNetCache,
        output_grad: &GpuTensor,
        input_grad: bool,
    ) -> Result<(Option<GpuTensor>, Vec<GpuTensor>), CudaError> {
        let params = self.device_params()?;
        let mut dy = Some(output_grad.clone());
        let mut per_op = Vec::with_capacity(self.ops.len());
        for (i, (op, cache)) in self.ops.iter().zip(&cache.ops).enumerate().rev() {
            let wanted = input_grad || i > 0;
            let grad = dy
                .take()
                .expect("every op below the first passes a gradient down");
            let (dx, grads) = op.backward(params, cache, grad, wanted)?;
            per_op.push(grads);
            dy = dx;
        }
        let grads = per_op.into_iter().rev().flatten().collect();
        Ok((dy.filter(|_| input_grad), grads))
    }

    /// One optimiser step on the device parameters. The host copy becomes stale and is
    /// downloaded again only when [`Layer::params`] asks for it.
    pub fn step(
        &mut self,
        optimizer: &mut GpuOptimizer,
        grads: &[GpuTensor],
    ) -> Result<(), CudaError> {
        self.device_params()?;
        let params = self.device.get_mut().expect("made current above");
        optimizer.step(params, grads)?;
        self.host = OnceLock::new();
        Ok(())
    }

    fn expect<T>(&self, result: Result<T, CudaError>) -> T {
        result.unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

fn upload_all(gpu: &Arc<Gpu>, host: &[ArrayD<f32>]) -> Result<Vec<GpuTensor>, CudaError> {
    host.iter()
        .map(|p| GpuTensor::upload(gpu, p.view()))
        .collect()
}

/// Through the [`Layer`] interface, device failures (out of memory, a lost device) panic with
/// the device and the error, like a failed host allocation would.
impl Layer<f32> for GpuNet {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn forward(&self, input: ArrayViewD<'_, f32>) -> Forward<f32> {
        let x = self.expect(GpuTensor::upload(&self.gpu, input));
        let (y, cache) = self.expect(self.forward_device(&x));
        Forward {
            output: self.expect(y.download()),
            cache: Cache::new(cache),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, f32>) -> Backward<f32> {
        let dy = self.expect(GpuTensor::upload(&self.gpu, output_grad));
        let (dx, grads) = self.expect(self.backward_device(cache.get(), &dy, true));
        Backward {
            input_grad: self.expect(dx.expect("asked for").download()),
            param_grads: grads.iter().map(|g| self.expect(g.download())).collect(),
        }
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, f32>) -> Vec<ArrayD<f32>> {
        let dy = self.expect(GpuTensor::upload(&self.gpu, output_grad));
        let (_, grads) = self.expect(self.backward_device(cache.get(), &dy, false));
        grads.iter().map(|g| self.expect(g.download())).collect()
    }

    fn params(&self) -> Vec<ArrayViewD<'_, f32>> {
        let host = self.host.get_or_init(|| {
            let device = self.device.get().expect("one copy is always current");
            device.iter().map(|p| self.expect(p.download())).collect()
        });
        host.iter().map(|p| p.view()).collect()
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, f32>> {
        self.params();
        // The caller may write anything: the host copy becomes the current one.
        self.device = OnceLock::new();
        let host = self.host.get_mut().expect("downloaded above");
        host.iter_mut().map(|p| p.view_mut()).collect()
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        self.template.reinit(rng);
        self.host = OnceLock::from(
            self.template
                .params()
                .iter()
                .map(|p| p.to_owned())
                .collect::<Vec<_>>(),
        );
        self.device = OnceLock::new();
    }
}
