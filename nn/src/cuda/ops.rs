//! The device versions of the CPU layers: each op's forward pass returns its output and what
//! its backward pass needs, and its backward pass the input gradient (when asked for) and the
//! parameter gradients, all in device memory.

use super::{CudaError, GpuTensor};
use crate::Layer;
use crate::layers::{
    Conv2d, Conv2dSpec, Elu, Flatten, Linear, LogSoftmax, Relu, Sequential, Sigmoid, Softmax, Tanh,
};
use ndarray::ArrayD;

#[derive(Debug, Clone, Copy)]
pub(super) enum Activation {
    Relu,
    Tanh,
    Sigmoid,
    Elu(f32),
}

impl Activation {
    fn kernels(self) -> (&'static str, &'static str, Option<f32>) {
        match self {
            Activation::Relu => ("relu_fwd", "relu_bwd", None),
            Activation::Tanh => ("tanh_fwd", "tanh_bwd", None),
            Activation::Sigmoid => ("sigmoid_fwd", "sigmoid_bwd", None),
            Activation::Elu(alpha) => ("elu_fwd", "elu_bwd", Some(alpha)),
        }
    }
}

/// One layer on the device. Parameters are indices into the network's parameter list.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Linear {
        weight: usize,
        bias: usize,
        inputs: usize,
        outputs: usize,
    },
    Conv {
        spec: Conv2dSpec,
        weight: usize,
        bias: usize,
    },
    Activation(Activation),
    Flatten,
    Softmax {
        log: bool,
    },
}

/// What an op's forward pass keeps.
pub(super) enum OpCache {
    /// The input (linear layers).
    Input(GpuTensor),
    /// The output (activations, softmax).
    Output(GpuTensor),
    /// The column matrix `[N·P, C·K·K]` and the input's shape (convolutions).
    Conv {
        cols: GpuTensor,
        input_shape: Vec<usize>,
    },
    /// The input's shape (flatten).
    Shape(Vec<usize>),
}

/// Flattens `layer` (a supported layer or a sequential of them) into ops, appending its
/// parameters (host copies) to `params`.
pub(super) fn lower(
    layer: &dyn Layer<f32>,
    ops: &mut Vec<Op>,
    params: &mut Vec<ArrayD<f32>>,
) -> Result<(), CudaError> {
    let unsupported = || CudaError::Unsupported {
        layer: layer.name(),
    };
    let any = layer.as_any().ok_or_else(unsupported)?;
    let mut take_params = |ops: &mut Vec<Op>, make: &dyn Fn(usize, usize) -> Op| {
        let first = params.len();
        params.extend(layer.params().iter().map(|p| p.to_owned()));
        ops.push(make(first, first + 1));
    };
    if let Some(seq) = any.downcast_ref::<Sequential<f32>>() {
        for inner in seq.layers() {
            lower(inner.as_ref(), ops, params)?;
        }
    } else if let Some(linear) = any.downcast_ref::<Linear<f32>>() {
        let (inputs, outputs) = (linear.inputs(), linear.outputs());
        take_params(ops, &|weight, bias| Op::Linear {
            weight,
            bias,
            inputs,
            outputs,
        });
    } else if let Some(conv) = any.downcast_ref::<Conv2d<f32>>() {
        let spec = conv.spec();
        take_params(ops, &|weight, bias| Op::Conv { spec, weight, bias });
    } else if any.is::<Relu>() {
        ops.push(Op::Activation(Activation::Relu));
    } else if any.is::<Tanh>() {
        ops.push(Op::Activation(Activation::Tanh));
    } else if any.is::<Sigmoid>() {
        ops.push(Op::Activation(Activation::Sigmoid));
    } else if let Some(elu) = any.downcast_ref::<Elu>() {
        ops.push(Op::Activation(Activation::Elu(elu.alpha as f32)));
    } else if any.is::<Flatten>() {
        ops.push(Op::Flatten);
    } else if any.is::<Softmax>() {
        ops.push(Op::Softmax { log: false });
    } else if any.is::<LogSoftmax>() {
        ops.push(Op::Softmax { log: true });
    } else {
        return Err(unsupported());
    }
    Ok(())
}

fn shape_error(op: &str, what: &str, shape: &[usize]) -> CudaError {
    CudaError::Shape(format!("{op}: {what}, got shape {shape:?}"))
}

impl Op {
    pub(super) fn forward(
        &self,
        params: &[GpuTensor],
        x: GpuTensor,
    ) -> Result<(GpuTensor, OpCache), CudaError> {
        let gpu = x.gpu().clone();
        let driver = |e| gpu.driver_error(e);
        match *self {
            Op::Linear {
                weight,
                bias,
                inputs,
                outputs,
            } => {
                let shape = x.shape();
                if shape.len() != 2 || shape[1] != inputs {
                    return Err(shape_error(
                        "linear",
                        &format!("input must be [batch, {inputs}]"),
                        shape,
                    ));
                }
                let rows = shape[0];
                let mut y = GpuTensor::uninit(&gpu, &[rows, outputs])?;
                gpu.fill_rows(y.slice_mut(), params[bias].slice(), rows, outputs)
                    .map_err(driver)?;
                gpu.gemm(
                    y.slice_mut(),
                    (rows, outputs, inputs),
                    x.slice(),
                    false,
                    params[weight].slice(),
                    false,
                    1.0,
                )
                .map_err(|e| gpu.blas_error(e))?;
                Ok((y, OpCache::Input(x)))
            }
            Op::Conv { spec, weight, bias } => {
                let shape = x.shape().to_vec();
                if shape.len() != 4 || shape[1] != spec.in_channels {
                    return Err(shape_error(
                        "conv2d",
                        &format!("input must be [batch, {}, height, width]", spec.in_channels),
                        &shape,
                    ));
                }
                let (n, h, w) = (shape[0], shape[2], shape[3]);
                let (oh, ow) = spec.output_size(h, w).ok_or_else(|| {
                    shape_error("conv2d", "input is smaller than the kernel", &shape)
                })?;
                let (o, p, ckk) = (
                    spec.out_channels,
                    oh * ow,
                    spec.in_channels * spec.kernel * spec.kernel,
                );
                let mut cols = GpuTensor::uninit(&gpu, &[n * p, ckk])?;
                gpu.patches(
                    true,
                    x.slice(),
                    cols.slice_mut(),
                    geometry(&spec, &shape, oh, ow),
                )
                .map_err(driver)?;
                let mut y = GpuTensor::uninit(&gpu, &[n, o, oh, ow])?;
                gpu.fill_channels(y.slice_mut(), params[bias].slice(), n, o, p)
                    .map_err(driver)?;
                // Per sample: y_n[O, P] += W[O, CKK] · cols_nᵀ, written straight in NCHW order.
                gpu.gemm_batched(
                    y.slice_mut(),
                    (o, p, ckk),
                    params[weight].slice(),
                    false,
                    cols.slice(),
                    true,
                    1.0,
                    n,
                    [0, p * ckk, o * p],
                )
                .map_err(|e| gpu.blas_error(e))?;
                Ok((
                    y,
                    OpCache::Conv {
                        cols,
                        input_shape: shape,
                    },
                ))
            }
            Op::Activation(act) => {
                let (fwd, _, alpha) = act.kernels();
                let mut y = GpuTensor::uninit(&gpu, x.shape())?;
                gpu.unary(fwd, x.slice(), y.slice_mut(), x.len(), alpha)
                    .map_err(driver)?;
                Ok((y.clone(), OpCache::Output(y)))
            }
            Op::Flatten => {
                let shape = x.shape().to_vec();
                let Some(&batch) = shape.first() else {
                    return Err(shape_error("flatten", "input needs a batch axis", &shape));
                };
                let features = shape[1..].iter().product();
                // A view of the input's buffer: flattening copies nothing.
                Ok((x.view_as(&[batch, features])?, OpCache::Shape(shape)))
            }
            Op::Softmax { log } => {
                let shape = x.shape();
                if shape.len() != 2 {
                    return Err(shape_error(
                        "softmax",
                        "input must be [batch, classes]",
                        shape,
                    ));
                }
                let mut y = GpuTensor::uninit(&gpu, shape)?;
                let name = if log {
                    "log_softmax_rows"
                } else {
                    "softmax_rows"
                };
                gpu.rowwise(name, &[x.slice()], y.slice_mut(), shape[0], shape[1])
                    .map_err(driver)?;
                Ok((y.clone(), OpCache::Output(y)))
            }
        }
    }

    /// The input gradient (when `input_grad`) and the parameter gradients, in parameter order.
    pub(super) fn backward(
        &self,
        params: &[GpuTensor],
        cache: &OpCache,
        dy: GpuTensor,
        input_grad: bool,
    ) -> Result<(Option<GpuTensor>, Vec<GpuTensor>), CudaError> {
        let gpu = dy.gpu().clone();
        let driver = |e| gpu.driver_error(e);
        let blas = |e| gpu.blas_error(e);
        match (self, cache) {
            (
                &Op::Linear {
                    weight,
                    inputs,
                    outputs,
                    ..
                },
                OpCache::Input(x),
            ) => {
                let rows = x.shape()[0];
                check_grad("linear", &dy, &[rows, outputs])?;
                let mut d_weight = GpuTensor::uninit(&gpu, &[inputs, outputs])?;
                gpu.gemm(
                    d_weight.slice_mut(),
                    (inputs, outputs, rows),
                    x.slice(),
                    true,
                    dy.slice(),
                    false,
                    0.0,
                )
                .map_err(blas)?;
                let d_bias = column_sums(&dy, rows, outputs)?;
                let dx = if input_grad {
                    let mut dx = GpuTensor::uninit(&gpu, &[rows, inputs])?;
                    gpu.gemm(
                        dx.slice_mut(),
                        (rows, inputs, outputs),
                        dy.slice(),
                        false,
                        params[weight].slice(),
                        true,
                        0.0,
                    )
                    .map_err(blas)?;
                    Some(dx)
                } else {
                    None
                };
                Ok((dx, vec![d_weight, d_bias]))
            }
            (&Op::Conv { spec, weight, .. }, OpCache::Conv { cols, input_shape }) => {
                let n = input_shape[0];
                let (oh, ow) = spec
                    .output_size(input_shape[2], input_shape[3])
                    .expect("checked in forward");
                let (o, p, ckk) = (
                    spec.out_channels,
                    oh * ow,
                    spec.in_channels * spec.kernel * spec.kernel,
                );
                check_grad("conv2d", &dy, &[n, o, oh, ow])?;
                // dy as [N·P, O]: one product over the whole batch for each gradient.
                let mut rows = GpuTensor::uninit(&gpu, &[n * p, o])?;
                gpu.nchw_to_rows(dy.slice(), rows.slice_mut(), n, o, p)
                    .map_err(driver)?;
                let mut d_weight =
                    GpuTensor::uninit(&gpu, &[o, spec.in_channels, spec.kernel, spec.kernel])?;
                gpu.gemm(
                    d_weight.slice_mut(),
                    (o, ckk, n * p),
                    rows.slice(),
                    true,
                    cols.slice(),
                    false,
                    0.0,
                )
                .map_err(blas)?;
                let d_bias = column_sums(&rows, n * p, o)?;
                let dx = if input_grad {
                    let mut d_cols = GpuTensor::uninit(&gpu, &[n * p, ckk])?;
                    gpu.gemm(
                        d_cols.slice_mut(),
                        (n * p, ckk, o),
                        rows.slice(),
                        false,
                        params[weight].slice(),
                        false,
                        0.0,
                    )
                    .map_err(blas)?;
                    let mut dx = GpuTensor::uninit(&gpu, input_shape)?;
                    gpu.patches(
                        false,
                        d_cols.slice(),
                        dx.slice_mut(),
                        geometry(&spec, input_shape, oh, ow),
                    )
                    .map_err(driver)?;
                    Some(dx)
                } else {
                    None
                };
                Ok((dx, vec![d_weight, d_bias]))
            }
            (Op::Activation(act), OpCache::Output(y)) => {
                check_grad("activation", &dy, y.shape())?;
                if !input_grad {
                    return Ok((None, Vec::new()));
                }
                let (_, bwd, alpha) = act.kernels();
                let mut dx = GpuTensor::uninit(&gpu, y.shape())?;
                gpu.unary_backward(bwd, y.slice(), dy.slice(), dx.slice_mut(), y.len(), alpha)
                    .map_err(driver)?;
                Ok((Some(dx), Vec::new()))
            }
            (Op::Flatten, OpCache::Shape(shape)) => {
                let dx = if input_grad {
                    Some(dy.view_as(shape)?)
                } else {
                    None
                };
                Ok((dx, Vec::new()))
            }
            (&Op::Softmax { log }, OpCache::Output(y)) => {
                check_grad("softmax", &dy, y.shape())?;
                if !input_grad {
                    return Ok((None, Vec::new()));
                }
                let (rows, cols) = (y.shape()[0], y.shape()[1]);
                let mut dx = GpuTensor::uninit(&gpu, y.shape())?;
                let name = if log {
                    "log_softmax_bwd"
                } else {
                    "softmax_bwd"
                };
                gpu.rowwise(name, &[y.slice(), dy.slice()], dx.slice_mut(), rows, cols)
                    .map_err(driver)?;
                Ok((Some(dx), Vec::new()))
            }
            _ => unreachable!("a cache is only ever paired with the op that made it"),
        }
    }
}

fn geometry(spec: &Conv2dSpec, input_shape: &[usize], oh: usize, ow: usize) -> [usize; 9] {
    let [n, c, h, w] = input_shape[..] else {
        unreachable!("checked to have four axes")
    };
    [n, c, h, w, spec.kernel, spec.stride, spec.padding, oh, ow]
}

fn check_grad(op: &str, dy: &GpuTensor, expected: &[usize]) -> Result<(), CudaError> {
    if dy.shape() != expected {
        return Err(shape_error(
            op,
            &format!("output gradient must have the output's shape {expected:?}"),
            dy.shape(),
        ));
    }
    Ok(())
}

/// Sums of the columns of a row-major `[rows, cols]` matrix, as the product `onesᵀ · x`.
fn column_sums(x: &GpuTensor, rows: usize, cols: usize) -> Result<GpuTensor, CudaError> {
    let gpu = x.gpu().clone();
    let mut ones = gpu.ones.lock().unwrap_or_else(|p| p.into_inner());
    if ones.as_ref().is_none_or(|o| o.len() < rows) {
        let len = rows.next_power_of_two();
        let fresh = GpuTensor::upload(&gpu, ndarray::ArrayD::ones(vec![len]).view())?;
        *ones = Some(fresh.into_slice());
    }
    let ones = ones.as_ref().expect("filled above");
    let mut sums = GpuTensor::uninit(&gpu, &[cols])?;
    gpu.gemm(
        sums.slice_mut(),
        (1, cols, rows),
        ones,
        false,
        x.slice(),
        false,
        0.0,
    )
    .map_err(|e| gpu.blas_error(e))?;
    Ok(sums)
}
