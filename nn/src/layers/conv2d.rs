//! 2-D convolution over NCHW tensors, computed as im2col followed by one matrix product for
//! the whole batch (so matrixmultiply sees a single large, well-threaded product).
//!
//! The column matrix has one row per `(channel, kernel row, kernel column)` and one column per
//! `(sample, output row, output column)`. Forward is `W[O, CKK] · cols[CKK, N·P]`; the weight
//! gradient reuses the cached columns, and the input gradient goes back through col2im.

use super::fixed_rank;
use crate::{Backward, Cache, Float, Forward, Init, Layer};
use ndarray::{Array1, Array2, Array4, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, Ix4};
use rand::Rng;

/// The shape of a convolution: square kernels, equal stride and zero padding on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
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

    fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
}

pub struct Conv2d<F> {
    spec: Conv2dSpec,
    /// `[out_channels, in_channels, kernel, kernel]`, always in standard layout.
    weight: Array4<F>,
    bias: Array1<F>,
    init: Init,
}

/// Geometry of one pass, shared by im2col and col2im.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    height: usize,
    width: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }
}

struct ConvCache<F> {
    cols: Array2<F>,
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
        }
    }

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

    /// Gradients of the weight and bias, and the output gradient rearranged to `[O, N·P]`.
    fn param_grads(
        &self,
        cache: &ConvCache<F>,
        output_grad: ArrayViewD<'_, F>,
    ) -> (Vec<ArrayD<F>>, Array2<F>) {
        let g = cache.geometry;
        let dy = fixed_rank::<F, Ix4>(output_grad, &|| self.name(), "output gradient");
        let dy = dy.as_standard_layout();
        let dy = dy.as_slice().expect("standard layout");
        let (o, p) = (self.spec.out_channels, g.positions());
        let mut dy_mat = Array2::<F>::zeros((o, g.batch * p));
        let mut d_bias = Array1::<F>::zeros(o);
        {
            let dst = dy_mat.as_slice_mut().expect("fresh array");
            for n in 0..g.batch {
                for (ch, db) in d_bias.iter_mut().enumerate() {
                    let src = &dy[(n * o + ch) * p..][..p];
                    dst[ch * g.batch * p + n * p..][..p].copy_from_slice(src);
                    *db += src.iter().copied().sum::<F>();
                }
            }
        }
        let d_weight = dy_mat
            .dot(&cache.cols.t())
            .into_shape_with_order(self.weight.raw_dim())
            .expect("product has O x CKK entries");
        (vec![d_weight.into_dyn(), d_bias.into_dyn()], dy_mat)
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
        let mut cols = Array2::<F>::zeros((self.spec.patch_len(), g.batch * g.positions()));
        im2col(
            x.as_slice().expect("standard layout"),
            cols.as_slice_mut().expect("fresh array"),
            &self.spec,
            &g,
        );
        let y = self.weight_matrix().dot(&cols);
        let (o, p) = (self.spec.out_channels, g.positions());
        let mut out = Array4::<F>::zeros((g.batch, o, g.out_h, g.out_w));
        {
            let y = y.as_slice().expect("fresh product");
            let dst = out.as_slice_mut().expect("fresh array");
            for n in 0..g.batch {
                for (ch, &b) in self.bias.iter().enumerate() {
                    let src = &y[ch * g.batch * p + n * p..][..p];
                    for (d, &s) in dst[(n * o + ch) * p..][..p].iter_mut().zip(src) {
                        *d = s + b;
                    }
                }
            }
        }
        Forward {
            output: out.into_dyn(),
            cache: Cache::new(ConvCache { cols, geometry: g }),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let cache: &ConvCache<F> = cache.get();
        let (param_grads, dy_mat) = self.param_grads(cache, output_grad);
        let d_cols = self.weight_matrix().t().dot(&dy_mat);
        let g = cache.geometry;
        let mut dx = Array4::<F>::zeros((g.batch, self.spec.in_channels, g.height, g.width));
        col2im(
            d_cols.as_slice().expect("fresh product"),
            dx.as_slice_mut().expect("fresh array"),
            &self.spec,
            &g,
        );
        Backward {
            input_grad: dx.into_dyn(),
            param_grads,
        }
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Vec<ArrayD<F>> {
        self.param_grads(cache.get(), output_grad).0
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
}

/// For kernel offset `k`, the output indices whose input index `o·stride + k − padding`
/// falls inside `0..size`, as a half-open range.
fn valid_outputs(k: usize, spec: &Conv2dSpec, size: usize, outputs: usize) -> (usize, usize) {
    let (s, pad) = (spec.stride, spec.padding);
    // o·s + k ≥ pad  ⇔  o ≥ ceil((pad − k) / s)
    let lo = pad.saturating_sub(k).div_ceil(s);
    // o·s + k − pad ≤ size − 1  ⇔  o ≤ (size − 1 + pad − k) / s
    let hi = if size + pad > k {
        ((size - 1 + pad - k) / s + 1).min(outputs)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Visits every `(column-matrix row, sample, output row)` whose input row is in bounds, with
/// the slice offsets needed to copy one output row of patches: `f(col_start, in_start, lo, hi)`
/// where output columns `lo..hi` read input columns `in_start + (ow − lo)·stride`.
fn for_each_patch_row(
    spec: &Conv2dSpec,
    g: &Geometry,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let (k, s, pad) = (spec.kernel, spec.stride, spec.padding);
    let row_len = g.batch * g.positions();
    for c in 0..spec.in_channels {
        for ki in 0..k {
            let (oh_lo, oh_hi) = valid_outputs(ki, spec, g.height, g.out_h);
            for kj in 0..k {
                let row = (c * k + ki) * k + kj;
                let (ow_lo, ow_hi) = valid_outputs(kj, spec, g.width, g.out_w);
                if ow_lo >= ow_hi {
                    continue;
                }
                let iw0 = ow_lo * s + kj - pad;
                for n in 0..g.batch {
                    let plane = (n * spec.in_channels + c) * g.height * g.width;
                    for oh in oh_lo..oh_hi {
                        let ih = oh * s + ki - pad;
                        let col = row * row_len + n * g.positions() + oh * g.out_w;
                        f(col, plane + ih * g.width + iw0, ow_lo, ow_hi);
                    }
                }
            }
        }
    }
}

/// Fills `cols` (zeroed, `[CKK, N·P]`) from the NCHW input; padded positions stay zero.
fn im2col<F: Float>(x: &[F], cols: &mut [F], spec: &Conv2dSpec, g: &Geometry) {
    let s = spec.stride;
    for_each_patch_row(spec, g, |col, start, lo, hi| {
        let dst = &mut cols[col + lo..col + hi];
        if s == 1 {
            dst.copy_from_slice(&x[start..start + (hi - lo)]);
        } else {
            for (d, &v) in dst.iter_mut().zip(x[start..].iter().step_by(s)) {
                *d = v;
            }
        }
    });
}

/// Adds every column-matrix entry back onto the input position it was copied from.
fn col2im<F: Float>(cols: &[F], dx: &mut [F], spec: &Conv2dSpec, g: &Geometry) {
    let s = spec.stride;
    for_each_patch_row(spec, g, |col, start, lo, hi| {
        let src = &cols[col + lo..col + hi];
        for (d, &v) in dx[start..].iter_mut().step_by(s).zip(src) {
            *d += v;
        }
    });
}
