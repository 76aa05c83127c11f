//! Inference through the pipelined network: the forward half of the Sideways schedule.

use super::clip::{ClipPlan, ClipReport, FrameSource, SidewaysConfig, check_clip, frame_loss};
use super::error::SidewaysError;
use super::network::Topology;
use super::schedule::FrameFeed;
use super::stage::Stage;
use crate::Float;
use ndarray::{ArrayD, ArrayViewD};

/// Loss and accuracy of the pipelined network on a clip, without training: the top stage's
/// output at tick `t` is scored against the label of frame `t - K`.
pub fn evaluate_pipelined<F: Float>(
    stages: &[&Stage<F>],
    topology: &Topology,
    config: SidewaysConfig,
    clip: &mut dyn FrameSource<F>,
    labels: &[usize],
) -> Result<ClipReport, SidewaysError> {
    check_clip(topology, clip, labels)?;
    let k = stages.len();
    let plan = ClipPlan::new(clip.len(), k, labels, config);
    let mut feed = FrameFeed::new(topology, clip, &plan);
    let mut nodes: Vec<Option<std::sync::Arc<ArrayD<F>>>> = vec![None; k + 1];
    let mut losses = Vec::new();
    for tick in 0..plan.ticks {
        let mut next = vec![None; k + 1];
        next[0] = feed.next(tick);
        for (i, stage) in stages.iter().enumerate() {
            let inputs: Option<Vec<ArrayViewD<'_, F>>> = topology.sources[i]
                .iter()
                .map(|&n| nodes[n].as_ref().map(|a| a.view()))
                .collect();
            let Some(inputs) = inputs else { continue };
            let (output, _) = stage.forward(&inputs);
            if i + 1 == k
                && let Some(frame) = plan.loss_frame(tick)
            {
                losses.push(frame_loss(frame, &output, labels, 1.0).0);
            }
            next[i + 1] = Some(std::sync::Arc::new(output));
        }
        nodes = next;
    }
    feed.finish()?;
    Ok(ClipReport::from_losses(&losses, labels))
}
