//! The video network of the Sideways benchmarks (the work crate's, which experiments on the
//! cluster train too), and a noise frame source for speed and memory runs.

use ndarray::{ArrayD, IxDyn};
use pathnet_nn::sideways::{FrameSource, StageNet};
pub use pathnet_work::sideways::net::{ClipBatch, Cut, SIDE, VideoNetSpec};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The network of `spec`, initialised from `seed`.
pub fn video_net(spec: &VideoNetSpec, seed: u64) -> anyhow::Result<StageNet<f32>> {
    Ok(pathnet_work::sideways::net::video_net(spec, seed)?)
}

/// Uniform noise frames drawn as they are asked for (memory and speed runs need no dataset).
pub struct NoiseFrames {
    /// Frames of the clip.
    pub frames: usize,
    /// Videos per frame: each frame is `[batch, 1, SIDE, SIDE]`.
    pub batch: usize,
    /// Draws every pixel, uniform in `[0, 1)`; seed it for repeatable runs.
    pub rng: ChaCha8Rng,
}

impl FrameSource<f32> for NoiseFrames {
    fn len(&self) -> usize {
        self.frames
    }

    fn batch(&self) -> usize {
        self.batch
    }

    fn frame(&mut self, _: usize) -> ArrayD<f32> {
        ArrayD::from_shape_simple_fn(IxDyn(&[self.batch, 1, SIDE, SIDE]), || {
            self.rng.random::<f32>()
        })
    }
}
