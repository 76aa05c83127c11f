//! PathNet (Fernando et al. 2017): a super-network of `L` layers of `M` modules in which
//! each pathway, a genotype choosing at most `N` modules per layer, is a network of its own.
//!
//! - [`genotype`]: pathways, their validation and the module ids parameters are addressed by;
//! - [`ga`]: mutation and binary tournament on pathways;
//! - [`network`]: the modules, task heads, per-module versions and frozen flags;
//! - [`pass`]: a pathway's forward and backward pass;
//! - [`build`]: ready-made linear and convolutional super-networks;
//! - [`train`]: training a pathway for `T` minibatches, fitness and accuracy.

pub mod build;
mod error;
pub mod ga;
pub mod genotype;
pub mod network;
pub mod pass;
pub mod train;

pub use error::PathNetError;
pub use genotype::{ModuleId, PathNetDims, Pathway};
pub use network::PathNet;
pub use pass::{ModuleGrads, PathwayCache, PathwayForward, PathwayGrads, PathwayLayer};
pub use train::{Batch, EvalReport, ModuleOptimizers, TrainReport, batches};
