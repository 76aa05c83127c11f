//! A segment whose stages run on several hosts, without networking: where each stage runs
//! ([`StagePlacement`]), what the driving host asks of whatever carries its messages
//! ([`Carrier`]), and the share of the pipeline another host runs ([`HostedStages`]).
//!
//! The driving host (host 0, the one holding the segment's lease) runs
//! [`super::segment::execute_placed`]: its own stages on threads, the frames, the losses and
//! the snapshot; every other host runs [`HostedStages`] from the same task, seed and
//! snapshot. Each host restores its stages exactly as a single host would, and the
//! messages between them are the threaded pipeline's, so the segment ends in the same
//! state bit for bit wherever its stages ran.

use super::net::video_net;
use super::segment::{Snapshot, StageSnapshot, restore_trainers};
use super::{SidewaysJobError, SidewaysTask};
use pathnet_nn::sideways::{LinkEnds, Placement, SidewaysError, ThreadedPipeline};

/// The most hosts one segment's stages spread over (the network has at most 4 stages).
pub const MAX_STAGE_HOSTS: usize = 4;

/// Where a segment's stages run: per stage its host (0: the driving host, which holds the
/// lease) and, for hosts 1 and up, their stage-link addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StagePlacement {
    /// Per stage, bottom first, the host that runs it (0: the driving host).
    pub host_of: Vec<usize>,
    /// The stage-link address of host `h` at `addresses[h - 1]`, for hosts 1 and up.
    pub addresses: Vec<String>,
}

impl StagePlacement {
    /// Every one of `stages` stages on the driving host.
    pub fn local(stages: usize) -> Self {
        StagePlacement {
            host_of: vec![0; stages],
            addresses: Vec::new(),
        }
    }

    /// Whether every stage runs on the driving host, so no stage links are needed.
    pub fn is_local(&self) -> bool {
        self.host_of.iter().all(|&h| h == 0)
    }

    /// One host per stage, every host named by an address (hosts `1..=addresses`), each of
    /// them running a stage, and no address twice.
    pub fn check(&self, stages: usize) -> Result<(), String> {
        if self.host_of.len() != stages {
            return Err(format!("{} hosts for {stages} stages", self.host_of.len()));
        }
        let hosts = self.addresses.len() + 1;
        if hosts > MAX_STAGE_HOSTS {
            return Err(format!("{hosts} hosts: at most {MAX_STAGE_HOSTS}"));
        }
        if let Some(&h) = self.host_of.iter().find(|&&h| h >= hosts) {
            return Err(format!("host {h}, but only {hosts} hosts are named"));
        }
        for h in 1..hosts {
            if !self.host_of.contains(&h) {
                return Err(format!("host {h} runs no stage"));
            }
            let address = &self.addresses[h - 1];
            if address.is_empty() || self.addresses[..h - 1].contains(address) {
                return Err(format!(
                    "host {h}'s address `{}` is empty or given twice",
                    pathnet_proto::quote(address)
                ));
            }
        }
        Ok(())
    }

    /// The pipeline's placement as host `me` sees it.
    pub fn as_seen_by(&self, me: usize) -> Placement {
        Placement {
            host_of: self.host_of.clone(),
            me,
        }
    }
}

/// What the other hosts ended a segment with.
pub struct CarriedBack {
    /// Their stages' state, by stage index.
    pub stages: Vec<(usize, StageSnapshot)>,
    /// Bytes sent over the links, both ways.
    pub bytes: u64,
}

/// What carries the driving host's messages to the other hosts and theirs back (the agent's
/// network links; channels in tests).
pub trait Carrier {
    /// Starts carrying host 0's side of the pipeline.
    fn start(&mut self, ends: LinkEnds<f32>) -> Result<(), SidewaysJobError>;
    /// After the last clip, once host 0's stages have stopped: ends the links and returns
    /// the other hosts' stages.
    fn finish(&mut self) -> Result<CarriedBack, SidewaysJobError>;
    /// Links in use.
    fn links(&self) -> usize;
    /// The segment failed here: drop host 0's inbound side (so that its stages stop) and
    /// the links.
    fn abort(&mut self);
}

/// A link that failed, as an error a driver can tell from others: the segment is not at
/// fault, a host is gone.
pub fn link_error(reason: impl Into<String>) -> SidewaysJobError {
    SidewaysJobError::Sideways(SidewaysError::Link(reason.into()))
}

/// Whether `err` is a broken or refused link (as opposed to bad work).
pub fn is_link_error(err: &SidewaysJobError) -> bool {
    matches!(err, SidewaysJobError::Sideways(SidewaysError::Link(_)))
}

/// The stages a host other than the driver runs for one segment.
pub struct HostedStages {
    pipeline: ThreadedPipeline<f32>,
    stages: usize,
}

impl HostedStages {
    /// Host `me`'s stages of the segment's network, restored from `snapshot` (which needs
    /// tensors only for them), and the link ends for its carrier.
    pub fn start(
        task: &SidewaysTask,
        seed: u64,
        snapshot: &Snapshot,
        placement: &StagePlacement,
        me: usize,
    ) -> Result<(Self, LinkEnds<f32>), SidewaysJobError> {
        task.validate()?;
        placement.check(task.stages).map_err(link_error)?;
        if me == 0 || !placement.host_of.contains(&me) {
            return Err(link_error(format!(
                "host {me} runs no stage of this placement"
            )));
        }
        let net = video_net(&task.net_spec(), seed)?;
        let (trainers, topology) =
            restore_trainers(net, task, snapshot, |i| placement.host_of[i] == me)?;
        let mine = trainers
            .into_iter()
            .enumerate()
            .map(|(i, t)| (placement.host_of[i] == me).then_some(t))
            .collect();
        let (pipeline, ends) =
            ThreadedPipeline::placed(mine, topology, task.schedule(), &placement.as_seen_by(me))?;
        Ok((
            HostedStages {
                pipeline,
                stages: task.stages,
            },
            ends,
        ))
    }

    /// Stops the stages (drop the link ends' inbound side first) and returns their state:
    /// every stage listed, tensors only for those hosted here.
    pub fn finish(self) -> Result<Snapshot, SidewaysJobError> {
        let (trainers, _) = self.pipeline.into_local_trainers()?;
        let mut snapshot = Snapshot {
            stages: vec![StageSnapshot::empty(); self.stages],
        };
        for (i, t) in trainers {
            snapshot.stages[i] = StageSnapshot::of_trainer(&t);
        }
        Ok(snapshot)
    }
}
