//! The status sample the dashboard shows besides the fitness curves: what a metrics scrape
//! reads, plus each agent and the population's pathways.

use crate::metrics::{A3cMetrics, TaskMetrics};
use crate::run::{Counters, PathwayView, VideoProgress};
use serde::Serialize;

/// The coordinator as the dashboard shows it, read at one instant under its lock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// When it was read, by the coordinator's clock.
    pub unix_ms: u64,
    /// Agents joined and heard from within three lease durations.
    pub agents_connected: u64,
    /// Joined agents given no new work because their last leases all failed.
    pub agents_quarantined: u64,
    /// Work items leased to agents now.
    pub leases_outstanding: u64,
    /// Every joined agent.
    pub agents: Vec<AgentView>,
    /// The current experiment; `None` before one was started.
    pub experiment: Option<ExperimentView>,
}

/// One joined agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    /// The id the coordinator gave it at join.
    pub id: String,
    /// Leases it holds now.
    pub leases: u64,
    /// Leases it takes at once.
    pub max_in_flight: u64,
    /// Results accepted and gradient pushes admitted from it.
    pub results: u64,
    /// Held back from new work because its last leases all failed.
    pub quarantined: bool,
    /// Milliseconds since it was last heard from.
    pub silent_ms: u64,
}

/// The current experiment.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentView {
    /// The experiment's id, `<name>-<number>`.
    pub id: String,
    /// Its kind, as the spec names it (`pathnet`, `a3c`, ...).
    pub kind: &'static str,
    /// `running`, `completed`, `stopped` or `failed`.
    pub state: &'static str,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Accepted results per second over the last 30 seconds.
    pub evaluations_per_second: f64,
    /// The run's counters (evaluations, tournaments, updates...).
    pub counters: Counters,
    /// Tasks finished.
    pub tasks_completed: u64,
    /// Every task's name, in order, including those not started yet.
    pub task_names: Vec<String>,
    /// Tasks that have had at least one accepted result, in order.
    pub tasks: Vec<TaskMetrics>,
    /// The parameter server's measures, for A3C experiments.
    pub a3c: Option<A3cMetrics>,
    /// The latest segment (frames, loss, accuracy, each stage's busy fraction), for Sideways
    /// experiments once one was accepted.
    pub sideways: Option<VideoProgress>,
    /// Module usage and frozen modules of the population, for the kinds with pathways.
    pub pathways: Option<PathwayView>,
}
