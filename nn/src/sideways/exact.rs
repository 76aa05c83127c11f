//! The exact baselines on the same staged network: per-frame backprop (every frame through all
//! stages and back before the next, as a sequential pipeline does) and backprop through time
//! over the pipelined network, whose delays and skips make it a temporal model.

use super::clip::{
    ClipPlan, ClipReport, FrameLoss, FrameSource, OptimizerSpec, SidewaysConfig, StageTrainer,
    UpdateSchedule, check_clip, frame_loss,
};
use super::error::SidewaysError;
use super::network::{StageNet, Topology};
use super::schedule::FrameFeed;
use super::stage::StageCache;
use crate::Float;
use ndarray::{ArrayD, ArrayViewD};

/// Parameter gradients, per stage in [`super::Stage::params`] order.
pub type StageGrads<F> = Vec<Vec<ArrayD<F>>>;

/// Exact backprop frame by frame, without delays: `a_k = f_k(a_{k-1}, skips)` all on frame
/// `t`. With skips this is a DAG on one frame; it has no temporal integration.
pub struct PerFrame<F> {
    topology: Topology,
    trainers: Vec<StageTrainer<F>>,
    update: UpdateSchedule,
}

impl<F: Float> PerFrame<F> {
    /// Trains `net`'s stages, each with its own optimiser of `optimizer`'s settings.
    ///
    /// # Errors
    /// Invalid optimiser settings.
    pub fn new(
        net: StageNet<F>,
        optimizer: &OptimizerSpec,
        update: UpdateSchedule,
    ) -> Result<Self, SidewaysError> {
        let (trainers, topology) = StageTrainer::for_net(net, optimizer)?;
        Ok(PerFrame {
            topology,
            trainers,
            update,
        })
    }

    /// The trained network.
    pub fn into_net(self) -> StageNet<F> {
        StageTrainer::into_net(self.trainers, self.topology)
    }

    /// Logits of one frame.
    pub fn predict(&self, frame: &ArrayD<F>) -> ArrayD<F> {
        self.forward(frame).0.pop().expect("top node")
    }

    fn forward(&self, frame: &ArrayD<F>) -> (Vec<ArrayD<F>>, Vec<StageCache>) {
        let mut nodes = vec![frame.clone()];
        let mut caches = Vec::with_capacity(self.trainers.len());
        for (i, trainer) in self.trainers.iter().enumerate() {
            let inputs: Vec<ArrayViewD<'_, F>> = self.topology.sources[i]
                .iter()
                .map(|&n| nodes[n].view())
                .collect();
            let (output, cache) = trainer.stage.forward(&inputs);
            nodes.push(output);
            caches.push(cache);
        }
        (nodes, caches)
    }

    /// The exact gradient of one frame's loss (times `scale`), and the gradient with respect
    /// to every node (index 0 = frame, left empty).
    pub fn gradients(
        &self,
        index: usize,
        frame: &ArrayD<F>,
        labels: &[usize],
        scale: f64,
    ) -> (FrameLoss, StageGrads<F>, Vec<Option<ArrayD<F>>>) {
        let (nodes, caches) = self.forward(frame);
        let k = self.trainers.len();
        let (loss, grad) = frame_loss(index, &nodes[k], labels, scale);
        let mut node_grads: Vec<Option<ArrayD<F>>> = vec![None; k + 1];
        node_grads[k] = Some(grad);
        let mut grads = vec![Vec::new(); k];
        for i in (0..k).rev() {
            let Some(g) = node_grads[i + 1].clone() else {
                continue;
            };
            let need = self.topology.needs_input_grad(i);
            let b = self.trainers[i].stage.backward(&caches[i], g.view(), &need);
            for (&src, input_grad) in self.topology.sources[i].iter().zip(b.input_grads) {
                if let Some(ig) = input_grad {
                    add_into(&mut node_grads[src], ig);
                }
            }
            grads[i] = b.param_grads;
        }
        (loss, grads, node_grads)
    }

    /// Trains on every frame of `clip` in turn, each frame's loss against `labels`; steps
    /// per frame or once at the end as the update schedule says.
    ///
    /// # Errors
    /// An empty clip, or labels that do not fit the batch or the classes.
    pub fn train_clip(
        &mut self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<ClipReport, SidewaysError> {
        check_clip(&self.topology, clip, labels)?;
        let frames = clip.len();
        let scale = match self.update {
            UpdateSchedule::PerTick => 1.0,
            UpdateSchedule::PerClip => 1.0 / frames as f64,
        };
        let mut losses = Vec::with_capacity(frames);
        let mut result = Ok(());
        for t in 0..frames {
            let frame = clip.frame(t);
            if let Err(e) = self.topology.check_frame(t, &frame, clip.batch()) {
                result = Err(e);
                break;
            }
            let (loss, grads, _) = self.gradients(t, &frame, labels, scale);
            losses.push(loss);
            for (trainer, g) in self.trainers.iter_mut().zip(grads) {
                trainer.add(g);
                if self.update == UpdateSchedule::PerTick {
                    trainer.step();
                }
            }
        }
        for trainer in &mut self.trainers {
            trainer.step();
        }
        result?;
        Ok(ClipReport::from_losses(&losses, labels))
    }

    /// Loss and accuracy without training.
    pub fn evaluate_clip(
        &self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<ClipReport, SidewaysError> {
        check_clip(&self.topology, clip, labels)?;
        let mut losses = Vec::with_capacity(clip.len());
        for t in 0..clip.len() {
            let frame = clip.frame(t);
            self.topology.check_frame(t, &frame, clip.batch())?;
            losses.push(frame_loss(t, &self.predict(&frame), labels, 1.0).0);
        }
        Ok(ClipReport::from_losses(&losses, labels))
    }
}

/// Exact backprop through time over the pipelined network: the same forward as Sideways
/// (same delays, skips and drain), every stage's cache kept for the whole clip, then one
/// exact backward pass from the last tick to the first. Memory grows with the clip length.
pub struct Bptt<F> {
    topology: Topology,
    trainers: Vec<StageTrainer<F>>,
    config: SidewaysConfig,
}

impl<F: Float> Bptt<F> {
    /// `config.update` is ignored: BPTT steps once per clip.
    pub fn new(
        net: StageNet<F>,
        optimizer: &OptimizerSpec,
        config: SidewaysConfig,
    ) -> Result<Self, SidewaysError> {
        let (trainers, topology) = StageTrainer::for_net(net, optimizer)?;
        let config = SidewaysConfig {
            update: UpdateSchedule::PerClip,
            ..config
        };
        Ok(Bptt {
            topology,
            trainers,
            config,
        })
    }

    /// The trained network.
    pub fn into_net(self) -> StageNet<F> {
        StageTrainer::into_net(self.trainers, self.topology)
    }

    /// The exact gradient of the clip loss (the mean over frames that carry a loss), and
    /// the clip's report. Parameters are unchanged.
    pub fn gradients(
        &self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<(ClipReport, StageGrads<F>), SidewaysError> {
        check_clip(&self.topology, clip, labels)?;
        let k = self.trainers.len();
        let plan = ClipPlan::new(clip.len(), k, labels, self.config);
        let mut feed = FrameFeed::new(&self.topology, clip, &plan);
        // caches[t][i]: stage i's forward at tick t, if it computed.
        let mut caches: Vec<Vec<Option<StageCache>>> = Vec::with_capacity(plan.ticks);
        let mut top_grads: Vec<Option<ArrayD<F>>> = Vec::with_capacity(plan.ticks);
        let mut losses = Vec::new();
        let mut nodes: Vec<Option<std::sync::Arc<ArrayD<F>>>> = vec![None; k + 1];
        for tick in 0..plan.ticks {
            let mut next = vec![None; k + 1];
            next[0] = feed.next(tick);
            let mut tick_caches = Vec::with_capacity(k);
            let mut top_grad = None;
            for (i, trainer) in self.trainers.iter().enumerate() {
                let inputs: Option<Vec<ArrayViewD<'_, F>>> = self.topology.sources[i]
                    .iter()
                    .map(|&n| nodes[n].as_ref().map(|a| a.view()))
                    .collect();
                let Some(inputs) = inputs else {
                    tick_caches.push(None);
                    continue;
                };
                let (output, cache) = trainer.stage.forward(&inputs);
                if i + 1 == k
                    && let Some(frame) = plan.loss_frame(tick)
                {
                    let (loss, grad) = frame_loss(frame, &output, labels, plan.loss_scale);
                    losses.push(loss);
                    top_grad = Some(grad);
                }
                next[i + 1] = Some(std::sync::Arc::new(output));
                tick_caches.push(Some(cache));
            }
            caches.push(tick_caches);
            top_grads.push(top_grad);
            nodes = next;
        }
        feed.finish()?;
        let mut grads: StageGrads<F> = vec![Vec::new(); k];
        // node_grads[n]: d loss / d (node n at the tick being processed); carried one tick down.
        let mut node_grads: Vec<Option<ArrayD<F>>> = vec![None; k + 1];
        for tick in (0..plan.ticks).rev() {
            let mut below: Vec<Option<ArrayD<F>>> = vec![None; k + 1];
            node_grads[k] = top_grads[tick].take();
            for i in (0..k).rev() {
                let (Some(g), Some(cache)) = (node_grads[i + 1].take(), &caches[tick][i]) else {
                    continue;
                };
                let need = self.topology.needs_input_grad(i);
                let b = self.trainers[i].stage.backward(cache, g.view(), &need);
                for (&src, input_grad) in self.topology.sources[i].iter().zip(b.input_grads) {
                    if let Some(ig) = input_grad {
                        add_into(&mut below[src], ig);
                    }
                }
                if grads[i].is_empty() {
                    grads[i] = b.param_grads;
                } else {
                    for (s, g) in grads[i].iter_mut().zip(&b.param_grads) {
                        *s += g;
                    }
                }
            }
            caches[tick].clear();
            node_grads = below;
        }
        for (i, g) in grads.iter_mut().enumerate() {
            if g.is_empty() {
                *g = self.trainers[i]
                    .stage
                    .params()
                    .iter()
                    .map(|p| ArrayD::zeros(p.raw_dim()))
                    .collect();
            }
        }
        Ok((ClipReport::from_losses(&losses, labels), grads))
    }

    /// [`Bptt::gradients`], then one optimiser step per stage.
    ///
    /// # Errors
    /// As [`Bptt::gradients`].
    pub fn train_clip(
        &mut self,
        clip: &mut dyn FrameSource<F>,
        labels: &[usize],
    ) -> Result<ClipReport, SidewaysError> {
        let (report, grads) = self.gradients(clip, labels)?;
        for (trainer, g) in self.trainers.iter_mut().zip(grads) {
            trainer.add(g);
            trainer.step();
        }
        Ok(report)
    }
}

fn add_into<F: Float>(slot: &mut Option<ArrayD<F>>, grad: ArrayD<F>) {
    match slot {
        Some(sum) => *sum += &grad,
        None => *slot = Some(grad),
    }
}
