//! The video network of Sideways experiments and benchmarks, and a frame source over
//! generated clips.
//!
//! Four blocks of roughly equal cost on 32x32 single-channel frames, cut into `K` = 1, 2 or 4
//! stages of whole blocks:
//! conv 1->8 5x5 (32x32) | conv 8->16 3x3/2 (16x16) | conv 16->32 3x3/2 (8x8) | fc 2048->128->C.
//! Skip-Sideways adds skip edges into the top stage from the nodes `span` below it, each
//! through a strided convolution to the top stage's input shape (32x8x8).

use super::SidewaysJobError;
use ndarray::{ArrayD, IxDyn};
use pathnet_envs::video::{Clip, render_batch};
use pathnet_nn::sideways::{Combine, FrameSource, Stage, StageNet};
use pathnet_nn::{Conv2d, Conv2dSpec, Flatten, Init, Linear, Relu, Sequential};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Frames are `[1, 32, 32]`.
pub const SIDE: usize = 32;

/// The stage counts the network can be cut into (whole blocks per stage).
pub const STAGE_COUNTS: [usize; 3] = [1, 2, 4];

/// Which video network to build: how it is cut and what its head predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoNetSpec {
    /// 1, 2 or 4.
    pub stages: usize,
    /// Spans of the skip edges into the top stage (2..=stages).
    pub skips: Vec<usize>,
    /// How the top stage merges its inputs when it has skip edges.
    pub combine: Combine,
    /// Outputs of the head (`C`): the label's classes.
    pub classes: usize,
}

fn conv(i: usize, o: usize, kernel: usize, stride: usize, padding: usize) -> Conv2dSpec {
    Conv2dSpec {
        in_channels: i,
        out_channels: o,
        kernel,
        stride,
        padding,
    }
}

/// Channels and side of each block's output (block 0 = the frame).
const BLOCK_OUT: [(usize, usize); 4] = [(1, 32), (8, 32), (16, 16), (32, 8)];

/// The network of `spec`, initialised from `seed`.
pub fn video_net(spec: &VideoNetSpec, seed: u64) -> Result<StageNet<f32>, SidewaysJobError> {
    if !STAGE_COUNTS.contains(&spec.stages) {
        return Err(SidewaysJobError::invalid(
            "stages",
            spec.stages,
            "must be 1, 2 or 4 (the network's four blocks, whole blocks per stage)",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut blocks: Vec<Sequential<f32>> = vec![
        Sequential::default()
            .with(Conv2d::new(conv(1, 8, 5, 1, 2), Init::HeUniform, &mut rng))
            .with(Relu),
        Sequential::default()
            .with(Conv2d::new(conv(8, 16, 3, 2, 1), Init::HeUniform, &mut rng))
            .with(Relu),
        Sequential::default()
            .with(Conv2d::new(
                conv(16, 32, 3, 2, 1),
                Init::HeUniform,
                &mut rng,
            ))
            .with(Relu),
    ];
    let top_in = match spec.combine {
        Combine::Sum => 32,
        Combine::Concat => 32 * (1 + spec.skips.len()),
    };
    blocks.push(
        Sequential::default()
            .with(Flatten)
            .with(Linear::new(top_in * 64, 128, Init::HeUniform, &mut rng))
            .with(Relu)
            .with(Linear::new(
                128,
                spec.classes,
                Init::XavierUniform,
                &mut rng,
            )),
    );
    let per_stage = 4 / spec.stages;
    let mut stages = Vec::with_capacity(spec.stages);
    let mut blocks = blocks.into_iter();
    for _ in 0..spec.stages {
        let mut body = Sequential::default();
        for block in blocks.by_ref().take(per_stage) {
            for layer in block.into_layers() {
                body.push(layer);
            }
        }
        stages.push(Stage::new(body));
    }
    let top = stages.pop().expect("at least one stage");
    let mut top = top.with_combine(spec.combine);
    for &span in &spec.skips {
        if !(2..=spec.stages).contains(&span) {
            return Err(SidewaysJobError::invalid(
                "skips",
                span,
                format!(
                    "a skip span must be in 2..={} with {} stages",
                    spec.stages, spec.stages
                ),
            ));
        }
        // Node `stages - span` is the output of block `(stages - span) * per_stage`.
        let (channels, side) = BLOCK_OUT[(spec.stages - span) * per_stage];
        let stride = side / 8;
        let adapter = Sequential::default()
            .with(Conv2d::new(
                conv(channels, 32, stride, stride, 0),
                Init::HeUniform,
                &mut rng,
            ))
            .with(Relu);
        top = top.with_skip(span, adapter);
    }
    stages.push(top);
    Ok(StageNet::new(stages, &[1, SIDE, SIDE])?)
}

/// A batch of generated clips as a frame source: frame `t` of every clip, `[batch, 1, H, W]`.
pub struct ClipBatch {
    clips: Vec<Clip>,
    side: usize,
    buffer: Vec<f32>,
}

impl ClipBatch {
    /// The frames of `clips`, which all have the same square frames and length.
    pub fn new(clips: Vec<Clip>) -> Self {
        let side = clips
            .first()
            .map_or(0, |c| (c.frame_len() as f64).sqrt() as usize);
        ClipBatch {
            clips,
            side,
            buffer: Vec::new(),
        }
    }
}

impl FrameSource<f32> for ClipBatch {
    fn len(&self) -> usize {
        self.clips.first().map_or(0, Clip::len)
    }

    fn batch(&self) -> usize {
        self.clips.len()
    }

    fn frame(&mut self, t: usize) -> ArrayD<f32> {
        render_batch(&self.clips, t, &mut self.buffer);
        ArrayD::from_shape_vec(
            IxDyn(&[self.clips.len(), 1, self.side, self.side]),
            self.buffer.clone(),
        )
        .expect("one frame per clip")
    }
}
