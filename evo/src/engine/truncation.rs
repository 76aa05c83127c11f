//! The truncation GA of deep neuroevolution (Such et al. 2017): a generation of `population`
//! genomes is evaluated; its best `parents` breed the next, each child a mutation of a parent
//! drawn uniformly, and its best `elites` are carried over unchanged. The tasks here are
//! deterministic, so elites keep their fitness and are not evaluated again.

use super::ledger::Ledger;
use super::{EngineState, EvalId, Refusal, Request, Status, Summary, Tally, check_outcome};
use crate::EvoError;
use crate::config::{Algorithm, SafeMutationConfig};
use crate::executor::{Job, Outcome, Problem};
use crate::genome::Genome;
use crate::operator::{Mutation, Operator};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
struct Slot {
    parent: Genome,
    mutation: Option<Mutation>,
    fitness: Option<f64>,
}

impl Slot {
    fn genome(&self) -> Genome {
        match self.mutation {
            Some(m) => self.parent.child(m),
            None => self.parent.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Truncation {
    problem: Problem,
    operator: Operator,
    sigma: f64,
    parents: usize,
    elites: usize,
    max_evaluations: u64,
    rng: ChaCha8Rng,
    ledger: Ledger<usize>,
    generation: u64,
    /// The current generation; elites come first and are already evaluated.
    slots: Vec<Slot>,
    /// The next slot to issue.
    next_slot: usize,
    tally: Tally,
}

impl Truncation {
    pub fn new(config: &SafeMutationConfig) -> Result<Self, EvoError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let slots = (0..config.population)
            .map(|_| Slot {
                parent: Genome::fresh(rng.random()),
                mutation: None,
                fitness: None,
            })
            .collect();
        Ok(Truncation {
            problem: config.problem(),
            operator: config.operator,
            sigma: config.sigma,
            parents: config.parents(),
            elites: config.elites(),
            max_evaluations: config.max_evaluations,
            rng,
            ledger: Ledger::new(),
            generation: 0,
            slots,
            next_slot: 0,
            tally: Tally::new(),
        })
    }

    pub fn next_evaluation(&mut self) -> Option<Request> {
        self.tally.running().ok()?;
        if let Some(request) = self.ledger.reissue() {
            return Some(request);
        }
        if self.ledger.issued >= self.max_evaluations || self.next_slot >= self.slots.len() {
            return None;
        }
        let slot = &self.slots[self.next_slot];
        let job = Job {
            problem: self.problem.clone(),
            parent: slot.parent.clone(),
            mutation: slot.mutation,
        };
        let request = self.ledger.issue(job, self.next_slot);
        self.next_slot += 1;
        Some(request)
    }

    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        self.tally.running()?;
        self.ledger.check(id)?;
        check_outcome(outcome)?;
        let (job, slot) = self.ledger.take(id)?;
        if self
            .tally
            .record(&job.genome(), outcome, self.ledger.completed)
        {
            self.ledger.cancel_all();
            return Ok(());
        }
        self.slots[slot].fitness = Some(outcome.fitness);
        if self.slots.iter().all(|s| s.fitness.is_some()) {
            self.breed();
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
            generation: self.generation,
            evaluations_issued: self.ledger.issued,
            evaluations_completed: self.ledger.completed,
            in_flight: self.ledger.in_flight(),
            best_fitness: self.tally.best_fitness(),
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            algorithm: Algorithm::Truncation,
            operator: self.operator,
            state: self.tally.state,
            solved: self.tally.state == EngineState::Solved,
            evaluations_to_solve: self.tally.evaluations_to_solve,
            best_fitness: self.tally.best_fitness(),
            best_genome: self.tally.best.as_ref().map(|b| b.1.clone()),
            generations: self.generation,
            evaluations: self.ledger.completed,
            requeued: self.ledger.requeued,
            replayed_mutations: self.tally.replayed_mutations,
            replayed_evaluations: self.tally.replayed_evaluations,
            unchanged_mutations: self.tally.unchanged_mutations,
        }
    }

    /// Replaces the evaluated generation by the next: elites first, then children.
    fn breed(&mut self) {
        let mut ranked: Vec<(f64, Genome)> = self
            .slots
            .iter()
            .map(|s| (s.fitness.expect("every slot is evaluated"), s.genome()))
            .collect();
        // Stable sort: among equals the earlier slot ranks higher.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.truncate(self.parents);
        let mut next: Vec<Slot> = ranked[..self.elites]
            .iter()
            .map(|(fitness, genome)| Slot {
                parent: genome.clone(),
                mutation: None,
                fitness: Some(*fitness),
            })
            .collect();
        while next.len() < self.slots.len() {
            let parent = &ranked[self.rng.random_range(0..ranked.len())].1;
            next.push(Slot {
                parent: parent.clone(),
                mutation: Some(Mutation {
                    seed: self.rng.random(),
                    magnitude: self.sigma,
                    operator: self.operator,
                }),
                fitness: None,
            });
        }
        self.next_slot = self.elites;
        self.slots = next;
        self.generation += 1;
    }
}
