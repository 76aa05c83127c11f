//! The experiment behind the runtime, whatever its algorithm: one interface over the
//! PathNet engine and the other kinds of experiment, so the lease table, the services,
//! monitoring and the CLI treat them alike. Networking stays out: the wire conversions of
//! each kind's work live in the server.

use crate::a3c::A3cRun;
use crate::ga::GaRun;
use crate::kind::Kind;
use crate::pathnet::Engine;
use crate::pathnet_a3c::PathNetA3cRun;
use crate::run::{Counters, EvalId, Progress, RunState, RunStatus, Summary};

/// The experiment's algorithm and its state.
pub enum Workload {
    PathNet(Box<Engine>),
    A3c(Box<A3cRun>),
    Neuroevolution(Box<GaRun>),
    PathNetA3c(Box<PathNetA3cRun>),
}

impl Workload {
    /// The `kind` of the spec it runs.
    pub fn kind(&self) -> Kind {
        match self {
            Workload::PathNet(_) => Kind::PathNet,
            Workload::A3c(_) => Kind::A3c,
            Workload::Neuroevolution(_) => Kind::Neuroevolution,
            Workload::PathNetA3c(_) => Kind::PathNetA3c,
        }
    }

    pub fn is_running(&self) -> bool {
        self.state() == RunState::Running
    }

    pub fn state(&self) -> RunState {
        match self {
            Workload::PathNet(engine) => engine.state().clone(),
            Workload::A3c(run) => run.state(),
            Workload::Neuroevolution(run) => run.state(),
            Workload::PathNetA3c(run) => run.state(),
        }
    }

    /// Stops handing out work; what is in flight is dropped when it comes back.
    pub fn stop(&mut self) {
        match self {
            Workload::PathNet(engine) => {
                engine.stop();
            }
            Workload::A3c(run) => run.stop(),
            Workload::Neuroevolution(run) => run.stop(),
            Workload::PathNetA3c(run) => run.stop(),
        }
    }

    /// Puts issued work whose lease ended without a result back in the queue.
    pub fn requeue(&mut self, id: EvalId) {
        match self {
            Workload::PathNet(engine) => {
                engine.requeue(id);
            }
            Workload::A3c(run) => run.requeue(id),
            Workload::Neuroevolution(run) => run.requeue(id),
            Workload::PathNetA3c(run) => run.requeue(id),
        }
    }

    pub fn counters(&self) -> Counters {
        match self {
            Workload::PathNet(engine) => engine.counters().clone(),
            Workload::A3c(run) => run.counters().clone(),
            Workload::Neuroevolution(run) => run.counters().clone(),
            Workload::PathNetA3c(run) => run.counters().clone(),
        }
    }

    pub fn drain_events(&mut self) -> Vec<Progress> {
        match self {
            Workload::PathNet(engine) => engine.drain_events(),
            Workload::A3c(run) => run.drain_events(),
            Workload::Neuroevolution(run) => run.drain_events(),
            Workload::PathNetA3c(run) => run.drain_events(),
        }
    }

    pub fn summary(&self) -> Summary {
        match self {
            Workload::PathNet(engine) => Summary::PathNet(engine.summary()),
            Workload::A3c(run) => Summary::A3c(run.summary()),
            Workload::Neuroevolution(run) => Summary::Neuroevolution(run.summary()),
            Workload::PathNetA3c(run) => Summary::PathNetA3c(run.summary()),
        }
    }

    pub fn status(&self) -> RunStatus {
        match self {
            Workload::PathNet(engine) => {
                let status = engine.status();
                RunStatus {
                    state: status.state,
                    task: status.task,
                    generation: status.generation as u64,
                    best_fitness: status.best_fitness,
                    tasks_completed: engine.summary().tasks.len(),
                }
            }
            Workload::A3c(run) => {
                let stats = run.stats();
                RunStatus {
                    state: run.state(),
                    task: 0,
                    generation: stats.updates_applied,
                    best_fitness: run.best_mean_return(),
                    tasks_completed: usize::from(!run.state().eq(&RunState::Running)),
                }
            }
            Workload::Neuroevolution(run) => {
                let status = run.status();
                RunStatus {
                    state: run.state(),
                    task: 0,
                    generation: status.generation,
                    best_fitness: status.best_fitness,
                    tasks_completed: usize::from(!run.state().eq(&RunState::Running)),
                }
            }
            Workload::PathNetA3c(run) => RunStatus {
                state: run.state(),
                task: run.phase(),
                generation: run.stats().map_or(0, |s| s.updates_applied),
                best_fitness: run.best_fitness(),
                tasks_completed: run.phases_completed(),
            },
        }
    }

    /// Names of the experiment's tasks, by index, for monitoring labels.
    pub fn task_names(&self) -> Vec<String> {
        match self {
            Workload::PathNet(engine) => {
                engine.spec().tasks.iter().map(|t| t.name.clone()).collect()
            }
            Workload::A3c(run) => vec![run.spec().a3c.env.clone()],
            Workload::Neuroevolution(run) => {
                vec![format!("{:?}", run.spec().ga.task).to_lowercase()]
            }
            Workload::PathNetA3c(run) => run.phase_names(),
        }
    }

    /// The PathNet engine, for the services that only PathNet experiments use.
    pub fn pathnet(&self) -> Option<&Engine> {
        match self {
            Workload::PathNet(engine) => Some(engine),
            _ => None,
        }
    }

    pub fn pathnet_mut(&mut self) -> Option<&mut Engine> {
        match self {
            Workload::PathNet(engine) => Some(engine),
            _ => None,
        }
    }
}
