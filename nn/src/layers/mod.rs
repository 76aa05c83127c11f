//! The concrete layers: each implements [`crate::Layer`] with a hand-written backward pass.

mod activation;
mod conv2d;
mod flatten;
mod im2col;
mod linear;
mod sequential;
mod softmax;

pub(crate) use activation::sigmoid;
pub use activation::{Elu, Relu, Sigmoid, Tanh};
pub use conv2d::{Conv2d, Conv2dSpec};
pub use flatten::Flatten;
pub use linear::Linear;
pub use sequential::Sequential;
pub use softmax::{LogSoftmax, Softmax, log_softmax, softmax};

use crate::Float;
use ndarray::{ArrayViewD, Dimension};

/// Reinterprets a dynamic-rank view with the static rank a layer works in. A wrong rank is a
/// wiring bug in the caller's network, hence a panic that names the layer.
fn fixed_rank<'a, F: Float, D: Dimension>(
    view: ArrayViewD<'a, F>,
    layer: &dyn Fn() -> String,
    what: &str,
) -> ndarray::ArrayView<'a, F, D> {
    let shape = view.shape().to_vec();
    view.into_dimensionality::<D>().unwrap_or_else(|_| {
        panic!(
            "{}: {what} must have {} axes, got shape {shape:?}",
            layer(),
            D::NDIM.map_or("a fixed number of".to_string(), |n| n.to_string())
        )
    })
}
