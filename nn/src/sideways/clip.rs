//! What every engine shares: the clip a batch of videos gives, the schedule configuration,
//! the per-frame loss, per-stage optimisers, and the report of a clip.

use super::error::SidewaysError;
use super::network::{StageNet, Topology};
use super::stage::Stage;
use crate::optim::{Adam, AdamConfig, OptimError, Optimizer, OptimizerState, Sgd, SgdConfig};
use crate::{Float, cross_entropy};
use ndarray::{ArrayD, Ix2};
use std::sync::Arc;

/// A batch of videos streamed one frame at a time: `frame(t)` is `[batch, frame_shape...]`.
pub trait FrameSource<F> {
    /// Frames per video (the clip length `T`).
    fn len(&self) -> usize;

    /// Whether the clip has no frames (engines refuse such a clip).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Videos in the batch: every frame's first axis.
    fn batch(&self) -> usize;

    /// Frame `t < len()`; engines ask for each frame once, in order.
    fn frame(&mut self, t: usize) -> ArrayD<F>;
}

/// A clip held in memory, for tests and small experiments.
pub struct FramesVec<F>(pub Vec<ArrayD<F>>);

impl<F: Float> FrameSource<F> for FramesVec<F> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn batch(&self) -> usize {
        self.0.first().map_or(0, |f| f.shape()[0])
    }

    fn frame(&mut self, t: usize) -> ArrayD<F> {
        self.0[t].clone()
    }
}

/// When parameters change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateSchedule {
    /// Every stage steps its optimiser after each tick in which it computed a gradient, on
    /// that tick's gradient (the frame's loss, averaged over the batch).
    PerTick,
    /// Gradients are summed over the clip and each stage steps once at its end, on the clip
    /// loss averaged over the frames that carry a loss.
    #[default]
    PerClip,
}

/// How the pipelined engines (Sideways, and BPTT through the same pipelined network) run a
/// clip. See `docs/sideways.md` for why these defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SidewaysConfig {
    /// When parameters change (default once per clip).
    pub update: UpdateSchedule,
    /// After the last frame, keep feeding it (the video holds its last frame) for `2K - 1`
    /// more ticks, so that every frame reaches the loss and every loss's gradient reaches
    /// stage 1. Without the drain the clip ends with its last frame: the last `K` frames get
    /// no loss and the youngest gradients are dropped.
    pub drain: bool,
}

impl Default for SidewaysConfig {
    fn default() -> Self {
        SidewaysConfig {
            update: UpdateSchedule::PerClip,
            drain: true,
        }
    }
}

/// One clip's schedule as every stage sees it.
#[derive(Debug, Clone)]
pub struct ClipPlan {
    /// Real frames `T`.
    pub frames: usize,
    /// Ticks the clip runs (`T + 2K - 1` with the drain, `T` without).
    pub ticks: usize,
    /// Stages `K` of the pipeline.
    pub stages: usize,
    /// One label per video of the batch.
    pub labels: Arc<[usize]>,
    /// When parameters change.
    pub update: UpdateSchedule,
    /// Factor on each frame's loss gradient: 1 per tick, `1 / loss frames` per clip.
    pub loss_scale: f64,
}

impl ClipPlan {
    /// The schedule of a clip of `frames` real frames (at least 1) through `stages` stages.
    pub fn new(frames: usize, stages: usize, labels: &[usize], config: SidewaysConfig) -> Self {
        let ticks = if config.drain {
            frames + 2 * stages - 1
        } else {
            frames
        };
        let loss_frames = frames.min(ticks.saturating_sub(stages));
        let loss_scale = match config.update {
            UpdateSchedule::PerTick => 1.0,
            UpdateSchedule::PerClip => 1.0 / loss_frames.max(1) as f64,
        };
        ClipPlan {
            frames,
            ticks,
            stages,
            labels: labels.into(),
            update: config.update,
            loss_scale,
        }
    }

    /// The frame the top stage's output at tick `t` comes from (stage `k` of `K` lags `k`
    /// ticks behind the frame stream), when it is a real frame: only those carry a loss.
    pub fn loss_frame(&self, tick: usize) -> Option<usize> {
        tick.checked_sub(self.stages).filter(|&f| f < self.frames)
    }

    /// The frame that enters at tick `t`: real frames, then the last one held while draining.
    pub fn input_frame(&self, tick: usize) -> usize {
        tick.min(self.frames - 1)
    }
}

/// Checks a clip before any engine touches its state.
pub(super) fn check_clip<F>(
    topology: &Topology,
    clip: &dyn FrameSource<F>,
    labels: &[usize],
) -> Result<(), SidewaysError> {
    if clip.is_empty() {
        return Err(SidewaysError::EmptyClip);
    }
    topology.check_labels(labels, clip.batch())
}

/// The top stage's loss on one frame.
#[derive(Debug, Clone)]
pub struct FrameLoss {
    /// The real frame the loss is on, 0-based.
    pub frame: usize,
    /// Cross-entropy averaged over the batch (unscaled).
    pub loss: f64,
    /// `[batch, classes]`, as f64.
    pub logits: ArrayD<f64>,
}

/// Cross-entropy of `logits` against `labels` and its gradient times `scale`.
pub(super) fn frame_loss<F: Float>(
    frame: usize,
    logits: &ArrayD<F>,
    labels: &[usize],
    scale: f64,
) -> (FrameLoss, ArrayD<F>) {
    let view = logits
        .view()
        .into_dimensionality::<Ix2>()
        .expect("top shape checked at build time");
    let loss = cross_entropy(view, labels).expect("labels checked before the clip");
    let grad = loss.grad.into_dyn() * F::of(scale);
    let report = FrameLoss {
        frame,
        loss: loss.value.to_f64().unwrap_or(f64::NAN),
        logits: logits.mapv(|v| v.to_f64().unwrap_or(f64::NAN)),
    };
    (report, grad)
}

/// Loss and accuracy over one clip's frames that carry a loss.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ClipReport {
    /// Frames that carried a loss.
    pub frames: usize,
    /// Videos in the batch.
    pub videos: usize,
    /// Cross-entropy averaged over those frames and the batch.
    pub mean_loss: f64,
    /// Fraction of (frame, video) pairs whose logits' argmax is the label.
    pub frame_accuracy: f64,
    /// Videos whose logits summed over the frames point at the label.
    pub clip_correct: usize,
}

impl ClipReport {
    /// The report of a clip's frame losses against the batch's labels; all zeros (but
    /// `videos`) when no frame carried a loss.
    pub fn from_losses(losses: &[FrameLoss], labels: &[usize]) -> Self {
        let videos = labels.len();
        if losses.is_empty() {
            return ClipReport {
                videos,
                ..ClipReport::default()
            };
        }
        let mut summed = losses[0].logits.clone() * 0.0;
        let mut correct = 0;
        for frame in losses {
            summed += &frame.logits;
            correct += count_correct(&frame.logits, labels);
        }
        ClipReport {
            frames: losses.len(),
            videos,
            mean_loss: losses.iter().map(|l| l.loss).sum::<f64>() / losses.len() as f64,
            frame_accuracy: correct as f64 / (losses.len() * videos) as f64,
            clip_correct: count_correct(&summed, labels),
        }
    }
}

fn count_correct(logits: &ArrayD<f64>, labels: &[usize]) -> usize {
    logits
        .outer_iter()
        .zip(labels)
        .filter(|(row, label)| {
            let best = row
                .iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                });
            best.0 == **label
        })
        .count()
}

/// The optimiser each stage gets its own copy of.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerSpec {
    /// SGD, with momentum when its `momentum` is above 0.
    Sgd(SgdConfig),
    /// Adam.
    Adam(AdamConfig),
}

impl OptimizerSpec {
    /// A fresh optimiser of these settings.
    ///
    /// # Errors
    /// [`SidewaysError::Optimizer`] for invalid settings.
    pub fn build<F: Float>(&self) -> Result<Box<dyn Optimizer<F> + Send>, SidewaysError> {
        Ok(match *self {
            OptimizerSpec::Sgd(c) => Box::new(Sgd::new(c)?),
            OptimizerSpec::Adam(c) => Box::new(Adam::new(c)?),
        })
    }
}

/// A stage with its optimiser and the gradients summed since its last step.
pub struct StageTrainer<F> {
    /// The stage it trains.
    pub stage: Stage<F>,
    optimizer: Box<dyn Optimizer<F> + Send>,
    pending: Option<Vec<ArrayD<F>>>,
}

impl<F: Float> StageTrainer<F> {
    /// `stage` with a fresh optimiser of `optimizer`'s settings and no pending gradient.
    pub fn new(stage: Stage<F>, optimizer: &OptimizerSpec) -> Result<Self, SidewaysError> {
        Ok(StageTrainer {
            stage,
            optimizer: optimizer.build()?,
            pending: None,
        })
    }

    /// One trainer per stage of `net`, each with its own optimiser, and the wiring.
    pub fn for_net(
        net: StageNet<F>,
        optimizer: &OptimizerSpec,
    ) -> Result<(Vec<Self>, Topology), SidewaysError> {
        let (stages, topology) = net.into_parts();
        let trainers = stages
            .into_iter()
            .map(|s| StageTrainer::new(s, optimizer))
            .collect::<Result<_, _>>()?;
        Ok((trainers, topology))
    }

    /// The network the trainers' stages make up.
    pub fn into_net(trainers: Vec<Self>, topology: Topology) -> StageNet<F> {
        StageNet::from_parts(trainers.into_iter().map(|t| t.stage).collect(), topology)
    }

    /// Adds a gradient (one tensor per parameter, in parameter order) to the pending sum.
    pub fn add(&mut self, grads: Vec<ArrayD<F>>) {
        match &mut self.pending {
            None => self.pending = Some(grads),
            Some(sum) => {
                for (s, g) in sum.iter_mut().zip(&grads) {
                    *s += g;
                }
            }
        }
    }

    /// The optimiser's state, for a snapshot between clips.
    pub fn optimizer_state(&self) -> OptimizerState<F> {
        self.optimizer.state()
    }

    /// Continues from a snapshot's optimiser state (taken between clips, of the same
    /// optimiser spec); the caller checks the tensors' shapes against the stage's parameters.
    pub fn restore_optimizer(&mut self, state: OptimizerState<F>) -> Result<(), OptimError> {
        self.pending = None;
        self.optimizer.restore(state)
    }

    /// Applies the summed gradients, if any, and clears them.
    pub fn step(&mut self) {
        if let Some(grads) = self.pending.take() {
            self.optimizer.step(&mut self.stage.params_mut(), &grads);
        }
    }
}
