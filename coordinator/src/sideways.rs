//! A Sideways experiment (kind `sideways`) on the lease scheduler, with no networking.
//!
//! The coordinator owns the run's state between segments: the latest snapshot (parameters
//! and every stage's optimiser state) and the number of batches done, which is the video
//! stream's position. It hands out one segment at a time, the whole pipeline to one host; a
//! segment whose lease is lost goes out again unchanged, from the same snapshot, so the run
//! ends in the same state as one without the failure. It never touches a frame.

use crate::kind::{ExperimentKind, Kind};
use crate::local::RunError;
use crate::run::{Counters, EvalId, Progress, Run, RunState, RunStatus, Summary, VideoProgress};
use crate::spec::{MemoryEstimate, SidewaysSpec, SpecError};
use pathnet_work::sideways::{SegmentJob, SegmentOutcome, SidewaysJobError, Snapshot};
use serde::Serialize;
use std::fmt;
use std::time::Instant;

mod checkpoint;

pub use checkpoint::SidewaysRunState;

/// The summary of a Sideways run, in-process or distributed.
#[derive(Debug, Clone, Serialize)]
pub struct SidewaysSummary {
    /// The experiment's id.
    pub experiment: String,
    /// `sideways`.
    pub kind: &'static str,
    /// The experiment's seed.
    pub seed: u64,
    /// The training rule (`sideways.method`).
    pub method: pathnet_work::sideways::Method,
    /// What clips were labelled with (`sideways.label`).
    pub label: pathnet_work::sideways::VideoLabel,
    /// Stages the network was cut into.
    pub stages: usize,
    /// Segments accepted.
    pub segments: u64,
    /// Batches trained.
    pub batches: u64,
    /// Frames trained (a frame of each video counts once).
    pub frames: u64,
    /// Wall-clock seconds of the run, and the seconds its pipelines trained.
    pub seconds: f64,
    /// Seconds the pipelines trained, over every segment.
    pub training_seconds: f64,
    /// Frames over the pipelines' training time (what the hosts achieved), and over the
    /// run's wall-clock time (snapshots, leases and data loading included).
    pub frames_per_second: f64,
    /// Frames over the run's wall-clock time.
    pub wall_frames_per_second: f64,
    /// The last segment's mean loss and frame accuracy.
    pub final_loss: Option<f64>,
    /// The last segment's fraction of (frame, video) pairs classified correctly.
    pub final_accuracy: Option<f64>,
    /// Held-out clip accuracy and loss after the last batch.
    pub test_accuracy: Option<f64>,
    /// Held-out cross-entropy after the last batch; absent when not scored.
    pub test_loss: Option<f64>,
    /// Each stage's busy fraction, weighted over every segment's training time.
    pub stage_busy: Vec<f64>,
    /// Segments handed out again after their lease was lost.
    pub segments_reissued: u64,
    /// Snapshot bytes (parameters and optimiser state).
    pub snapshot_bytes: usize,
    /// Bytes the segments taken sent over stage links (0 with every stage on one agent).
    pub link_bytes: u64,
    /// FNV-1a of the final snapshot's bits: equal fingerprints, equal runs.
    pub fingerprint: String,
}

/// Why a segment's result was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SegmentRefusal {
    /// The id is not the segment out now (it was accepted, re-issued or never issued).
    #[error("{0} is not the segment outstanding")]
    NotOutstanding(EvalId),
    /// The result's segment number differs from the lease's.
    #[error("the result is of segment {got}, the lease of segment {expected}")]
    WrongSegment {
        /// The segment the result says it is.
        got: u64,
        /// The segment leased.
        expected: u64,
    },
    /// The result's snapshot does not fit the network (stages, shapes, finite values).
    #[error("{0}")]
    Snapshot(SidewaysJobError),
}

/// A Sideways run's state: the snapshot between segments, the batches done and the
/// segment out, driven by whoever trains the segments (an agent, or the in-process run).
pub struct SidewaysRun {
    experiment: String,
    spec: SidewaysSpec,
    snapshot: Snapshot,
    batches_done: u64,
    segments_done: u64,
    issued: Option<EvalId>,
    stopped: bool,
    counters: Counters,
    events: Vec<Progress>,
    clock: Instant,
    seconds: Option<f64>,
    frames: u64,
    training_seconds: f64,
    busy_seconds: Vec<f64>,
    link_bytes: u64,
    last: Option<(f64, f64)>,
    test: Option<(f64, Option<f64>)>,
}

impl SidewaysRun {
    /// A run of `spec` under the id `experiment`, starting from the freshly initialised
    /// network; an error when the network cannot be built.
    pub fn new(experiment: String, spec: SidewaysSpec) -> Result<Self, SidewaysJobError> {
        let snapshot = spec.sideways.initial_snapshot(spec.seed)?;
        let events = vec![Progress::TaskStarted {
            task: 0,
            name: task_name(&spec),
            max_generations: spec.segments() as usize,
        }];
        Ok(SidewaysRun {
            experiment,
            busy_seconds: vec![0.0; snapshot.stages.len()],
            spec,
            snapshot,
            batches_done: 0,
            segments_done: 0,
            issued: None,
            stopped: false,
            counters: Counters::default(),
            events,
            clock: Instant::now(),
            seconds: None,
            frames: 0,
            training_seconds: 0.0,
            link_bytes: 0,
            last: None,
            test: None,
        })
    }

    /// The experiment's spec.
    pub fn spec(&self) -> &SidewaysSpec {
        &self.spec
    }

    /// Bytes of the current snapshot's tensors (parameters and optimiser state).
    pub fn snapshot_bytes(&self) -> usize {
        self.snapshot.bytes()
    }

    /// Bytes of the parameters alone (without Adam's moments, which a resumed run's snapshot
    /// may already hold).
    pub fn parameter_bytes(&self) -> usize {
        self.snapshot
            .stages
            .iter()
            .flat_map(|s| &s.params)
            .map(|p| p.len() * 4)
            .sum()
    }

    /// The next segment, unless one is out or the run is over. Its id is its number, kept
    /// when it is re-issued.
    pub fn next_segment(&mut self) -> Option<(EvalId, SegmentJob)> {
        if self.state() != RunState::Running || self.issued.is_some() {
            return None;
        }
        let total = self.spec.sideways.batches;
        let batches = self.spec.snapshot_every.min(total - self.batches_done);
        let segment = self.segments_done;
        let id = EvalId(segment);
        self.issued = Some(id);
        self.counters.evaluations_issued += 1;
        Some((
            id,
            SegmentJob {
                task: self.spec.sideways.clone(),
                seed: self.spec.seed,
                segment,
                first_batch: self.batches_done,
                batches,
                evaluate: self.batches_done + batches == total,
                snapshot: self.snapshot.clone(),
            },
        ))
    }

    /// Takes segment `id`'s outcome: its snapshot becomes the run's. A refusal is counted
    /// and changes nothing else.
    pub fn complete(&mut self, id: EvalId, outcome: SegmentOutcome) -> Result<(), SegmentRefusal> {
        let checked = self.check(id, &outcome);
        if checked.is_err() {
            self.counters.results_refused += 1;
        }
        checked?;
        self.issued = None;
        self.counters.results_accepted += 1;
        let m = &outcome.metrics;
        let batches = self
            .spec
            .snapshot_every
            .min(self.spec.sideways.batches - self.batches_done);
        self.batches_done += batches;
        self.segments_done += 1;
        self.snapshot = outcome.snapshot;
        self.frames += m.frames;
        self.training_seconds += m.seconds;
        self.link_bytes += m.link_bytes;
        for (sum, busy) in self.busy_seconds.iter_mut().zip(&m.stage_busy) {
            *sum += busy * m.seconds;
        }
        self.last = Some((m.mean_loss, m.frame_accuracy));
        if let Some(accuracy) = m.test_accuracy {
            self.test = Some((accuracy, m.test_loss));
        }
        self.events.push(Progress::Video(VideoProgress {
            task: 0,
            segment: self.segments_done,
            segments: self.spec.segments(),
            batches: self.batches_done,
            max_batches: self.spec.sideways.batches,
            frames: self.frames,
            frames_per_second: if m.seconds > 0.0 {
                m.frames as f64 / m.seconds
            } else {
                0.0
            },
            loss: m.mean_loss,
            accuracy: m.frame_accuracy,
            stage_busy: m.stage_busy.clone(),
        }));
        if self.batches_done == self.spec.sideways.batches {
            self.finish();
        }
        Ok(())
    }

    fn check(&self, id: EvalId, outcome: &SegmentOutcome) -> Result<(), SegmentRefusal> {
        if self.issued != Some(id) {
            return Err(SegmentRefusal::NotOutstanding(id));
        }
        if outcome.segment != id.0 {
            return Err(SegmentRefusal::WrongSegment {
                got: outcome.segment,
                expected: id.0,
            });
        }
        if outcome.metrics.stage_busy.len() != self.busy_seconds.len() {
            return Err(SegmentRefusal::Snapshot(SidewaysJobError::Snapshot(
                format!(
                    "{} stage busy fractions for {} stages",
                    outcome.metrics.stage_busy.len(),
                    self.busy_seconds.len()
                ),
            )));
        }
        outcome
            .snapshot
            .check_fits(&self.snapshot)
            .map_err(SegmentRefusal::Snapshot)
    }

    /// The run's summary as it stands.
    pub fn summary(&self) -> SidewaysSummary {
        let seconds = self
            .seconds
            .unwrap_or_else(|| self.clock.elapsed().as_secs_f64());
        let per = |frames: u64, s: f64| if s > 0.0 { frames as f64 / s } else { 0.0 };
        let task = &self.spec.sideways;
        SidewaysSummary {
            experiment: self.experiment.clone(),
            kind: Kind::Sideways.as_str(),
            seed: self.spec.seed,
            method: task.method,
            label: task.label,
            stages: task.stages,
            segments: self.segments_done,
            batches: self.batches_done,
            frames: self.frames,
            seconds,
            training_seconds: self.training_seconds,
            frames_per_second: per(self.frames, self.training_seconds),
            wall_frames_per_second: per(self.frames, seconds),
            final_loss: self.last.map(|l| l.0),
            final_accuracy: self.last.map(|l| l.1),
            test_accuracy: self.test.map(|t| t.0),
            test_loss: self.test.and_then(|t| t.1),
            stage_busy: self
                .busy_seconds
                .iter()
                .map(|b| {
                    if self.training_seconds > 0.0 {
                        b / self.training_seconds
                    } else {
                        0.0
                    }
                })
                .collect(),
            segments_reissued: self.counters.evaluations_requeued,
            snapshot_bytes: self.snapshot.bytes(),
            link_bytes: self.link_bytes,
            fingerprint: format!("{:016x}", self.snapshot.fingerprint()),
        }
    }

    fn finish(&mut self) {
        self.seconds = Some(self.clock.elapsed().as_secs_f64());
        self.events.push(Progress::Finished);
    }
}

fn task_name(spec: &SidewaysSpec) -> String {
    let task = &spec.sideways;
    format!("{:?} {:?}", task.method, task.label).to_lowercase()
}

impl Run for SidewaysRun {
    fn kind(&self) -> Kind {
        Kind::Sideways
    }

    fn state(&self) -> RunState {
        if self.batches_done == self.spec.sideways.batches {
            RunState::Completed
        } else if self.stopped {
            RunState::Stopped
        } else {
            RunState::Running
        }
    }

    fn stop(&mut self) {
        if self.state() != RunState::Running {
            return;
        }
        self.stopped = true;
        if self.issued.take().is_some() {
            self.counters.evaluations_cancelled += 1;
        }
        self.finish();
    }

    fn requeue(&mut self, id: EvalId) {
        if self.issued == Some(id) {
            self.issued = None;
            self.counters.evaluations_requeued += 1;
        }
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn drain_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.events)
    }

    fn summary(&self) -> Summary {
        Summary::Sideways(SidewaysRun::summary(self))
    }

    fn status(&self) -> RunStatus {
        let state = self.state();
        RunStatus {
            state,
            task: 0,
            generation: self.segments_done,
            best_fitness: self.last.map(|l| l.1),
            tasks_completed: usize::from(state != RunState::Running),
        }
    }

    fn task_names(&self) -> Vec<String> {
        vec![task_name(&self.spec)]
    }
}

impl ExperimentKind for SidewaysSpec {
    type Summary = SidewaysSummary;

    fn memory_estimate(&self, _input_features: usize) -> Result<MemoryEstimate, SpecError> {
        SidewaysSpec::memory_estimate(self)
    }

    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<SidewaysSummary, RunError> {
        crate::local::run_sideways(self, observe)
    }
}

impl fmt::Display for SidewaysSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let busy: Vec<String> = self.stage_busy.iter().map(|b| format!("{b:.2}")).collect();
        writeln!(
            f,
            "experiment {} (seed {}): {:?} on {} stages, {} batches in {} segments ({} re-issued), \
             {} frames in {:.1} s: {:.0} frames/s training ({:.0} wall), stage busy [{}]",
            self.experiment,
            self.seed,
            self.method,
            self.stages,
            self.batches,
            self.segments,
            self.segments_reissued,
            self.frames,
            self.seconds,
            self.frames_per_second,
            self.wall_frames_per_second,
            busy.join(", ")
        )?;
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
        writeln!(
            f,
            "last segment: loss {}, frame accuracy {}; held-out clip accuracy {}, loss {}; \
             parameters fingerprint {}",
            opt(self.final_loss),
            opt(self.final_accuracy),
            opt(self.test_accuracy),
            opt(self.test_loss),
            self.fingerprint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use pathnet_work::sideways::SegmentMetrics;

    fn run() -> SidewaysRun {
        let spec = Spec::from_toml(
            "kind = \"sideways\"\nname = \"t\"\nsnapshot_every = 2\n[sideways]\nbatches = 3\n",
        )
        .unwrap();
        let Spec::Sideways(spec) = spec else {
            panic!("a Sideways spec")
        };
        SidewaysRun::new("t".into(), spec).unwrap()
    }

    fn outcome(job: &SegmentJob) -> SegmentOutcome {
        let mut snapshot = job.snapshot.clone();
        snapshot.stages[0].params[0].fill(0.5);
        SegmentOutcome {
            segment: job.segment,
            snapshot,
            metrics: SegmentMetrics {
                frames: 10,
                seconds: 1.0,
                stage_busy: vec![0.5, 0.5],
                ..SegmentMetrics::default()
            },
        }
    }

    #[test]
    fn a_lost_segment_goes_out_again_unchanged_and_the_next_starts_from_its_result() {
        let mut run = run();
        let (id, job) = run.next_segment().unwrap();
        assert_eq!((id, job.first_batch, job.batches), (EvalId(0), 0, 2));
        assert!(!job.evaluate);
        assert!(run.next_segment().is_none(), "one segment at a time");
        run.requeue(id);
        let (again, same) = run.next_segment().unwrap();
        assert_eq!((again, &same), (id, &job));
        let done = outcome(&job);
        assert!(matches!(
            run.complete(EvalId(1), done.clone()),
            Err(SegmentRefusal::NotOutstanding(_))
        ));
        let mut misfit = done.clone();
        misfit.snapshot.stages[1].params.pop();
        assert!(matches!(
            run.complete(id, misfit),
            Err(SegmentRefusal::Snapshot(_))
        ));
        run.complete(id, done.clone()).unwrap();
        let (next, job) = run.next_segment().unwrap();
        assert_eq!((next, job.first_batch, job.batches), (EvalId(1), 2, 1));
        assert!(job.evaluate, "the last segment scores the held-out videos");
        assert_eq!(job.snapshot, done.snapshot);
        run.complete(next, outcome(&job)).unwrap();
        assert_eq!(run.state(), RunState::Completed);
        let summary = run.summary();
        assert_eq!(
            (summary.batches, summary.segments, summary.frames),
            (3, 2, 20)
        );
        assert_eq!(summary.segments_reissued, 1);
        let c = run.counters();
        assert_eq!(
            (c.evaluations_issued, c.results_accepted, c.results_refused),
            (3, 2, 2)
        );
    }
}
