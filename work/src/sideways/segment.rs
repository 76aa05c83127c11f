//! One segment of a Sideways run: batches `first_batch..first_batch + batches` trained from a
//! snapshot by the threaded pipeline, ending in the next snapshot and the segment's metrics.
//!
//! Everything a segment depends on is in its job: the parameters and every stage's optimiser
//! state (the snapshot), and the data stream's position (the batch index: clip `i` of a
//! seeded generator depends only on the seed and `i`, so batch `b` is clips `b*B..(b+1)*B`).
//! Restarting a segment from its snapshot therefore trains exactly what the lost attempt
//! would have.

use super::net::{ClipBatch, video_net};
use super::placed::{Carrier, StagePlacement, link_error};
use super::{SidewaysJobError, SidewaysTask, VideoLabel};
use ndarray::{ArrayD, ArrayViewMutD};
use pathnet_envs::data::{Dataset, Split};
use pathnet_envs::video::MovingObjects;
use pathnet_nn::OptimizerState;
use pathnet_nn::sideways::{
    ClipPlan, ClipReport, StageNet, StageTrainer, ThreadedPipeline, Topology, evaluate_pipelined,
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
    /// The stage's parameter tensors, in its `params()` order.
    pub params: Vec<ArrayD<f32>>,
    /// Adam steps taken so far (its bias correction depends on it).
    pub optimizer_steps: u64,
    /// Adam's first then second moments, one of each per parameter tensor; empty before
    /// the first step.
    pub optimizer: Vec<ArrayD<f32>>,
}

impl StageSnapshot {
    /// A stage's state as it stands.
    pub fn of_trainer(t: &StageTrainer<f32>) -> Self {
        let state = t.optimizer_state();
        StageSnapshot {
            params: t.stage.params().into_iter().map(|p| p.to_owned()).collect(),
            optimizer_steps: state.steps,
            optimizer: state.tensors,
        }
    }

    /// No tensors: a stage another host holds.
    pub fn empty() -> Self {
        StageSnapshot {
            params: Vec::new(),
            optimizer_steps: 0,
            optimizer: Vec::new(),
        }
    }
}

/// The whole training state of a run between two batches, but for the data stream's
/// position, which is the number of batches done.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// One per stage, bottom first.
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
            stages: trainers.iter().map(StageSnapshot::of_trainer).collect(),
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
    /// The experiment's `[sideways]` table.
    pub task: SidewaysTask,
    /// The experiment's seed: the network's initialisation and the videos.
    pub seed: u64,
    /// Zero-based segment number.
    pub segment: u64,
    /// Batches the run has done before this segment: the data stream's position.
    pub first_batch: u64,
    /// Batches this segment trains (at least 1).
    pub batches: u64,
    /// Score the held-out videos after training (the run's last segment).
    pub evaluate: bool,
    /// The state to train from: the previous segment's end, or the fresh network's.
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
    /// Videos trained on (batch size times batches).
    pub videos: u64,
    /// Videos whose logits summed over the frames point at the label.
    pub clips_correct: u64,
    /// Each stage's compute time over the segment's training time.
    pub stage_busy: Vec<f64>,
    /// After the last segment: accuracy and loss on held-out videos.
    pub test_accuracy: Option<f64>,
    /// Cross-entropy averaged over the held-out frames that carry a loss, when scored.
    pub test_loss: Option<f64>,
    /// Ticks the pipeline ran (frames plus drain, clip after clip).
    pub ticks: u64,
    /// Stage links the segment used (0: every stage on one host).
    pub links: usize,
    /// Bytes sent over the links, both ways, all links together.
    pub link_bytes: u64,
}

/// What a segment produced: the state after its last batch and its measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentOutcome {
    /// The job's segment number.
    pub segment: u64,
    /// The state after the segment's last batch; the next segment starts from it.
    pub snapshot: Snapshot,
    /// What the segment measured.
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
    execute_placed(job, images, &StagePlacement::local(job.task.stages), None)
}

/// [`execute`] with the stages `placement` puts on other hosts run there, their messages
/// carried by `carrier`; this host drives (frames, losses, the snapshot). The outcome is
/// bit-identical to [`execute`]'s.
pub fn execute_placed(
    job: &SegmentJob,
    images: &VideoImages,
    placement: &StagePlacement,
    mut carrier: Option<&mut dyn Carrier>,
) -> Result<SegmentOutcome, SidewaysJobError> {
    let task = &job.task;
    task.validate()?;
    placement.check(task.stages).map_err(link_error)?;
    let net = video_net(&task.net_spec(), job.seed)?;
    let like = Snapshot::of_net(&net);
    job.snapshot.check_fits(&like)?;
    let (trainers, topology) = restore_trainers(net, task, &job.snapshot, |_| true)?;
    let train = MovingObjects::new(
        images.get(&task.data_dir, Split::Train)?,
        task.video,
        job.seed,
    )?;
    // Stages placed elsewhere wait here at the snapshot's state until their hosts send them
    // back: then they are the same trainers, restored from what came back.
    let mut here = Vec::with_capacity(trainers.len());
    let mut away = Vec::with_capacity(trainers.len());
    for (i, trainer) in trainers.into_iter().enumerate() {
        if placement.host_of[i] == 0 {
            here.push(Some(trainer));
            away.push(None);
        } else {
            here.push(None);
            away.push(Some(trainer));
        }
    }
    let (mut pipeline, ends) =
        ThreadedPipeline::placed(here, topology, task.schedule(), &placement.as_seen_by(0))?;
    let links = match carrier.as_deref_mut() {
        Some(carrier) => {
            carrier.start(ends)?;
            carrier.links()
        }
        None if placement.is_local() => 0,
        None => {
            return Err(link_error(
                "stages are placed on other hosts but nothing carries their messages",
            ));
        }
    };
    let started = Instant::now();
    let mut reports: Vec<ClipReport> = Vec::new();
    let mut trained = Ok(());
    for b in job.first_batch..job.first_batch + job.batches {
        let (mut clips, labels) = batch_of(&train, task, b);
        match pipeline.train_clip(&mut clips, &labels) {
            Ok(report) => reports.push(report),
            Err(err) => {
                trained = Err(err);
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Err(err) = trained {
        if let Some(carrier) = carrier.as_deref_mut() {
            carrier.abort();
        }
        return Err(err.into());
    }
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
    let (local, topology) = pipeline.into_local_trainers()?;
    let mut link_bytes = 0;
    let mut came_back = vec![false; task.stages];
    if let Some(carrier) = carrier {
        let back = carrier.finish()?;
        link_bytes = back.bytes;
        for (i, state) in back.stages {
            let trainer = away.get_mut(i).and_then(Option::as_mut).ok_or_else(|| {
                link_error(format!(
                    "stage {} came back from a host that does not run it",
                    i + 1
                ))
            })?;
            Snapshot {
                stages: vec![state.clone()],
            }
            .check_fits(&Snapshot {
                stages: vec![like.stages[i].clone()],
            })
            .map_err(|err| link_error(format!("stage {} from its host: {err}", i + 1)))?;
            restore_stage(trainer, &state)?;
            came_back[i] = true;
        }
    }
    // A stage that never came back would leave the snapshot's state in place: refuse.
    if let Some(i) = (0..task.stages).find(|&i| placement.host_of[i] != 0 && !came_back[i]) {
        return Err(link_error(format!("stage {} did not come back", i + 1)));
    }
    let mut all: Vec<Option<StageTrainer<f32>>> = away;
    for (i, trainer) in local {
        all[i] = Some(trainer);
    }
    let trainers = all
        .into_iter()
        .map(|t| t.expect("every stage here or back"))
        .collect::<Vec<_>>();
    let snapshot = Snapshot::of_trainers(&trainers);
    let mut metrics = summarise(&reports, task);
    metrics.seconds = seconds;
    metrics.stage_busy = busy;
    let plan = ClipPlan::new(task.video.frames, task.stages, &[], task.schedule());
    metrics.ticks = reports.len() as u64 * plan.ticks as u64;
    metrics.links = links;
    metrics.link_bytes = link_bytes;
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

/// The network's stages with their optimisers, those `which` picks restored from
/// `snapshot` (checked against the network first); the others keep their initialisation.
pub(super) fn restore_trainers(
    net: StageNet<f32>,
    task: &SidewaysTask,
    snapshot: &Snapshot,
    which: impl Fn(usize) -> bool,
) -> Result<(Vec<StageTrainer<f32>>, Topology), SidewaysJobError> {
    let like = Snapshot::of_net(&net);
    if snapshot.stages.len() != like.stages.len() {
        return Err(SidewaysJobError::Snapshot(format!(
            "{} stages, expected {}",
            snapshot.stages.len(),
            like.stages.len()
        )));
    }
    let (mut trainers, topology) = StageTrainer::for_net(net, &task.optimizer())?;
    for (i, (trainer, state)) in trainers.iter_mut().zip(&snapshot.stages).enumerate() {
        if !which(i) {
            continue;
        }
        Snapshot {
            stages: vec![state.clone()],
        }
        .check_fits(&Snapshot {
            stages: vec![like.stages[i].clone()],
        })
        .map_err(|err| SidewaysJobError::Snapshot(format!("stage {}: {err}", i + 1)))?;
        restore_stage(trainer, state)?;
    }
    Ok((trainers, topology))
}

/// Sets a stage's parameters and optimiser state.
pub(super) fn restore_stage(
    trainer: &mut StageTrainer<f32>,
    state: &StageSnapshot,
) -> Result<(), SidewaysJobError> {
    for (mut p, s) in trainer.stage.params_mut().into_iter().zip(&state.params) {
        assign(&mut p, s);
    }
    trainer
        .restore_optimizer(OptimizerState {
            steps: state.optimizer_steps,
            tensors: state.optimizer.clone(),
        })
        .map_err(|err| SidewaysJobError::Snapshot(err.to_string()))
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
