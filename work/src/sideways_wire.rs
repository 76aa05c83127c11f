//! Sideways segments on the wire: the job out as a [`v1::SidewaysSegment`], its outcome back
//! as [`v1::SidewaysSegmentResult`] in the report, each snapshot as chunked tensors.

use crate::sideways::{
    SegmentJob, SegmentMetrics, SegmentOutcome, SidewaysTask, Snapshot, StageSnapshot,
};
use crate::wire::{WireError, indexed_tensors_to_chunks, tensors_from_chunks, to_wire};
use pathnet_proto::ChunkError;
use pathnet_proto::v1;
use v1::work_item::Payload;

/// The work item payload of `job`, its snapshot's tensors in chunks of at most
/// `max_chunk_bytes`.
pub fn job_payload(job: &SegmentJob, max_chunk_bytes: usize) -> Result<Payload, ChunkError> {
    Ok(Payload::SidewaysSegment(v1::SidewaysSegment {
        config_toml: task_toml(&job.task),
        seed: job.seed,
        segment: job.segment,
        first_batch: job.first_batch,
        batches: job.batches,
        evaluate: job.evaluate,
        snapshot: Some(snapshot_to_wire(&job.snapshot, max_chunk_bytes)?),
    }))
}

/// The `[sideways]` table as the wire carries it.
pub fn task_toml(task: &SidewaysTask) -> String {
    toml::to_string(task).expect("a Sideways task is plain TOML data")
}

/// Decodes a segment; the snapshot's fit to the network is checked when it runs.
pub fn job_from_payload(segment: &v1::SidewaysSegment) -> Result<SegmentJob, WireError> {
    let task: SidewaysTask = toml::from_str(&segment.config_toml)
        .map_err(|err| WireError::invalid("config_toml", "(the task)", err.to_string()))?;
    task.validate()
        .map_err(|err| WireError::invalid("config_toml", "(the task)", err.to_string()))?;
    if segment.batches == 0 || segment.first_batch.checked_add(segment.batches).is_none() {
        return Err(WireError::invalid(
            "batches",
            segment.batches,
            "must be at least 1 and end below 2^64",
        ));
    }
    let snapshot = snapshot_from_wire(
        segment
            .snapshot
            .as_ref()
            .ok_or(WireError::Missing("snapshot"))?,
    )?;
    Ok(SegmentJob {
        task,
        seed: segment.seed,
        segment: segment.segment,
        first_batch: segment.first_batch,
        batches: segment.batches,
        evaluate: segment.evaluate,
        snapshot,
    })
}

pub fn snapshot_to_wire(
    snapshot: &Snapshot,
    max_chunk_bytes: usize,
) -> Result<v1::SidewaysSnapshot, ChunkError> {
    Ok(v1::SidewaysSnapshot {
        stages: snapshot
            .stages
            .iter()
            .map(|s| v1::SidewaysStageState {
                parameters: to_wire("parameters", s.params.len()),
                optimizer_tensors: to_wire("optimizer_tensors", s.optimizer.len()),
                optimizer_steps: s.optimizer_steps,
            })
            .collect(),
        tensors: indexed_tensors_to_chunks(snapshot.tensors().enumerate(), max_chunk_bytes)?,
    })
}

pub fn snapshot_from_wire(snapshot: &v1::SidewaysSnapshot) -> Result<Snapshot, WireError> {
    let mut tensors = tensors_from_chunks(snapshot.tensors.iter().cloned())?.into_iter();
    let counted: u64 = snapshot
        .stages
        .iter()
        .map(|s| u64::from(s.parameters) + u64::from(s.optimizer_tensors))
        .sum();
    if counted != tensors.len() as u64 {
        return Err(WireError::invalid(
            "snapshot.stages",
            counted,
            format!(
                "the stages count that many tensors, but {} came",
                tensors.len()
            ),
        ));
    }
    let stages = snapshot
        .stages
        .iter()
        .map(|s| StageSnapshot {
            params: tensors.by_ref().take(s.parameters as usize).collect(),
            optimizer: tensors
                .by_ref()
                .take(s.optimizer_tensors as usize)
                .collect(),
            optimizer_steps: s.optimizer_steps,
        })
        .collect();
    Ok(Snapshot { stages })
}

/// The report of a finished segment.
pub fn outcome_to_report(
    agent_id: &str,
    work_id: &str,
    outcome: &SegmentOutcome,
    elapsed_ms: u64,
    max_chunk_bytes: usize,
) -> Result<v1::ReportResultRequest, ChunkError> {
    let m = &outcome.metrics;
    Ok(v1::ReportResultRequest {
        agent_id: agent_id.to_owned(),
        work_id: work_id.to_owned(),
        fitness: m.frame_accuracy,
        training_accuracy: Some(m.frame_accuracy),
        evaluation: None,
        deltas: Vec::new(),
        elapsed_ms,
        sideways: Some(v1::SidewaysSegmentResult {
            segment: outcome.segment,
            snapshot: Some(snapshot_to_wire(&outcome.snapshot, max_chunk_bytes)?),
            frames: m.frames,
            seconds: m.seconds,
            mean_loss: m.mean_loss,
            frame_accuracy: m.frame_accuracy,
            videos: m.videos,
            clips_correct: m.clips_correct,
            stage_busy: m.stage_busy.clone(),
            test_accuracy: m.test_accuracy,
            test_loss: m.test_loss,
        }),
    })
}

/// The outcome a segment's report carries, its numbers checked; the snapshot's fit to the
/// run is the run's to check.
pub fn outcome_from_report(report: &v1::ReportResultRequest) -> Result<SegmentOutcome, WireError> {
    let r = report
        .sideways
        .as_ref()
        .ok_or(WireError::Missing("sideways"))?;
    let fraction = |field: &'static str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(WireError::invalid(field, v, "must be in [0, 1]"))
        }
    };
    let finite = |field: &'static str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(WireError::invalid(
                field,
                v,
                "must be finite and not negative",
            ))
        }
    };
    if r.clips_correct > r.videos {
        return Err(WireError::invalid(
            "sideways.clips_correct",
            r.clips_correct,
            format!("more than the {} videos", r.videos),
        ));
    }
    let stage_busy = r
        .stage_busy
        .iter()
        .map(|&b| fraction("sideways.stage_busy", b))
        .collect::<Result<_, _>>()?;
    let metrics = SegmentMetrics {
        frames: r.frames,
        seconds: finite("sideways.seconds", r.seconds)?,
        mean_loss: finite("sideways.mean_loss", r.mean_loss)?,
        frame_accuracy: fraction("sideways.frame_accuracy", r.frame_accuracy)?,
        videos: r.videos,
        clips_correct: r.clips_correct,
        stage_busy,
        test_accuracy: r
            .test_accuracy
            .map(|v| fraction("sideways.test_accuracy", v))
            .transpose()?,
        test_loss: r
            .test_loss
            .map(|v| finite("sideways.test_loss", v))
            .transpose()?,
    };
    let snapshot = snapshot_from_wire(
        r.snapshot
            .as_ref()
            .ok_or(WireError::Missing("sideways.snapshot"))?,
    )?;
    Ok(SegmentOutcome {
        segment: r.segment,
        snapshot,
        metrics,
    })
}
