//! A tournament engine as a checkpoint holds it, and back: the population (genomes as seed
//! lists, fitness, which slots wait for a child), the evaluations issued and not completed,
//! the counters, the best genome, the task's state and where the random generator stands.
//! Serde-able and free of weights: the super-network's base weights are the problem's seed,
//! and what earlier tasks froze into it is their genomes, which the run saves as its
//! transfer chain.
//!
//! Evaluations out with executors when the state was saved are re-queued on restoring, under
//! their ids and with their jobs: whoever held them is gone with the process that issued
//! them, so each is evaluated again and its result counted once.

use super::{Member, Pending, Selection, TournamentConfig, TournamentEngine};
use crate::EvoError;
use crate::engine::{EngineState, SavedMember, SavedRng, restore_rng};
use crate::genome::Genome;
use crate::operator::Mutation;
use crate::sm_pathnet::job::{PathwayJob, Transfer};
use crate::sm_pathnet::problem::PathwayProblem;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A whole tournament engine; see the module's doc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTournament {
    pub(super) rng: SavedRng,
    /// The evaluated population, in its slots' order.
    pub(super) members: Vec<SavedSlotMember>,
    /// Initial genomes issued so far.
    pub(super) fresh_issued: usize,
    /// Evaluations issued and not completed, by id.
    pub(super) pending: Vec<SavedTournamentPending>,
    /// Ids waiting to be issued again, in order.
    pub(super) queue: Vec<u64>,
    pub(super) next_id: u64,
    pub(super) issued: u64,
    pub(super) completed: u64,
    pub(super) requeued: u64,
    pub(super) cancelled: u64,
    pub(super) state: EngineState,
    pub(super) best: Option<SavedMember>,
    pub(super) evaluations_to_target: Option<u64>,
    pub(super) replayed_mutations: u64,
    pub(super) replayed_evaluations: u64,
    pub(super) unchanged_mutations: u64,
}

/// A member of the population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedSlotMember {
    pub(super) genome: Genome,
    pub(super) fitness: f64,
    /// A binary tournament's child is being evaluated to take this slot.
    pub(super) claimed: bool,
}

/// An evaluation issued and not completed: its genome's recipe and the slot its child takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTournamentPending {
    pub(super) id: u64,
    pub(super) parent: Genome,
    pub(super) mutation: Option<Mutation>,
    pub(super) slot: Option<usize>,
    /// False while it waits in the queue to be issued again.
    pub(super) outstanding: bool,
}

impl TournamentEngine {
    /// The engine's whole state, for a checkpoint.
    pub fn save(&self) -> SavedTournament {
        SavedTournament {
            rng: SavedRng::of(&self.rng),
            members: self
                .members
                .iter()
                .map(|m| SavedSlotMember {
                    genome: m.genome.clone(),
                    fitness: m.fitness,
                    claimed: m.claimed,
                })
                .collect(),
            fresh_issued: self.fresh_issued,
            pending: self
                .pending
                .iter()
                .map(|(&id, p)| SavedTournamentPending {
                    id,
                    parent: p.job.parent.clone(),
                    mutation: p.job.mutation,
                    slot: p.slot,
                    outstanding: p.outstanding,
                })
                .collect(),
            queue: self.queue.iter().copied().collect(),
            next_id: self.next_id,
            issued: self.issued,
            completed: self.completed,
            requeued: self.requeued,
            cancelled: self.cancelled,
            state: self.state,
            best: self.best.as_ref().map(|(fitness, genome)| SavedMember {
                genome: genome.clone(),
                fitness: *fitness,
            }),
            evaluations_to_target: self.evaluations_to_target,
            replayed_mutations: self.replayed.0,
            replayed_evaluations: self.replayed.1,
            unchanged_mutations: self.replayed.2,
        }
    }

    /// The engine of `task` over the base network `transfers` make, running `config`, as
    /// `saved` left it, going on as it would have; the evaluations that were out with
    /// executors are re-queued (counted in the summary's `requeued`). Returns the engine and
    /// how many were re-queued.
    ///
    /// # Errors
    /// [`EvoError::Invalid`] naming the field of `saved` that does not fit `config` or
    /// itself.
    pub fn restore(
        problem: PathwayProblem,
        task: usize,
        transfers: Vec<Transfer>,
        config: TournamentConfig,
        saved: SavedTournament,
    ) -> Result<(Self, usize), EvoError> {
        let mut engine = TournamentEngine::new(problem, task, transfers, config)?;
        let population = engine.config.population;
        let members = &saved.members;
        if saved.fresh_issued > population || members.len() > saved.fresh_issued {
            return Err(EvoError::invalid(
                "fresh_issued",
                saved.fresh_issued,
                format!(
                    "{} members of a population of {population}: at most the population, \
                     and at least the members",
                    members.len()
                ),
            ));
        }
        if let Some(m) = members.iter().find(|m| !m.fitness.is_finite()) {
            return Err(EvoError::invalid(
                "members.fitness",
                m.fitness,
                "must be finite",
            ));
        }
        if let Some(best) = &saved.best
            && !best.fitness.is_finite()
        {
            return Err(EvoError::invalid(
                "best.fitness",
                best.fitness,
                "must be finite",
            ));
        }
        let mut pending = BTreeMap::new();
        let mut slots = BTreeSet::new();
        for p in saved.pending {
            if p.id >= saved.next_id {
                return Err(EvoError::invalid(
                    "pending.id",
                    p.id,
                    format!("not issued yet (next_id is {})", saved.next_id),
                ));
            }
            if let Some(slot) = p.slot {
                let binary_child = p.mutation.is_some()
                    && engine.config.selection == Selection::Binary
                    && members.get(slot).is_some_and(|m| m.claimed);
                if !binary_child || !slots.insert(slot) {
                    return Err(EvoError::invalid(
                        "pending.slot",
                        slot,
                        format!(
                            "evaluation {}: not a claimed member's slot for a binary \
                             tournament's child, or claimed twice",
                            p.id
                        ),
                    ));
                }
            }
            let job = PathwayJob {
                problem: engine.problem.clone(),
                task: engine.task,
                transfers: engine.transfers.clone(),
                parent: p.parent,
                mutation: p.mutation,
            };
            let entry = Pending {
                job,
                slot: p.slot,
                outstanding: p.outstanding,
            };
            if pending.insert(p.id, entry).is_some() {
                return Err(EvoError::invalid("pending.id", p.id, "pending twice"));
            }
        }
        let claimed = members.iter().filter(|m| m.claimed).count();
        // An arm that ended dropped its pending children and leaves their slots claimed.
        if saved.state == EngineState::Running && claimed != slots.len() {
            return Err(EvoError::invalid(
                "members.claimed",
                claimed,
                format!("{} pending children claim a slot", slots.len()),
            ));
        }
        let waiting = pending.values().filter(|p| !p.outstanding).count();
        let mut seen = BTreeSet::new();
        for &id in &saved.queue {
            let queued = pending.get(&id).is_some_and(|p| !p.outstanding);
            if !queued || !seen.insert(id) {
                return Err(EvoError::invalid(
                    "queue",
                    id,
                    "not a pending evaluation waiting to be issued again, or queued twice",
                ));
            }
        }
        if seen.len() != waiting {
            return Err(EvoError::invalid(
                "queue",
                seen.len(),
                format!("{waiting} pending evaluations wait to be issued again"),
            ));
        }
        let in_flight = pending.len() as u64;
        if saved.completed + in_flight > saved.issued
            || saved.issued > saved.next_id
            || saved.issued > engine.config.max_evaluations
        {
            return Err(EvoError::invalid(
                "issued",
                saved.issued,
                format!(
                    "fewer than the {} completed and {in_flight} pending, or more than the ids \
                     given ({}) or the budget ({})",
                    saved.completed, saved.next_id, engine.config.max_evaluations
                ),
            ));
        }
        engine.rng = restore_rng(&saved.rng)?;
        engine.members = saved
            .members
            .into_iter()
            .map(|m| Member {
                genome: m.genome,
                fitness: m.fitness,
                claimed: m.claimed,
            })
            .collect();
        engine.fresh_issued = saved.fresh_issued;
        engine.pending = pending;
        engine.queue = saved.queue.into_iter().collect();
        engine.next_id = saved.next_id;
        engine.issued = saved.issued;
        engine.completed = saved.completed;
        engine.requeued = saved.requeued;
        engine.cancelled = saved.cancelled;
        engine.state = saved.state;
        engine.best = saved.best.map(|b| (b.fitness, b.genome));
        engine.evaluations_to_target = saved.evaluations_to_target;
        engine.replayed = (
            saved.replayed_mutations,
            saved.replayed_evaluations,
            saved.unchanged_mutations,
        );
        // In id order, after those already waiting, as the engine would re-queue them one
        // by one.
        let out: Vec<u64> = engine
            .pending
            .iter()
            .filter(|(_, p)| p.outstanding)
            .map(|(&id, _)| id)
            .collect();
        let requeued = out.into_iter().filter(|&id| engine.requeue(id)).count();
        Ok((engine, requeued))
    }
}
