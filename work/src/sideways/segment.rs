//! One segment of a Sideways run: batches `first_batch..first_batch + batches` trained from a
//! snapshot by the threaded pipeline, ending in the next snapshot and the segment's metrics.
//!
//! Everything a segment depends on is in its job: the parameters and every stage's optimiser
//! state (the snapshot), and the data stream's position (the batch index: clip `i` of a
//! seeded generator depends only on the seed and `i`, so batch `b` is clips `b*B..(b+1)*B`).
//! Restarting a segment from its snapshot therefore trains exactly what the lost attempt
//! would have.

use super::net::{ClipBatch, video_net};
use super::{SidewaysJobError, SidewaysTask, VideoLabel};
use ndarray::{ArrayD, ArrayViewMutD};
use pathnet_envs::data::{Dataset, Split};
use pathnet_envs::video::MovingObjects;
use pathnet_nn::OptimizerState;
use pathnet_nn::sideways::{
    ClipReport, StageNet, StageTrainer, ThreadedPipeline, evaluate_pipelined,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Offset of the held-out videos' seed from the training videos' (different clips, drawn
/// from the test split's images).
const TEST_SEED_OFFSET: u64 = 1_000_000;

/// One stage's parameters and optimiser state.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSnapshot {
    pub params: Vec<ArrayD<f32>>,
    pub optimizer_steps: u64,
    /// Adam's first then second moments, one of each per parameter tensor; empty before
    /// the first step.
    pub optimizer: Vec<ArrayD<f32>>,
}

/// The whole training state of a run between two batches, but for the data stream's
/// position, which is the number of batches done.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub stages: Vec<StageSnapshot>,
}

impl Snapshot {
    /// The parameters of `net`, with fresh optimisers.
    pub fn of_net(net: &StageNet<f32>) -> Self {
        Snapshot {
            stages: net
                .params()
                .into_iter()
                .map(|params| StageSnapshot {
                    params: params.into_iter().map(|p| p.to_owned()).collect(),
                    optimizer_steps: 0,
                    optimizer: Vec::new(),
                })
                .collect(),
        }
    }

    fn of_trainers(trainers: &[StageTrainer<f32>]) -> Self {
        Snapshot {
            stages: trainers
                .iter()
                .map(|t| {
                    let state = t.optimizer_state();
                    StageSnapshot {
                        params: t.stage.params().into_iter().map(|p| p.to_owned()).collect(),
                        optimizer_steps: state.steps,
                        optimizer: state.tensors,
                    }
                })
                .collect(),
        }
    }

    /// Bytes of every tensor.
    pub fn bytes(&self) -> usize {
        self.tensors().map(|t| t.len() * 4).sum()
    }

    /// Every tensor, stage by stage: its parameters, then its optimiser's tensors.
    pub fn tensors(&self) -> impl Iterator<Item = &ArrayD<f32>> {
        self.stages
            .iter()
            .flat_map(|s| s.params.iter().chain(&s.optimizer))
    }

    /// A 64-bit FNV-1a hash of every tensor's shape and bits and every step count: two runs
    /// ended in the same state exactly when their fingerprints agree (but for collisions).
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |word: u64| {
            for byte in word.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for stage in &self.stages {
            eat(stage.optimizer_steps);
            for tensor in stage.params.iter().chain(&stage.optimizer) {
                for &d in tensor.shape() {
                    eat(d as u64);
                }
                for &v in tensor.iter() {
                    eat(u64::from(v.to_bits()));
                }
            }
        }
        hash
    }

    /// Checks that this snapshot fits `like` (the run's previous one, or the network's):
    /// same stages, tensor counts and shapes, optimiser state empty or one pair of moments
    /// per parameter tensor, finite values. Anything else is refused before it is used.
    pub fn check_fits(&self, like: &Snapshot) -> Result<(), SidewaysJobError> {
        let bad = |message: String| Err(SidewaysJobError::Snapshot(message));
        if self.stages.len() != like.stages.len() {
            return bad(format!(
                "{} stages, expected {}",
                self.stages.len(),
                like.stages.len()
            ));
        }
        for (k, (got, want)) in self.stages.iter().zip(&like.stages).enumerate() {
            let stage = k + 1;
            if got.params.len() != want.params.len() {
                return bad(format!(
                    "stage {stage}: {} parameter tensors, expected {}",
                    got.params.len(),
                    want.params.len()
                ));
            }
            for (i, (g, w)) in got.params.iter().zip(&want.params).enumerate() {
                if g.shape() != w.shape() {
                    return bad(format!(
                        "stage {stage}: parameter {i} has shape {:?}, expected {:?}",
                        g.shape(),
                        w.shape()
                    ));
                }
            }
            match got.optimizer.len() {
                0 if got.optimizer_steps == 0 => {}
                n if n == 2 * got.params.len() && got.optimizer_steps > 0 => {
                    let shapes = got.params.iter().chain(&got.params);
                    for (i, (m, p)) in got.optimizer.iter().zip(shapes).enumerate() {
                        if m.shape() != p.shape() {
                            return bad(format!(
                                "stage {stage}: optimiser tensor {i} has shape {:?}, expected {:?}",
                                m.shape(),
                                p.shape()
                            ));
                        }
                    }
                }
                n => {
                    return bad(format!(
                        "stage {stage}: {n} optimiser tensors after {} steps, expected none \
                         before the first step and {} after",
                        got.optimizer_steps,
                        2 * got.params.len()
                    ));
                }
            }
            if got.optimizer_steps > i32::MAX as u64 {
                return bad(format!(
                    "stage {stage}: {} optimiser steps is too many",
                    got.optimizer_steps
                ));
            }
            let finite = got
                .params
                .iter()
                .chain(&got.optimizer)
                .all(|t| t.iter().all(|v| v.is_finite()));
            if !finite {
                return bad(format!("stage {stage}: a value is not finite"));
            }
        }
        Ok(())
    }
}

/// Train batches `first_batch..first_batch + batches` from `snapshot`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentJob {
    pub task: SidewaysTask,
    /// The experiment's seed: the network's initialisation and the videos.
    pub seed: u64,
    /// Zero-based segment number.
    pub segment: u64,
    pub first_batch: u64,
    pub batches: u64,
    /// Score the held-out videos after training (the run's last segment).
    pub evaluate: bool,
    pub snapshot: Snapshot,
}

/// What a segment measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SegmentMetrics {
    /// Frames trained (a frame of each video counts once).
    pub frames: u64,
    /// Time the pipeline trained, in seconds (loading data and snapshots aside).
    pub seconds: f64,
    /// Cross-entropy averaged over the segment's batches.
    pub mean_loss: f64,
    /// Fraction of (frame, video) pairs classified correctly.
    pub frame_accuracy: f64,
    pub videos: u64,
    /// Videos whose logits summed over the frames point at the label.
    pub clips_correct: u64,
    /// Each stage's compute time over the segment's training time.
    pub stage_busy: Vec<f64>,
    /// After the last segment: accuracy and loss on held-out videos.
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentOutcome {
    pub segment: u64,
    pub snapshot: Snapshot,
    pub metrics: SegmentMetrics,
}

/// A dataset's directory and whether it is the train split.
type SplitKey = (PathBuf, bool);

/// The datasets a process has loaded, by directory and split: a host loads each once.
#[derive(Clone, Default)]
pub struct VideoImages {
    loaded: Arc<Mutex<HashMap<SplitKey, Arc<Dataset>>>>,
}

impl VideoImages {
    /// The process-wide cache.
    pub fn shared() -> VideoImages {
        static SHARED: OnceLock<VideoImages> = OnceLock::new();
        SHARED.get_or_init(VideoImages::default).clone()
    }

    fn get(&self, dir: &Path, split: Split) -> Result<Arc<Dataset>, SidewaysJobError> {
        let key = (dir.to_path_buf(), split == Split::Train);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(data) = loaded.get(&key) {
            return Ok(Arc::clone(data));
        }
        let data = Arc::new(
            Dataset::load(dir, split)
                .map_err(|err| SidewaysJobError::Data(format!("{}: {err}", dir.display())))?,
        );
        loaded.insert(key, Arc::clone(&data));
        Ok(data)
    }
}

fn label_of(videos: &MovingObjects, label: VideoLabel, index: u64) -> usize {
    let labels = videos.clip(index).labels();
    usize::from(match label {
        VideoLabel::Class => labels.class,
        VideoLabel::Direction => labels.direction,
    })
}

/// Batch `b`'s clips and labels.
fn batch_of(videos: &MovingObjects, task: &SidewaysTask, b: u64) -> (ClipBatch, Vec<usize>) {
    let size = task.batch as u64;
    let ids = b * size..(b + 1) * size;
    let labels = ids
        .clone()
        .map(|i| label_of(videos, task.label, i))
        .collect();
    (
        ClipBatch::new(ids.map(|i| videos.clip(i)).collect()),
        labels,
    )
}

/// Trains the segment. Deterministic given the job when layer kernels run on one thread
/// (`pathnet_nn::set_threads(1)`, which callers set): the threaded pipeline is bit-identical
/// to the single-threaded schedule.
pub fn execute(job: &SegmentJob, images: &VideoImages) -> Result<SegmentOutcome, SidewaysJobError> {
    let task = &job.task;
    task.validate()?;
    let net = video_net(&task.net_spec(), job.seed)?;
    job.snapshot.check_fits(&Snapshot::of_net(&net))?;
    let (mut trainers, topology) = StageTrainer::for_net(net, &task.optimizer())?;
    for (trainer, state) in trainers.iter_mut().zip(&job.snapshot.stages) {
        for (mut p, s) in trainer.stage.params_mut().into_iter().zip(&state.params) {
            assign(&mut p, s);
        }
        trainer
            .restore_optimizer(OptimizerState {
                steps: state.optimizer_steps,
                tensors: state.optimizer.clone(),
            })
            .map_err(|err| SidewaysJobError::Snapshot(err.to_string()))?;
    }
    let train = MovingObjects::new(
        images.get(&task.data_dir, Split::Train)?,
        task.video,
        job.seed,
    )?;
    let mut pipeline = ThreadedPipeline::from_trainers(trainers, topology, task.schedule())?;
    let started = Instant::now();
    let mut reports: Vec<ClipReport> = Vec::new();
    for b in job.first_batch..job.first_batch + job.batches {
        let (mut clips, labels) = batch_of(&train, task, b);
        reports.push(pipeline.train_clip(&mut clips, &labels)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let busy = pipeline
        .busy()
        .iter()
        .map(|d| {
            if seconds > 0.0 {
                d.as_secs_f64() / seconds
            } else {
                0.0
            }
        })
        .collect();
    let (trainers, topology) = pipeline.into_trainers()?;
    let snapshot = Snapshot::of_trainers(&trainers);
    let mut metrics = summarise(&reports, task);
    metrics.seconds = seconds;
    metrics.stage_busy = busy;
    if job.evaluate && task.test_videos > 0 {
        let net = StageTrainer::into_net(trainers, topology);
        let test = MovingObjects::new(
            images.get(&task.data_dir, Split::Test)?,
            task.video,
            job.seed + TEST_SEED_OFFSET,
        )?;
        let (accuracy, loss) = score(&net, &test, task)?;
        metrics.test_accuracy = Some(accuracy);
        metrics.test_loss = Some(loss);
    }
    Ok(SegmentOutcome {
        segment: job.segment,
        snapshot,
        metrics,
    })
}

fn assign(param: &mut ArrayViewMutD<'_, f32>, value: &ArrayD<f32>) {
    param.assign(value);
}

fn summarise(reports: &[ClipReport], task: &SidewaysTask) -> SegmentMetrics {
    let n = reports.len().max(1) as f64;
    SegmentMetrics {
        frames: reports.len() as u64 * task.frames_per_batch(),
        mean_loss: reports.iter().map(|r| r.mean_loss).sum::<f64>() / n,
        frame_accuracy: reports.iter().map(|r| r.frame_accuracy).sum::<f64>() / n,
        videos: reports.iter().map(|r| r.videos as u64).sum(),
        clips_correct: reports.iter().map(|r| r.clip_correct as u64).sum(),
        ..SegmentMetrics::default()
    }
}

/// Clip accuracy (logits summed over the frames) and mean loss on the held-out videos.
fn score(
    net: &StageNet<f32>,
    test: &MovingObjects,
    task: &SidewaysTask,
) -> Result<(f64, f64), SidewaysJobError> {
    let stages: Vec<_> = net.stages().iter().collect();
    let batches = task.test_videos.div_ceil(task.batch) as u64;
    let (mut correct, mut videos, mut loss) = (0usize, 0usize, 0.0);
    for b in 0..batches {
        let (mut clips, labels) = batch_of(test, task, b);
        let report = evaluate_pipelined(
            &stages,
            net.topology(),
            task.schedule(),
            &mut clips,
            &labels,
        )?;
        correct += report.clip_correct;
        videos += report.videos;
        loss += report.mean_loss;
    }
    Ok((
        correct as f64 / videos.max(1) as f64,
        loss / batches.max(1) as f64,
    ))
}
