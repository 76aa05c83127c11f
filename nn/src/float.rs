//! The scalar types layers are generic over: `f32` for training, `f64` for gradient checks.

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float as NumFloat, FromPrimitive};
use std::fmt::{Debug, Display};
use std::iter::Sum;

/// A floating-point scalar usable in every layer, loss and optimiser.
pub trait Float:
    NumFloat
    + FromPrimitive
    + LinalgScalar
    + ScalarOperand
    + Sum
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
{
    /// Converts an `f64` constant (hyperparameter, initialiser bound) to this type.
    fn of(value: f64) -> Self {
        <Self as FromPrimitive>::from_f64(value).expect("every f64 converts to f32/f64")
    }
}

impl Float for f32 {}
impl Float for f64 {}
