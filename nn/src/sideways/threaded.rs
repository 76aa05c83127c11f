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
use super::network::{StageNet, Topology};
use super::schedule::{Activation, FrameFeed, SidewaysStage, TickIn};
use crate::Float;
use ndarray::ArrayD;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages on one edge per tick: two fit, see the module doc.
const EDGE_CAPACITY: usize = 2;

type ActMsg<F> = Option<Activation<F>>;
type GradMsg<F> = Option<ArrayD<F>>;

enum Command {
    Clip(Arc<ClipPlan>),
}

enum Event {
    Loss(FrameLoss),
    /// A stage finished its clip, having computed for `busy` of it (the rest it waited on
    /// its neighbours).
    ClipDone {
        stage: usize,
        busy: Duration,
    },
}

struct StageLinks<F> {
    activations_in: Vec<Receiver<ActMsg<F>>>,
    activations_out: Vec<SyncSender<ActMsg<F>>>,
    /// One per consumer of this stage's output.
    grads_in: Vec<Receiver<GradMsg<F>>>,
    /// One per input edge; `None` for edges from frames.
    grads_out: Vec<Option<SyncSender<GradMsg<F>>>>,
}

/// The threaded Sideways pipeline. Dropping it stops the threads.
pub struct ThreadedPipeline<F: Float> {
    topology: Topology,
    config: SidewaysConfig,
    frames_out: Vec<SyncSender<ActMsg<F>>>,
    commands: Vec<Sender<Command>>,
    events: Receiver<Event>,
    threads: Vec<JoinHandle<SidewaysStage<F>>>,
    busy: Vec<Duration>,
}

impl<F: Float> ThreadedPipeline<F> {
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
        let k = trainers.len();
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
        let mut grad_tx: Vec<Vec<Option<SyncSender<GradMsg<F>>>>> = act_rx
            .iter()
            .map(|edges| edges.iter().map(|_| None).collect())
            .collect();
        for (node, consumers) in topology.consumers.iter().enumerate() {
            for &(stage, edge) in consumers {
                let (tx, rx) = sync_channel(EDGE_CAPACITY);
                tx.send(None).expect("receiver alive");
                act_rx[stage][edge] = Some(rx);
                if node == 0 {
                    frames_out.push(tx);
                } else {
                    links[node - 1].activations_out.push(tx);
                    let (gtx, grx) = sync_channel(EDGE_CAPACITY);
                    gtx.send(None).expect("receiver alive");
                    grad_tx[stage][edge] = Some(gtx);
                    links[node - 1].grads_in.push(grx);
                }
            }
        }
        for (i, link) in links.iter_mut().enumerate() {
            link.activations_in = act_rx[i]
                .drain(..)
                .map(|r| r.expect("every edge wired"))
                .collect();
            link.grads_out = grad_tx[i].drain(..).collect();
        }
        let (events_tx, events) = channel();
        let mut commands = Vec::with_capacity(k);
        let mut threads = Vec::with_capacity(k);
        for ((i, trainer), link) in trainers.into_iter().enumerate().zip(links) {
            let stage = SidewaysStage::new(i, trainer, &topology);
            let (ctx, crx) = channel();
            commands.push(ctx);
            let events = events_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("sideways-stage-{}", i + 1))
                .spawn(move || run_stage(stage, link, crx, events))
                .map_err(|e| SidewaysError::StageStopped {
                    stage: i + 1,
                    reason: format!("cannot start its thread: {e}"),
                })?;
            threads.push(thread);
        }
        Ok(ThreadedPipeline {
            topology,
            config,
            frames_out,
            commands,
            events,
            threads,
            busy: vec![Duration::ZERO; k],
        })
    }

    /// Time each stage's thread spent computing (not waiting on its neighbours) over every
    /// clip so far.
    pub fn busy(&self) -> &[Duration] {
        &self.busy
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn train_clip(
        &mut self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<ClipReport, SidewaysError> {
        check_clip(&self.topology, clip, labels)?;
        let k = self.topology.stages();
        let plan = Arc::new(ClipPlan::new(clip.len(), k, labels, self.config));
        for (i, tx) in self.commands.iter().enumerate() {
            tx.send(Command::Clip(plan.clone()))
                .map_err(|_| self.stopped(i))?;
        }
        let mut feed = FrameFeed::new(&self.topology, clip, &plan);
        for tick in 0..plan.ticks {
            let frame = feed.next(tick);
            for tx in &self.frames_out {
                if tx.send(frame.clone()).is_err() {
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
    pub fn into_trainers(mut self) -> Result<(Vec<StageTrainer<F>>, Topology), SidewaysError> {
        self.commands.clear();
        let threads = std::mem::take(&mut self.threads);
        let mut stages = Vec::with_capacity(threads.len());
        for (i, thread) in threads.into_iter().enumerate() {
            let stage = thread.join().map_err(|panic| SidewaysError::StageStopped {
                stage: i + 1,
                reason: panic_message(&panic),
            })?;
            stages.push(stage.into_trainer());
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
        for (i, thread) in threads.into_iter().enumerate() {
            if thread.is_finished() {
                let reason = match thread.join() {
                    Err(panic) => panic_message(&panic),
                    Ok(_) => "its thread ended".into(),
                };
                return SidewaysError::StageStopped {
                    stage: i + 1,
                    reason,
                };
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
    events: Sender<Event>,
) -> SidewaysStage<F> {
    while let Ok(Command::Clip(plan)) = commands.recv() {
        let mut busy = Duration::ZERO;
        if run_clip(&mut stage, &links, &plan, &events, &mut busy).is_none() {
            break;
        }
        let started = Instant::now();
        stage.end_clip();
        busy += started.elapsed();
        let done = Event::ClipDone {
            stage: stage.index(),
            busy,
        };
        if events.send(done).is_err() {
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
    events: &Sender<Event>,
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
        for tx in &links.activations_out {
            tx.send(if last { None } else { out.activation.clone() })
                .ok()?;
        }
        for (tx, grad) in links.grads_out.iter().zip(&mut out.grads) {
            if let Some(tx) = tx {
                tx.send(if last { None } else { grad.take() }).ok()?;
            }
        }
        if let Some(loss) = out.loss {
            events.send(Event::Loss(loss)).ok()?;
        }
    }
    Some(())
}
