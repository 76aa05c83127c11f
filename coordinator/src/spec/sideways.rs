//! The spec of a Sideways experiment (`kind = "sideways"`): the `[sideways]` table is the work
//! crate's own task (network, stages, video task, training settings), so the coordinator,
//! the in-process run and agents read one schema with one set of defaults; the top level
//! says how the run is cut into leased segments.

use super::limits::MemoryEstimate;
use super::{SpecError, invalid};
use pathnet_work::sideways::{SidewaysJobError, SidewaysTask, net};
use serde::{Deserialize, Serialize};

/// Batches of one segment at most: a segment is the unit of work a lost agent costs again.
pub(super) const MAX_SNAPSHOT_EVERY: u64 = 1_000_000;

/// A Sideways experiment: a video network trained by a pipeline of stages, leased in
/// segments (docs/sideways.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidewaysSpec {
    /// The experiment's name; a coordinator's experiment ids are `<name>-<number>`.
    pub name: String,
    /// Seeds the network's initialisation and the video stream (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Batches per segment: the run is leased to one agent segment by segment, and a lost
    /// segment is trained again from the snapshot the previous one ended with (default 8,
    /// at most 1,000,000).
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
    /// The `[sideways]` table: network, stages, video task and training settings (every
    /// key has a default).
    #[serde(default)]
    pub sideways: SidewaysTask,
}

fn default_snapshot_every() -> u64 {
    8
}

impl SidewaysSpec {
    /// Checks `snapshot_every`, then the `[sideways]` table; the error names the bad field.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(1..=MAX_SNAPSHOT_EVERY).contains(&self.snapshot_every) {
            return Err(invalid(
                "snapshot_every",
                self.snapshot_every,
                format!("must be in 1..={MAX_SNAPSHOT_EVERY} batches"),
            ));
        }
        self.sideways.validate().map_err(spec_error)
    }

    /// Segments the run is cut into.
    pub fn segments(&self) -> u64 {
        self.sideways.batches.div_ceil(self.snapshot_every)
    }

    /// The network held three times (parameters and Adam's two moments) by the run's
    /// snapshot, and again by the segment training in process.
    pub fn memory_estimate(&self) -> Result<MemoryEstimate, SpecError> {
        let net = net::video_net(&self.sideways.net_spec(), self.seed).map_err(spec_error)?;
        let parameters: usize = net.params().iter().flatten().map(|p| p.len()).sum();
        Ok(MemoryEstimate {
            field: "sideways",
            parameters: parameters as u128,
            copies: 6,
            other_bytes: 0,
        })
    }
}

/// An error of the `[sideways]` table, named by its path in the spec.
pub(super) fn spec_error(err: SidewaysJobError) -> SpecError {
    match err {
        SidewaysJobError::Invalid {
            field,
            value,
            reason,
        } => invalid(&format!("sideways.{field}"), value, reason),
        other => invalid("sideways", "", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::Spec;

    const SPEC: &str = r#"
        kind = "sideways"
        name = "t"
        seed = 3
        snapshot_every = 2
        [sideways]
        stages = 2
        batches = 5
    "#;

    /// The spec with `extra` appended to its `[sideways]` table, refused.
    fn refused(extra: &str) -> String {
        Spec::from_toml(&format!("{SPEC}{extra}\n"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_sideways_spec_parses_and_counts_its_segments() {
        let Spec::Sideways(spec) = Spec::from_toml(SPEC).unwrap() else {
            panic!("expected a Sideways spec");
        };
        assert_eq!(spec.segments(), 3);
        assert_eq!(spec.sideways.video.frames, 16);
        assert!(spec.memory_estimate().unwrap().parameters > 100_000);
    }

    #[test]
    fn bad_fields_are_named_with_their_values() {
        let video = |field: &str| {
            let mut video =
                toml::Table::try_from(pathnet_envs::video::MovingObjectsConfig::small()).unwrap();
            let (key, value) = field.split_once('=').unwrap();
            video.insert(key.into(), value.parse::<i64>().unwrap().into());
            format!("video = {}", toml::Value::Table(video))
        };
        let cases = [
            ("batch = 0".to_owned(), "sideways.batch", "0"),
            ("skips = [2]".to_owned(), "sideways.skips", "[2]"),
            (
                "method = \"skip_sideways\"\nskips = [3]".to_owned(),
                "sideways.skips",
                "3",
            ),
            (
                "learning_rate = -1.0".to_owned(),
                "sideways.learning_rate",
                "-1",
            ),
            (
                "test_videos = 1000000".to_owned(),
                "sideways.test_videos",
                "1000000",
            ),
            (video("canvas=64"), "sideways.video.canvas", "64"),
            (video("frames=0"), "sideways.video.frames", "0"),
        ];
        for (table, field, value) in cases {
            let err = refused(&table);
            assert!(err.contains(field) && err.contains(value), "{table}: {err}");
        }
        let err = refused("stage = 2");
        assert!(err.contains("stage"), "{err}");
        for (from, to, field) in [
            ("stages = 2", "stages = 3", "sideways.stages"),
            ("batches = 5", "batches = 0", "sideways.batches"),
        ] {
            let err = Spec::from_toml(&SPEC.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(field) && err.contains(&to[to.len() - 1..]),
                "{to}: {err}"
            );
        }
        let err = Spec::from_toml(&SPEC.replace("snapshot_every = 2", "snapshot_every = 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("snapshot_every") && err.contains('0'), "{err}");
    }
}
