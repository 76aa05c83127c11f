//! Sideways with one thread per stage, joined by bounded channels: each stage runs exactly
//! the ticks of the single-threaded [`Pipeline`](super::Pipeline), so the two are
//! bit-identical, and stages overlap in time instead of waiting for each other.
//!
//! Every edge carries one message per tick (`None` where there is nothing yet), and every
//! channel starts a clip holding the "tick -1" message, so at tick `t` a stage receives the
//! messages of tick `t - 1` from all its neighbours and sends those of tick `t`. A stage can
//! therefore be at most one tick ahead of a neighbour, which bounds every channel at two
//! messages. At a clip's last tick stages send `None`: it is the next clip's tick -1.

use super::clip::{
    ClipPlan, ClipReport, FrameLoss, FrameSource, OptimizerSpec, SidewaysConfig, StageTrainer,
    check_clip,
};
use super::error::SidewaysError;
use super::hosts::{Inbound, LinkEnds, LinkMsg, Placement, Routed, Tag};
use super::network::{StageNet, Topology};
use super::schedule::{Activation, FrameFeed, SidewaysStage, TickIn};
use crate::Float;
use ndarray::ArrayD;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages on one edge per tick: two fit, see the module doc.
const EDGE_CAPACITY: usize = 2;

pub(super) type ActMsg<F> = Option<Activation<F>>;
pub(super) type GradMsg<F> = Option<ArrayD<F>>;
type GradOut<F> = Out<ArrayD<F>, F>;
/// This host's stages by index, with their optimisers.
pub(super) type LocalTrainers<F> = Vec<(usize, StageTrainer<F>)>;

pub(super) enum Command {
    Clip(Arc<ClipPlan>),
}

pub(super) enum Event {
    Loss(FrameLoss),
    /// A stage finished its clip, having computed for `busy` of it (the rest it waited on
    /// its neighbours).
    ClipDone {
        stage: usize,
        busy: Duration,
    },
    /// A link to another host broke.
    Lost(String),
}

/// Where an edge's messages go: a channel to a stage on this host, or the link to the host
/// at the edge's other end. `stage` and `edge` name the edge by its consumer's numbering.
enum Out<T, F> {
    Local(SyncSender<Option<T>>),
    Remote {
        link: Sender<Routed<F>>,
        host: usize,
        stage: usize,
        edge: usize,
    },
}

impl<F> Out<Activation<F>, F> {
    fn send_activation(&self, tag: Tag, value: ActMsg<F>) -> Option<()> {
        match self {
            Out::Local(tx) => tx.send(value).ok(),
            Out::Remote {
                link,
                host,
                stage,
                edge,
            } => link
                .send(Routed {
                    host: *host,
                    msg: LinkMsg::Activation {
                        stage: *stage,
                        edge: *edge,
                        tag,
                        value,
                    },
                })
                .ok(),
        }
    }
}

impl<F> Out<ArrayD<F>, F> {
    fn send_grad(&self, tag: Tag, value: GradMsg<F>) -> Option<()> {
        match self {
            Out::Local(tx) => tx.send(value).ok(),
            Out::Remote {
                link,
                host,
                stage,
                edge,
            } => link
                .send(Routed {
                    host: *host,
                    msg: LinkMsg::Grad {
                        stage: *stage,
                        edge: *edge,
                        tag,
                        value,
                    },
                })
                .ok(),
        }
    }
}

/// Where a stage's losses and clip ends go: the driver on this host, or over the link to
/// the driving host.
enum EventOut<F> {
    Local(Sender<Event>),
    Remote(Sender<Routed<F>>),
}

impl<F> EventOut<F> {
    fn send(&self, event: Event) -> Option<()> {
        match self {
            EventOut::Local(tx) => tx.send(event).ok(),
            EventOut::Remote(link) => {
                let msg = match event {
                    Event::Loss(loss) => LinkMsg::Loss(loss),
                    Event::ClipDone { stage, busy } => LinkMsg::ClipDone { stage, busy },
                    Event::Lost(_) => return Some(()),
                };
                link.send(Routed { host: 0, msg }).ok()
            }
        }
    }
}

struct StageLinks<F> {
    activations_in: Vec<Receiver<ActMsg<F>>>,
    activations_out: Vec<Out<Activation<F>, F>>,
    /// One per consumer of this stage's output.
    grads_in: Vec<Receiver<GradMsg<F>>>,
    /// One per input edge; `None` for edges from frames.
    grads_out: Vec<Option<Out<ArrayD<F>, F>>>,
}

/// The threaded Sideways pipeline. Dropping it stops the threads (on a host that does not
/// drive, drop its [`LinkEnds`] first: their inbound side can still start clips).
pub struct ThreadedPipeline<F: Float> {
    topology: Topology,
    config: SidewaysConfig,
    frames_out: Vec<Out<Activation<F>, F>>,
    commands: Vec<Sender<Command>>,
    events: Receiver<Event>,
    threads: Vec<JoinHandle<SidewaysStage<F>>>,
    busy: Vec<Duration>,
    /// Stages elsewhere: the link to them and the hosts to start each clip on.
    link: Option<Sender<Routed<F>>>,
    peers: Vec<usize>,
    /// The current clip's batch, which the inbound side checks messages against.
    batch: Arc<AtomicUsize>,
    clips: u64,
}

impl<F: Float> ThreadedPipeline<F> {
    /// Sideways over `net`'s stages, one thread each, each with its own optimiser of
    /// `optimizer`'s settings.
    ///
    /// # Errors
    /// Invalid optimiser settings, or a thread that cannot start.
    pub fn new(
        net: StageNet<F>,
        optimizer: &OptimizerSpec,
        config: SidewaysConfig,
    ) -> Result<Self, SidewaysError> {
        let (trainers, topology) = StageTrainer::for_net(net, optimizer)?;
        Self::from_trainers(trainers, topology, config)
    }

    /// The pipeline over stages that already have their optimisers (e.g. restored from a
    /// snapshot), one per stage of `topology`.
    pub fn from_trainers(
        trainers: Vec<StageTrainer<F>>,
        topology: Topology,
        config: SidewaysConfig,
    ) -> Result<Self, SidewaysError> {
        let placement = Placement::single(trainers.len());
        let trainers = trainers.into_iter().map(Some).collect();
        Ok(Self::placed(trainers, topology, config, &placement)?.0)
    }

    /// This host's share of a pipeline whose stages `placement` spreads over hosts:
    /// `trainers[i]` is `Some` exactly for the stages placed here. Edges between two stages
    /// here are channels as in [`Self::from_trainers`]; the others go out through the
    /// returned [`LinkEnds`], whose carrier (a network link, or channels in a test) must
    /// deliver each message to the [`Inbound`] of the host it is routed to, in order.
    /// Host 0 drives: it calls [`Self::train_clip`], which starts the clip on every host,
    /// feeds the frames and collects the losses. Other hosts' clips start from their
    /// inbound side. Every host runs exactly the ticks of the single-threaded schedule, so
    /// the result is bit-identical however the stages are placed.
    pub fn placed(
        trainers: Vec<Option<StageTrainer<F>>>,
        topology: Topology,
        config: SidewaysConfig,
        placement: &Placement,
    ) -> Result<(Self, LinkEnds<F>), SidewaysError> {
        let k = topology.stages();
        placement.check(k)?;
        if trainers.len() != k {
            return Err(SidewaysError::Link(format!(
                "{} stages given for a pipeline of {k}",
                trainers.len()
            )));
        }
        for (i, t) in trainers.iter().enumerate() {
            if t.is_some() != placement.is_local(i) {
                return Err(SidewaysError::Link(format!(
                    "stage {} is placed on host {} but given to host {}",
                    i + 1,
                    placement.host_of[i],
                    placement.me
                )));
            }
        }
        let me = placement.me;
        let (link_tx, outbound) = channel::<Routed<F>>();
        let mut act_in: HashMap<(usize, usize), Sender<ActMsg<F>>> = HashMap::new();
        let mut grad_in: HashMap<(usize, usize), Sender<GradMsg<F>>> = HashMap::new();
        let mut links: Vec<StageLinks<F>> = (0..k)
            .map(|_| StageLinks {
                activations_in: Vec::new(),
                activations_out: Vec::new(),
                grads_in: Vec::new(),
                grads_out: Vec::new(),
            })
            .collect();
        let mut frames_out = Vec::new();
        // Receivers sit in each stage's edge order, gradient receivers in consumer order.
        let mut act_rx: Vec<Vec<Option<Receiver<ActMsg<F>>>>> = topology
            .sources
            .iter()
            .map(|edges| edges.iter().map(|_| None).collect())
            .collect();
        let mut grad_out: Vec<Vec<Option<GradOut<F>>>> = topology
            .sources
            .iter()
            .map(|edges| edges.iter().map(|_| None).collect())
            .collect();
        let remote = |host: usize, stage: usize, edge: usize| Out::Remote {
            link: link_tx.clone(),
            host,
            stage,
            edge,
        };
        for (node, consumers) in topology.consumers.iter().enumerate() {
            let from = placement.node_host(node);
            for &(stage, edge) in consumers {
                let to = placement.host_of[stage];
                let (source_here, sink_here) = (from == me, to == me);
                // The activation's way down.
                if sink_here {
                    let rx = if source_here {
                        let (tx, rx) = sync_channel(EDGE_CAPACITY);
                        tx.send(None).expect("receiver alive");
                        push_out(&mut links, &mut frames_out, node, Out::Local(tx));
                        rx
                    } else {
                        // Unbounded: a link delivers in arrival order and must never wait
                        // on one edge while the message another stage needs is behind it.
                        let (tx, rx) = channel();
                        tx.send(None).expect("receiver alive");
                        act_in.insert((stage, edge), tx);
                        rx
                    };
                    act_rx[stage][edge] = Some(rx);
                } else if source_here {
                    push_out(&mut links, &mut frames_out, node, remote(to, stage, edge));
                }
                if node == 0 {
                    continue;
                }
                // The gradient's way back up.
                if source_here {
                    let rx = if sink_here {
                        let (tx, rx) = sync_channel(EDGE_CAPACITY);
                        tx.send(None).expect("receiver alive");
                        grad_out[stage][edge] = Some(Out::Local(tx));
                        rx
                    } else {
                        let (tx, rx) = channel();
                        tx.send(None).expect("receiver alive");
                        grad_in.insert((stage, edge), tx);
                        rx
                    };
                    links[node - 1].grads_in.push(rx);
                } else if sink_here {
                    grad_out[stage][edge] = Some(Out::Remote {
                        link: link_tx.clone(),
                        host: from,
                        stage,
                        edge,
                    });
                }
            }
        }
        for (i, link) in links.iter_mut().enumerate() {
            if !placement.is_local(i) {
                continue;
            }
            link.activations_in = act_rx[i]
                .drain(..)
                .map(|r| r.expect("every edge into a stage here is wired"))
                .collect();
            link.grads_out = grad_out[i].drain(..).collect();
        }
        let (events_tx, events) = channel();
        let mut commands = Vec::with_capacity(k);
        let mut threads = Vec::with_capacity(k);
        for ((i, trainer), link) in trainers.into_iter().enumerate().zip(links) {
            let Some(trainer) = trainer else { continue };
            let stage = SidewaysStage::new(i, trainer, &topology);
            let (ctx, crx) = channel();
            commands.push(ctx);
            let events = if me == 0 {
                EventOut::Local(events_tx.clone())
            } else {
                EventOut::Remote(link_tx.clone())
            };
            let thread = std::thread::Builder::new()
                .name(format!("sideways-stage-{}", i + 1))
                .spawn(move || run_stage(stage, link, crx, events))
                .map_err(|e| SidewaysError::StageStopped {
                    stage: i + 1,
                    reason: format!("cannot start its thread: {e}"),
                })?;
            threads.push(thread);
        }
        let batch = Arc::new(AtomicUsize::new(0));
        let inbound = Inbound::new(
            topology.clone(),
            config,
            act_in,
            grad_in,
            if me == 0 {
                Vec::new()
            } else {
                commands.clone()
            },
            (me == 0).then(|| events_tx.clone()),
            Arc::clone(&batch),
        );
        let peers = placement.others();
        let pipeline = ThreadedPipeline {
            topology,
            config,
            frames_out,
            commands,
            events,
            threads,
            busy: vec![Duration::ZERO; k],
            link: (!peers.is_empty() && me == 0).then(|| link_tx.clone()),
            peers,
            batch,
            clips: 0,
        };
        drop(events_tx);
        drop(link_tx);
        Ok((pipeline, LinkEnds { outbound, inbound }))
    }

    /// Time each stage's thread spent computing (not waiting on its neighbours) over every
    /// clip so far.
    pub fn busy(&self) -> &[Duration] {
        &self.busy
    }

    /// The network's wiring.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// As [`Pipeline::train_clip`](super::Pipeline::train_clip), with the stages on their
    /// threads (and hosts); on a placed pipeline only host 0 calls it.
    ///
    /// # Errors
    /// As [`Pipeline::train_clip`](super::Pipeline::train_clip), or a stage thread or link
    /// that stopped.
    pub fn train_clip(
        &mut self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<ClipReport, SidewaysError> {
        check_clip(&self.topology, clip, labels)?;
        let k = self.topology.stages();
        let plan = Arc::new(ClipPlan::new(clip.len(), k, labels, self.config));
        self.batch.store(labels.len(), Ordering::SeqCst);
        if let Some(link) = &self.link {
            for &host in &self.peers {
                let msg = LinkMsg::Clip {
                    frames: clip.len(),
                    labels: labels.to_vec(),
                };
                link.send(Routed { host, msg })
                    .map_err(|_| SidewaysError::Link("the link's carrier ended".into()))?;
            }
        }
        for (i, tx) in self.commands.iter().enumerate() {
            tx.send(Command::Clip(plan.clone()))
                .map_err(|_| self.stopped(i))?;
        }
        let clip_number = self.clips;
        self.clips += 1;
        let mut feed = FrameFeed::new(&self.topology, clip, &plan);
        for tick in 0..plan.ticks {
            let frame = feed.next(tick);
            let last = tick + 1 == plan.ticks;
            let tag = Tag {
                clip: clip_number,
                tick: tick as u64,
            };
            for tx in &self.frames_out {
                // As every stage does, the clip's last message is the next clip's tick -1.
                let frame = if last { None } else { frame.clone() };
                if tx.send_activation(tag, frame).is_none() {
                    return Err(self.first_stopped());
                }
            }
        }
        let mut losses = Vec::new();
        let mut done = 0;
        while done < k {
            match self.events.recv() {
                Ok(Event::Loss(loss)) => losses.push(loss),
                Ok(Event::ClipDone { stage, busy }) => {
                    self.busy[stage] += busy;
                    done += 1;
                }
                Ok(Event::Lost(reason)) => return Err(SidewaysError::Link(reason)),
                Err(_) => return Err(self.first_stopped()),
            }
        }
        feed.finish()?;
        Ok(ClipReport::from_losses(&losses, labels))
    }

    /// Stops the threads and returns the trained network.
    pub fn into_net(self) -> Result<StageNet<F>, SidewaysError> {
        let (stages, topology) = self.into_trainers()?;
        Ok(StageTrainer::into_net(stages, topology))
    }

    /// Stops the threads and returns the stages with their optimisers, and the wiring.
    pub fn into_trainers(self) -> Result<(Vec<StageTrainer<F>>, Topology), SidewaysError> {
        let k = self.topology.stages();
        let (stages, topology) = self.into_local_trainers()?;
        if stages.len() != k {
            return Err(SidewaysError::Link(format!(
                "{} of {k} stages are on this host",
                stages.len()
            )));
        }
        Ok((stages.into_iter().map(|(_, t)| t).collect(), topology))
    }

    /// Stops the threads and returns this host's stages (index, stage with its optimiser)
    /// and the wiring. On a host that does not drive, drop the [`LinkEnds`]' inbound side
    /// first, or the stages keep waiting for clips.
    pub fn into_local_trainers(mut self) -> Result<(LocalTrainers<F>, Topology), SidewaysError> {
        self.commands.clear();
        self.link = None;
        let threads = std::mem::take(&mut self.threads);
        let mut stages = Vec::with_capacity(threads.len());
        for thread in threads {
            let name = thread.thread().name().unwrap_or("").to_owned();
            let stage = thread.join().map_err(|panic| SidewaysError::StageStopped {
                stage: name
                    .rsplit('-')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                reason: panic_message(&panic),
            })?;
            stages.push((stage.index(), stage.into_trainer()));
        }
        Ok((stages, self.topology.clone()))
    }

    fn stopped(&self, stage: usize) -> SidewaysError {
        SidewaysError::StageStopped {
            stage: stage + 1,
            reason: "its thread ended".into(),
        }
    }

    /// The error of a stage thread that ended, with its panic message when it panicked.
    fn first_stopped(&mut self) -> SidewaysError {
        let threads = std::mem::take(&mut self.threads);
        self.commands.clear();
        // A broken link ends local stages too; its reason says more than theirs.
        while let Ok(event) = self.events.try_recv() {
            if let Event::Lost(reason) = event {
                return SidewaysError::Link(reason);
            }
        }
        for thread in threads {
            if thread.is_finished() {
                let stage = thread.join().map(|s| s.index() + 1);
                let (stage, reason) = match stage {
                    Err(panic) => (0, panic_message(&panic)),
                    Ok(stage) => (stage, "its thread ended".into()),
                };
                return SidewaysError::StageStopped { stage, reason };
            }
        }
        SidewaysError::StageStopped {
            stage: 0,
            reason: "a stage's channel closed".into(),
        }
    }
}

impl<F: Float> Drop for ThreadedPipeline<F> {
    fn drop(&mut self) {
        self.commands.clear();
        self.frames_out.clear();
        self.link = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// A stage thread: clip after clip until the driver hangs up.
fn run_stage<F: Float>(
    mut stage: SidewaysStage<F>,
    links: StageLinks<F>,
    commands: Receiver<Command>,
    events: EventOut<F>,
) -> SidewaysStage<F> {
    let mut clip = 0;
    while let Ok(Command::Clip(plan)) = commands.recv() {
        let mut busy = Duration::ZERO;
        if run_clip(&mut stage, &links, &plan, clip, &events, &mut busy).is_none() {
            break;
        }
        clip += 1;
        let started = Instant::now();
        stage.end_clip();
        busy += started.elapsed();
        let done = Event::ClipDone {
            stage: stage.index(),
            busy,
        };
        if events.send(done).is_none() {
            break;
        }
    }
    stage
}

/// One clip's ticks; `None` when a neighbour or the driver went away.
fn run_clip<F: Float>(
    stage: &mut SidewaysStage<F>,
    links: &StageLinks<F>,
    plan: &ClipPlan,
    clip: u64,
    events: &EventOut<F>,
    busy: &mut Duration,
) -> Option<()> {
    for tick in 0..plan.ticks {
        let activations = links
            .activations_in
            .iter()
            .map(|rx| rx.recv().ok())
            .collect::<Option<Vec<_>>>()?;
        let grads = links
            .grads_in
            .iter()
            .map(|rx| rx.recv().ok())
            .collect::<Option<Vec<_>>>()?;
        let started = Instant::now();
        let mut out = stage.tick(tick, TickIn { activations, grads }, plan);
        *busy += started.elapsed();
        let last = tick + 1 == plan.ticks;
        let tag = Tag {
            clip,
            tick: tick as u64,
        };
        for tx in &links.activations_out {
            tx.send_activation(tag, if last { None } else { out.activation.clone() })?;
        }
        for (tx, grad) in links.grads_out.iter().zip(&mut out.grads) {
            if let Some(tx) = tx {
                tx.send_grad(tag, if last { None } else { grad.take() })?;
            }
        }
        if let Some(loss) = out.loss {
            events.send(Event::Loss(loss))?;
        }
    }
    Some(())
}

/// Adds an outgoing activation edge of `node`: the driver's frames for node 0, else the
/// producing stage's.
fn push_out<F>(
    links: &mut [StageLinks<F>],
    frames_out: &mut Vec<Out<Activation<F>, F>>,
    node: usize,
    out: Out<Activation<F>, F>,
) {
    if node == 0 {
        frames_out.push(out);
    } else {
        links[node - 1].activations_out.push(out);
    }
}
