//! Reinforcement learning on our layers and environments: A3C (Mnih et al. 2016).
//!
//! - [`loss`]: the actor-critic loss of one segment and its gradients (categorical and
//!   diagonal-Gaussian heads); [`returns`]: n-step returns with Gymnasium's
//!   terminated/truncated bootstrapping.
//! - [`policy`]: actor-critic networks (MLP, LSTM, MinAtar conv net) with named parameters.
//! - [`SharedParameters`]: the seam between a worker and wherever the global parameters live;
//!   [`ParameterServer`] is the in-process Hogwild implementation (shared RMSProp, versions,
//!   staleness bound, stop rule).
//! - [`worker`]: one A3C actor-learner (its segment loop is shared with PathNet-A3C's); [`run_local`] runs several as threads in this process.
//!
//! Nothing here does networking; a networked store implements [`SharedParameters`].

mod actor_learner;
pub mod config;
pub mod error;
mod local;
pub mod loss;
pub mod parameter_server;
pub mod pathnet_a3c;
pub mod policy;
pub mod returns;
pub mod shared_parameters;
pub mod worker;

pub use config::{A3cConfig, Activation, PolicyConfig, PolicyKind, StopConfig};
pub use error::RlError;
pub use local::{RunReport, local_server, run_local, run_workers};
pub use loss::{Actions, LossCoefs, LossGrads, LossParts, Outputs, actor_critic_loss};
pub use parameter_server::{
    ParameterServer, ServerConfig, ServerCounters, ServerSnapshot, ServerStats, StopReason,
};
pub use policy::{ActionHead, ActorCritic, Memory, RecurrentState, SegmentPass};
pub use returns::{SegmentEnd, n_step_returns, n_step_returns_into};
pub use shared_parameters::{GradientUpdate, PushOutcome, SharedParameters};
pub use worker::{Worker, WorkerReport, initial_policy};
