//! Sideways segments on the wire: the job out as a [`v1::SidewaysSegment`], its outcome back
//! as [`v1::SidewaysSegmentResult`] in the report, each snapshot as chunked tensors.

use crate::sideways::{
    SegmentJob, SegmentMetrics, SegmentOutcome, SidewaysTask, Snapshot, StagePlacement,
    StageSnapshot,
};
use crate::wire::{WireError, indexed_tensors_to_chunks, tensors_from_chunks, to_wire};
use ndarray::{ArrayD, IxDyn};
use pathnet_nn::sideways::{FrameLoss, LinkMsg, Tag, Topology};
use pathnet_proto::ChunkError;
use pathnet_proto::v1;
use std::sync::Arc;
use std::time::Duration;
use v1::link_frame::Body;
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
        stage_hosts: Vec::new(),
        stage_host_addresses: Vec::new(),
    }))
}

/// The payload of a segment placed on several hosts: [`job_payload`] with where each stage
/// runs.
pub fn placed_job_payload(
    job: &SegmentJob,
    placement: &StagePlacement,
    max_chunk_bytes: usize,
) -> Result<Payload, ChunkError> {
    let mut payload = job_payload(job, max_chunk_bytes)?;
    if let Payload::SidewaysSegment(segment) = &mut payload {
        set_placement(segment, placement);
    }
    Ok(payload)
}

/// Says in `segment` where its stages run; a local placement leaves it as
/// [`job_payload`] made it (every stage on the lease holder).
pub fn set_placement(segment: &mut v1::SidewaysSegment, placement: &StagePlacement) {
    if placement.is_local() {
        segment.stage_hosts.clear();
        segment.stage_host_addresses.clear();
    } else {
        segment.stage_hosts = placement
            .host_of
            .iter()
            .map(|&h| to_wire("stage_hosts", h))
            .collect();
        segment.stage_host_addresses = placement.addresses.clone();
    }
}

/// Where a segment's stages run, checked against its task: one host per stage, every host
/// after 0 with an address, no address unused.
pub fn placement_from_payload(
    segment: &v1::SidewaysSegment,
    stages: usize,
) -> Result<StagePlacement, WireError> {
    if segment.stage_hosts.is_empty() {
        if !segment.stage_host_addresses.is_empty() {
            return Err(WireError::invalid(
                "stage_host_addresses",
                segment.stage_host_addresses.len(),
                "addresses without `stage_hosts`",
            ));
        }
        return Ok(StagePlacement::local(stages));
    }
    let placement = StagePlacement {
        host_of: segment.stage_hosts.iter().map(|&h| h as usize).collect(),
        addresses: segment.stage_host_addresses.clone(),
    };
    placement.check(stages).map_err(|reason| {
        WireError::invalid("stage_hosts", format!("{:?}", segment.stage_hosts), reason)
    })?;
    Ok(placement)
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

/// A snapshot as per-stage counts and its tensors in chunks of at most `max_chunk_bytes`
/// (each stage's parameters then its optimiser state, stage after stage).
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

/// Reassembles a snapshot; an error says which count or tensor does not add up.
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
            ticks: m.ticks,
            links: to_wire("links", m.links),
            link_bytes: m.link_bytes,
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
        ticks: r.ticks,
        links: r.links as usize,
        link_bytes: r.link_bytes,
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

/// A stage link's frame as a host reads it.
#[derive(Debug)]
pub enum LinkFrameIn {
    /// The driver asks the receiver to host stages.
    Open(Box<LinkOpening>),
    /// A pipeline message.
    Msg(LinkMsg<f32>),
    /// The driver's segment is over: the host sends its stages back and closes.
    Finish,
    /// A host's stages after the segment, and the bytes it sent.
    Result {
        /// Every stage listed, tensors only for those the host ran.
        snapshot: Snapshot,
        /// Bytes of frames the host sent on the link, for the link's figures.
        bytes_sent: u64,
    },
}

/// What a host is asked to run.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOpening {
    /// The experiment's `[sideways]` table, validated.
    pub task: SidewaysTask,
    /// The experiment's seed.
    pub seed: u64,
    /// The segment's number, for logs.
    pub segment: u64,
    /// Which host runs each stage; the addresses are placeholders (`host-1`, ...), since a
    /// host answers the driver and needs only the numbers.
    pub placement: StagePlacement,
    /// Which host the receiver is (at least 1).
    pub host: usize,
    /// Every stage listed, tensors only for those the receiver hosts.
    pub snapshot: Snapshot,
}

/// The frame opening a link to host `host`: the task, the placement (the receiver needs
/// only the host numbers, not the addresses) and the state of the stages it hosts.
pub fn link_open(
    job: &SegmentJob,
    placement: &StagePlacement,
    host: usize,
    max_chunk_bytes: usize,
) -> Result<v1::LinkFrame, ChunkError> {
    let stages = job
        .snapshot
        .stages
        .iter()
        .zip(&placement.host_of)
        .map(|(s, &h)| {
            if h == host {
                s.clone()
            } else {
                StageSnapshot::empty()
            }
        })
        .collect();
    Ok(frame(Body::Open(v1::LinkOpen {
        config_toml: task_toml(&job.task),
        seed: job.seed,
        segment: job.segment,
        host_of_stage: placement
            .host_of
            .iter()
            .map(|&h| to_wire("host_of_stage", h))
            .collect(),
        host: to_wire("host", host),
        snapshot: Some(snapshot_to_wire(&Snapshot { stages }, max_chunk_bytes)?),
    })))
}

/// The last frame from a host: its stages' state.
pub fn link_result(
    snapshot: &Snapshot,
    bytes_sent: u64,
    max_chunk_bytes: usize,
) -> Result<v1::LinkFrame, ChunkError> {
    Ok(frame(Body::Result(v1::LinkResult {
        snapshot: Some(snapshot_to_wire(snapshot, max_chunk_bytes)?),
        bytes_sent,
    })))
}

/// The frame telling a host the segment's clips are over.
pub fn link_finish() -> v1::LinkFrame {
    frame(Body::Finish(v1::LinkFinish {}))
}

fn frame(body: Body) -> v1::LinkFrame {
    v1::LinkFrame { body: Some(body) }
}

/// A pipeline message as a frame; `topology` gives the frame number each edge carries.
pub fn link_msg_to_frame(
    msg: LinkMsg<f32>,
    topology: &Topology,
    max_chunk_bytes: usize,
) -> Result<v1::LinkFrame, ChunkError> {
    let tensor = |stage: usize, edge: usize, tag: Tag, frame: u64, value: Option<&ArrayD<f32>>| {
        Ok::<_, ChunkError>(v1::LinkTensor {
            stage: to_wire("stage", stage),
            edge: to_wire("edge", edge),
            clip: tag.clip,
            tick: tag.tick,
            frame,
            chunks: match value {
                Some(v) => indexed_tensors_to_chunks([(0, v)], max_chunk_bytes)?,
                None => Vec::new(),
            },
        })
    };
    let node = |stage: usize, edge: usize| topology.sources[stage][edge] as u64;
    Ok(frame(match msg {
        LinkMsg::Clip { frames, labels } => Body::Clip(v1::LinkClip {
            frames: frames as u64,
            labels: labels.iter().map(|&l| to_wire("labels", l)).collect(),
        }),
        LinkMsg::Activation {
            stage,
            edge,
            tag,
            value,
        } => {
            // Node n's activation at tick t comes from frame t - n.
            let frame = tag.tick.saturating_sub(node(stage, edge));
            Body::Activation(tensor(stage, edge, tag, frame, value.as_deref())?)
        }
        LinkMsg::Grad {
            stage,
            edge,
            tag,
            value,
        } => {
            // Applied against the consumer's cache, of frame t - (stage + 1).
            let frame = tag.tick.saturating_sub(stage as u64 + 1);
            Body::Gradient(tensor(stage, edge, tag, frame, value.as_ref())?)
        }
        LinkMsg::Loss(loss) => Body::Loss(v1::LinkLoss {
            frame: loss.frame as u64,
            loss: loss.loss,
            batch: to_wire("batch", loss.logits.shape().first().copied().unwrap_or(0)),
            logits: loss.logits.iter().copied().collect(),
        }),
        LinkMsg::ClipDone { stage, busy } => Body::ClipDone(v1::LinkClipDone {
            stage: to_wire("stage", stage),
            busy_ns: u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX),
        }),
    }))
}

/// Reads a frame; shapes and indices are the receiving pipeline's to check.
pub fn link_frame_in(frame: v1::LinkFrame) -> Result<LinkFrameIn, WireError> {
    let body = frame.body.ok_or(WireError::Missing("body"))?;
    let tensor = |t: v1::LinkTensor| -> Result<_, WireError> {
        let value = if t.chunks.is_empty() {
            None
        } else {
            let mut tensors = tensors_from_chunks(t.chunks)?;
            if tensors.len() != 1 {
                return Err(WireError::invalid(
                    "chunks",
                    tensors.len(),
                    "one tensor per message",
                ));
            }
            tensors.pop()
        };
        Ok((
            t.stage as usize,
            t.edge as usize,
            Tag {
                clip: t.clip,
                tick: t.tick,
            },
            value,
        ))
    };
    Ok(match body {
        Body::Open(open) => {
            let task: SidewaysTask = toml::from_str(&open.config_toml)
                .map_err(|err| WireError::invalid("config_toml", "(the task)", err.to_string()))?;
            task.validate()
                .map_err(|err| WireError::invalid("config_toml", "(the task)", err.to_string()))?;
            let snapshot = snapshot_from_wire(
                open.snapshot
                    .as_ref()
                    .ok_or(WireError::Missing("open.snapshot"))?,
            )?;
            let host_of: Vec<usize> = open.host_of_stage.iter().map(|&h| h as usize).collect();
            let hosts = host_of.iter().max().map_or(0, |&h| h);
            // The receiver needs the host numbers only; addresses stand in by number.
            let placement = StagePlacement {
                host_of,
                addresses: (1..=hosts).map(|h| format!("host-{h}")).collect(),
            };
            placement.check(task.stages).map_err(|reason| {
                WireError::invalid("host_of_stage", format!("{:?}", open.host_of_stage), reason)
            })?;
            LinkFrameIn::Open(Box::new(LinkOpening {
                task,
                seed: open.seed,
                segment: open.segment,
                placement,
                host: open.host as usize,
                snapshot,
            }))
        }
        Body::Clip(clip) => LinkFrameIn::Msg(LinkMsg::Clip {
            frames: usize::try_from(clip.frames).unwrap_or(usize::MAX),
            labels: clip.labels.iter().map(|&l| l as usize).collect(),
        }),
        Body::Activation(t) => {
            let (stage, edge, tag, value) = tensor(t)?;
            LinkFrameIn::Msg(LinkMsg::Activation {
                stage,
                edge,
                tag,
                value: value.map(Arc::new),
            })
        }
        Body::Gradient(t) => {
            let (stage, edge, tag, value) = tensor(t)?;
            LinkFrameIn::Msg(LinkMsg::Grad {
                stage,
                edge,
                tag,
                value,
            })
        }
        Body::Loss(loss) => {
            let batch = loss.batch as usize;
            if batch == 0 || loss.logits.len() % batch != 0 {
                return Err(WireError::invalid(
                    "loss.batch",
                    batch,
                    format!("does not divide the {} logits", loss.logits.len()),
                ));
            }
            let classes = loss.logits.len() / batch;
            let logits = ArrayD::from_shape_vec(IxDyn(&[batch, classes]), loss.logits)
                .expect("the length is batch * classes");
            LinkFrameIn::Msg(LinkMsg::Loss(FrameLoss {
                frame: usize::try_from(loss.frame).unwrap_or(usize::MAX),
                loss: loss.loss,
                logits,
            }))
        }
        Body::ClipDone(done) => LinkFrameIn::Msg(LinkMsg::ClipDone {
            stage: done.stage as usize,
            busy: Duration::from_nanos(done.busy_ns),
        }),
        Body::Finish(_) => LinkFrameIn::Finish,
        Body::Result(result) => LinkFrameIn::Result {
            snapshot: snapshot_from_wire(
                result
                    .snapshot
                    .as_ref()
                    .ok_or(WireError::Missing("result.snapshot"))?,
            )?,
            bytes_sent: result.bytes_sent,
        },
    })
}
