//! One pipeline's stages spread over hosts, without networking: which host runs which stage
//! ([`Placement`]), the messages that cross between hosts ([`LinkMsg`], each edge's tagged
//! with its clip and tick), and the two ends a carrier joins ([`LinkEnds`]: what this host
//! sends, routed by host, and the [`Inbound`] side that takes what other hosts sent).
//!
//! A carrier (a network link in the agent, plain channels in the tests) moves each
//! [`Routed`] message to its host's [`Inbound::deliver`], keeping the order of messages
//! between two hosts. The stages then run exactly the ticks of the single-threaded
//! schedule: a message is the same value whether it crossed a channel or a link.

use super::clip::{ClipPlan, FrameLoss, SidewaysConfig};
use super::error::SidewaysError;
use super::network::Topology;
use super::threaded::{ActMsg, Command, Event, GradMsg};
use crate::Float;
use ndarray::ArrayD;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

/// The most frames a clip started from another host may have: a guard against a
/// message that would keep the stages ticking for ever, far above any clip trained here.
pub const MAX_LINK_FRAMES: usize = 1 << 20;

/// Which host runs each stage. Host 0 drives the pipeline: it feeds the frames (node 0),
/// starts each clip on the other hosts and collects losses and clip ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Per stage, its host.
    pub host_of: Vec<usize>,
    /// The host this is.
    pub me: usize,
}

impl Placement {
    /// Every stage of `k` on host 0.
    pub fn single(k: usize) -> Self {
        Placement {
            host_of: vec![0; k],
            me: 0,
        }
    }

    /// Checks that it places exactly `stages` stages.
    ///
    /// # Errors
    /// [`SidewaysError::Link`] naming both counts.
    pub fn check(&self, stages: usize) -> Result<(), SidewaysError> {
        if self.host_of.len() != stages {
            return Err(SidewaysError::Link(format!(
                "a placement of {} stages for a pipeline of {stages}",
                self.host_of.len()
            )));
        }
        Ok(())
    }

    /// The host of node `node` (0: the frames, on the driving host).
    pub fn node_host(&self, node: usize) -> usize {
        if node == 0 { 0 } else { self.host_of[node - 1] }
    }

    /// Whether stage `stage` (0-based) runs on this host.
    pub fn is_local(&self, stage: usize) -> bool {
        self.host_of[stage] == self.me
    }

    /// The hosts other than host 0 that run a stage, each once, in order.
    pub fn others(&self) -> Vec<usize> {
        let mut hosts: Vec<usize> = self.host_of.iter().copied().filter(|&h| h != 0).collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }

    /// The host that receives `msg` (what a carrier relaying between hosts routes by).
    pub fn destination<F>(&self, topology: &Topology, msg: &LinkMsg<F>) -> Option<usize> {
        match msg {
            LinkMsg::Activation { stage, .. } => self.host_of.get(*stage).copied(),
            LinkMsg::Grad { stage, edge, .. } => {
                let node = *topology.sources.get(*stage)?.get(*edge)?;
                Some(self.node_host(node))
            }
            LinkMsg::Loss(_) | LinkMsg::ClipDone { .. } => Some(0),
            LinkMsg::Clip { .. } => None,
        }
    }
}

/// Where a message on an edge belongs in the schedule: the sender's clip (counted from 0 by
/// every host alike) and the tick it sent it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag {
    /// The clip, counted from 0 since the pipeline started.
    pub clip: u64,
    /// The tick within the clip, from 0.
    pub tick: u64,
}

/// What one host sends another.
#[derive(Debug)]
pub enum LinkMsg<F> {
    /// The driver starts a clip: every host builds the same [`ClipPlan`] from it.
    Clip {
        /// Real frames `T` of the clip, 1 to [`MAX_LINK_FRAMES`].
        frames: usize,
        /// One label per video of the batch.
        labels: Vec<usize>,
    },
    /// The activation the source node of stage `stage`'s edge `edge` sent at `tag`.
    Activation {
        /// The receiving stage, 0-based.
        stage: usize,
        /// The edge of that stage, 0 its main input, then its skip edges.
        edge: usize,
        /// When in the schedule it was sent.
        tag: Tag,
        /// The activation.
        value: ActMsg<F>,
    },
    /// The gradient stage `stage` sent back along its edge `edge` at `tag`.
    Grad {
        /// The sending stage, 0-based.
        stage: usize,
        /// The edge of that stage the gradient flows back along.
        edge: usize,
        /// When in the schedule it was sent.
        tag: Tag,
        /// The gradient with respect to the edge's activation.
        value: GradMsg<F>,
    },
    /// The top stage's loss on one frame, for the driver.
    Loss(FrameLoss),
    /// A stage ended its clip, having computed for `busy` of it.
    ClipDone {
        /// The stage, 0-based.
        stage: usize,
        /// Time it spent computing during the clip (not waiting).
        busy: Duration,
    },
}

/// A message and the host it is for.
#[derive(Debug)]
pub struct Routed<F> {
    /// The receiving host's index in the placement.
    pub host: usize,
    /// The message.
    pub msg: LinkMsg<F>,
}

/// The two ends of this host's share of a placed pipeline for a carrier to join.
pub struct LinkEnds<F> {
    /// Messages for other hosts, in the order they must arrive; it ends when the pipeline's
    /// stages have stopped.
    pub outbound: Receiver<Routed<F>>,
    /// Where the carrier hands what other hosts sent to this one.
    pub inbound: Inbound<F>,
}

/// Takes what other hosts sent to this one and hands it to the stages here (or, on the
/// driving host, to the driver). Every message is checked first: an edge that does not
/// end here, a tag out of order or a tensor of the wrong shape is refused, naming it.
pub struct Inbound<F> {
    topology: Topology,
    config: SidewaysConfig,
    activations: HashMap<(usize, usize), Sender<ActMsg<F>>>,
    grads: HashMap<(usize, usize), Sender<GradMsg<F>>>,
    /// The stages here, when this host does not drive (it starts their clips).
    commands: Vec<Sender<Command>>,
    /// The driver, when this host drives.
    events: Option<Sender<Event>>,
    batch: Arc<AtomicUsize>,
    last: HashMap<(bool, usize, usize), Tag>,
}

impl<F: Float> Inbound<F> {
    pub(super) fn new(
        topology: Topology,
        config: SidewaysConfig,
        activations: HashMap<(usize, usize), Sender<ActMsg<F>>>,
        grads: HashMap<(usize, usize), Sender<GradMsg<F>>>,
        commands: Vec<Sender<Command>>,
        events: Option<Sender<Event>>,
        batch: Arc<AtomicUsize>,
    ) -> Self {
        Inbound {
            topology,
            config,
            activations,
            grads,
            commands,
            events,
            batch,
            last: HashMap::new(),
        }
    }

    /// Whether any edge or clip reaches this host from another (false for a pipeline whose
    /// stages are all here).
    pub fn is_linked(&self) -> bool {
        !self.activations.is_empty() || !self.grads.is_empty()
    }

    /// Hands a message another host sent to the stage (or driver) here it is for.
    ///
    /// # Errors
    /// [`SidewaysError::Link`] for a message that does not fit: an edge that does not end
    /// here, a tag out of order, a tensor of the wrong shape, a clip from a host other than
    /// the driver, or a stage here that stopped.
    pub fn deliver(&mut self, msg: LinkMsg<F>) -> Result<(), SidewaysError> {
        let bad = |m: String| Err(SidewaysError::Link(m));
        let k = self.topology.stages();
        match msg {
            LinkMsg::Clip { frames, labels } => {
                if self.events.is_some() {
                    return bad("a clip started by another host than the driver".into());
                }
                if !(1..=MAX_LINK_FRAMES).contains(&frames) {
                    return bad(format!(
                        "a clip of {frames} frames: expected 1..={MAX_LINK_FRAMES}"
                    ));
                }
                self.topology.check_labels(&labels, labels.len())?;
                self.batch.store(labels.len(), Ordering::SeqCst);
                let plan = Arc::new(ClipPlan::new(frames, k, &labels, self.config));
                for tx in &self.commands {
                    if tx.send(Command::Clip(Arc::clone(&plan))).is_err() {
                        return bad("a stage here stopped".into());
                    }
                }
                Ok(())
            }
            LinkMsg::Activation {
                stage,
                edge,
                tag,
                value,
            } => {
                let node = self.edge_node(stage, edge)?;
                self.in_order(false, stage, edge, tag)?;
                let Some(tx) = self.activations.get(&(stage, edge)) else {
                    return bad(format!(
                        "an activation for stage {} edge {edge}, which is not on this host",
                        stage + 1
                    ));
                };
                if let Some(v) = &value {
                    self.check(node, v)?;
                }
                tx.send(value)
                    .or_else(|_| bad(format!("stage {} here stopped", stage + 1)))
            }
            LinkMsg::Grad {
                stage,
                edge,
                tag,
                value,
            } => {
                let node = self.edge_node(stage, edge)?;
                self.in_order(true, stage, edge, tag)?;
                let Some(tx) = self.grads.get(&(stage, edge)) else {
                    return bad(format!(
                        "a gradient along stage {} edge {edge}, whose source is not on this host",
                        stage + 1
                    ));
                };
                if let Some(v) = &value {
                    self.check(node, v)?;
                }
                tx.send(value)
                    .or_else(|_| bad(format!("the stage of node {node} here stopped")))
            }
            LinkMsg::Loss(loss) => {
                let batch = self.batch.load(Ordering::SeqCst);
                let classes = self.topology.classes;
                if loss.logits.shape() != [batch, classes] {
                    return bad(format!(
                        "a loss with logits of shape {:?}, expected [{batch}, {classes}]",
                        loss.logits.shape()
                    ));
                }
                self.event(Event::Loss(loss))
            }
            LinkMsg::ClipDone { stage, busy } => {
                if stage >= k {
                    return bad(format!("clip end of stage {}, of {k}", stage + 1));
                }
                self.event(Event::ClipDone { stage, busy })
            }
        }
    }

    /// Tells the driver that the link broke, then drops this side, which ends the stages
    /// here once they wait on it.
    pub fn fail(self, reason: String) {
        if let Some(events) = &self.events {
            let _ = events.send(Event::Lost(reason));
        }
    }

    fn event(&self, event: Event) -> Result<(), SidewaysError> {
        match &self.events {
            Some(tx) => tx
                .send(event)
                .map_err(|_| SidewaysError::Link("the driver stopped".into())),
            None => Err(SidewaysError::Link(
                "a loss or clip end sent to a host that does not drive".into(),
            )),
        }
    }

    fn edge_node(&self, stage: usize, edge: usize) -> Result<usize, SidewaysError> {
        self.topology
            .sources
            .get(stage)
            .and_then(|edges| edges.get(edge))
            .copied()
            .ok_or_else(|| SidewaysError::Link(format!("no edge {edge} into stage {}", stage + 1)))
    }

    /// Each edge's tags must grow: a message repeated, or from an earlier tick, means the
    /// carrier lost the order.
    fn in_order(
        &mut self,
        grad: bool,
        stage: usize,
        edge: usize,
        tag: Tag,
    ) -> Result<(), SidewaysError> {
        if let Some(last) = self.last.insert((grad, stage, edge), tag)
            && tag <= last
        {
            return Err(SidewaysError::Link(format!(
                "stage {} edge {edge}: message of clip {} tick {} after clip {} tick {}",
                stage + 1,
                tag.clip,
                tag.tick,
                last.clip,
                last.tick
            )));
        }
        Ok(())
    }

    fn check(&self, node: usize, v: &ArrayD<F>) -> Result<(), SidewaysError> {
        let batch = self.batch.load(Ordering::SeqCst);
        // Values are not checked: a diverging run must behave as it would in one process.
        self.topology
            .check_node(node, v, batch)
            .map_err(SidewaysError::Link)
    }
}
