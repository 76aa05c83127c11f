//! The experiment behind the runtime, whatever its algorithm: one interface over the
//! PathNet engine and the other kinds of experiment, so the lease table, the services,
//! monitoring and the CLI treat them alike. Networking stays out: the wire conversions of
//! each kind's work live in the server.

use crate::engine::{Counters, Engine, EngineState, EvalId, Progress, RunSummary};
use serde::Serialize;

/// The experiment's algorithm and its state.
pub enum Workload {
    PathNet(Box<Engine>),
}

/// The final (or current) summary of an experiment, shaped by its kind.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Summary {
    PathNet(RunSummary),
}

/// Where an experiment stands, in the terms every kind shares.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadStatus {
    pub state: EngineState,
    pub task: usize,
    /// Generations (tournament rounds, GA generations) or parameter updates, by kind.
    pub generation: u64,
    pub best_fitness: Option<f64>,
    pub tasks_completed: usize,
}

impl Workload {
    /// The `kind` of the spec it runs.
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::PathNet(_) => "pathnet",
        }
    }

    pub fn is_running(&self) -> bool {
        self.state() == EngineState::Running
    }

    pub fn state(&self) -> EngineState {
        match self {
            Workload::PathNet(engine) => engine.state().clone(),
        }
    }

    /// Stops handing out work; what is in flight is dropped when it comes back.
    pub fn stop(&mut self) {
        match self {
            Workload::PathNet(engine) => {
                engine.stop();
            }
        }
    }

    /// Puts issued work whose lease ended without a result back in the queue.
    pub fn requeue(&mut self, id: EvalId) {
        match self {
            Workload::PathNet(engine) => {
                engine.requeue(id);
            }
        }
    }

    pub fn counters(&self) -> Counters {
        match self {
            Workload::PathNet(engine) => engine.counters().clone(),
        }
    }

    pub fn drain_events(&mut self) -> Vec<Progress> {
        match self {
            Workload::PathNet(engine) => engine.drain_events(),
        }
    }

    pub fn summary(&self) -> Summary {
        match self {
            Workload::PathNet(engine) => Summary::PathNet(engine.summary()),
        }
    }

    pub fn status(&self) -> WorkloadStatus {
        match self {
            Workload::PathNet(engine) => {
                let status = engine.status();
                WorkloadStatus {
                    state: status.state,
                    task: status.task,
                    generation: status.generation as u64,
                    best_fitness: status.best_fitness,
                    tasks_completed: engine.summary().tasks.len(),
                }
            }
        }
    }

    /// Names of the experiment's tasks, by index, for monitoring labels.
    pub fn task_names(&self) -> Vec<String> {
        match self {
            Workload::PathNet(engine) => {
                engine.spec().tasks.iter().map(|t| t.name.clone()).collect()
            }
        }
    }

    /// The PathNet engine, for the services that only PathNet experiments use.
    pub fn pathnet(&self) -> Option<&Engine> {
        match self {
            Workload::PathNet(engine) => Some(engine),
        }
    }

    pub fn pathnet_mut(&mut self) -> Option<&mut Engine> {
        match self {
            Workload::PathNet(engine) => Some(engine),
        }
    }
}
