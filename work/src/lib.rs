//! Units of work, independent of who runs them: what a job is, how it executes, and how it
//! travels between coordinator and agents.
//!
//! - [`job`]: what a unit of work and its outcome are, independent of any transport;
//! - [`data`]: task datasets, loaded once per process;
//! - [`executor`]: trains a pathway on a local replica and computes parameter deltas;
//! - [`wire`]: conversions to and from the `pathnet.v1` messages ([`genome_wire`] for
//!   neuroevolution's seed-list genomes, [`pathnet_a3c_wire`] for PathNet-A3C workers,
//!   [`sideways_wire`] for Sideways segments, [`sm_pathnet_wire`] for pathway genomes);
//! - [`sideways`]: Sideways experiments' task, network and segments.
//!
//! The coordinator's in-process run feeds the executor parameters directly and the networked
//! agent pulls them over gRPC: both execute this same code, so both train identically.

pub mod data;
pub mod executor;
pub mod genome_wire;
pub mod job;
pub mod pathnet_a3c_wire;
pub mod sideways;
pub mod sideways_wire;
pub mod sm_pathnet_wire;
pub mod wire;

pub use data::{TaskData, TaskDataCache};
pub use executor::{ExecError, Executor};
pub use job::{Architecture, JobOutcome, ModuleDelta, ModuleParams, PathwayJob, SupervisedTask};
