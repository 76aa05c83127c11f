//! Prometheus metrics of a coordinator: what is measured ([`Snapshot`]), how it is written
//! in the Prometheus text format ([`encode`]) and the HTTP endpoint serving it with a
//! health check ([`MetricsServer`]).
//!
//! Metrics are read from the coordinator's own counters when scraped, not kept in a second
//! set of counters: the scrape and the experiment's summary can never disagree. Every
//! metric is documented in `docs/monitoring.md`.

mod http;
mod rate;
mod text;

pub use http::{MetricsAccess, MetricsServer};
pub use rate::RateWindow;
pub use text::{CONTENT_TYPE, encode};

use crate::lease::LeaseCounters;
use crate::run::Counters;

/// Everything a scrape reports, read at one instant under the coordinator's lock.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Agents joined and heard from within three lease durations.
    pub agents_connected: u64,
    /// Work items leased to agents now.
    pub leases_outstanding: u64,
    /// Lease totals over every run of the coordinator.
    pub leases: LeaseCounters,
    /// Result reports not accepted, by reason label; every reason is listed, zeros
    /// included, so that `rate()` sees each series from its start.
    pub results_refused: Vec<(&'static str, u64)>,
    /// Tensor bytes sent to agents in parameter pulls.
    pub parameter_bytes_pulled: u64,
    /// Delta tensor bytes received from agents, inline in reports or pushed ahead of them.
    pub parameter_bytes_pushed: u64,
    /// Leases handed back as failed by their agent, and results refused: the failures that
    /// count towards the coordinator's limit per work.
    pub work_failures: u64,
    /// Joined agents given no new work because their last leases all failed.
    pub agents_quarantined: u64,
    /// The current experiment, if one was started.
    pub experiment: Option<ExperimentMetrics>,
    /// Calls refused by the token check, by reason label (docs/security.md); empty when the
    /// snapshot was not taken by a server.
    pub auth_refused: Vec<(&'static str, u64)>,
    /// How the state's saves went; `None` for a coordinator without a state directory.
    pub checkpoints: Option<CheckpointMetrics>,
}

/// The saves of a coordinator's state (`--state-dir`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CheckpointMetrics {
    /// Saves that reached the disk.
    pub written: u64,
    /// Saves that failed (a full disk, an unwritable directory); each is tried again at the
    /// next interval, and the state on disk stays the last one written.
    pub failed: u64,
    /// Of the last save that reached the disk: when (milliseconds since the Unix epoch),
    /// its bytes and its write's seconds.
    pub last_written_unix_ms: u64,
    /// Bytes of the last save (manifest and tensors).
    pub last_bytes: u64,
    /// Wall-clock seconds the last save took.
    pub last_write_seconds: f64,
}

/// The current experiment's measures.
#[derive(Debug, Clone)]
pub struct ExperimentMetrics {
    /// The experiment's id (the `experiment` label).
    pub id: String,
    /// One of [`EXPERIMENT_STATES`].
    pub state: &'static str,
    /// The run's counters (evaluations, tournaments, updates...).
    pub counters: Counters,
    /// Tasks finished (threshold or generation cap).
    pub tasks_completed: u64,
    /// Accepted results per second over the last [`RATE_WINDOW_SECONDS`].
    pub evaluations_per_second: f64,
    /// Tasks that have had at least one accepted result, in order.
    pub tasks: Vec<TaskMetrics>,
    /// The parameter server's measures, for A3C experiments.
    pub a3c: Option<A3cMetrics>,
    /// A Sideways experiment's latest segment.
    pub sideways: Option<crate::run::VideoProgress>,
}

/// An A3C experiment's parameter server, read when scraped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct A3cMetrics {
    /// Environment steps the workers took.
    pub env_steps: u64,
    /// Episodes the workers finished.
    pub episodes: u64,
    /// Pushed gradients applied to the parameters.
    pub updates_applied: u64,
    /// Pushed gradients dropped as more than `max_staleness` updates behind.
    pub dropped_stale: u64,
    /// Pushed gradients dropped because the stop rule already held.
    pub dropped_after_stop: u64,
    /// Updates applied between a gradient's base version and its arrival, over all pushes.
    pub staleness_max: u64,
    /// The mean of the same.
    pub staleness_mean: f64,
    /// Mean return over the experiment's window of recent episodes.
    pub mean_return: Option<f64>,
    /// The learning rate the next update uses (annealed with environment steps).
    pub learning_rate: f64,
}

/// The fitness of one task's population after its latest accepted result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskMetrics {
    /// Zero-based index of the task in its experiment.
    pub index: usize,
    /// The task's name.
    pub name: String,
    /// The best fitness seen on the task (for PathNet, minus the misclassified fraction:
    /// 0 is perfect).
    pub best_fitness: f64,
    /// The mean of the population members' latest fitnesses.
    pub mean_fitness: f64,
    /// Tournaments resolved on the task.
    pub generation: u64,
}

/// The values of the `state` label of `pathnet_experiment_state`.
pub const EXPERIMENT_STATES: [&str; 4] = ["running", "completed", "stopped", "failed"];

/// Span of `pathnet_evaluations_per_second`.
pub const RATE_WINDOW_SECONDS: u64 = 30;
