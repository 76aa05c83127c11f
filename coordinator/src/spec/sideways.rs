//! The spec of a Sideways experiment (`kind = "sideways"`): the `[sideways]` table is the work
//! crate's own task (network, stages, video task, training settings), so the coordinator,
//! the in-process run and agents read one schema with one set of defaults; the top level
//! says how the run is cut into leased segments.

use super::limits::MemoryEstimate;
use super::{SpecError, invalid};
use crate::placement::{Selector, StageRule};
use pathnet_work::sideways::placed::MAX_STAGE_HOSTS;
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
    /// Agents a segment's stages spread over: the one holding its lease and
    /// `stage_hosts - 1` others serving stage links (`pathnet agent --stage-listen`). Absent:
    /// every stage on the lease holder, unless `pathnet run --agents N` spreads them (see
    /// [`SidewaysSpec::spread_over`]); an explicit 1 always keeps them there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_hosts: Option<usize>,
    /// Per stage, the label its host must carry (`key` or `key=value`, `""` for any agent);
    /// empty: no stage asks for one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub place: Vec<String>,
    /// The `[sideways]` table: network, stages, video task and training settings (every
    /// key has a default).
    #[serde(default)]
    pub sideways: SidewaysTask,
}

fn default_snapshot_every() -> u64 {
    8
}

impl SidewaysSpec {
    /// Checks `snapshot_every`, the `[sideways]` table, then `stage_hosts` and `place`; the
    /// error names the bad field.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(1..=MAX_SNAPSHOT_EVERY).contains(&self.snapshot_every) {
            return Err(invalid(
                "snapshot_every",
                self.snapshot_every,
                format!("must be in 1..={MAX_SNAPSHOT_EVERY} batches"),
            ));
        }
        self.sideways.validate().map_err(spec_error)?;
        self.stage_rule().map(|_| ())
    }

    /// The agents each segment's stages spread over (`stage_hosts`, 1 when absent).
    pub fn hosts(&self) -> usize {
        self.stage_hosts.unwrap_or(1)
    }

    /// Spreads the stages over `agents` agents that all serve stage links, as a local run
    /// starts them: when the spec leaves placement open (neither `stage_hosts` nor a
    /// non-empty `place`), `stage_hosts` becomes `min(agents, stages, 4)`. Only one segment
    /// is out at a time, so agents beyond the first would otherwise only wait for a lost
    /// lease, and where the stages run cannot change a bit of the result. Returns the hosts
    /// now asked for.
    pub fn spread_over(&mut self, agents: usize) -> usize {
        let open = self.stage_hosts.is_none() && self.place.iter().all(String::is_empty);
        if open && agents >= 2 {
            let hosts = agents.min(self.sideways.stages).min(MAX_STAGE_HOSTS);
            if hosts >= 2 {
                self.stage_hosts = Some(hosts);
            }
        }
        self.hosts()
    }

    /// Where each segment's stages go; `None` when the spec asks for nothing (every stage
    /// on the lease holder, as before placement existed). Refuses bad `stage_hosts` and
    /// `place` values naming the field.
    pub fn stage_rule(&self) -> Result<Option<StageRule>, SpecError> {
        let stages = self.sideways.stages;
        let most = stages.min(MAX_STAGE_HOSTS);
        let hosts = self.hosts();
        if !(1..=most).contains(&hosts) {
            return Err(invalid(
                "stage_hosts",
                hosts,
                format!(
                    "must be in 1..={most}: one host per stage at most ({stages} stages), \
                     {MAX_STAGE_HOSTS} hosts at most"
                ),
            ));
        }
        if !self.place.is_empty() && self.place.len() != stages {
            return Err(invalid(
                "place",
                format!("{} entries", self.place.len()),
                format!("one label per stage: {stages} entries (\"\" for any agent)"),
            ));
        }
        let place = self
            .place
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                Selector::parse(entry)
                    .map_err(|reason| invalid(&format!("place[{i}]"), entry, reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if hosts == 1 && place.iter().all(Option::is_none) {
            return Ok(None);
        }
        StageRule::new(stages, hosts, &place)
            .map(Some)
            .map_err(|reason| invalid("place", format!("{:?}", self.place), reason))
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

    /// The spec with `top` added to its top level.
    fn with_top(top: &str) -> Result<super::SidewaysSpec, String> {
        match Spec::from_toml(&format!("{top}\n{SPEC}")) {
            Ok(Spec::Sideways(spec)) => Ok(spec),
            Ok(_) => panic!("a Sideways spec"),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn placement_is_optional_and_read_from_stage_hosts_and_place() {
        let plain = with_top("").unwrap();
        assert_eq!((plain.stage_hosts, plain.place.len()), (None, 0));
        assert_eq!(plain.stage_rule().unwrap(), None, "no placement: as before");
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("stage_hosts").is_none() && json.get("place").is_none());
        let two = with_top("stage_hosts = 2").unwrap();
        let rule = two.stage_rule().unwrap().unwrap();
        assert_eq!((rule.hosts(), rule.host_of()), (2, &[0, 1][..]));
        let labelled = with_top("place = [\"\", \"device=cuda\"]").unwrap();
        let rule = labelled.stage_rule().unwrap().unwrap();
        assert_eq!(rule.hosts(), 1, "labels alone keep one host");
        assert!(!rule.fits(0, &Default::default()));
        assert_eq!(
            with_top("place = [\"\", \"\"]")
                .unwrap()
                .stage_rule()
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_local_run_spreads_only_the_stages_of_a_spec_that_leaves_placement_open() {
        // SPEC has 2 stages.
        for (top, agents, hosts) in [
            ("", 0, 1),
            ("", 1, 1),
            ("", 2, 2),
            ("", 5, 2),
            ("stage_hosts = 1", 2, 1),
            ("place = [\"\", \"device=cuda\"]", 2, 1),
            ("place = [\"\", \"\"]", 2, 2),
        ] {
            let mut spec = with_top(top).unwrap();
            assert_eq!(spec.spread_over(agents), hosts, "{top} over {agents}");
            assert_eq!(spec.hosts(), hosts, "{top} over {agents}");
            assert!(spec.stage_rule().is_ok(), "{top} over {agents}");
        }
        let four = |agents: usize| {
            let text = SPEC.replace("stages = 2", "stages = 4");
            let Ok(Spec::Sideways(mut spec)) = Spec::from_toml(&text) else {
                panic!("a Sideways spec");
            };
            spec.spread_over(agents);
            spec.stage_rule()
                .unwrap()
                .map(|rule| rule.host_of().to_vec())
        };
        assert_eq!(four(3), Some(vec![0, 0, 1, 2]));
        assert_eq!(four(9), Some(vec![0, 1, 2, 3]), "4 hosts at most");
        let one = SPEC.replace("stages = 2", "stages = 1");
        let Ok(Spec::Sideways(mut spec)) = Spec::from_toml(&one) else {
            panic!("a Sideways spec");
        };
        assert_eq!(spec.spread_over(3), 1, "one stage has one host");
        assert_eq!(spec.stage_hosts, None);
    }

    #[test]
    fn a_cost_cut_makes_three_stages_for_three_hosts() {
        let text = SPEC.replace("stages = 2", "stages = 3\ncut = \"cost\"");
        let spec = match Spec::from_toml(&format!("stage_hosts = 3\n{text}")) {
            Ok(Spec::Sideways(spec)) => spec,
            other => panic!("a Sideways spec: {other:?}"),
        };
        let rule = spec.stage_rule().unwrap().unwrap();
        assert_eq!(rule.host_of(), [0, 1, 2]);
        assert!(spec.memory_estimate().unwrap().parameters > 100_000);
        // The default cut is not written back, so specs and work items stay as they were.
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["sideways"]["cut"], "cost");
        let plain = with_top("").unwrap();
        assert!(
            serde_json::to_value(&plain).unwrap()["sideways"]
                .get("cut")
                .is_none()
        );
    }

    #[test]
    fn blocks_set_the_cut_and_bad_blocks_are_refused_naming_the_field() {
        let text = SPEC.replace("stages = 2", "stages = 2\nblocks = [3, 1]");
        let Spec::Sideways(spec) = Spec::from_toml(&text).unwrap() else {
            panic!("a Sideways spec");
        };
        assert_eq!(spec.sideways.net_spec().blocks, [3, 1]);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["sideways"]["blocks"], serde_json::json!([3, 1]));
        assert!(
            serde_json::to_value(with_top("").unwrap()).unwrap()["sideways"]
                .get("blocks")
                .is_none()
        );
        for (extra, field) in [
            ("blocks = [2, 1]", "sideways.blocks"),
            ("blocks = [1, 1, 2]", "sideways.blocks"),
            ("blocks = [3, 1]\ncut = \"cost\"", "sideways.cut"),
        ] {
            let text = refused(extra);
            assert!(text.contains(field), "{extra}: {text}");
        }
    }

    #[test]
    fn the_links_example_is_the_threads_example_with_its_stages_on_two_agents() {
        let read = |text: &str| match Spec::from_toml(text).unwrap() {
            Spec::Sideways(spec) => spec,
            _ => panic!("a Sideways spec"),
        };
        let links = read(include_str!("../../../examples/sideways_links.toml"));
        let threads = read(include_str!(
            "../../../examples/sideways_moving_fashion.toml"
        ));
        assert_eq!(links.stage_rule().unwrap().unwrap().hosts(), 2);
        assert_eq!(threads.stage_rule().unwrap(), None);
        assert_eq!(links.sideways, threads.sideways);
        assert_eq!(
            (links.seed, links.snapshot_every),
            (threads.seed, threads.snapshot_every)
        );
        // The MNIST example is the Fashion one on the digits.
        let mut digits = read(include_str!("../../../examples/sideways_moving_mnist.toml"));
        assert_eq!(digits.sideways.data_dir, std::path::Path::new("data/mnist"));
        digits.sideways.data_dir = threads.sideways.data_dir.clone();
        digits.name = threads.name.clone();
        assert_eq!(digits, threads);
    }

    #[test]
    fn bad_placements_are_refused_naming_the_field() {
        for (top, field, value) in [
            ("stage_hosts = 0", "stage_hosts", "0"),
            ("stage_hosts = 3", "stage_hosts", "3"),
            ("place = [\"a\"]", "place", "1 entries"),
            ("place = [\"a\", \"=b\"]", "place[1]", "=b"),
            ("place = [\"a b\", \"\"]", "place[0]", "a b"),
            (
                "place = [\"device=cpu\", \"device=cuda\"]",
                "place",
                "device=cuda",
            ),
        ] {
            let err = with_top(top).unwrap_err();
            assert!(err.contains(field) && err.contains(value), "{top}: {err}");
        }
        let err = with_top("stage_host = 2").unwrap_err();
        assert!(err.contains("stage_host"), "{err}");
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
        let err = refused("cut = \"weight\"");
        assert!(err.contains("cut") && err.contains("weight"), "{err}");
        let err = Spec::from_toml(&SPEC.replace("stages = 2", "stages = 5\ncut = \"cost\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sideways.stages") && err.contains('5'),
            "{err}"
        );
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
