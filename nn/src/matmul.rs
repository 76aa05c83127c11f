//! Matrix products for the layers, on ndarray views, computed by faer's kernels.
//!
//! matrixmultiply (behind ndarray's `dot`) reaches about half of a modern core's peak on the
//! layer shapes; faer's kernels reach it (measurements in
//! `docs/decisions/0001-tensor-layer.md`). Large products are split into row or column
//! blocks over scoped threads; each block is an independent sequential product, so a given
//! thread count always gives the same result.

use crate::parallel::threads;
use faer::traits::RealField;
use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Below this many multiply-adds a thread spawn costs more than it saves.
const MIN_PARALLEL_MACS: usize = 1 << 21;

/// Scalars with a matrix-product kernel. Implemented for `f32` and `f64`.
pub trait Gemm: Copy + Send + Sync + 'static {
    /// `c = a·b`, or `c += a·b` when `accumulate`, using at most `threads` threads.
    ///
    /// # Panics
    /// If the shapes do not fit.
    fn gemm(
        c: ArrayViewMut2<'_, Self>,
        a: ArrayView2<'_, Self>,
        b: ArrayView2<'_, Self>,
        accumulate: bool,
        threads: usize,
    );
}

macro_rules! impl_gemm {
    ($t:ty) => {
        impl Gemm for $t {
            fn gemm(
                c: ArrayViewMut2<'_, $t>,
                a: ArrayView2<'_, $t>,
                b: ArrayView2<'_, $t>,
                accumulate: bool,
                threads: usize,
            ) {
                gemm_views(c, a, b, accumulate, threads);
            }
        }
    };
}

impl_gemm!(f32);
impl_gemm!(f64);

/// `a·b` into a fresh row-major matrix, threaded per [`crate::threads`].
pub fn matmul<T: Gemm + num_traits::Zero>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>) -> Array2<T> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    T::gemm(c.view_mut(), a, b, false, threads());
    c
}

/// `c = a·b` or `c += a·b`, threaded per [`crate::threads`].
pub fn matmul_into<T: Gemm>(
    c: ArrayViewMut2<'_, T>,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    accumulate: bool,
) {
    T::gemm(c, a, b, accumulate, threads());
}

fn gemm_views<T: RealField + Copy>(
    mut c: ArrayViewMut2<'_, T>,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    accumulate: bool,
    threads: usize,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matrix product shapes do not fit: {:?} · {:?} into {:?}",
        a.shape(),
        b.shape(),
        c.shape()
    );
    if m == 0 || n == 0 {
        return;
    }
    let (a_copy, b_copy);
    let a = match contiguous(a) {
        Some(a) => a,
        None => {
            a_copy = a.as_standard_layout().into_owned();
            contiguous(a_copy.view()).expect("standard layout")
        }
    };
    let b = match contiguous(b) {
        Some(b) => b,
        None => {
            b_copy = b.as_standard_layout().into_owned();
            contiguous(b_copy.view()).expect("standard layout")
        }
    };
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    let parts = if m * n * k >= MIN_PARALLEL_MACS {
        threads
    } else {
        1
    };
    if c.is_standard_layout() {
        let slice = c.as_slice_mut().expect("standard layout");
        return split(
            MatMut::from_row_major_slice_mut(slice, m, n),
            a,
            b,
            accum,
            parts,
        );
    }
    if let Some(slice) = c.view_mut().reversed_axes().into_slice() {
        return split(
            MatMut::from_column_major_slice_mut(slice, m, n),
            a,
            b,
            accum,
            parts,
        );
    }
    // An arbitrarily strided destination: compute contiguously, then add or copy.
    let mut tmp = Array2::from_elem((m, n), T::zero_impl());
    let slice = tmp.as_slice_mut().expect("fresh array");
    split(
        MatMut::from_row_major_slice_mut(slice, m, n),
        a,
        b,
        Accum::Replace,
        parts,
    );
    if accumulate {
        c.zip_mut_with(&tmp, |c, &t| *c += t);
    } else {
        c.assign(&tmp);
    }
}

/// A faer view of a row-major or column-major ndarray view, without copying.
fn contiguous<T>(v: ArrayView2<'_, T>) -> Option<MatRef<'_, T>> {
    let (rows, cols) = v.dim();
    if let Some(slice) = v.to_slice() {
        return Some(MatRef::from_row_major_slice(slice, rows, cols));
    }
    let slice = v.reversed_axes().to_slice()?;
    Some(MatRef::from_column_major_slice(slice, rows, cols))
}

/// Splits the output along its longer side into `parts` blocks computed on scoped threads.
fn split<T: RealField + Copy>(
    c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accum: Accum,
    parts: usize,
) {
    let (m, n) = (c.nrows(), c.ncols());
    if parts <= 1 || m.max(n) < 2 * parts {
        faer::linalg::matmul::matmul(c, accum, a, b, T::one_impl(), Par::Seq);
        return;
    }
    let half = parts / 2;
    std::thread::scope(|scope| {
        if m >= n {
            let at = m * half / parts;
            let (c0, c1) = c.split_at_row_mut(at);
            let (a0, a1) = a.split_at_row(at);
            scope.spawn(move || split(c1, a1, b, accum, parts - half));
            split(c0, a0, b, accum, half);
        } else {
            let at = n * half / parts;
            let (c0, c1) = c.split_at_col_mut(at);
            let (b0, b1) = b.split_at_col(at);
            scope.spawn(move || split(c1, a, b1, accum, parts - half));
            split(c0, a, b0, accum, half);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|t| a[[i, t]] * b[[t, j]]).sum()
        })
    }

    fn filled(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 31 + j * 17 + salt) % 23) as f64 - 11.0
        })
    }

    #[test]
    fn every_layout_and_split_matches_the_definition() {
        // Small integers keep every sum exact, so results must agree bit for bit. The two
        // large cases pass the size at which products are split across threads.
        for (m, k, n) in [
            (3, 4, 5),
            (1, 7, 1),
            (300, 100, 80),
            (80, 100, 300),
            (5, 0, 4),
        ] {
            let (a, b) = (filled(m, k, 1), filled(k, n, 2));
            let want = naive(&a, &b);
            let a_f = Array2::from_shape_vec((m, k).f(), a.t().iter().copied().collect()).unwrap();
            let b_strided = {
                let wide = filled(k, 2 * n, 2);
                let mut w = wide.clone();
                w.slice_axis_mut(ndarray::Axis(1), ndarray::Slice::new(0, None, 2))
                    .assign(&b);
                w
            };
            let b_view = b_strided.slice_axis(ndarray::Axis(1), ndarray::Slice::new(0, None, 2));
            for threads in [1, 2, 3] {
                let mut c = Array2::zeros((m, n));
                f64::gemm(c.view_mut(), a.view(), b.view(), false, threads);
                assert_eq!(c, want, "{m}x{k}x{n} row-major, {threads} threads");
                let mut c = Array2::zeros((m, n).f());
                f64::gemm(c.view_mut(), a_f.view(), b_view, false, threads);
                assert_eq!(c, want, "{m}x{k}x{n} mixed layouts, {threads} threads");
                let mut c = want.clone();
                f64::gemm(c.view_mut(), a.view(), b.view(), true, threads);
                assert_eq!(c, &want * 2.0, "{m}x{k}x{n} accumulate, {threads} threads");
                let mut wide = Array2::zeros((m, 2 * n));
                let mut c = wide.slice_axis_mut(ndarray::Axis(1), ndarray::Slice::new(0, None, 2));
                f64::gemm(c.view_mut(), a.view(), b.view(), false, threads);
                assert_eq!(
                    c, want,
                    "{m}x{k}x{n} strided destination, {threads} threads"
                );
            }
        }
    }
}
