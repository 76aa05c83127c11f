//! The video network of the Sideways benchmarks (the work crate's, which experiments on the
//! cluster train too), and a noise frame source for speed and memory runs.

use pathnet_nn::sideways::StageNet;
pub use pathnet_work::sideways::calibrate::NoiseFrames;
pub use pathnet_work::sideways::net::{ClipBatch, Cut, SIDE, VideoNetSpec};

/// The network of `spec`, initialised from `seed`.
pub fn video_net(spec: &VideoNetSpec, seed: u64) -> anyhow::Result<StageNet<f32>> {
    Ok(pathnet_work::sideways::net::video_net(spec, seed)?)
}
