//! A Sideways run as a checkpoint holds it, and back: the latest snapshot (every stage's
//! parameters and Adam's moments as tensors `sideways.stages.S.params.NNNN` and
//! `sideways.stages.S.optimizer.NNNN`, first moments then second; each stage's Adam step
//! count in the state), the batches and segments done (the video stream's position: a
//! segment's clips are a function of the seed and its first batch), the run's counters, the
//! frames, training seconds, stage busy time and link bytes summed so far, the last
//! segment's and the held-out metrics, and the clock. The coordinator has no random
//! generator of its own for this kind: a segment is a function of its job.
//!
//! A segment out with an agent when the state was saved is re-queued on restoring: it goes
//! out again under its number, from the saved snapshot, so the run ends as one without the
//! restart, bit for bit.

use super::SidewaysRun;
use crate::a3c::checkpoint::{name, take_tensors};
use crate::checkpoint::Tensors;
use crate::run::{Counters, Progress};
use crate::spec::SidewaysSpec;
use ndarray::ArrayD;
use pathnet_work::sideways::{Snapshot, StageSnapshot};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The run's state; its snapshot's tensors go to the tensors file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidewaysRunState {
    batches_done: u64,
    segments_done: u64,
    /// Each stage's Adam steps, bottom first; its moments are saved once it stepped.
    optimizer_steps: Vec<u64>,
    /// The segment out when saved, if any (re-queued on restoring).
    issued: Option<u64>,
    stopped: bool,
    counters: Counters,
    frames: u64,
    training_seconds: f64,
    busy_seconds: Vec<f64>,
    link_bytes: u64,
    /// The last segment's mean loss and frame accuracy.
    last: Option<(f64, f64)>,
    /// The held-out clip accuracy and loss.
    test: Option<(f64, Option<f64>)>,
    /// Seconds the run had been going when saved.
    seconds: f64,
    /// Whether it had finished (every batch done, or stopped).
    finished: bool,
}

fn prefix(stage: usize, what: &str) -> String {
    format!("sideways.stages.{stage}.{what}.")
}

impl SidewaysRun {
    /// The run's state and its snapshot's tensors, for a checkpoint.
    pub fn checkpoint(&self) -> (SidewaysRunState, Tensors) {
        let mut tensors = Tensors::new();
        for (s, stage) in self.snapshot.stages.iter().enumerate() {
            for (what, list) in [("params", &stage.params), ("optimizer", &stage.optimizer)] {
                let prefix = prefix(s, what);
                for (i, t) in list.iter().enumerate() {
                    tensors.push((name(&prefix, i), t.clone()));
                }
            }
        }
        let state = SidewaysRunState {
            batches_done: self.batches_done,
            segments_done: self.segments_done,
            optimizer_steps: self
                .snapshot
                .stages
                .iter()
                .map(|s| s.optimizer_steps)
                .collect(),
            issued: self.issued.map(|id| id.0),
            stopped: self.stopped,
            counters: self.counters.clone(),
            frames: self.frames,
            training_seconds: self.training_seconds,
            busy_seconds: self.busy_seconds.clone(),
            link_bytes: self.link_bytes,
            last: self.last,
            test: self.test,
            seconds: self
                .seconds
                .unwrap_or_else(|| self.clock.elapsed().as_secs_f64()),
            finished: self.seconds.is_some(),
        };
        (state, tensors)
    }

    /// The run a checkpoint of an experiment on `spec` saved, resumed; with how many
    /// segments that were out went back to the queue (0 or 1, counted in
    /// `evaluations_requeued`).
    ///
    /// # Errors
    /// The state or tensors do not fit the spec or themselves; the message names the field
    /// or tensor.
    pub fn restore(
        experiment: String,
        spec: SidewaysSpec,
        saved: SidewaysRunState,
        tensors: Tensors,
    ) -> Result<(Self, usize), String> {
        let mut run = SidewaysRun::new(experiment, spec).map_err(|err| err.to_string())?;
        let field = |name: &str| format!("`experiment.run.{name}`");
        let (batches, segments) = (run.spec.sideways.batches, run.spec.segments());
        let every = run.spec.snapshot_every;
        // Every segment but the last is `snapshot_every` batches.
        let position_fits = saved.segments_done <= segments
            && saved.batches_done == (saved.segments_done * every).min(batches);
        if !position_fits {
            return Err(format!(
                "{} = {}: {} segments of {every} batches done, of {batches}",
                field("batches_done"),
                saved.batches_done,
                saved.segments_done
            ));
        }
        let stages = run.snapshot.stages.len();
        if saved.optimizer_steps.len() != stages || saved.busy_seconds.len() != stages {
            return Err(format!(
                "{}: {} stages' optimiser steps and {} stages' busy time, the spec has {stages} \
                 stages",
                field("optimizer_steps"),
                saved.optimizer_steps.len(),
                saved.busy_seconds.len()
            ));
        }
        if let Some(id) = saved.issued
            && id != saved.segments_done
        {
            return Err(format!(
                "{} = {id}: the segment out is the next one, {}",
                field("issued"),
                saved.segments_done
            ));
        }
        let numbers = [saved.seconds, saved.training_seconds]
            .into_iter()
            .chain(saved.busy_seconds.iter().copied());
        if let Some(bad) = numbers.into_iter().find(|s| !s.is_finite() || *s < 0.0) {
            return Err(format!(
                "{} = {bad}: not a duration",
                field("seconds` or `training_seconds` or `busy_seconds")
            ));
        }
        let done = saved.batches_done == batches;
        if saved.finished != (done || saved.stopped) || (done && saved.issued.is_some()) {
            return Err(format!(
                "{} = {}: {} of {batches} batches done, stopped {}, a segment out {}",
                field("finished"),
                saved.finished,
                saved.batches_done,
                saved.stopped,
                saved.issued.is_some()
            ));
        }

        let mut tensors: HashMap<String, ArrayD<f32>> = tensors.into_iter().collect();
        let initial = std::mem::take(&mut run.snapshot.stages);
        let mut restored = Vec::with_capacity(stages);
        for (s, (stage, steps)) in initial.into_iter().zip(&saved.optimizer_steps).enumerate() {
            let shapes: Vec<Vec<usize>> = stage.params.iter().map(|p| p.shape().to_vec()).collect();
            let of = "the spec's stage";
            let params = take_tensors(&mut tensors, &prefix(s, "params"), &shapes, of)?;
            // Adam's moments exist once the stage stepped: the first moments, then the second.
            let optimizer = if *steps == 0 {
                Vec::new()
            } else {
                let moments = [shapes.clone(), shapes].concat();
                take_tensors(&mut tensors, &prefix(s, "optimizer"), &moments, of)?
            };
            restored.push(StageSnapshot {
                params,
                optimizer_steps: *steps,
                optimizer,
            });
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(format!(
                "tensor `{}`: not of the spec's stages",
                pathnet_proto::quote(extra)
            ));
        }
        let snapshot = Snapshot { stages: restored };
        run.snapshot = snapshot;

        run.batches_done = saved.batches_done;
        run.segments_done = saved.segments_done;
        run.stopped = saved.stopped;
        run.counters = saved.counters;
        // The segment that was out is gone with the agent that held it: it goes out again.
        let requeued = usize::from(saved.issued.is_some() && !saved.finished);
        run.counters.evaluations_requeued += requeued as u64;
        run.frames = saved.frames;
        run.training_seconds = saved.training_seconds;
        run.busy_seconds = saved.busy_seconds;
        run.link_bytes = saved.link_bytes;
        run.last = saved.last;
        run.test = saved.test;
        let seconds = Duration::from_secs_f64(saved.seconds);
        run.clock = Instant::now()
            .checked_sub(seconds)
            .unwrap_or_else(Instant::now);
        run.seconds = saved.finished.then_some(saved.seconds);
        if saved.finished {
            // The dashboard's history of a finished run ends with its end.
            run.events.push(Progress::Finished);
        }
        Ok((run, requeued))
    }
}
