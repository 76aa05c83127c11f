//! The column matrix of one sample of a convolution, and its adjoint.
//!
//! For one sample, `cols` is `[P, C·K·K]` row-major: one row per output position holding the
//! input patch it sees, ordered `(channel, kernel row, kernel column)`. A patch row is copied
//! as `C·K` runs of `K` contiguous input elements, which for the usual kernel sizes compile to
//! single vector moves.

use super::conv2d::Conv2dSpec;
use crate::Float;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Sizes of one pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Geometry {
    pub(super) fn positions(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// For output index `o`, the kernel offsets whose input index `o·stride + k − padding` falls
/// inside `0..size`.
fn valid_kernel(o: usize, spec: &Conv2dSpec, size: usize) -> Range<usize> {
    let start = o * spec.stride;
    let lo = spec.padding.saturating_sub(start);
    let hi = (size + spec.padding).saturating_sub(start).min(spec.kernel);
    lo.min(hi)..hi
}

/// Calls `f(row_offset, input_offset, len)` for every in-bounds run of one sample: the run
/// sits at `cols[row_offset..][..len]` and reads `x[input_offset..][..len]`. Padded
/// positions are never visited.
fn for_each_run(spec: &Conv2dSpec, g: &Geometry, mut f: impl FnMut(usize, usize, usize)) {
    let (k, s, pad) = (spec.kernel, spec.stride, spec.padding);
    let patch = spec.in_channels * k * k;
    let plane = g.height * g.width;
    let cols_of: Vec<Range<usize>> = (0..g.out_w)
        .map(|ow| valid_kernel(ow, spec, g.width))
        .collect();
    for oh in 0..g.out_h {
        let rows = valid_kernel(oh, spec, g.height);
        for (ow, kj) in cols_of.iter().enumerate() {
            let row = (oh * g.out_w + ow) * patch;
            let len = kj.len();
            if len == 0 {
                continue;
            }
            let iw = ow * s + kj.start - pad;
            for c in 0..spec.in_channels {
                for ki in rows.clone() {
                    let ih = oh * s + ki - pad;
                    f(
                        row + (c * k + ki) * k + kj.start,
                        c * plane + ih * g.width + iw,
                        len,
                    );
                }
            }
        }
    }
}

/// Writes the column matrix of one sample `x` (`[C, H, W]`) into `cols` (`[P, CKK]`),
/// including the zeros where a patch overlaps the padding, so `cols` may hold anything before.
pub(super) fn im2col<F: Float>(x: &[F], cols: &mut [F], spec: &Conv2dSpec, g: &Geometry) {
    // A compile-time kernel width turns each run copy into a few vector moves.
    match spec.kernel {
        3 => im2col_k::<F, 3>(x, cols, spec, g),
        4 => im2col_k::<F, 4>(x, cols, spec, g),
        5 => im2col_k::<F, 5>(x, cols, spec, g),
        8 => im2col_k::<F, 8>(x, cols, spec, g),
        _ => im2col_k::<F, 0>(x, cols, spec, g),
    }
}

/// [`im2col`] for kernel width `K`, or any width when `K` is 0.
fn im2col_k<F: Float, const K: usize>(x: &[F], cols: &mut [F], spec: &Conv2dSpec, g: &Geometry) {
    let (k, s, pad) = (spec.kernel, spec.stride, spec.padding);
    let plane = g.height * g.width;
    let cols_of: Vec<Range<usize>> = (0..g.out_w)
        .map(|ow| valid_kernel(ow, spec, g.width))
        .collect();
    let copy = |run: &mut [F], src: &[F]| {
        if K > 0 {
            let run: &mut [F; K] = run.try_into().expect("run of K");
            *run = src[..K].try_into().expect("run of K");
        } else {
            run.copy_from_slice(&src[..run.len()]);
        }
    };
    for (position, row) in cols.chunks_exact_mut(spec.patch_len()).enumerate() {
        let (oh, ow) = (position / g.out_w, position % g.out_w);
        let rows = valid_kernel(oh, spec, g.height);
        let kj = &cols_of[ow];
        if rows.len() == k && kj.len() == k {
            // Interior patch: every run is a full, in-bounds copy.
            let corner = (oh * s - pad) * g.width + ow * s - pad;
            for (c, channel) in row.chunks_exact_mut(k * k).enumerate() {
                for (ki, run) in channel.chunks_exact_mut(k).enumerate() {
                    copy(run, &x[c * plane + corner + ki * g.width..]);
                }
            }
            continue;
        }
        for (run_index, run) in row.chunks_exact_mut(k).enumerate() {
            let (c, ki) = (run_index / k, run_index % k);
            run.fill(F::zero());
            if rows.contains(&ki) && !kj.is_empty() {
                let start = c * plane + (oh * s + ki - pad) * g.width + ow * s + kj.start - pad;
                run[kj.clone()].copy_from_slice(&x[start..start + kj.len()]);
            }
        }
    }
}

/// Adds every entry of `cols` (`[P, CKK]`) onto the input position it was copied from, in
/// `dx` (`[C, H, W]`).
pub(super) fn col2im<F: Float>(cols: &[F], dx: &mut [F], spec: &Conv2dSpec, g: &Geometry) {
    match spec.kernel {
        3 => col2im_k::<F, 3>(cols, dx, spec, g),
        4 => col2im_k::<F, 4>(cols, dx, spec, g),
        5 => col2im_k::<F, 5>(cols, dx, spec, g),
        8 => col2im_k::<F, 8>(cols, dx, spec, g),
        _ => col2im_k::<F, 0>(cols, dx, spec, g),
    }
}

/// [`col2im`] for kernel width `K`, or any width when `K` is 0.
fn col2im_k<F: Float, const K: usize>(cols: &[F], dx: &mut [F], spec: &Conv2dSpec, g: &Geometry) {
    for_each_run(spec, g, |row, input, len| {
        if K > 0 && len == K {
            let dst: &mut [F; K] = (&mut dx[input..input + K]).try_into().expect("run of K");
            let src: &[F; K] = cols[row..row + K].try_into().expect("run of K");
            for (d, &v) in dst.iter_mut().zip(src) {
                *d += v;
            }
        } else {
            for (d, &v) in dx[input..input + len].iter_mut().zip(&cols[row..row + len]) {
                *d += v;
            }
        }
    });
}

/// Column buffers kept between passes. A fresh multi-megabyte buffer per step costs a page
/// fault per 4 KiB page (or a memset); a recycled one costs neither, since [`im2col`]
/// overwrites every element.
pub(super) struct ColumnPool<F>(Mutex<Vec<Vec<F>>>);

/// Enough for a forward pass to find a buffer while an earlier cache is still alive.
const POOL_SIZE: usize = 2;

impl<F: Float> ColumnPool<F> {
    pub(super) fn new() -> Self {
        ColumnPool(Mutex::new(Vec::new()))
    }

    /// A buffer of `len` elements with arbitrary contents.
    fn take(&self, len: usize) -> Vec<F> {
        let mut buffer = self
            .0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        buffer.resize(len, F::zero());
        buffer
    }

    fn give(&self, buffer: Vec<F>) {
        if let Ok(mut pool) = self.0.lock()
            && pool.len() < POOL_SIZE
        {
            pool.push(buffer);
        }
    }
}

/// A column buffer that returns to its pool when the cache holding it is dropped.
pub(super) struct PooledColumns<F: Float> {
    pub data: Vec<F>,
    pool: Arc<ColumnPool<F>>,
}

impl<F: Float> PooledColumns<F> {
    pub(super) fn take(pool: &Arc<ColumnPool<F>>, len: usize) -> Self {
        PooledColumns {
            data: pool.take(len),
            pool: Arc::clone(pool),
        }
    }
}

impl<F: Float> Drop for PooledColumns<F> {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.data));
    }
}
