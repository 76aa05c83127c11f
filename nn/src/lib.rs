//! Neural-network building blocks on ndarray with hand-written backward passes.
//!
//! Every layer is stateless during a pass: `forward` returns the output together with an
//! opaque [`Cache`], and `backward` takes that cache plus the upstream gradient and returns
//! the input gradient and the parameter gradients (a vector-Jacobian product). Keeping the
//! cache outside the layer is what PathNet (per-module backward), safe mutations (several
//! backward passes from one forward) and Sideways (per-stage backward with overwritten
//! activations) all need. See `docs/decisions/0001-tensor-layer.md`.

pub mod atomic_tensors;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod float;
pub mod gradcheck;
pub mod init;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod lstm;
pub mod matmul;
pub mod optim;
mod parallel;
pub mod pathnet;
pub mod rng;
pub mod safe_mutation;
pub mod sideways;

pub use atomic_tensors::AtomicTensors;
pub use device::{
    Device, DeviceDescription, ParseDeviceError, PlaceError, cuda_device_descriptions,
    cuda_devices, place,
};
pub use float::Float;
pub use init::Init;
pub use layer::{Backward, Cache, Forward, Layer};
pub use layers::{
    Conv2d, Conv2dSpec, Elu, Flatten, Linear, LogSoftmax, Relu, Sequential, Sigmoid, Softmax, Tanh,
};
pub use loss::{Loss, LossError, cross_entropy, mse};
pub use lstm::{LstmCell, LstmGrads, LstmStep};
pub use optim::{
    Adam, AdamConfig, Optimizer, OptimizerState, RmsProp, RmsPropConfig, Sgd, SgdConfig,
    clip_grad_norm,
};
pub use parallel::{set_threads, threads};
pub use rng::{BadWordPos, SavedRng};
