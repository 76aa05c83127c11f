//! Neural-network building blocks on ndarray with hand-written backward passes.
//!
//! Every layer is stateless during a pass: `forward` returns the output together with an
//! opaque [`Cache`], and `backward` takes that cache plus the upstream gradient and returns
//! the input gradient and the parameter gradients (a vector-Jacobian product). Keeping the
//! cache outside the layer is what PathNet (per-module backward), safe mutations (several
//! backward passes from one forward) and Sideways (per-stage backward with overwritten
//! activations) all need. See `docs/decisions/0001-tensor-layer.md`.

pub mod float;
pub mod layer;

pub use float::Float;
pub use layer::{Backward, Cache, Forward, Layer};
