//! Tournaments over pathway genomes for one task (and arm), pulled by a scheduler like the
//! seed-list GAs' engines: `next_evaluation`, `complete`, `requeue`, `stop`.
//!
//! - [`Selection::Binary`]: PathNet's binary tournament. Two members are drawn; the
//!   loser's slot is overwritten by a mutated copy of the winner once that child is
//!   evaluated. A slot waiting for its child is not drawn again, so many tournaments can be
//!   in flight without two children claiming one slot.
//! - [`Selection::SteadyState`]: the safe-mutation paper's rule: the parent is the best of
//!   `tournament_size` members, the finished child replaces the worst of another draw.
//!
//! The population is evaluated completely before the first child is issued. Each child
//! takes one mutation: the operator on the parent pathway's unfrozen weights, then PathNet's
//! point mutation of the pathway. A requeued evaluation keeps its id and job, so a result
//! counts once however often it was issued.

use super::job::{PathwayJob, Transfer};
use super::problem::PathwayProblem;
use crate::EvoError;
use crate::engine::{EngineState, Refusal};
use crate::executor::Outcome;
use crate::genome::Genome;
use crate::operator::{Mutation, Operator};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

mod saved;

pub use saved::{SavedSlotMember, SavedTournament, SavedTournamentPending};

/// Which tournament picks parents and the slots children take (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// PathNet's binary tournament: the winner's child overwrites the loser.
    Binary,
    /// The safe-mutation paper's steady-state tournament.
    SteadyState,
}

/// How one task's genomes are evolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TournamentConfig {
    /// The tournament rule.
    pub selection: Selection,
    /// Members of the population, at least 2.
    pub population: usize,
    /// Steady state only (binary tournaments draw two).
    pub tournament_size: usize,
    /// The mutation operator every child is made with.
    pub operator: Operator,
    /// Mutation magnitude (see [`Mutation::magnitude`]).
    pub sigma: f64,
    /// Evaluations after which the task ends unsolved; at least the population.
    pub max_evaluations: u64,
    /// The task is solved once an evaluation reaches this fitness.
    pub target_fitness: Option<f64>,
    /// Seeds the initial genomes, the draws and the mutations' seeds.
    pub seed: u64,
}

impl TournamentConfig {
    /// Checks every field; the error names the field and its value.
    pub fn validate(&self) -> Result<(), EvoError> {
        if self.population < 2 {
            return Err(EvoError::invalid(
                "population",
                self.population,
                "a tournament needs at least 2 members",
            ));
        }
        if self.selection == Selection::SteadyState
            && !(1..=self.population).contains(&self.tournament_size)
        {
            return Err(EvoError::invalid(
                "tournament_size",
                self.tournament_size,
                format!("must be between 1 and the population, {}", self.population),
            ));
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(EvoError::invalid(
                "sigma",
                self.sigma,
                "must be finite and positive",
            ));
        }
        if self.max_evaluations < self.population as u64 {
            return Err(EvoError::invalid(
                "max_evaluations",
                self.max_evaluations,
                format!("must cover the initial population of {}", self.population),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Member {
    genome: Genome,
    fitness: f64,
    /// A child is being evaluated to take this slot (binary tournaments).
    claimed: bool,
}

#[derive(Debug)]
struct Pending {
    job: PathwayJob,
    /// The slot a binary tournament's child overwrites.
    slot: Option<usize>,
    outstanding: bool,
}

/// The result of a task's evolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TournamentSummary {
    /// How the task ended (or `Running`, for a summary taken mid-task).
    pub state: EngineState,
    /// The highest fitness of any completed evaluation.
    pub best_fitness: Option<f64>,
    /// The genome that reached it (the first, among equals).
    pub best_genome: Option<Genome>,
    /// Children completed divided by the population.
    pub generations: u64,
    /// Evaluations completed.
    pub evaluations: u64,
    /// Times an evaluation was put back to be issued again.
    pub requeued: u64,
    /// Evaluations completed up to and including the one that reached the target.
    pub evaluations_to_target: Option<u64>,
    /// Rebuild work the executors reported: mutations applied.
    pub replayed_mutations: u64,
    /// Rebuild work: ancestors evaluated again for their experience.
    pub replayed_evaluations: u64,
    /// Children whose own mutation left the parent's weights unchanged.
    pub unchanged_mutations: u64,
    /// Fitness of the population's members when the summary was taken.
    pub population_fitness: Vec<f64>,
}

/// One task's (and arm's) evolution: the population, the ledger of evaluations out and
/// waiting, and the counters. Its decisions are a function of its seed and the order of
/// calls.
#[derive(Debug)]
pub struct TournamentEngine {
    problem: PathwayProblem,
    task: usize,
    transfers: Vec<Transfer>,
    config: TournamentConfig,
    rng: ChaCha8Rng,
    members: Vec<Member>,
    fresh_issued: usize,
    pending: BTreeMap<u64, Pending>,
    queue: VecDeque<u64>,
    next_id: u64,
    issued: u64,
    completed: u64,
    requeued: u64,
    cancelled: u64,
    state: EngineState,
    best: Option<(f64, Genome)>,
    evaluations_to_target: Option<u64>,
    replayed: (u64, u64, u64),
}

impl TournamentEngine {
    /// An engine for task `task` of `problem`, over the base network `transfers` make.
    ///
    /// # Errors
    /// An invalid config or problem, named by its field.
    pub fn new(
        problem: PathwayProblem,
        task: usize,
        transfers: Vec<Transfer>,
        config: TournamentConfig,
    ) -> Result<Self, EvoError> {
        config.validate()?;
        problem.validate()?;
        Ok(TournamentEngine {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            members: Vec::with_capacity(config.population),
            problem,
            task,
            transfers,
            config,
            fresh_issued: 0,
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            next_id: 0,
            issued: 0,
            completed: 0,
            requeued: 0,
            cancelled: 0,
            state: EngineState::Running,
            best: None,
            evaluations_to_target: None,
            replayed: (0, 0, 0),
        })
    }

    /// The task it evolves for, 0-based.
    pub fn task(&self) -> usize {
        self.task
    }

    /// The earlier tasks' genomes its base network is made of.
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// Running, or why not.
    pub fn state(&self) -> EngineState {
        self.state
    }

    /// The next evaluation (its engine-local id and job), or `None` when none can start
    /// now.
    pub fn next_evaluation(&mut self) -> Option<(u64, PathwayJob)> {
        if self.state != EngineState::Running {
            return None;
        }
        if let Some(id) = self.queue.pop_front() {
            let pending = self.pending.get_mut(&id).expect("queued ids are pending");
            pending.outstanding = true;
            return Some((id, pending.job.clone()));
        }
        if self.issued >= self.config.max_evaluations {
            return None;
        }
        let (parent, mutation, slot) = if self.fresh_issued < self.config.population {
            self.fresh_issued += 1;
            (Genome::fresh(self.rng.random()), None, None)
        } else if self.members.len() < self.config.population {
            return None;
        } else {
            let (parent, slot) = match self.config.selection {
                Selection::Binary => {
                    let free: Vec<usize> = (0..self.members.len())
                        .filter(|&i| !self.members[i].claimed)
                        .collect();
                    if free.len() < 2 {
                        return None;
                    }
                    let drawn = sample(&mut self.rng, free.len(), 2);
                    let (a, b) = (free[drawn.index(0)], free[drawn.index(1)]);
                    // Ties go to the first drawn, as in PathNet.
                    let (winner, loser) = if self.members[b].fitness > self.members[a].fitness {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    self.members[loser].claimed = true;
                    (winner, Some(loser))
                }
                Selection::SteadyState => (self.tournament(|a, b| a > b), None),
            };
            let mutation = Mutation {
                seed: self.rng.random(),
                magnitude: self.config.sigma,
                operator: self.config.operator,
            };
            (self.members[parent].genome.clone(), Some(mutation), slot)
        };
        let job = PathwayJob {
            problem: self.problem.clone(),
            task: self.task,
            transfers: self.transfers.clone(),
            parent,
            mutation,
        };
        let id = self.next_id;
        self.next_id += 1;
        self.issued += 1;
        self.pending.insert(
            id,
            Pending {
                job: job.clone(),
                slot,
                outstanding: true,
            },
        );
        Some((id, job))
    }

    /// Accepts the outcome of an outstanding evaluation; a refusal changes nothing.
    pub fn complete(&mut self, id: u64, outcome: &Outcome) -> Result<(), Refusal> {
        if self.state != EngineState::Running {
            return Err(Refusal::NotRunning(self.state));
        }
        match self.pending.get(&id) {
            Some(p) if p.outstanding => {}
            _ if id < self.next_id => {
                return Err(Refusal::NotOutstanding(crate::EvalId(id)));
            }
            _ => return Err(Refusal::Unknown(crate::EvalId(id))),
        }
        if !outcome.fitness.is_finite() {
            return Err(Refusal::NonFiniteFitness(outcome.fitness));
        }
        let pending = self.pending.remove(&id).expect("checked");
        self.completed += 1;
        self.replayed.0 += outcome.replayed_mutations;
        self.replayed.1 += outcome.replayed_evaluations;
        self.replayed.2 += u64::from(outcome.mutation_unchanged);
        let genome = pending.job.genome();
        if self.best.as_ref().is_none_or(|(f, _)| outcome.fitness > *f) {
            self.best = Some((outcome.fitness, genome.clone()));
        }
        let member = Member {
            genome,
            fitness: outcome.fitness,
            claimed: false,
        };
        match (pending.job.mutation, pending.slot) {
            (None, _) => self.members.push(member),
            (Some(_), Some(slot)) => self.members[slot] = member,
            (Some(_), None) => {
                let victim = self.tournament(|a, b| a < b);
                self.members[victim] = member;
            }
        }
        if self
            .config
            .target_fitness
            .is_some_and(|target| outcome.fitness >= target)
        {
            self.state = EngineState::Solved;
            self.evaluations_to_target = Some(self.completed);
            self.cancel_all();
        } else if self.issued >= self.config.max_evaluations && self.pending.is_empty() {
            self.state = EngineState::Exhausted;
        }
        Ok(())
    }

    /// Puts an outstanding evaluation back to be issued again; false if it was not
    /// outstanding or the run is over.
    pub fn requeue(&mut self, id: u64) -> bool {
        if self.state != EngineState::Running {
            return false;
        }
        match self.pending.get_mut(&id) {
            Some(p) if p.outstanding => {
                p.outstanding = false;
                self.queue.push_back(id);
                self.requeued += 1;
                true
            }
            _ => false,
        }
    }

    /// Ends the run; returns how many evaluations out with executors were cancelled.
    pub fn stop(&mut self) -> usize {
        if self.state != EngineState::Running {
            return 0;
        }
        self.state = EngineState::Stopped;
        self.cancel_all()
    }

    fn cancel_all(&mut self) -> usize {
        let out = self.pending.values().filter(|p| p.outstanding).count();
        self.pending.clear();
        self.queue.clear();
        self.cancelled += out as u64;
        out
    }

    /// Evaluations out with executors that were dropped because the task ended (its target
    /// was reached) or the run stopped.
    pub fn cancelled(&self) -> u64 {
        self.cancelled
    }

    /// Evaluations completed.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Children completed divided by the population (0 while the initial population is
    /// evaluated).
    pub fn generation(&self) -> u64 {
        self.completed.saturating_sub(self.config.population as u64) / self.config.population as u64
    }

    /// The highest fitness of any completed evaluation; `None` before the first.
    pub fn best_fitness(&self) -> Option<f64> {
        self.best.as_ref().map(|b| b.0)
    }

    /// The genome of [`TournamentEngine::best_fitness`].
    pub fn best_genome(&self) -> Option<&Genome> {
        self.best.as_ref().map(|b| &b.1)
    }

    /// The genomes of the population's evaluated members, in slot order (fewer than the
    /// population while the first members are evaluated).
    pub fn members(&self) -> impl Iterator<Item = &Genome> {
        self.members.iter().map(|m| &m.genome)
    }

    /// Mean fitness of the evaluated members.
    pub fn mean_fitness(&self) -> Option<f64> {
        (!self.members.is_empty()).then(|| {
            self.members.iter().map(|m| m.fitness).sum::<f64>() / self.members.len() as f64
        })
    }

    /// The task's result so far (final once it is no longer running).
    pub fn summary(&self) -> TournamentSummary {
        TournamentSummary {
            state: self.state,
            best_fitness: self.best_fitness(),
            best_genome: self.best_genome().cloned(),
            generations: self.generation(),
            evaluations: self.completed,
            requeued: self.requeued,
            evaluations_to_target: self.evaluations_to_target,
            replayed_mutations: self.replayed.0,
            replayed_evaluations: self.replayed.1,
            unchanged_mutations: self.replayed.2,
            population_fitness: self.members.iter().map(|m| m.fitness).collect(),
        }
    }

    /// Draws `tournament_size` distinct members; the one `better` prefers (first drawn
    /// among equals).
    fn tournament(&mut self, better: impl Fn(f64, f64) -> bool) -> usize {
        let drawn = sample(
            &mut self.rng,
            self.members.len(),
            self.config.tournament_size.min(self.members.len()),
        );
        drawn
            .iter()
            .reduce(|best, i| {
                if better(self.members[i].fitness, self.members[best].fitness) {
                    i
                } else {
                    best
                }
            })
            .expect("tournament_size is at least 1")
    }
}
