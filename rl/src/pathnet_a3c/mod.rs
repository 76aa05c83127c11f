//! PathNet-A3C (Fernando et al. 2017, the A3C variant): A3C workers that each train one
//! pathway through a shared PathNet super-network, with the pathways evolved by tournaments
//! among the workers, and transfer from one task to the next by freezing the best pathway.
//!
//! - [`config`]: the `[pathnet_a3c]` table (tasks, `L`, `M`, `N`, linear or conv modules, `T`,
//!   `B`, A3C keys).
//! - [`network`]: the super-network as an actor-critic whose parameters are ONE ordered
//!   list of tensors, so [`crate::ParameterServer`] and [`crate::SharedParameters`] serve it
//!   exactly as they serve plain A3C.
//! - [`evolution`]: genotypes, fitnesses, tournaments and task changes; no networking, so a
//!   coordinator can own it ([`PathwaySelection`] is the seam, as `SharedParameters` is for
//!   the parameters).
//! - [`worker`]: one actor-learner; [`run`]: threads in this process, the transfer run and
//!   the from-scratch control.
//!
//! Discrete action spaces only (the heads are categorical). `docs/pathnet_a3c.md` describes
//! the design and the measurements.

pub mod config;
pub mod error;
pub mod evolution;
pub mod network;
pub mod run;
#[cfg(test)]
mod tests;
pub mod worker;

pub use config::{ModuleKind, PathNetA3cConfig, TaskConfig, TaskShape};
pub use error::PathNetA3cError;
pub use evolution::{
    Evolution, EvolutionStats, Member, PathwaySelection, SavedEvolution, SavedRng,
};
pub use network::{ConvSpec, ModuleSpec, PathNetActorCritic};
pub use run::{
    PathNetA3c, SavedNetwork, TaskReport, TaskStart, run_scratch, run_transfer, run_workers,
};
pub use worker::{PathNetWorker, PathNetWorkerReport};
