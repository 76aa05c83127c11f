//! What every kind of experiment run is to the runtime, the CLI and monitoring, whatever its
//! algorithm: the [`Run`] trait, its state and status, the work ids, the progress events
//! and counters it reports, and the [`Summary`] it ends with. Networking stays out: how each
//! kind's work travels is the server's business.

mod pathways;
mod progress;

pub use pathways::PathwayView;
pub use progress::{Counters, FitnessEvent, Progress, VideoProgress};

use crate::kind::Kind;
use pathnet_rl::ServerStats;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one unit of work (an evaluation, a worker) for the whole experiment; a
/// re-queued evaluation keeps its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EvalId(pub u64);

impl fmt::Display for EvalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evaluation {}", self.0)
    }
}

/// Lifecycle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Work is being handed out or is in flight.
    Running,
    /// Every task reached its end (threshold, cap or budget).
    Completed,
    /// Stopped before its end: no more work is handed out.
    Stopped,
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Stopped => "stopped",
        })
    }
}

/// Where a run stands, in the terms every kind shares.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStatus {
    /// Running, or how the run ended.
    pub state: RunState,
    /// Zero-based index of the task (or phase) under way; the last once the run is over.
    pub task: usize,
    /// Generations (tournament rounds, GA generations) or parameter updates, by kind.
    pub generation: u64,
    /// The best fitness seen on the current task; `None` before its first result.
    pub best_fitness: Option<f64>,
    /// Tasks (or phases) finished.
    pub tasks_completed: usize,
}

macro_rules! define_summary {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $spec:ty => $summary:ty ),* $(,)?) => {
        /// The final (or current) summary of an experiment, shaped by its kind.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum Summary {
            $( $(#[$doc])* $variant($summary), )*
        }

        $( impl From<$summary> for Summary {
            fn from(summary: $summary) -> Self {
                Summary::$variant(summary)
            }
        } )*

        /// The summary as the CLI prints it: each kind's summary says itself.
        impl fmt::Display for Summary {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( Summary::$variant(summary) => summary.fmt(f), )*
                }
            }
        }
    };
}
crate::kind::with_kinds!(define_summary);

/// An experiment run as the lease table, the services, monitoring and the CLI see it:
/// work is handed out and taken back by each kind's own methods; the rest is this.
pub trait Run: Send {
    /// The kind of spec it runs.
    fn kind(&self) -> Kind;

    /// Running, or how the run ended.
    fn state(&self) -> RunState;

    /// Whether the run is still running.
    fn is_running(&self) -> bool {
        self.state() == RunState::Running
    }

    /// Stops handing out work; what is in flight is dropped when it comes back.
    fn stop(&mut self);

    /// Puts issued work whose lease ended without a result back in the queue (a worker's
    /// slot, for the kinds whose work is workers).
    fn requeue(&mut self, id: EvalId);

    /// The run's totals so far.
    fn counters(&self) -> &Counters;

    /// Progress since the last call, oldest first.
    fn drain_events(&mut self) -> Vec<Progress>;

    /// The summary as it stands (the final one once the run is over).
    fn summary(&self) -> Summary;

    /// Where the run stands now.
    fn status(&self) -> RunStatus;

    /// Names of the experiment's tasks, by index, for monitoring labels.
    fn task_names(&self) -> Vec<String>;

    /// The statistics of the parameter server being trained, for the kinds that have one.
    fn parameter_server(&self) -> Option<ServerStats> {
        None
    }

    /// The population's pathways through the super-network, for the kinds that evolve them.
    fn pathways(&self) -> Option<PathwayView> {
        None
    }
}
