//! A video network cut into stages, with its wiring checked once when it is built.

use super::error::SidewaysError;
use super::stage::Stage;
use crate::Float;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Stages `1..=K` (indices `0..K` here) over frames of one per-sample shape. Node 0 is the
/// frame, node `n` the output of stage `n - 1`; stage `i`'s edge of span `s` reads node
/// `i + 1 - s`. The top stage outputs `[batch, classes]` logits.
pub struct StageNet<F> {
    stages: Vec<Stage<F>>,
    topology: Topology,
}

impl<F: Float> StageNet<F> {
    /// Checks the wiring by running one zero frame through every stage: skip spans in range,
    /// combinable shapes, and `[batch, classes]` logits at the top.
    pub fn new(stages: Vec<Stage<F>>, frame_shape: &[usize]) -> Result<Self, SidewaysError> {
        if stages.is_empty() {
            return Err(SidewaysError::NoStages);
        }
        let mut sources = Vec::with_capacity(stages.len());
        for (i, stage) in stages.iter().enumerate() {
            let spans = stage.spans();
            for (e, &span) in spans.iter().enumerate().skip(1) {
                if !(2..=i + 1).contains(&span) {
                    return Err(SidewaysError::BadSpan {
                        stage: i + 1,
                        span,
                        max: i + 1,
                    });
                }
                if spans[..e].contains(&span) {
                    return Err(SidewaysError::DuplicateSpan { stage: i + 1, span });
                }
            }
            sources.push(spans.iter().map(|&s| i + 1 - s).collect::<Vec<_>>());
        }
        let mut consumers = vec![Vec::new(); stages.len() + 1];
        for (i, edges) in sources.iter().enumerate() {
            for (e, &node) in edges.iter().enumerate() {
                consumers[node].push((i, e));
            }
        }
        let mut shape = vec![1];
        shape.extend_from_slice(frame_shape);
        let mut nodes: Vec<ArrayD<F>> = vec![ArrayD::zeros(IxDyn(&shape))];
        for (i, stage) in stages.iter().enumerate() {
            let inputs: Vec<ArrayViewD<'_, F>> =
                sources[i].iter().map(|&n| nodes[n].view()).collect();
            let probe = catch_unwind(AssertUnwindSafe(|| {
                if stage.skips().is_empty() {
                    return Ok(stage.forward(&inputs).0);
                }
                let shapes = stage.part_shapes(&inputs);
                let refs: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
                if !stage.combine().accepts(&refs) {
                    return Err(SidewaysError::CombineShapes {
                        stage: i + 1,
                        combine: stage.combine().name(),
                        shapes,
                    });
                }
                Ok(stage.forward(&inputs).0)
            }));
            let output = match probe {
                Ok(result) => result?,
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "layer panicked".into());
                    return Err(SidewaysError::StageShape {
                        stage: i + 1,
                        message,
                    });
                }
            };
            nodes.push(output);
        }
        let top = nodes.last().expect("at least one stage");
        if top.ndim() != 2 || top.shape()[1] == 0 {
            return Err(SidewaysError::TopShape {
                shape: top.shape()[1..].to_vec(),
            });
        }
        let classes = top.shape()[1];
        let node_shapes = nodes.iter().map(|n| n.shape()[1..].to_vec()).collect();
        Ok(StageNet {
            stages,
            topology: Topology {
                sources,
                consumers,
                frame_shape: frame_shape.to_vec(),
                classes,
                node_shapes,
            },
        })
    }

    /// The stages, bottom (reading the frame) first.
    pub fn stages(&self) -> &[Stage<F>] {
        &self.stages
    }

    /// Moves every stage to `device` (see [`Stage::place`]). The wiring is unchanged: placing
    /// changes where a stage computes, not the shapes it produces.
    pub fn place(&mut self, device: crate::Device) -> Result<(), crate::PlaceError> {
        for (i, stage) in self.stages.iter_mut().enumerate() {
            stage.place(device).map_err(|e| match e {
                crate::PlaceError::Failed {
                    layer,
                    device,
                    reason,
                } => crate::PlaceError::Failed {
                    layer: format!("stage {} ({layer})", i + 1),
                    device,
                    reason,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// The stages, mutably (their parameters; the wiring stays as checked).
    pub fn stages_mut(&mut self) -> &mut [Stage<F>] {
        &mut self.stages
    }

    /// The stages, dropping the wiring.
    pub fn into_stages(self) -> Vec<Stage<F>> {
        self.stages
    }

    /// Stages `K`, at least 1.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Always false: a network has at least one stage.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Per-sample shape of a frame, e.g. `[1, 32, 32]`.
    pub fn frame_shape(&self) -> &[usize] {
        &self.topology.frame_shape
    }

    /// Classes of the top stage's logits.
    pub fn classes(&self) -> usize {
        self.topology.classes
    }

    /// The wiring (threads take the stages, the driver keeps the wiring).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Reassembles a network from the stages it was split into.
    pub(super) fn from_parts(stages: Vec<Stage<F>>, topology: Topology) -> Self {
        assert_eq!(stages.len(), topology.stages(), "one stage per wired stage");
        StageNet { stages, topology }
    }

    pub(super) fn into_parts(self) -> (Vec<Stage<F>>, Topology) {
        (self.stages, self.topology)
    }

    /// Every stage's parameters, stage by stage.
    pub fn params(&self) -> Vec<Vec<ArrayViewD<'_, F>>> {
        self.stages.iter().map(Stage::params).collect()
    }
}

/// Which node each stage edge reads and who reads each node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Per stage, the source node of each edge, primary first.
    pub sources: Vec<Vec<usize>>,
    /// Per node (0 = frame), the `(stage, edge)` pairs reading it.
    pub consumers: Vec<Vec<(usize, usize)>>,
    /// Per-sample shape of a frame.
    pub frame_shape: Vec<usize>,
    /// Classes of the top stage's logits.
    pub classes: usize,
    /// Per node, the per-sample shape of what it carries (node 0: the frame), which is also
    /// the shape of the gradient sent back to it. Hosts of stages check messages from other
    /// hosts against it before a layer sees them.
    pub node_shapes: Vec<Vec<usize>>,
}

impl Topology {
    /// Stages `K`.
    pub fn stages(&self) -> usize {
        self.sources.len()
    }

    /// Whether stage `i`'s edge `e` needs an input gradient: only edges from stages do,
    /// frames are data.
    pub fn needs_input_grad(&self, stage: usize) -> Vec<bool> {
        self.sources[stage].iter().map(|&n| n > 0).collect()
    }

    /// Checks one frame of a clip: `[batch, frame_shape...]`.
    pub fn check_frame<F>(
        &self,
        frame: usize,
        x: &ArrayD<F>,
        batch: usize,
    ) -> Result<(), SidewaysError> {
        if x.ndim() == self.frame_shape.len() + 1
            && x.shape()[0] == batch
            && x.shape()[1..] == self.frame_shape[..]
        {
            Ok(())
        } else {
            Err(SidewaysError::FrameShape {
                frame,
                got: x.shape().to_vec(),
                expected: self.frame_shape.clone(),
                batch,
            })
        }
    }

    /// Checks a message for node `node` from another host: `[batch, node_shapes[node]...]`.
    pub fn check_node<F>(&self, node: usize, x: &ArrayD<F>, batch: usize) -> Result<(), String> {
        let expected = &self.node_shapes[node];
        if x.ndim() == expected.len() + 1 && x.shape()[0] == batch && x.shape()[1..] == expected[..]
        {
            Ok(())
        } else {
            Err(format!(
                "node {node}: shape {:?}, expected [{batch}, {expected:?}]",
                x.shape()
            ))
        }
    }

    /// Checks a clip's labels against the batch and the number of classes.
    pub fn check_labels(&self, labels: &[usize], batch: usize) -> Result<(), SidewaysError> {
        if labels.len() != batch {
            return Err(SidewaysError::LabelCount {
                labels: labels.len(),
                batch,
            });
        }
        if let Some((video, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= self.classes)
        {
            return Err(SidewaysError::LabelRange {
                video,
                label,
                classes: self.classes,
            });
        }
        Ok(())
    }
}
