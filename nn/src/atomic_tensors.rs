//! Tensors that several threads read and update at once without a lock, for A3C-style
//! asynchronous training: the global parameters and the shared RMSProp statistics.
//!
//! Each element is an atomic with relaxed ordering. Two workers updating the same element at
//! the same moment may lose one of the updates and a reader may see a mix of old and new
//! elements; Hogwild and A3C accept exactly this in exchange for never blocking. A single
//! thread sees its own writes, so single-threaded use is fully deterministic.

use crate::Float;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

/// A list of tensors of fixed shapes whose elements are atomics (see the module docs).
#[derive(Debug)]
pub struct AtomicTensors<F: Float> {
    shapes: Vec<Vec<usize>>,
    data: Vec<Box<[F::Atomic]>>,
}

impl<F: Float> AtomicTensors<F> {
    /// Copies of `tensors`, e.g. a freshly initialised network's `params()`.
    pub fn from_views(tensors: &[ArrayViewD<'_, F>]) -> Self {
        AtomicTensors {
            shapes: tensors.iter().map(|t| t.shape().to_vec()).collect(),
            data: tensors
                .iter()
                .map(|t| t.iter().map(|&v| v.to_atomic()).collect())
                .collect(),
        }
    }

    /// Zero-filled tensors of the given shapes.
    pub fn zeros(shapes: &[Vec<usize>]) -> Self {
        AtomicTensors {
            shapes: shapes.to_vec(),
            data: shapes
                .iter()
                .map(|s| {
                    (0..s.iter().product())
                        .map(|_| F::zero().to_atomic())
                        .collect()
                })
                .collect(),
        }
    }

    /// Tensors in the list.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the list has no tensor.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Every tensor's shape, in list order.
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    /// The elements of tensor `index` in standard (row-major) order.
    pub fn elements(&self, index: usize) -> &[F::Atomic] {
        &self.data[index]
    }

    /// A snapshot of every tensor.
    pub fn to_arrays(&self) -> Vec<ArrayD<F>> {
        (0..self.len()).map(|i| self.to_array(i)).collect()
    }

    /// A copy of tensor `index`.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn to_array(&self, index: usize) -> ArrayD<F> {
        let data = &self.data[index];
        let mut values = vec![F::zero(); data.len()];
        load_slice(data, &mut values);
        ArrayD::from_shape_vec(self.shapes[index].as_slice(), values)
            .expect("element count matches shape")
    }

    /// Copies the shared values into `targets` (a worker syncing its local network).
    ///
    /// # Panics
    /// If `targets` do not have the shapes of these tensors.
    pub fn load_into(&self, targets: &mut [ArrayViewMutD<'_, F>]) {
        self.check_shapes(targets.iter().map(|t| t.shape()));
        for (target, data) in targets.iter_mut().zip(&self.data) {
            // Zipping with ndarray's element iterator measured 3.5-4x slower than with a
            // slice, and targets are nearly always whole contiguous tensors.
            match target.as_slice_mut() {
                Some(slice) => load_slice(data, slice),
                None => {
                    for (t, a) in target.iter_mut().zip(data.iter()) {
                        *t = F::load(a);
                    }
                }
            }
        }
    }

    /// Overwrites the shared values with `sources`.
    ///
    /// # Panics
    /// If `sources` do not have the shapes of these tensors.
    pub fn store_from(&self, sources: &[ArrayViewD<'_, F>]) {
        self.check_shapes(sources.iter().map(|t| t.shape()));
        for (source, data) in sources.iter().zip(&self.data) {
            store_view(data, source);
        }
    }

    /// Overwrites tensor `index` with `source`.
    ///
    /// # Panics
    /// If `index` is out of range or `source` does not have that tensor's shape.
    pub fn store_one(&self, index: usize, source: ArrayViewD<'_, F>) {
        assert_eq!(
            source.shape(),
            self.shapes[index].as_slice(),
            "tensor {index} has another shape"
        );
        store_view(&self.data[index], &source);
    }

    pub(crate) fn check_shapes<'a>(&self, shapes: impl ExactSizeIterator<Item = &'a [usize]>) {
        assert_eq!(
            shapes.len(),
            self.shapes.len(),
            "tensor count differs from the shared tensors"
        );
        for (i, (got, want)) in shapes.zip(&self.shapes).enumerate() {
            assert_eq!(
                got,
                want.as_slice(),
                "tensor {i} has shape {got:?}, shared one {want:?}"
            );
        }
    }
}

/// Relaxed loads of `shared` into `local`, which has the same length.
///
/// One atomic load per element: atomics never load as a vector, so code that wants vectorised
/// arithmetic on shared values copies a chunk out with this and computes on `local`.
#[inline]
pub(crate) fn load_slice<F: Float>(shared: &[F::Atomic], local: &mut [F]) {
    debug_assert_eq!(shared.len(), local.len());
    for (l, a) in local.iter_mut().zip(shared) {
        *l = F::load(a);
    }
}

/// Relaxed stores of `local` into `shared`, which has the same length.
#[inline]
pub(crate) fn store_slice<F: Float>(shared: &[F::Atomic], local: &[F]) {
    debug_assert_eq!(shared.len(), local.len());
    for (a, &l) in shared.iter().zip(local) {
        F::store(a, l);
    }
}

/// Relaxed stores of `source` (in logical order) into `shared`: as in `load_into`, a slice
/// copy where the source is contiguous.
fn store_view<F: Float>(shared: &[F::Atomic], source: &ArrayViewD<'_, F>) {
    match source.as_slice() {
        Some(slice) => store_slice(shared, slice),
        None => {
            for (&s, a) in source.iter().zip(shared.iter()) {
                F::store(a, s);
            }
        }
    }
}
