//! Sideways: the pipelined schedule, one stage's tick and the single-threaded reference that
//! runs all stages tick by tick.
//!
//! At tick `t` stage `k` (1-based) reads what its sources sent at tick `t - 1` and
//! computes `a_k(t) = f_k(a_{k-1}(t-1), skips...)`, overwriting its one cache. It then applies
//! the gradient its consumers sent at tick `t - 1` (summed over them) against that fresh
//! cache, and sends the input gradients down. The top stage's loss and backward are exact.
//! Nothing older than the current cache is kept, so memory does not grow with the clip.

use super::clip::{
    ClipPlan, ClipReport, FrameLoss, FrameSource, OptimizerSpec, SidewaysConfig, StageTrainer,
    UpdateSchedule, check_clip, frame_loss,
};
use super::error::SidewaysError;
use super::network::{StageNet, Topology};
use super::stage::StageCache;
use crate::Float;
use ndarray::{ArrayD, ArrayViewD};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An activation on its way to the stages that read it (shared, never copied per consumer).
pub type Activation<F> = Arc<ArrayD<F>>;

/// What a stage receives at tick `t`: the messages of tick `t - 1`.
pub struct TickIn<F> {
    /// One per input edge (primary first); `None` before the pipeline has filled.
    pub activations: Vec<Option<Activation<F>>>,
    /// One per consumer of this stage's output, in [`Topology::consumers`] order.
    pub grads: Vec<Option<ArrayD<F>>>,
}

/// What a stage sends at tick `t`.
pub struct TickOut<F> {
    /// The stage's output for its consumers; `None` while its inputs have not all arrived.
    pub activation: Option<Activation<F>>,
    /// d loss / d input per edge; `None` for frames and when no gradient was applied.
    pub grads: Vec<Option<ArrayD<F>>>,
    /// The top stage's loss, on ticks whose output comes from a real frame.
    pub loss: Option<FrameLoss>,
    /// This tick's parameter gradients, when recording (for tests and agreement figures).
    pub param_grads: Option<Vec<ArrayD<F>>>,
}

/// One stage under the Sideways schedule: what a thread, process or agent hosting the stage
/// runs. It holds the stage, its optimiser and its single current cache.
pub struct SidewaysStage<F> {
    index: usize,
    is_top: bool,
    need_input: Vec<bool>,
    trainer: StageTrainer<F>,
    cache: Option<StageCache>,
    record: bool,
}

impl<F: Float> SidewaysStage<F> {
    /// Stage `index` (0-based) of `topology`, trained by `trainer`, with no cache yet.
    pub fn new(index: usize, trainer: StageTrainer<F>, topology: &Topology) -> Self {
        SidewaysStage {
            index,
            is_top: index + 1 == topology.stages(),
            need_input: topology.needs_input_grad(index),
            trainer,
            cache: None,
            record: false,
        }
    }

    /// Its position in the pipeline, 0-based.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether [`TickOut::param_grads`] is filled.
    pub fn set_recording(&mut self, on: bool) {
        self.record = on;
    }

    /// The stage and its optimiser.
    pub fn trainer(&self) -> &StageTrainer<F> {
        &self.trainer
    }

    /// The stage and its optimiser, dropping the cache.
    pub fn into_trainer(self) -> StageTrainer<F> {
        self.trainer
    }

    /// One tick: forward on the newest inputs, then the newest gradient against that forward.
    pub fn tick(&mut self, tick: usize, input: TickIn<F>, plan: &ClipPlan) -> TickOut<F> {
        let stage = &self.trainer.stage;
        // Masked warm-up: a stage computes once all its inputs exist. Skip sources lie below
        // the primary one and fill first, so this is when the primary input arrives.
        let activation = if input.activations.iter().all(Option::is_some) {
            let views: Vec<ArrayViewD<'_, F>> = input
                .activations
                .iter()
                .map(|a| a.as_ref().expect("checked").view())
                .collect();
            let (output, cache) = stage.forward(&views);
            self.cache = Some(cache);
            Some(Arc::new(output))
        } else {
            None
        };
        let mut loss = None;
        let output_grad = if self.is_top {
            match (&activation, plan.loss_frame(tick)) {
                (Some(logits), Some(frame)) => {
                    let (report, grad) = frame_loss(frame, logits, &plan.labels, plan.loss_scale);
                    loss = Some(report);
                    Some(grad)
                }
                _ => None,
            }
        } else {
            sum_present(input.grads)
        };
        let mut out = TickOut {
            activation,
            grads: vec![None; self.need_input.len()],
            loss,
            param_grads: None,
        };
        let (Some(grad), Some(cache)) = (output_grad, &self.cache) else {
            return out;
        };
        let backward = stage.backward(cache, grad.view(), &self.need_input);
        out.grads = backward.input_grads;
        if self.record {
            out.param_grads = Some(backward.param_grads.clone());
        }
        self.trainer.add(backward.param_grads);
        if plan.update == UpdateSchedule::PerTick {
            self.trainer.step();
        }
        out
    }

    /// Ends a clip: the per-clip step, and the pipeline empties.
    pub fn end_clip(&mut self) {
        self.trainer.step();
        self.cache = None;
    }
}

/// Sums the gradients that arrived from a stage's consumers (fan-out in the forward pass is
/// fan-in here).
fn sum_present<F: Float>(grads: Vec<Option<ArrayD<F>>>) -> Option<ArrayD<F>> {
    grads.into_iter().flatten().reduce(|mut sum, g| {
        sum += &g;
        sum
    })
}

/// Sideways on one thread: every stage's tick in turn, tick after tick. The threaded
/// pipeline runs the same ticks and is bit-identical to this.
pub struct Pipeline<F> {
    topology: Topology,
    stages: Vec<SidewaysStage<F>>,
    config: SidewaysConfig,
    busy: Vec<Duration>,
}

impl<F: Float> Pipeline<F> {
    /// Sideways over `net`'s stages, each with its own optimiser of `optimizer`'s settings.
    ///
    /// # Errors
    /// Invalid optimiser settings.
    pub fn new(
        net: StageNet<F>,
        optimizer: &OptimizerSpec,
        config: SidewaysConfig,
    ) -> Result<Self, SidewaysError> {
        let (trainers, topology) = StageTrainer::for_net(net, optimizer)?;
        let stages: Vec<_> = trainers
            .into_iter()
            .enumerate()
            .map(|(i, t)| SidewaysStage::new(i, t, &topology))
            .collect();
        let busy = vec![Duration::ZERO; stages.len()];
        Ok(Pipeline {
            topology,
            stages,
            config,
            busy,
        })
    }

    /// How it runs a clip.
    pub fn config(&self) -> SidewaysConfig {
        self.config
    }

    /// The network's wiring.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Time each stage spent in its ticks and its end-of-clip step over every clip so far:
    /// on one thread, what each stage costs, which is what a cut should balance (the
    /// threaded pipeline's [`super::ThreadedPipeline::busy`] also counts time its thread
    /// was not scheduled).
    pub fn busy(&self) -> &[Duration] {
        &self.busy
    }

    /// Whether every stage's [`TickOut::param_grads`] is filled.
    pub fn set_recording(&mut self, on: bool) {
        for stage in &mut self.stages {
            stage.set_recording(on);
        }
    }

    /// Stage `index` (0-based) as trained so far.
    pub fn stage(&self, index: usize) -> &crate::sideways::Stage<F> {
        &self.stages[index].trainer.stage
    }

    /// The trained network.
    pub fn into_net(self) -> StageNet<F> {
        let trainers = self.stages.into_iter().map(|s| s.into_trainer()).collect();
        StageTrainer::into_net(trainers, self.topology)
    }

    /// Runs one clip through the pipeline under the Sideways schedule, `labels` one per
    /// video, stepping the optimisers as the config's update schedule says.
    ///
    /// # Errors
    /// An empty clip, frames of the wrong shape, or labels that do not fit.
    pub fn train_clip(
        &mut self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<ClipReport, SidewaysError> {
        self.train_clip_observed(clip, labels, &mut |_, _, _| {})
    }

    /// [`Self::train_clip`], showing `observer(tick, stage, out)` every stage's output.
    pub fn train_clip_observed(
        &mut self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
        observer: &mut dyn FnMut(usize, usize, &TickOut<F>),
    ) -> Result<ClipReport, SidewaysError> {
        check_clip(&self.topology, clip, labels)?;
        let plan = ClipPlan::new(clip.len(), self.stages.len(), labels, self.config);
        let mut feed = FrameFeed::new(&self.topology, clip, &plan);
        let k = self.stages.len();
        let mut nodes: Vec<Option<Activation<F>>> = vec![None; k + 1];
        let mut grads: Vec<Vec<Option<ArrayD<F>>>> = (0..k)
            .map(|i| vec![None; self.topology.sources[i].len()])
            .collect();
        let mut losses = Vec::new();
        for tick in 0..plan.ticks {
            let mut next_nodes = vec![None; k + 1];
            next_nodes[0] = feed.next(tick);
            for (i, stage) in self.stages.iter_mut().enumerate() {
                let input = TickIn {
                    activations: self.topology.sources[i]
                        .iter()
                        .map(|&n| nodes[n].clone())
                        .collect(),
                    grads: self.topology.consumers[i + 1]
                        .iter()
                        .map(|&(c, e)| grads[c][e].take())
                        .collect(),
                };
                let started = Instant::now();
                let out = stage.tick(tick, input, &plan);
                self.busy[i] += started.elapsed();
                observer(tick, i, &out);
                next_nodes[i + 1] = out.activation;
                grads[i] = out.grads;
                losses.extend(out.loss);
            }
            nodes = next_nodes;
        }
        for (stage, busy) in self.stages.iter_mut().zip(&mut self.busy) {
            let started = Instant::now();
            stage.end_clip();
            *busy += started.elapsed();
        }
        feed.finish()?;
        Ok(ClipReport::from_losses(&losses, labels))
    }
}

/// Node 0 of the pipeline: the clip's frames, checked, then the last one held while
/// draining; nothing at the clip's last tick (no stage would read it). A frame of the wrong
/// shape ends the stream early and the clip reports the error at its end.
pub(super) struct FrameFeed<'a, F> {
    topology: &'a Topology,
    clip: &'a mut dyn FrameSource<F>,
    ticks: usize,
    frames: usize,
    batch: usize,
    last: Option<(usize, Activation<F>)>,
    error: Option<SidewaysError>,
}

impl<'a, F: Float> FrameFeed<'a, F> {
    pub(super) fn new(
        topology: &'a Topology,
        clip: &'a mut dyn FrameSource<F>,
        plan: &ClipPlan,
    ) -> Self {
        let batch = clip.batch();
        FrameFeed {
            topology,
            clip,
            ticks: plan.ticks,
            frames: plan.frames,
            batch,
            last: None,
            error: None,
        }
    }

    pub(super) fn next(&mut self, tick: usize) -> Option<Activation<F>> {
        if tick + 1 >= self.ticks || self.error.is_some() {
            return None;
        }
        let index = tick.min(self.frames - 1);
        if let Some((i, frame)) = &self.last
            && *i == index
        {
            return Some(frame.clone());
        }
        let frame = self.clip.frame(index);
        if let Err(e) = self.topology.check_frame(index, &frame, self.batch) {
            self.error = Some(e);
            return None;
        }
        let frame = Arc::new(frame);
        self.last = Some((index, frame.clone()));
        Some(frame)
    }

    pub(super) fn finish(self) -> Result<(), SidewaysError> {
        self.error.map_or(Ok(()), Err)
    }
}
