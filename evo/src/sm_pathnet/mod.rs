//! Safe-mutation genetic algorithms over PathNet pathways: a genome is a pathway through a
//! super-network plus a seed list of weight mutations over the super-network's base weights,
//! applied only to the unfrozen modules of the pathway each mutation met.
//!
//! - [`problem`]: the tasks (environments or two-class datasets) and super-network, a
//!   pathway's fitness, and the hybrid mode's SGD;
//! - [`job`]: one evaluation and [`evaluate_pathway`];
//! - [`rebuild`](mod@rebuild): genome to weights (and pathway), with a cache of recent parents;
//! - [`engine`]: PathNet's binary tournament and the steady-state tournament.

pub mod engine;
pub mod job;
pub mod problem;
pub mod rebuild;

pub use engine::{
    SavedTournament, Selection, TournamentConfig, TournamentEngine, TournamentSummary,
};
pub use job::{PathwayJob, Transfer, evaluate_pathway, held_out_accuracy};
pub use problem::{
    ConvLayers, DATA_FEATURES, DataTask, ExampleSource, Hybrid, PathwayProblem, PathwayTask,
};
pub use rebuild::{PathwayRebuildCache, base_network, genome_pathway, rebuild};

#[cfg(test)]
mod conv_tests;
#[cfg(test)]
mod tests;
