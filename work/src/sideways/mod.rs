//! Sideways training on the cluster, without networking: what an experiment's `[sideways]`
//! table says ([`SidewaysTask`]), the network and data it means ([`net`]), and one segment
//! of the run ([`segment`]): a number of batches trained from a snapshot by the whole
//! pipeline (one thread per stage) on one host, ending in the next snapshot.
//!
//! The coordinator's in-process run and the agent execute the same [`segment::execute`], so
//! a run cut into segments gives the same parameters wherever each segment ran.

pub mod calibrate;
pub mod net;
pub mod placed;
pub mod segment;

use pathnet_envs::video::{MovingObjectsConfig, VideoConfigError};
use pathnet_nn::AdamConfig;
use pathnet_nn::sideways::{Combine, OptimizerSpec, SidewaysConfig, SidewaysError, UpdateSchedule};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use placed::{CarriedBack, Carrier, HostedStages, StagePlacement};
pub use segment::{SegmentJob, SegmentMetrics, SegmentOutcome, Snapshot, StageSnapshot};

/// The most frames a clip may have (the generator is tested to 128; longer only costs time).
pub const MAX_FRAMES: usize = 512;
/// The most videos of a batch.
pub const MAX_BATCH: usize = 1024;
/// The most held-out videos scored at the end.
pub const MAX_TEST_VIDEOS: usize = 100_000;

/// Why a Sideways task or segment could not run: a bad `[sideways]` value (named), the
/// images, training itself, or a snapshot that does not fit the network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SidewaysJobError {
    /// A `[sideways]` field out of range or inconsistent with another.
    #[error("`sideways.{field}` = {value}: {reason}")]
    Invalid {
        /// The field's name in the `[sideways]` table.
        field: &'static str,
        /// Its value, quoted and bounded in length.
        value: String,
        /// What it must be.
        reason: String,
    },
    /// The `[sideways.video]` generator settings are refused.
    #[error("the video task: {0}")]
    Video(#[from] VideoConfigError),
    /// The images in `data_dir` could not be read or do not fit the video (the directory and
    /// the reader's error).
    #[error("loading the videos' images: {0}")]
    Data(String),
    /// The pipeline refused the network or failed while training.
    #[error("training: {0}")]
    Sideways(#[from] SidewaysError),
    /// A snapshot does not match the network's stages, parameter shapes or optimiser state.
    #[error("snapshot: {0}")]
    Snapshot(String),
}

impl SidewaysJobError {
    /// `sideways.{field}` has `value`, which is wrong for `reason`; the value is quoted
    /// bounded, since it may come from a peer.
    pub fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        SidewaysJobError::Invalid {
            field,
            value: pathnet_proto::quote(&value.to_string()),
            reason: reason.into(),
        }
    }
}

/// What a clip is labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoLabel {
    /// The first object's class: one frame shows it.
    #[default]
    Class,
    /// The objects' direction of motion: only several frames show it.
    Direction,
}

/// The training rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Sideways (Malinowski et al. 2020): a chain of stages.
    #[default]
    Sideways,
    /// Skip-Sideways (Malinowski et al. 2021): skip edges into the top stage.
    SkipSideways,
}

/// An experiment's `[sideways]` table: the network, the video task and training settings.
/// Coordinator and agents read it with this one schema, so they cannot disagree on a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SidewaysTask {
    /// Directory of the MNIST-family IDX files the objects are drawn from (train split for
    /// training, test split for the held-out score).
    pub data_dir: PathBuf,
    /// What each clip is labelled with: `class` (default) or `direction`.
    pub label: VideoLabel,
    /// The training rule: `sideways` (default) or `skip_sideways`.
    pub method: Method,
    /// Stages the network is cut into: 1, 2 or 4 by count, 1 to 4 by cost.
    pub stages: usize,
    /// How the network's four blocks are cut into stages: `count` (default, equal blocks per
    /// stage) or `cost` (balancing the estimated multiply-adds per stage).
    #[serde(skip_serializing_if = "net::Cut::is_count")]
    pub cut: net::Cut,
    /// Blocks per stage, bottom first, instead of `cut` (e.g. `[3, 1]`): the cut that
    /// `pathnet calibrate` finds by timing the blocks on the machine that will train.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<usize>,
    /// Skip-Sideways: spans of the skip edges into the top stage (each in 2..=stages); empty
    /// means one edge spanning the whole network.
    pub skips: Vec<usize>,
    /// How the top stage merges its inputs when it has skip edges: `sum` (default) or
    /// `concat`.
    pub combine: Combine,
    /// Videos per batch (one clip of each trains the pipeline at once).
    pub batch: usize,
    /// Batches the whole run trains.
    pub batches: u64,
    /// Adam's step size.
    pub learning_rate: f64,
    /// When parameters change: `per_clip` (default, one step per clip) or `per_tick`.
    pub update: UpdateSchedule,
    /// Hold each clip's last frame for `2K - 1` more ticks (K stages) so that every frame
    /// reaches the loss and every gradient reaches stage 1 (default true).
    pub drain: bool,
    /// Held-out videos scored after the last batch (0: none).
    pub test_videos: usize,
    /// The videos: canvas 32 (the network's frame side), objects, frames, speed, edges...
    pub video: MovingObjectsConfig,
}

impl Default for SidewaysTask {
    fn default() -> Self {
        SidewaysTask {
            data_dir: PathBuf::from("/usr/share/datasets/fashion-mnist"),
            label: VideoLabel::Class,
            method: Method::Sideways,
            stages: 2,
            cut: net::Cut::Count,
            blocks: Vec::new(),
            skips: Vec::new(),
            combine: Combine::Sum,
            batch: 8,
            batches: 32,
            learning_rate: 1e-3,
            update: UpdateSchedule::PerClip,
            drain: true,
            test_videos: 64,
            video: MovingObjectsConfig::small(),
        }
    }
}

impl SidewaysTask {
    /// Checks every field that does not need the dataset (the video's fit to the images is
    /// checked when they are loaded).
    pub fn validate(&self) -> Result<(), SidewaysJobError> {
        if !self.blocks.is_empty() {
            if !self.cut.is_count() {
                return Err(SidewaysJobError::invalid(
                    "cut",
                    "cost",
                    "`blocks` already says where the stages are cut: leave `cut` out",
                ));
            }
            net::check_blocks(&self.blocks, self.stages)?;
        } else if !self.cut.allows(self.stages) {
            return Err(SidewaysJobError::invalid(
                "stages",
                self.stages,
                self.cut.stages_rule(),
            ));
        }
        match self.method {
            Method::Sideways if !self.skips.is_empty() => {
                return Err(SidewaysJobError::invalid(
                    "skips",
                    format!("{:?}", self.skips),
                    "skip edges need `method = \"skip_sideways\"`",
                ));
            }
            Method::SkipSideways if self.stages < 2 => {
                return Err(SidewaysJobError::invalid(
                    "stages",
                    self.stages,
                    "Skip-Sideways needs at least 2 stages for a skip edge to span",
                ));
            }
            _ => {}
        }
        for (i, &span) in self.skips.iter().enumerate() {
            if !(2..=self.stages).contains(&span) {
                return Err(SidewaysJobError::invalid(
                    "skips",
                    span,
                    format!(
                        "a span must be in 2..={} with {} stages",
                        self.stages, self.stages
                    ),
                ));
            }
            if self.skips[..i].contains(&span) {
                return Err(SidewaysJobError::invalid("skips", span, "given twice"));
            }
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(SidewaysJobError::invalid(
                "batch",
                self.batch,
                format!("must be in 1..={MAX_BATCH}"),
            ));
        }
        if self.batches == 0 {
            return Err(SidewaysJobError::invalid(
                "batches",
                0,
                "must be at least 1",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(SidewaysJobError::invalid(
                "learning_rate",
                self.learning_rate,
                "must be positive",
            ));
        }
        if self.test_videos > MAX_TEST_VIDEOS {
            return Err(SidewaysJobError::invalid(
                "test_videos",
                self.test_videos,
                format!("must be at most {MAX_TEST_VIDEOS}"),
            ));
        }
        if self.video.canvas != net::SIDE {
            return Err(SidewaysJobError::invalid(
                "video.canvas",
                self.video.canvas,
                format!("the network reads {0}x{0} frames", net::SIDE),
            ));
        }
        if !(1..=MAX_FRAMES).contains(&self.video.frames) {
            return Err(SidewaysJobError::invalid(
                "video.frames",
                self.video.frames,
                format!("must be in 1..={MAX_FRAMES}"),
            ));
        }
        // The rest of the video against Fashion-MNIST's 28x28 images; the real images are
        // checked again when loaded.
        self.video
            .validate(28, 28)
            .map_err(|err| SidewaysJobError::Invalid {
                field: "video",
                value: pathnet_proto::quote(&err.value),
                reason: format!("`video.{}`: expected {}", err.field, err.expected),
            })
    }

    /// The skip spans the network gets: Skip-Sideways without spans has one edge over the
    /// whole network.
    pub fn spans(&self) -> Vec<usize> {
        match self.method {
            Method::Sideways => Vec::new(),
            Method::SkipSideways if self.skips.is_empty() => vec![self.stages],
            Method::SkipSideways => self.skips.clone(),
        }
    }

    /// Classes of the label: Fashion-MNIST's 10, or the motion directions.
    pub fn classes(&self) -> usize {
        match self.label {
            VideoLabel::Class => 10,
            VideoLabel::Direction => self.video.directions.count(),
        }
    }

    /// The network this task trains: its stages, skip spans and head size.
    pub fn net_spec(&self) -> net::VideoNetSpec {
        net::VideoNetSpec {
            stages: self.stages,
            skips: self.spans(),
            combine: self.combine,
            classes: self.classes(),
            cut: self.cut,
            blocks: self.blocks.clone(),
        }
    }

    /// Adam at `learning_rate`, its other settings at their defaults.
    pub fn optimizer(&self) -> OptimizerSpec {
        OptimizerSpec::Adam(AdamConfig {
            lr: self.learning_rate,
            ..AdamConfig::default()
        })
    }

    /// The pipeline's clip schedule: `update` and `drain`.
    pub fn schedule(&self) -> SidewaysConfig {
        SidewaysConfig {
            update: self.update,
            drain: self.drain,
        }
    }

    /// Frames one batch trains (each video's frames count once).
    pub fn frames_per_batch(&self) -> u64 {
        (self.batch * self.video.frames) as u64
    }

    /// The run's first snapshot: the network initialised from `seed`, no optimiser state.
    pub fn initial_snapshot(&self, seed: u64) -> Result<Snapshot, SidewaysJobError> {
        let net = net::video_net(&self.net_spec(), seed)?;
        Ok(Snapshot::of_net(&net))
    }
}
