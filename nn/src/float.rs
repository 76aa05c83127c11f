//! The scalar types layers are generic over: `f32` for training, `f64` for gradient checks.

use crate::matmul::Gemm;
use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float as NumFloat, FromPrimitive, NumAssign};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A floating-point scalar usable in every layer, loss and optimiser.
pub trait Float:
    NumFloat
    + NumAssign
    + FromPrimitive
    + LinalgScalar
    + ScalarOperand
    + Sum
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + Gemm
    + 'static
{
    /// Storage for one value that threads may read and overwrite concurrently without a lock
    /// (Hogwild-style shared parameters and optimiser statistics).
    type Atomic: Send + Sync + Debug;

    /// Converts an `f64` constant (hyperparameter, initialiser bound) to this type.
    fn of(value: f64) -> Self {
        <Self as FromPrimitive>::from_f64(value).expect("every f64 converts to f32/f64")
    }

    /// This value as an atomic, for [`crate::AtomicTensors`].
    fn to_atomic(self) -> Self::Atomic;

    /// Relaxed load: concurrent writers may interleave, which Hogwild updates accept.
    fn load(atomic: &Self::Atomic) -> Self;

    /// Relaxed store.
    fn store(atomic: &Self::Atomic, value: Self);
}

impl Float for f32 {
    type Atomic = AtomicU32;

    #[inline]
    fn to_atomic(self) -> AtomicU32 {
        AtomicU32::new(self.to_bits())
    }

    #[inline]
    fn load(atomic: &AtomicU32) -> f32 {
        f32::from_bits(atomic.load(Ordering::Relaxed))
    }

    #[inline]
    fn store(atomic: &AtomicU32, value: f32) {
        atomic.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl Float for f64 {
    type Atomic = AtomicU64;

    #[inline]
    fn to_atomic(self) -> AtomicU64 {
        AtomicU64::new(self.to_bits())
    }

    #[inline]
    fn load(atomic: &AtomicU64) -> f64 {
        f64::from_bits(atomic.load(Ordering::Relaxed))
    }

    #[inline]
    fn store(atomic: &AtomicU64, value: f64) {
        atomic.store(value.to_bits(), Ordering::Relaxed);
    }
}
