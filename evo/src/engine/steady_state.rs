//! The steady-state GA of the safe-mutation paper: a population of evaluated genomes; each new
//! evaluation is a child of the best of `tournament_size` members drawn at random, and each
//! finished child takes the place of the worst of another such draw. No crossover.
//!
//! The reference code draws the members to remove from the parent's own tournament; an
//! independent draw is the usual steady-state rule and does not tie removal to the moment a
//! child was issued, which matters once many children are in flight. The initial population
//! is evaluated completely before the first child is issued.

use super::books::{Accepted, Books, Next};
use super::saved::{SavedEngine, SavedMember, SavedRng, restore_rng};
use super::{EvalId, Refusal, Request, Status, Summary};
use crate::EvoError;
use crate::config::{Algorithm, SafeMutationConfig};
use crate::executor::{Job, Outcome, Problem};
use crate::genome::Genome;
use crate::operator::{Mutation, Operator};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
struct Member {
    genome: Genome,
    fitness: f64,
}

/// The steady-state GA (see the module docs); usually driven through [`GaEngine`](super::GaEngine).
#[derive(Debug)]
pub struct SteadyState {
    problem: Problem,
    operator: Operator,
    sigma: f64,
    population: usize,
    tournament_size: usize,
    rng: ChaCha8Rng,
    books: Books<()>,
    members: Vec<Member>,
    fresh_issued: usize,
}

impl SteadyState {
    /// As [`GaEngine::new`](super::GaEngine::new).
    pub fn new(config: &SafeMutationConfig) -> Result<Self, EvoError> {
        config.validate()?;
        Ok(SteadyState {
            problem: config.problem(),
            operator: config.operator,
            sigma: config.sigma,
            population: config.population,
            tournament_size: config.tournament_size(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            books: Books::new(config.max_evaluations),
            members: Vec::with_capacity(config.population),
            fresh_issued: 0,
        })
    }

    /// As [`GaEngine::next_evaluation`](super::GaEngine::next_evaluation).
    pub fn next_evaluation(&mut self) -> Option<Request> {
        if let Next::Decided(request) = self.books.next() {
            return request;
        }
        let job = if self.fresh_issued < self.population {
            self.fresh_issued += 1;
            Job {
                problem: self.problem.clone(),
                parent: Genome::fresh(self.rng.random()),
                mutation: None,
            }
        } else if self.members.len() < self.population {
            return None;
        } else {
            let parent = self.tournament(|a, b| a > b);
            Job {
                problem: self.problem.clone(),
                parent: self.members[parent].genome.clone(),
                mutation: Some(Mutation {
                    seed: self.rng.random(),
                    magnitude: self.sigma,
                    operator: self.operator,
                }),
            }
        };
        Some(self.books.issue(job, ()))
    }

    /// As [`GaEngine::complete`](super::GaEngine::complete).
    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        let Some(Accepted { job, genome, .. }) = self.books.complete(id, outcome)? else {
            return Ok(());
        };
        let member = Member {
            genome,
            fitness: outcome.fitness,
        };
        if job.mutation.is_none() {
            self.members.push(member);
        } else {
            let victim = self.tournament(|a, b| a < b);
            self.members[victim] = member;
        }
        Ok(())
    }

    /// As [`GaEngine::requeue`](super::GaEngine::requeue).
    pub fn requeue(&mut self, id: EvalId) -> bool {
        self.books.requeue(id)
    }

    /// As [`GaEngine::stop`](super::GaEngine::stop).
    pub fn stop(&mut self) -> usize {
        self.books.stop()
    }

    /// As [`GaEngine::status`](super::GaEngine::status).
    pub fn status(&self) -> Status {
        self.books.status(self.generation())
    }

    /// As [`GaEngine::summary`](super::GaEngine::summary).
    pub fn summary(&self) -> Summary {
        self.books
            .summary(Algorithm::SteadyState, self.operator, self.generation())
    }

    pub(super) fn save(&self) -> SavedEngine {
        SavedEngine::SteadyState {
            rng: SavedRng::of(&self.rng),
            books: self.books.save(),
            members: self
                .members
                .iter()
                .map(|m| SavedMember {
                    genome: m.genome.clone(),
                    fitness: m.fitness,
                })
                .collect(),
            fresh_issued: self.fresh_issued,
        }
    }

    /// The engine `saved` holds, checked against `config`.
    pub(super) fn restore(
        config: &SafeMutationConfig,
        saved: SavedEngine,
    ) -> Result<Self, EvoError> {
        let SavedEngine::SteadyState {
            rng,
            books,
            members,
            fresh_issued,
        } = saved
        else {
            unreachable!("the caller matched the algorithm");
        };
        let population = config.population;
        if fresh_issued > population || members.len() > fresh_issued {
            return Err(EvoError::invalid(
                "fresh_issued",
                fresh_issued,
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
        let mut engine = SteadyState::new(config)?;
        engine.books = Books::restore(config.max_evaluations, books, |()| true, &engine.problem)?;
        engine.rng = restore_rng(&rng)?;
        engine.members = members
            .into_iter()
            .map(|m| Member {
                genome: m.genome,
                fitness: m.fitness,
            })
            .collect();
        engine.fresh_issued = fresh_issued;
        Ok(engine)
    }

    pub(super) fn requeue_outstanding(&mut self) -> usize {
        self.books.requeue_outstanding()
    }

    /// Evaluated members, for tests and reports.
    pub fn population(&self) -> usize {
        self.members.len()
    }

    fn generation(&self) -> u64 {
        self.books
            .completed()
            .saturating_sub(self.population as u64)
            / self.population as u64
    }

    /// Draws `tournament_size` distinct members and returns the index of the one `better`
    /// prefers (the first drawn among equals).
    fn tournament(&mut self, better: impl Fn(f64, f64) -> bool) -> usize {
        let drawn = sample(&mut self.rng, self.members.len(), self.tournament_size);
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
