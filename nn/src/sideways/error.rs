//! The one error type of the Sideways module.

/// What went wrong building a staged network or training it on a clip.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SidewaysError {
    #[error("a staged network needs at least one stage")]
    NoStages,
    #[error("stage {stage}: skip span {span} is invalid: expected 2..={max} (the stage's depth)")]
    BadSpan {
        stage: usize,
        span: usize,
        max: usize,
    },
    #[error("stage {stage}: skip span {span} is given twice")]
    DuplicateSpan { stage: usize, span: usize },
    #[error("stage {stage}: cannot combine inputs of shapes {shapes:?} by {combine}")]
    CombineShapes {
        stage: usize,
        combine: &'static str,
        shapes: Vec<Vec<usize>>,
    },
    #[error("stage {stage} fails on its input: {message}")]
    StageShape { stage: usize, message: String },
    #[error("the top stage must output [batch, classes] logits, got per-sample shape {shape:?}")]
    TopShape { shape: Vec<usize> },
    #[error("frame {frame} has shape {got:?}, expected [batch, {expected:?}] with batch {batch}")]
    FrameShape {
        frame: usize,
        got: Vec<usize>,
        expected: Vec<usize>,
        batch: usize,
    },
    #[error("clip has {labels} labels for a batch of {batch} videos")]
    LabelCount { labels: usize, batch: usize },
    #[error("label {label} of video {video} is out of range for {classes} classes")]
    LabelRange {
        video: usize,
        label: usize,
        classes: usize,
    },
    #[error("a clip needs at least one frame")]
    EmptyClip,
    #[error("pipeline stage {stage} stopped: {reason}")]
    StageStopped { stage: usize, reason: String },
    #[error("stage link: {0}")]
    Link(String),
    #[error("optimiser: {0}")]
    Optimizer(#[from] crate::optim::OptimError),
}
