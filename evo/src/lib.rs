//! Neuroevolution with safe mutations (Lehman, Chen, Clune & Stanley 2018), without
//! networking.
//!
//! - [`genome`]: genomes as seed lists, and their wire encoding;
//! - [`operator`]: the five mutation operators a genome records (control, SM-R, SM-G-SUM,
//!   SM-G-ABS, SM-G-SO), built on `pathnet_nn::safe_mutation`;
//! - [`network`]: the networks genomes describe;
//! - [`task`]: recurrent parity and the breadcrumb hard maze;
//! - [`rebuild`]: seed list to weights, with a cache of recent parents;
//! - [`executor`]: jobs, outcomes and [`evaluate`], what an executor runs;
//! - [`engine`]: the steady-state and truncation GAs, pulled by a scheduler;
//! - [`config`]: the `[ga]` table of an experiment;
//! - [`runner`]: an engine run in this process on a few threads;
//! - [`pathway`]: the operators applied to the modules of a PathNet pathway;
//! - [`sm_pathnet`]: those genomes and GAs over PathNet pathways, with transfer.

pub mod config;
pub mod engine;
mod error;
pub mod executor;
pub mod genome;
pub mod network;
pub mod operator;
pub mod pathway;
pub mod rebuild;
pub mod runner;
pub mod sm_pathnet;
pub mod task;

pub use config::{Algorithm, SafeMutationConfig};
pub use engine::{EvalId, GaEngine, Request, Summary};
pub use error::EvoError;
pub use executor::{Job, Outcome, Problem, evaluate};
pub use genome::Genome;
pub use operator::{Mutation, Operator};
pub use rebuild::RebuildCache;
