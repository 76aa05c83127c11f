//! The small Sideways run the process tests share: one moving Fashion-MNIST object on a
//! 32x32 canvas (downscaled to 16x16), two stages, eight held-out clips. Each test sets what
//! it varies (name, seed, sizes, segments, placement) and compares whole runs by their
//! summaries.

use super::fashion_dir;

/// What a test varies of the shared run.
pub(crate) struct SidewaysRun<'a> {
    /// The experiment's name.
    pub(crate) name: &'a str,
    /// The run's seed.
    pub(crate) seed: u64,
    /// Stages the network is cut into (1, 2 or 4).
    pub(crate) stages: usize,
    /// Batches per segment.
    pub(crate) snapshot_every: u64,
    /// Clips per batch.
    pub(crate) batch: usize,
    /// Batches in the run.
    pub(crate) batches: usize,
    /// Frames per clip.
    pub(crate) frames: usize,
    /// Top-level lines placed after `snapshot_every` (e.g. `stage_hosts` and `place`).
    pub(crate) extra: &'a str,
}

impl SidewaysRun<'_> {
    /// The spec as TOML.
    pub(crate) fn toml(&self) -> String {
        format!(
            r#"
kind = "sideways"
name = "{name}"
seed = {seed}
snapshot_every = {snapshot_every}
{extra}

[sideways]
data_dir = "{data}"
stages = {stages}
batch = {batch}
batches = {batches}
test_videos = 8

[sideways.video]
canvas = 32
objects = 1
frames = {frames}
speed = 2.0
edges = "wrap"
directions = "four"
downscale = 2
shared_class = true
shared_direction = true
"#,
            name = self.name,
            seed = self.seed,
            snapshot_every = self.snapshot_every,
            stages = self.stages,
            extra = self.extra,
            batch = self.batch,
            batches = self.batches,
            frames = self.frames,
            data = fashion_dir().display()
        )
    }
}

/// Two runs that must have trained the same parameters the same way.
pub(crate) fn assert_same_run(a: &serde_json::Value, b: &serde_json::Value) {
    for key in [
        "fingerprint",
        "final_loss",
        "final_accuracy",
        "test_accuracy",
        "frames",
        "batches",
        "segments",
    ] {
        assert_eq!(a[key], b[key], "{key}: {a} vs {b}");
    }
}
