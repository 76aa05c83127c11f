//! The status sample the dashboard shows besides the fitness curves: what a metrics scrape
//! reads, plus each agent and the population's pathways.

use crate::metrics::{A3cMetrics, TaskMetrics};
use crate::run::{Counters, PathwayView};
use serde::Serialize;

/// The coordinator as the dashboard shows it, read at one instant under its lock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// When it was read, by the coordinator's clock.
    pub unix_ms: u64,
    pub agents_connected: u64,
    pub agents_quarantined: u64,
    pub leases_outstanding: u64,
    pub agents: Vec<AgentView>,
    pub experiment: Option<ExperimentView>,
}

/// One joined agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
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
    pub id: String,
    /// Its kind, as the spec names it (`pathnet`, `a3c`, ...).
    pub kind: &'static str,
    /// `running`, `completed`, `stopped` or `failed`.
    pub state: &'static str,
    pub error: Option<String>,
    pub started_unix_ms: u64,
    pub evaluations_per_second: f64,
    pub counters: Counters,
    pub tasks_completed: u64,
    pub task_names: Vec<String>,
    pub tasks: Vec<TaskMetrics>,
    pub a3c: Option<A3cMetrics>,
    pub pathways: Option<PathwayView>,
}
