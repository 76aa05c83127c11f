//! The steady-state GA of the safe-mutation paper: a population of evaluated genomes; each new
//! evaluation is a child of the best of `tournament_size` members drawn at random, and each
//! finished child takes the place of the worst of another such draw. No crossover.
//!
//! The reference code draws the members to remove from the parent's own tournament; an
//! independent draw is the usual steady-state rule and does not tie removal to the moment a
//! child was issued, which matters once many children are in flight. The initial population
//! is evaluated completely before the first child is issued.

use super::ledger::Ledger;
use super::{EngineState, EvalId, Refusal, Request, Status, Summary, Tally, check_outcome};
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

#[derive(Debug)]
pub struct SteadyState {
    problem: Problem,
    operator: Operator,
    sigma: f64,
    population: usize,
    tournament_size: usize,
    max_evaluations: u64,
    rng: ChaCha8Rng,
    ledger: Ledger<()>,
    members: Vec<Member>,
    fresh_issued: usize,
    tally: Tally,
}

impl SteadyState {
    pub fn new(config: &SafeMutationConfig) -> Result<Self, EvoError> {
        config.validate()?;
        Ok(SteadyState {
            problem: config.problem(),
            operator: config.operator,
            sigma: config.sigma,
            population: config.population,
            tournament_size: config.tournament_size(),
            max_evaluations: config.max_evaluations,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            ledger: Ledger::new(),
            members: Vec::with_capacity(config.population),
            fresh_issued: 0,
            tally: Tally::new(),
        })
    }

    pub fn next_evaluation(&mut self) -> Option<Request> {
        self.tally.running().ok()?;
        if let Some(request) = self.ledger.reissue() {
            return Some(request);
        }
        if self.ledger.issued >= self.max_evaluations {
            return None;
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
        Some(self.ledger.issue(job, ()))
    }

    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        self.tally.running()?;
        self.ledger.check(id)?;
        check_outcome(outcome)?;
        let (job, ()) = self.ledger.take(id)?;
        let genome = job.genome();
        if self.tally.record(&genome, outcome, self.ledger.completed) {
            self.ledger.cancel_all();
            return Ok(());
        }
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
        if self.ledger.issued >= self.max_evaluations && self.ledger.in_flight() == 0 {
            self.tally.state = EngineState::Exhausted;
        }
        Ok(())
    }

    pub fn requeue(&mut self, id: EvalId) -> bool {
        self.tally.state == EngineState::Running && self.ledger.requeue(id)
    }

    pub fn stop(&mut self) -> usize {
        if self.tally.state != EngineState::Running {
            return 0;
        }
        self.tally.state = EngineState::Stopped;
        self.ledger.cancel_all()
    }

    pub fn status(&self) -> Status {
        Status {
            state: self.tally.state,
            generation: self.generation(),
            evaluations_issued: self.ledger.issued,
            evaluations_completed: self.ledger.completed,
            in_flight: self.ledger.in_flight(),
            best_fitness: self.tally.best_fitness(),
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            algorithm: Algorithm::SteadyState,
            operator: self.operator,
            state: self.tally.state,
            solved: self.tally.state == EngineState::Solved,
            evaluations_to_solve: self.tally.evaluations_to_solve,
            best_fitness: self.tally.best_fitness(),
            best_genome: self.tally.best.as_ref().map(|b| b.1.clone()),
            generations: self.generation(),
            evaluations: self.ledger.completed,
            requeued: self.ledger.requeued,
            replayed_mutations: self.tally.replayed_mutations,
            replayed_evaluations: self.tally.replayed_evaluations,
            unchanged_mutations: self.tally.unchanged_mutations,
        }
    }

    /// Evaluated members, for tests and reports.
    pub fn population(&self) -> usize {
        self.members.len()
    }

    fn generation(&self) -> u64 {
        self.ledger.completed.saturating_sub(self.population as u64) / self.population as u64
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
