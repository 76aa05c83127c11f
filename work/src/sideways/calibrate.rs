//! Where to cut the video network so that its stages cost the same on this machine: each of
//! the four blocks is timed as a stage of its own under the run's schedule and optimiser,
//! and the times are cut by [`balanced_cut`] into blocks per stage, which the spec then
//! names (`blocks = [3, 1]`).
//!
//! The shape estimate (`cut = "cost"`) counts multiply-adds. That misses the optimiser step
//! (per tick it costs in proportion to parameters, not to the batch: the head holds nearly
//! all of them), memory traffic, and how well each layer's matrix product fills the machine
//! (a one-channel 5x5 convolution does far less per multiply-add than a 16-channel 3x3 one).
//! Timing sees all of it. It runs once, before the run, and its answer is written into the
//! spec, so a run stays deterministic: the same spec cuts the same way on every host, as
//! `torchgpipe`'s `balance_by_time` returns a balance that the user then hands to `GPipe`.

use super::net::{BLOCKS, Cut, SIDE, VideoNetSpec, block_estimates, video_net};
use super::{SidewaysJobError, SidewaysTask};
use ndarray::{ArrayD, IxDyn};
use pathnet_nn::sideways::{
    ClipPlan, Combine, FrameSource, OptimizerSpec, Pipeline, SidewaysConfig, balanced_cut,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Uniform noise frames drawn as they are asked for: timing needs no dataset.
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

/// How the training run that a calibration stands for trains: the settings that change what
/// a block costs per tick.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Outputs of the head.
    pub classes: usize,
    /// The optimiser of every stage.
    pub optimizer: OptimizerSpec,
    /// Per-tick or per-clip steps, and draining.
    pub schedule: SidewaysConfig,
    /// Videos per batch.
    pub batch: usize,
    /// Frames per clip.
    pub frames: usize,
}

impl Workload {
    /// What `task` trains (its skip edges aside: their adapters run in the top stage, and
    /// where that stage starts is what is being decided).
    pub fn of_task(task: &SidewaysTask) -> Self {
        Workload {
            classes: task.classes(),
            optimizer: task.optimizer(),
            schedule: task.schedule(),
            batch: task.batch,
            frames: task.video.frames,
        }
    }
}

/// Each block's measured cost next to its estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockTimes {
    /// Seconds per tick of each block, bottom first: its ticks and its end-of-clip step, and
    /// the loss for the head, over the clips timed.
    pub per_tick: Vec<f64>,
    /// Multiply-adds per frame of each block, as `cut = "cost"` estimates them.
    pub estimated: Vec<u64>,
}

impl BlockTimes {
    /// Blocks per stage, bottom first, whose slowest stage is as fast as a cut into `stages`
    /// can make it; `None` for a stage count outside 1 to 4.
    pub fn blocks(&self, stages: usize) -> Option<Vec<usize>> {
        // Whole nanoseconds are fine enough, and the cut works on integers.
        let nanos: Vec<u64> = self.per_tick.iter().map(|s| (s * 1e9) as u64).collect();
        balanced_cut(&nanos, stages)
    }

    /// The blocks the shape estimate gives each of `stages` stages (as `cut = "cost"` cuts
    /// a network without skip edges).
    pub fn estimated_blocks(&self, stages: usize) -> Option<Vec<usize>> {
        balanced_cut(&self.estimated, stages)
    }

    /// The slowest stage's share of a tick of the whole network when cut into `blocks` (as
    /// [`BlockTimes::blocks`] gives them): one over the speed-up the pipeline can reach with
    /// a core per stage. Blocks past the fourth count as free.
    pub fn slowest_share(&self, blocks: &[usize]) -> f64 {
        let total: f64 = self.per_tick.iter().sum();
        let mut start = 0;
        let mut slowest: f64 = 0.0;
        for &size in blocks {
            let end = (start + size).min(self.per_tick.len());
            let stage: f64 = self.per_tick[start.min(end)..end].iter().sum();
            slowest = slowest.max(stage);
            start += size;
        }
        slowest / total
    }
}

/// Times each block of the network `workload` trains, as a stage of its own on one thread,
/// over `clips` clips of noise after one untimed clip. Layer calls should run on one thread
/// (`pathnet_nn::set_threads(1)`), as they do in training.
///
/// # Errors
/// Settings the network or the pipeline refuses, named; `clips` or `frames` of 0.
pub fn time_blocks(
    workload: &Workload,
    clips: usize,
    seed: u64,
) -> Result<BlockTimes, SidewaysJobError> {
    if clips == 0 {
        return Err(SidewaysJobError::invalid(
            "clips",
            0,
            "at least one clip must be timed",
        ));
    }
    if workload.frames == 0 {
        return Err(SidewaysJobError::invalid(
            "video.frames",
            0,
            "must be at least 1",
        ));
    }
    let spec = VideoNetSpec {
        stages: BLOCKS,
        skips: Vec::new(),
        combine: Combine::Sum,
        classes: workload.classes,
        cut: Cut::Count,
        blocks: Vec::new(),
    };
    let net = video_net(&spec, seed)?;
    let mut pipeline = Pipeline::new(net, &workload.optimizer, workload.schedule)?;
    let labels: Vec<usize> = (0..workload.batch).map(|i| i % workload.classes).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let clip = |rng: &mut ChaCha8Rng| NoiseFrames {
        frames: workload.frames,
        batch: workload.batch,
        rng: ChaCha8Rng::seed_from_u64(rng.random()),
    };
    pipeline.train_clip(&mut clip(&mut rng), &labels)?;
    let before = pipeline.busy().to_vec();
    for _ in 0..clips {
        pipeline.train_clip(&mut clip(&mut rng), &labels)?;
    }
    let ticks = ClipPlan::new(workload.frames, BLOCKS, &labels, workload.schedule).ticks;
    let per_tick = pipeline
        .busy()
        .iter()
        .zip(&before)
        .map(|(after, before)| (*after - *before).as_secs_f64() / (clips * ticks) as f64)
        .collect();
    Ok(BlockTimes {
        per_tick,
        estimated: block_estimates(workload.classes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathnet_nn::sideways::UpdateSchedule;

    fn times(per_tick: &[f64]) -> BlockTimes {
        BlockTimes {
            per_tick: per_tick.to_vec(),
            estimated: block_estimates(10),
        }
    }

    #[test]
    fn the_cut_follows_the_times_not_the_estimate() {
        // Stage busy fractions measured at 4 stages under per-tick Adam (BENCHMARKS.md): the
        // first block and the head are the expensive ones.
        let measured = times(&[0.36, 0.10, 0.07, 0.55]);
        assert_eq!(measured.blocks(2), Some(vec![3, 1]));
        assert_eq!(measured.estimated_blocks(2), Some(vec![2, 2]));
        assert_eq!(measured.blocks(3), Some(vec![1, 2, 1]));
        assert!((measured.slowest_share(&[3, 1]) - 0.55 / 1.08).abs() < 1e-12);
        assert!((measured.slowest_share(&[2, 2]) - 0.62 / 1.08).abs() < 1e-12);
        assert_eq!(measured.blocks(5), None);
    }

    #[test]
    fn every_block_is_timed_and_the_times_fit_any_stage_count() {
        let workload = Workload {
            classes: 4,
            optimizer: OptimizerSpec::Adam(pathnet_nn::AdamConfig::default()),
            schedule: SidewaysConfig {
                update: UpdateSchedule::PerTick,
                drain: true,
            },
            batch: 2,
            frames: 3,
        };
        let measured = time_blocks(&workload, 1, 5).unwrap();
        assert_eq!(measured.per_tick.len(), BLOCKS);
        assert!(measured.per_tick.iter().all(|&s| s > 0.0), "{measured:?}");
        for stages in 1..=BLOCKS {
            let blocks = measured.blocks(stages).unwrap();
            assert_eq!(
                (blocks.len(), blocks.iter().sum::<usize>()),
                (stages, BLOCKS)
            );
        }
        let err = time_blocks(&workload, 0, 5).unwrap_err().to_string();
        assert!(err.contains("clips"), "{err}");
    }
}
