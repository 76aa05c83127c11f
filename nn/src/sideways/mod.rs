//! Sideways and Skip-Sideways: depth-parallel training of video networks cut into stages.
//!
//! A video is a stream of frames; one tick is one frame entering. A [`StageNet`] is the
//! network cut into `K` [`Stage`]s (exact backprop inside each), optionally with skip edges
//! from stages further down (Skip-Sideways). The engines on it:
//!
//! - [`Pipeline`]: Sideways on one thread, the reference schedule. Stage `k` at tick `t`
//!   computes `a_k(t) = f_k(a_{k-1}(t-1), ...)` and applies the gradient its consumers sent at
//!   `t - 1` against that fresh activation; nothing older is kept.
//! - [`ThreadedPipeline`]: the same ticks with one thread per stage and bounded channels;
//!   bit-identical to [`Pipeline`].
//! - [`SidewaysStage`]: one stage's tick: it takes the neighbours' messages of the previous
//!   tick and returns its own.
//! - [`ThreadedPipeline::placed`]: the stages spread over hosts ([`Placement`]); the
//!   messages between hosts go through [`LinkEnds`] for a carrier (the agent's network
//!   link) to move. Bit-identical to [`Pipeline`] however the stages are placed.
//! - [`PerFrame`]: exact per-frame backprop on the undelayed network (the sequential baseline).
//! - [`balanced_cut`]: where to cut a chain of layers into stages, by the cost
//!   [`layer_cost`] estimates from the layers' shapes.
//! - [`Bptt`]: exact backprop through time over the pipelined network (same forward as
//!   Sideways), keeping every cache of the clip.
//!
//! How each rule follows from the papers, and which were our decisions: `docs/sideways.md`.

mod clip;
mod combine;
mod cost;
mod error;
mod eval;
mod exact;
mod hosts;
mod network;
mod schedule;
mod stage;
mod threaded;

pub use clip::{
    ClipPlan, ClipReport, FrameLoss, FrameSource, FramesVec, OptimizerSpec, SidewaysConfig,
    StageTrainer, UpdateSchedule,
};
pub use combine::Combine;
pub use cost::{balanced_cut, chain_costs, layer_cost};
pub use error::SidewaysError;
pub use eval::evaluate_pipelined;
pub use exact::{Bptt, PerFrame, StageGrads};
pub use hosts::{Inbound, LinkEnds, LinkMsg, MAX_LINK_FRAMES, Placement, Routed, Tag};
pub use network::{StageNet, Topology};
pub use schedule::{Activation, Pipeline, SidewaysStage, TickIn, TickOut};
pub use stage::{SkipEdge, Stage, StageBackward, StageCache};
pub use threaded::ThreadedPipeline;
