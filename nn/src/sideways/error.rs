//! The one error type of the Sideways module.

/// What went wrong building a staged network or training it on a clip.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SidewaysError {
    /// [`StageNet::new`](super::StageNet::new) was given no stages.
    #[error("a staged network needs at least one stage")]
    NoStages,
    /// A skip edge reaching below the network's input, or a span of 1 (the stage's own
    /// input edge).
    #[error("stage {stage}: skip span {span} is invalid: expected 2..={max} (the stage's depth)")]
    BadSpan {
        /// The stage, 1-based.
        stage: usize,
        /// The span given: how many stages down the edge starts.
        span: usize,
        /// The longest span this stage allows (its depth).
        max: usize,
    },
    /// Two skip edges of one stage with the same span.
    #[error("stage {stage}: skip span {span} is given twice")]
    DuplicateSpan {
        /// The stage, 1-based.
        stage: usize,
        /// The repeated span.
        span: usize,
    },
    /// A stage's inputs cannot be combined (e.g. summed shapes that differ).
    #[error("stage {stage}: cannot combine inputs of shapes {shapes:?} by {combine}")]
    CombineShapes {
        /// The stage, 1-based.
        stage: usize,
        /// The combine rule's name.
        combine: &'static str,
        /// Per-sample shapes of its inputs, the main input first.
        shapes: Vec<Vec<usize>>,
    },
    /// A stage's layers refuse the shape the stage below produces.
    #[error("stage {stage} fails on its input: {message}")]
    StageShape {
        /// The stage, 1-based.
        stage: usize,
        /// The layer's complaint.
        message: String,
    },
    /// The top stage does not output `[batch, classes]` logits.
    #[error("the top stage must output [batch, classes] logits, got per-sample shape {shape:?}")]
    TopShape {
        /// Its per-sample output shape.
        shape: Vec<usize>,
    },
    /// A frame of a clip whose shape is not `[batch, frame shape]` for the clip's batch.
    #[error("frame {frame} has shape {got:?}, expected [batch, {expected:?}] with batch {batch}")]
    FrameShape {
        /// The frame's index in the clip.
        frame: usize,
        /// Its shape.
        got: Vec<usize>,
        /// The network's per-sample frame shape.
        expected: Vec<usize>,
        /// The clip's batch size (from its first frame).
        batch: usize,
    },
    /// A clip with another number of labels than videos.
    #[error("clip has {labels} labels for a batch of {batch} videos")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Videos in the batch.
        batch: usize,
    },
    /// A label that is not one of the network's classes.
    #[error("label {label} of video {video} is out of range for {classes} classes")]
    LabelRange {
        /// The video's index in the batch.
        video: usize,
        /// The label given.
        label: usize,
        /// Classes the top stage outputs.
        classes: usize,
    },
    /// A clip with no frames.
    #[error("a clip needs at least one frame")]
    EmptyClip,
    /// A stage's thread could not start, ended early or panicked.
    #[error("pipeline stage {stage} stopped: {reason}")]
    StageStopped {
        /// The stage, 1-based (0 when its thread's name was lost).
        stage: usize,
        /// Why, e.g. the panic's message.
        reason: String,
    },
    /// Stages spread over hosts: the placement does not fit the stages this host holds, or
    /// the carrier between hosts failed.
    #[error("stage link: {0}")]
    Link(String),
    /// A stage's optimiser settings are invalid.
    #[error("optimiser: {0}")]
    Optimizer(#[from] crate::optim::OptimError),
}
