//! An engine as a checkpoint holds it, and back: the population, the ledger of evaluations
//! (issued, out, waiting to go out again), the counters, the best result, the run's state and
//! where the random generator stands. Serde-able, so the coordinator stores it in its
//! manifest; everything in it is seed lists and numbers, no weights.
//!
//! Evaluations out with executors when the state was saved are re-queued on restoring, under
//! their ids and with their jobs: whoever held them is gone with the process that issued
//! them, so each is evaluated again and its result counted once.

use super::{EngineState, EvalId, GaEngine, SteadyState, Truncation};
use crate::EvoError;
use crate::config::{Algorithm, SafeMutationConfig};
use crate::genome::Genome;
use crate::operator::Mutation;
use pathnet_nn::BadWordPos;
pub use pathnet_nn::SavedRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A whole engine; see the module's doc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "algorithm", rename_all = "snake_case")]
pub enum SavedEngine {
    /// A [`SteadyState`] engine.
    SteadyState {
        /// Where the engine's random generator stands.
        rng: SavedRng,
        /// The ledger, counters and best result.
        books: SavedBooks<()>,
        /// The evaluated population, in its slots' order.
        members: Vec<SavedMember>,
        /// Initial genomes issued so far.
        fresh_issued: usize,
    },
    /// A [`Truncation`] engine.
    Truncation {
        /// Where the engine's random generator stands.
        rng: SavedRng,
        /// The ledger (each evaluation tagged with its slot), counters and best result.
        books: SavedBooks<usize>,
        /// The generation being evaluated, 0-based.
        generation: u64,
        /// The current generation, elites first.
        slots: Vec<SavedSlot>,
        /// The next slot to issue.
        next_slot: usize,
    },
}

/// The generator a state saved; a bad position is named as a field of the state.
pub(crate) fn restore_rng(rng: &SavedRng) -> Result<ChaCha8Rng, EvoError> {
    rng.restore().map_err(|BadWordPos(text)| {
        EvoError::invalid("rng.word_pos", quoted(&text), "not a whole number")
    })
}

/// A bounded, quoted copy of text read from a state, for an error message.
fn quoted(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    format!("{short:?}")
}

/// A member of the steady-state population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedMember {
    pub(crate) genome: Genome,
    pub(crate) fitness: f64,
}

/// A slot of a truncation generation: its parent, the mutation that makes its genome (none
/// for elites and generation 0) and its fitness once evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedSlot {
    pub(super) parent: Genome,
    pub(super) mutation: Option<Mutation>,
    pub(super) fitness: Option<f64>,
}

/// The books both GAs keep; `T` is what a GA needs back when an evaluation completes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedBooks<T> {
    pub(super) ledger: SavedLedger<T>,
    pub(super) state: EngineState,
    pub(super) best: Option<SavedMember>,
    pub(super) evaluations_to_solve: Option<u64>,
    pub(super) replayed_mutations: u64,
    pub(super) replayed_evaluations: u64,
    pub(super) unchanged_mutations: u64,
    /// Absent in checkpoints written before it was counted.
    #[serde(default)]
    pub(super) sm_r_give_ups: u64,
}

/// The ledger: every evaluation issued and not completed, and the numbering and counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedLedger<T> {
    pub(super) pending: Vec<SavedPending<T>>,
    /// Ids waiting to be issued again, in order.
    pub(super) queue: Vec<EvalId>,
    pub(super) next_id: u64,
    pub(super) issued: u64,
    pub(super) completed: u64,
    pub(super) requeued: u64,
}

/// An evaluation issued and not completed: its job's genome recipe and the GA's tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPending<T> {
    pub(super) id: EvalId,
    pub(super) parent: Genome,
    pub(super) mutation: Option<Mutation>,
    pub(super) tag: T,
    /// False while it waits in the queue to be issued again.
    pub(super) outstanding: bool,
}

impl GaEngine {
    /// The engine's whole state, for a checkpoint.
    pub fn save(&self) -> SavedEngine {
        match self {
            GaEngine::SteadyState(e) => e.save(),
            GaEngine::Truncation(e) => e.save(),
        }
    }

    /// The engine `config` ran when `saved` was taken, going on as it would have; the
    /// evaluations that were out with executors are re-queued (counted in the summary's
    /// `requeued`). Returns the engine and how many were re-queued.
    ///
    /// # Errors
    /// [`EvoError::Invalid`] naming the field of `saved` that does not fit `config` or
    /// itself.
    pub fn restore(
        config: &SafeMutationConfig,
        saved: SavedEngine,
    ) -> Result<(Self, usize), EvoError> {
        config.validate()?;
        let mut engine = match (config.algorithm, saved) {
            (Algorithm::SteadyState, saved @ SavedEngine::SteadyState { .. }) => {
                GaEngine::SteadyState(SteadyState::restore(config, saved)?)
            }
            (Algorithm::Truncation, saved @ SavedEngine::Truncation { .. }) => {
                GaEngine::Truncation(Truncation::restore(config, saved)?)
            }
            (algorithm, _) => {
                return Err(EvoError::invalid(
                    "algorithm",
                    format!("{algorithm:?}").to_lowercase(),
                    "the saved engine runs the other GA",
                ));
            }
        };
        let requeued = match &mut engine {
            GaEngine::SteadyState(e) => e.requeue_outstanding(),
            GaEngine::Truncation(e) => e.requeue_outstanding(),
        };
        Ok((engine, requeued))
    }
}
