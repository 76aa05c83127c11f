//! The genetic algorithms, as engines with no networking: a scheduler pulls evaluations with
//! `next_evaluation`, has them executed anywhere (see [`crate::evaluate`]), and hands the
//! outcome to `complete`; an evaluation that will not come back goes back with `requeue`.
//! Many evaluations can be out at once.
//!
//! - [`SteadyState`]: the paper's GA (population 250, tournament size 5, no crossover);
//! - [`Truncation`]: generations, the top T parents breed the next, elites carried over (the
//!   deep-neuroevolution GA of Such et al. 2017).
//!
//! An engine's decisions are a pure function of its seed and the order of calls, so a run
//! with one evaluation at a time is reproducible. Once a result solves the task the run is
//! over: evaluations still out are cancelled and their results refused as
//! [`Refusal::NotRunning`].

mod books;
mod ledger;
mod saved;
mod steady_state;
mod truncation;

pub(crate) use saved::restore_rng;
pub use saved::{
    SavedBooks, SavedEngine, SavedLedger, SavedMember, SavedPending, SavedRng, SavedSlot,
};
pub use steady_state::SteadyState;
pub use truncation::Truncation;

use crate::EvoError;
use crate::config::{Algorithm, SafeMutationConfig};
use crate::executor::{Job, Outcome};
use crate::genome::Genome;
use crate::operator::Operator;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one evaluation for the whole run; a requeued evaluation keeps its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EvalId(pub u64);

impl fmt::Display for EvalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evaluation {}", self.0)
    }
}

/// An evaluation to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What to hand back with the outcome to [`GaEngine::complete`].
    pub id: EvalId,
    /// What to execute (with [`crate::evaluate`]).
    pub job: Job,
}

/// Whether a run goes on, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    /// Evaluations are still issued and accepted.
    Running,
    /// An evaluation solved the task.
    Solved,
    /// `max_evaluations` were completed without solving it.
    Exhausted,
    /// [`GaEngine::stop`] was called.
    Stopped,
}

impl fmt::Display for EngineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineState::Running => "running",
            EngineState::Solved => "solved",
            EngineState::Exhausted => "out of evaluations",
            EngineState::Stopped => "stopped",
        })
    }
}

/// Why a result was refused; the engine is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The id was never issued by this engine.
    #[error("{0} was never issued")]
    Unknown(EvalId),
    /// The evaluation was issued but is not out now: a duplicate or late result.
    #[error("{0} is not out with an executor (completed, cancelled or waiting to be re-issued)")]
    NotOutstanding(EvalId),
    /// The run is over; no result counts any more.
    #[error("the run is {0}")]
    NotRunning(EngineState),
    /// The outcome's fitness is NaN or infinite.
    #[error("`fitness` = {0}: must be finite")]
    NonFiniteFitness(f64),
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Running, or why not.
    pub state: EngineState,
    /// Truncation: the generation being evaluated. Steady state: children completed divided
    /// by the population size.
    pub generation: u64,
    /// Evaluations handed out so far, each counted once however often it was requeued.
    pub evaluations_issued: u64,
    /// Evaluations whose outcome was accepted.
    pub evaluations_completed: u64,
    /// Issued and not completed: out with executors or waiting to be re-issued.
    pub in_flight: usize,
    /// The highest fitness of any completed evaluation; `None` before the first.
    pub best_fitness: Option<f64>,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The GA that ran.
    pub algorithm: Algorithm,
    /// The mutation operator it used.
    pub operator: Operator,
    /// How the run ended (or `Running`, for a summary taken mid-run).
    pub state: EngineState,
    /// Whether an evaluation solved the task.
    pub solved: bool,
    /// Evaluations completed up to and including the one that solved the task.
    pub evaluations_to_solve: Option<u64>,
    /// The highest fitness of any completed evaluation.
    pub best_fitness: Option<f64>,
    /// The best genome so far (the solver, once solved).
    pub best_genome: Option<Genome>,
    /// As [`Status::generation`].
    pub generations: u64,
    /// Evaluations completed.
    pub evaluations: u64,
    /// Times an evaluation was put back to be issued again.
    pub requeued: u64,
    /// Rebuild work the executors reported (see [`Outcome`]): mutations applied.
    pub replayed_mutations: u64,
    /// Rebuild work: ancestors evaluated again for their experience.
    pub replayed_evaluations: u64,
    /// Children whose own mutation left the parent's weights unchanged.
    pub unchanged_mutations: u64,
    /// Children whose SM-R line search missed its target and took the closest step it tried.
    /// Counted by executors in this process; remote agents do not report it (0).
    pub sm_r_give_ups: u64,
}

/// Either GA, chosen by the configuration's `algorithm`.
#[derive(Debug)]
pub enum GaEngine {
    /// The paper's steady-state GA.
    SteadyState(SteadyState),
    /// The generational truncation GA.
    Truncation(Truncation),
}

macro_rules! both {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            GaEngine::SteadyState($e) => $body,
            GaEngine::Truncation($e) => $body,
        }
    };
}

impl GaEngine {
    /// The engine `config.algorithm` names, with its initial population not yet issued.
    ///
    /// # Errors
    /// An invalid config, named by its field.
    pub fn new(config: &SafeMutationConfig) -> Result<Self, EvoError> {
        config.validate()?;
        Ok(match config.algorithm {
            Algorithm::SteadyState => GaEngine::SteadyState(SteadyState::new(config)?),
            Algorithm::Truncation => GaEngine::Truncation(Truncation::new(config)?),
        })
    }

    /// The next evaluation to execute, or `None` when none can start now (the run is over,
    /// every evaluation of the budget is issued, or the GA waits for results).
    pub fn next_evaluation(&mut self) -> Option<Request> {
        both!(self, e => e.next_evaluation())
    }

    /// Accepts the outcome of an outstanding evaluation; a refusal changes nothing.
    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        both!(self, e => e.complete(id, outcome))
    }

    /// Puts an outstanding evaluation back to be issued again (its lease expired or its
    /// result was refused). Returns false if it was not outstanding.
    pub fn requeue(&mut self, id: EvalId) -> bool {
        both!(self, e => e.requeue(id))
    }

    /// Ends the run; returns how many evaluations out with executors were cancelled.
    pub fn stop(&mut self) -> usize {
        both!(self, e => e.stop())
    }

    /// Whether the run goes on.
    pub fn is_running(&self) -> bool {
        self.status().state == EngineState::Running
    }

    /// Where the run stands now.
    pub fn status(&self) -> Status {
        both!(self, e => e.status())
    }

    /// The run's result so far (final once it is no longer running).
    pub fn summary(&self) -> Summary {
        both!(self, e => e.summary())
    }
}
