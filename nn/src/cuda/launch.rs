//! Every `unsafe` call of the CUDA backend: library presence checks, allocation, kernel
//! launches and cuBLAS products. The typed wrappers here check buffer lengths against the
//! element counts they pass, so that the kernels (which trust their arguments) never read or
//! write past a buffer; everything outside this module is safe code.
#![allow(unsafe_code)]

use super::Gpu;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
use std::collections::HashMap;
use std::sync::Arc;

const SOURCE: &str = include_str!("kernels.cu");

const KERNELS: &[&str] = &[
    "fill_rows",
    "fill_channels",
    "add_into",
    "relu_fwd",
    "relu_bwd",
    "tanh_fwd",
    "tanh_bwd",
    "sigmoid_fwd",
    "sigmoid_bwd",
    "elu_fwd",
    "elu_bwd",
    "im2col",
    "col2im",
    "nchw_to_rows",
    "log_softmax_rows",
    "softmax_rows",
    "softmax_bwd",
    "log_softmax_bwd",
    "cross_entropy",
    "sgd",
    "sgd_momentum",
    "rmsprop",
    "adam",
];

/// The CUDA libraries this backend loads that are missing from this machine, by file name.
pub(super) fn missing_libraries() -> Vec<&'static str> {
    // SAFETY: each check only tries to dlopen the library under its candidate names and closes
    // it again; no symbol is called.
    let present = unsafe {
        [
            (
                "libcuda.so (the NVIDIA driver)",
                cudarc::driver::sys::is_culib_present(),
            ),
            ("libcublas.so", cudarc::cublas::sys::is_culib_present()),
            ("libnvrtc.so", cudarc::nvrtc::sys::is_culib_present()),
        ]
    };
    present
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect()
}

/// Turns off cudarc's per-buffer event tracking: the backend submits all work of a device to
/// one stream, whose order already serialises every use of a buffer, and the events cost two
/// driver calls per argument per launch.
pub(super) fn single_stream(ctx: &Arc<CudaContext>) {
    // SAFETY: every buffer of this context is allocated, used and freed on the context's
    // default stream only (`Gpu::stream`), so no cross-stream synchronisation is needed.
    unsafe { ctx.disable_event_tracking() };
}

/// `len` elements of uninitialised device memory.
pub(super) fn alloc(stream: &Arc<CudaStream>, len: usize) -> Result<CudaSlice<f32>, DriverError> {
    // SAFETY: the contents are unspecified; every caller writes a buffer (kernel output,
    // upload or memset) before reading it, as it would a pooled buffer.
    unsafe { stream.alloc::<f32>(len.max(1)) }
}

pub(super) struct Kernels(HashMap<&'static str, CudaFunction>);

impl Kernels {
    /// Compiles `kernels.cu` for the device's own architecture and loads it.
    pub(super) fn compile(ctx: &Arc<CudaContext>) -> Result<Self, String> {
        let (major, minor) = ctx.compute_capability().map_err(|e| e.to_string())?;
        let options = CompileOptions {
            options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(SOURCE, options).map_err(|e| format!("{e:?}"))?;
        let module = ctx.load_module(ptx).map_err(|e| e.to_string())?;
        let mut functions = HashMap::new();
        for &name in KERNELS {
            let f = module
                .load_function(name)
                .map_err(|e| format!("kernel {name}: {e}"))?;
            functions.insert(name, f);
        }
        Ok(Kernels(functions))
    }
}

/// One kernel argument.
enum Arg<'a> {
    In(&'a CudaSlice<f32>),
    Out(&'a mut CudaSlice<f32>),
    Ints(&'a CudaSlice<i32>),
    I(i32),
    F(f32),
}

fn int(n: usize) -> i32 {
    i32::try_from(n).expect("tensor dimensions fit the kernels' 32-bit sizes")
}

fn need(what: &str, len: usize, required: usize) {
    assert!(
        len >= required,
        "CUDA kernel argument {what} holds {len} elements, {required} needed"
    );
}

impl Gpu {
    /// Launches kernel `name` with enough threads for `elements` (its loops are grid-stride).
    fn launch(&self, name: &str, elements: usize, args: &mut [Arg<'_>]) -> Result<(), DriverError> {
        let f = &self.kernels.0[name];
        let mut builder = self.stream.launch_builder(f);
        for arg in args.iter_mut() {
            match arg {
                Arg::In(s) => builder.arg(*s),
                Arg::Out(s) => builder.arg(&mut **s),
                Arg::Ints(s) => builder.arg(*s),
                Arg::I(v) => builder.arg(&*v),
                Arg::F(v) => builder.arg(&*v),
            };
        }
        const THREADS: usize = 256;
        let blocks = elements.div_ceil(THREADS).clamp(1, 1 << 16) as u32;
        let config = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (THREADS as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `name` is one of the kernels of kernels.cu, and the typed wrappers below pass
        // the arguments in the order and with the types of its signature, after checking that
        // every buffer holds at least the elements the kernel indexes for the sizes passed.
        unsafe { builder.launch(config) }.map(|_| ())
    }

    pub(super) fn fill_rows(
        &self,
        y: &mut CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<(), DriverError> {
        need("y", y.len(), rows * cols);
        need("bias", bias.len(), cols);
        self.launch(
            "fill_rows",
            rows * cols,
            &mut [
                Arg::Out(y),
                Arg::In(bias),
                Arg::I(int(rows)),
                Arg::I(int(cols)),
            ],
        )
    }

    pub(super) fn fill_channels(
        &self,
        y: &mut CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        n: usize,
        o: usize,
        p: usize,
    ) -> Result<(), DriverError> {
        need("y", y.len(), n * o * p);
        need("bias", bias.len(), o);
        self.launch(
            "fill_channels",
            n * o * p,
            &mut [
                Arg::Out(y),
                Arg::In(bias),
                Arg::I(int(n)),
                Arg::I(int(o)),
                Arg::I(int(p)),
            ],
        )
    }

    pub(super) fn add_into(
        &self,
        acc: &mut CudaSlice<f32>,
        x: &CudaSlice<f32>,
        n: usize,
    ) -> Result<(), DriverError> {
        need("acc", acc.len(), n);
        need("x", x.len(), n);
        self.launch(
            "add_into",
            n,
            &mut [Arg::Out(acc), Arg::In(x), Arg::I(int(n))],
        )
    }

    /// `y = f(x)` for the `*_fwd` kernels; `alpha` only for ELU.
    pub(super) fn unary(
        &self,
        name: &str,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
        n: usize,
        alpha: Option<f32>,
    ) -> Result<(), DriverError> {
        need("x", x.len(), n);
        need("y", y.len(), n);
        let mut args = vec![Arg::In(x), Arg::Out(y), Arg::I(int(n))];
        args.extend(alpha.map(Arg::F));
        self.launch(name, n, &mut args)
    }

    /// `dx = dy · f'(x)` expressed through the output `y`, for the `*_bwd` activation kernels.
    pub(super) fn unary_backward(
        &self,
        name: &str,
        y: &CudaSlice<f32>,
        dy: &CudaSlice<f32>,
        dx: &mut CudaSlice<f32>,
        n: usize,
        alpha: Option<f32>,
    ) -> Result<(), DriverError> {
        need("y", y.len(), n);
        need("dy", dy.len(), n);
        need("dx", dx.len(), n);
        let mut args = vec![Arg::In(y), Arg::In(dy), Arg::Out(dx), Arg::I(int(n))];
        args.extend(alpha.map(Arg::F));
        self.launch(name, n, &mut args)
    }

    /// `im2col` (`forward`) or `col2im` with the geometry `[batch, channels, height, width,
    /// kernel, stride, padding, out_h, out_w]`.
    pub(super) fn patches(
        &self,
        forward: bool,
        from: &CudaSlice<f32>,
        to: &mut CudaSlice<f32>,
        g: [usize; 9],
    ) -> Result<(), DriverError> {
        let [n, c, h, w, k, _, _, oh, ow] = g;
        let image = n * c * h * w;
        let cols = n * oh * ow * c * k * k;
        let (from_len, to_len) = if forward {
            (image, cols)
        } else {
            (cols, image)
        };
        need("patch source", from.len(), from_len);
        need("patch target", to.len(), to_len);
        let mut args = vec![Arg::In(from), Arg::Out(to)];
        args.extend(g.iter().map(|&v| Arg::I(int(v))));
        self.launch(if forward { "im2col" } else { "col2im" }, to_len, &mut args)
    }

    pub(super) fn nchw_to_rows(
        &self,
        y: &CudaSlice<f32>,
        rows: &mut CudaSlice<f32>,
        n: usize,
        o: usize,
        p: usize,
    ) -> Result<(), DriverError> {
        need("y", y.len(), n * o * p);
        need("rows", rows.len(), n * o * p);
        self.launch(
            "nchw_to_rows",
            n * o * p,
            &mut [
                Arg::In(y),
                Arg::Out(rows),
                Arg::I(int(n)),
                Arg::I(int(o)),
                Arg::I(int(p)),
            ],
        )
    }

    /// A row-wise kernel over `[rows, cols]`: `softmax_rows`/`log_softmax_rows` take
    /// `(x, y)`, their backward kernels `(y, dy, dx)`.
    pub(super) fn rowwise(
        &self,
        name: &str,
        inputs: &[&CudaSlice<f32>],
        out: &mut CudaSlice<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<(), DriverError> {
        for x in inputs {
            need("row input", x.len(), rows * cols);
        }
        need("row output", out.len(), rows * cols);
        let mut args: Vec<Arg<'_>> = inputs.iter().map(|x| Arg::In(x)).collect();
        args.extend([Arg::Out(out), Arg::I(int(rows)), Arg::I(int(cols))]);
        self.launch(name, rows, &mut args)
    }

    pub(super) fn cross_entropy_kernel(
        &self,
        logits: &CudaSlice<f32>,
        targets: &CudaSlice<i32>,
        grad: &mut CudaSlice<f32>,
        row_loss: &mut CudaSlice<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<(), DriverError> {
        need("logits", logits.len(), rows * cols);
        need("targets", targets.len(), rows);
        need("grad", grad.len(), rows * cols);
        need("row_loss", row_loss.len(), rows);
        self.launch(
            "cross_entropy",
            rows,
            &mut [
                Arg::In(logits),
                Arg::Ints(targets),
                Arg::Out(grad),
                Arg::Out(row_loss),
                Arg::I(int(rows)),
                Arg::I(int(cols)),
            ],
        )
    }

    /// An optimiser kernel: `(p, g, state.., n, hyperparameters..)`.
    pub(super) fn update(
        &self,
        name: &str,
        param: &mut CudaSlice<f32>,
        grad: &CudaSlice<f32>,
        state: Vec<&mut CudaSlice<f32>>,
        hyper: &[f32],
    ) -> Result<(), DriverError> {
        let n = param.len();
        need("grad", grad.len(), n);
        for s in &state {
            need("optimiser state", s.len(), n);
        }
        let mut args = vec![Arg::Out(param), Arg::In(grad)];
        args.extend(state.into_iter().map(Arg::Out));
        args.push(Arg::I(int(n)));
        args.extend(hyper.iter().map(|&h| Arg::F(h)));
        self.launch(name, n, &mut args)
    }

    /// Row-major `C[m, n] = op(A)[m, k] · op(B)[k, n] + beta · C`, where `op(X)` is `Xᵀ` when
    /// its flag is set (then X is stored `[k, m]` or `[n, k]`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm(
        &self,
        c: &mut CudaSlice<f32>,
        (m, n, k): (usize, usize, usize),
        a: &CudaSlice<f32>,
        ta: bool,
        b: &CudaSlice<f32>,
        tb: bool,
        beta: f32,
    ) -> Result<(), cudarc::cublas::result::CublasError> {
        need("gemm A", a.len(), m * k);
        need("gemm B", b.len(), k * n);
        need("gemm C", c.len(), m * n);
        let config = col_major(m, n, k, ta, tb, beta);
        // SAFETY: cuBLAS reads `m·k` elements of A, `k·n` of B and writes `m·n` of C with the
        // leading dimensions `col_major` derives from the same sizes; all three lengths were
        // checked above, and all buffers belong to this device's stream.
        unsafe { self.blas.gemm(config, b, a, c) }
    }

    /// `batch` products as [`Gpu::gemm`], the i-th at offsets `i·stride_*` (a zero stride
    /// reuses one operand for all).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm_batched(
        &self,
        c: &mut CudaSlice<f32>,
        (m, n, k): (usize, usize, usize),
        a: &CudaSlice<f32>,
        ta: bool,
        b: &CudaSlice<f32>,
        tb: bool,
        beta: f32,
        batch: usize,
        [stride_a, stride_b, stride_c]: [usize; 3],
    ) -> Result<(), cudarc::cublas::result::CublasError> {
        let last = batch.saturating_sub(1);
        need("gemm A", a.len(), last * stride_a + m * k);
        need("gemm B", b.len(), last * stride_b + k * n);
        need("gemm C", c.len(), last * stride_c + m * n);
        assert!(stride_c >= m * n, "batched products must not overlap in C");
        let config = StridedBatchedConfig {
            gemm: col_major(m, n, k, ta, tb, beta),
            batch_size: int(batch),
            stride_a: stride_b as i64,
            stride_b: stride_a as i64,
            stride_c: stride_c as i64,
        };
        // SAFETY: as in `gemm`, for each of the `batch` products at its offsets; the lengths
        // checked above cover the last product, and the outputs do not overlap.
        unsafe { self.blas.gemm_strided_batched(config, b, a, c) }
    }
}

/// The column-major call computing a row-major product: `Cᵀ = op(B)ᵀ · op(A)ᵀ`, with B passed
/// as cuBLAS's first operand.
fn col_major(m: usize, n: usize, k: usize, ta: bool, tb: bool, beta: f32) -> GemmConfig<f32> {
    let op = |t: bool| {
        if t {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    GemmConfig {
        transa: op(tb),
        transb: op(ta),
        m: int(n),
        n: int(m),
        k: int(k),
        alpha: 1.0,
        lda: int(if tb { k } else { n }),
        ldb: int(if ta { m } else { k }),
        beta,
        ldc: int(n),
    }
}
