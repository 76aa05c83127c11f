//! 2-D convolution over NCHW tensors, computed per sample as im2col followed by a matrix
//! product.
//!
//! Per sample, `cols` (`[P, C·K·K]`, one input patch per output position) gives the output
//! `y = W[O, CKK] · colsᵀ` directly in NCHW order, the weight gradient `dy[O, P] · cols`, and
//! the input gradient `col2im(dyᵀ · W)`. The forward pass keeps every sample's columns for
//! the backward pass in a recycled buffer (rebuilding them in the backward pass measured
//! slower). Samples are split across threads in contiguous blocks; per-block weight
//! gradients are summed in block order.

use super::fixed_rank;
use super::im2col::{ColumnPool, Geometry, PooledColumns, col2im, im2col};
use crate::parallel::map_blocks;
use crate::{Backward, Cache, Float, Forward, Init, Layer};
use ndarray::{
    Array1, Array2, Array4, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, Ix4,
};
use rand::Rng;
use std::sync::Arc;

/// The shape of a convolution: square kernels, equal stride and zero padding on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dSpec {
    /// Channels `C` of the input.
    pub in_channels: usize,
    /// Channels `O` of the output (filters).
    pub out_channels: usize,
    /// Side `K` of the square kernel.
    pub kernel: usize,
    /// Step of the kernel on both axes, at least 1.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
}

impl Conv2dSpec {
    /// Output height and width for an input of `height × width`, or `None` when the padded
    /// input is smaller than the kernel or the stride is zero.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        let out = |size: usize| {
            let padded = size + 2 * self.padding;
            (self.stride > 0 && self.kernel > 0 && padded >= self.kernel)
                .then(|| (padded - self.kernel) / self.stride + 1)
        };
        Some((out(height)?, out(width)?))
    }

    pub(super) fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
}

/// A 2-D convolution layer over NCHW input `[batch, C, H, W]`, output `[batch, O, H', W']`
/// (sizes from [`Conv2dSpec::output_size`]); parameters `weight` then `bias`.
pub struct Conv2d<F> {
    spec: Conv2dSpec,
    /// `[out_channels, in_channels, kernel, kernel]`, always in standard layout.
    weight: Array4<F>,
    bias: Array1<F>,
    init: Init,
    /// Recycled column buffers; an allocation cache, not state of the computation.
    pool: Arc<ColumnPool<F>>,
}

struct ConvCache<F: Float> {
    /// `[N·P, CKK]`: the column matrices of all samples, back to back.
    cols: PooledColumns<F>,
    geometry: Geometry,
}

impl<F: Float> Conv2d<F> {
    /// A convolution with weights drawn by `init` (He for ReLU nets) and zero bias.
    pub fn new<R: Rng + ?Sized>(spec: Conv2dSpec, init: Init, rng: &mut R) -> Self {
        let k = spec.kernel;
        let shape = [spec.out_channels, spec.in_channels, k, k];
        let weight = init
            .sample(&shape, spec.patch_len(), spec.out_channels * k * k, rng)
            .into_dimensionality()
            .expect("sampled with four axes");
        Conv2d {
            spec,
            weight,
            bias: Array1::zeros(spec.out_channels),
            init,
            pool: Arc::new(ColumnPool::new()),
        }
    }

    /// Its shape.
    pub fn spec(&self) -> Conv2dSpec {
        self.spec
    }

    fn weight_matrix(&self) -> ArrayView2<'_, F> {
        let (o, ckk) = (self.spec.out_channels, self.spec.patch_len());
        self.weight
            .view()
            .into_shape_with_order((o, ckk))
            .expect("weight is in standard layout")
    }

    fn geometry(&self, shape: &[usize]) -> Geometry {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3]);
        assert_eq!(
            channels,
            self.spec.in_channels,
            "{}: input has {channels} channels (shape {shape:?})",
            self.name()
        );
        let (out_h, out_w) = self.spec.output_size(height, width).unwrap_or_else(|| {
            panic!(
                "{}: input {height}x{width} is smaller than the kernel",
                self.name()
            )
        });
        Geometry {
            batch,
            height,
            width,
            out_h,
            out_w,
        }
    }

    /// Parameter gradients, and the input gradient when `input_grad` is set.
    fn backward_impl(
        &self,
        cache: &Cache,
        output_grad: ArrayViewD<'_, F>,
        input_grad: bool,
    ) -> Backward<F> {
        let ConvCache { cols, geometry: g } = cache.get();
        let g = *g;
        let dy = fixed_rank::<F, Ix4>(output_grad, &|| self.name(), "output gradient");
        assert_eq!(
            dy.shape(),
            [g.batch, self.spec.out_channels, g.out_h, g.out_w],
            "{}: output gradient does not match the forward output",
            self.name()
        );
        let dy = dy.as_standard_layout();
        let dy = dy.as_slice().expect("standard layout");
        let (o, p, ckk) = (self.spec.out_channels, g.positions(), self.spec.patch_len());
        let sample_in = self.spec.in_channels * g.height * g.width;
        let mut dx = if input_grad {
            Array4::<F>::zeros((g.batch, self.spec.in_channels, g.height, g.width))
        } else {
            Array4::zeros((0, 0, 0, 0))
        };
        // One slot per sample: its slice of the input gradient, or nothing.
        let mut slots: Vec<&mut [F]> = if input_grad {
            dx.as_slice_mut()
                .expect("fresh array")
                .chunks_mut(sample_in)
                .collect()
        } else {
            (0..g.batch).map(|_| <&mut [F]>::default()).collect()
        };
        let cols = &cols.data[..];
        let partials = map_blocks(&mut slots, cols.len(), |samples, slots| {
            let mut d_weight = Array2::<F>::zeros((o, ckk));
            let mut d_bias = Array1::<F>::zeros(o);
            let mut d_cols = Array2::<F>::zeros((if input_grad { p } else { 0 }, ckk));
            for (n, dx_n) in samples.zip(slots.iter_mut()) {
                let dy_n = ArrayView2::from_shape((o, p), &dy[n * o * p..][..o * p]).expect("O·P");
                let cols_n = ArrayView2::from_shape((p, ckk), &cols[n * p * ckk..][..p * ckk])
                    .expect("P·CKK");
                F::gemm(d_weight.view_mut(), dy_n, cols_n, true, 1);
                for (db, row) in d_bias.iter_mut().zip(dy_n.rows()) {
                    *db += row.sum();
                }
                if input_grad {
                    F::gemm(d_cols.view_mut(), dy_n.t(), self.weight_matrix(), false, 1);
                    col2im(
                        d_cols.as_slice().expect("fresh array"),
                        dx_n,
                        &self.spec,
                        &g,
                    );
                }
            }
            (d_weight, d_bias)
        });
        let mut partials = partials.into_iter();
        let (mut d_weight, mut d_bias) = partials.next().expect("at least one block");
        for (dw, db) in partials {
            d_weight += &dw;
            d_bias += &db;
        }
        let d_weight = d_weight
            .into_shape_with_order(self.weight.raw_dim())
            .expect("O x CKK entries");
        Backward {
            input_grad: if input_grad {
                dx.into_dyn()
            } else {
                ArrayD::zeros(vec![0])
            },
            param_grads: vec![d_weight.into_dyn(), d_bias.into_dyn()],
        }
    }
}

impl<F: Float> Layer<F> for Conv2d<F> {
    fn name(&self) -> String {
        let s = self.spec;
        format!(
            "conv2d({}->{}, k{} s{} p{})",
            s.in_channels, s.out_channels, s.kernel, s.stride, s.padding
        )
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let x = fixed_rank::<F, Ix4>(input, &|| self.name(), "input (NCHW)");
        let g = self.geometry(x.shape());
        let x = x.as_standard_layout();
        let x = x.as_slice().expect("standard layout");
        let (o, p, ckk) = (self.spec.out_channels, g.positions(), self.spec.patch_len());
        let sample_in = self.spec.in_channels * g.height * g.width;
        let mut cols = PooledColumns::take(&self.pool, g.batch * p * ckk);
        let mut out = Array4::<F>::zeros((g.batch, o, g.out_h, g.out_w));
        let mut slots: Vec<(&mut [F], &mut [F])> = cols
            .data
            .chunks_mut(p * ckk)
            .zip(out.as_slice_mut().expect("fresh array").chunks_mut(o * p))
            .collect();
        map_blocks(&mut slots, g.batch * p * ckk, |samples, slots| {
            for (n, (cols_n, out_n)) in samples.zip(slots.iter_mut()) {
                im2col(&x[n * sample_in..][..sample_in], cols_n, &self.spec, &g);
                let mut y = ArrayViewMut2::from_shape((o, p), out_n).expect("O·P");
                for (mut row, &b) in y.rows_mut().into_iter().zip(&self.bias) {
                    row.fill(b);
                }
                let cols_n = ArrayView2::from_shape((p, ckk), cols_n).expect("P·CKK");
                F::gemm(y, self.weight_matrix(), cols_n.t(), true, 1);
            }
        });
        Forward {
            output: out.into_dyn(),
            cache: Cache::new(ConvCache { cols, geometry: g }),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        self.backward_impl(cache, output_grad, true)
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Vec<ArrayD<F>> {
        self.backward_impl(cache, output_grad, false).param_grads
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        vec![self.weight.view().into_dyn(), self.bias.view().into_dyn()]
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        vec![
            self.weight.view_mut().into_dyn(),
            self.bias.view_mut().into_dyn(),
        ]
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        *self = Conv2d::new(self.spec, self.init, rng);
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
