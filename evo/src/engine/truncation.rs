//! The truncation GA of deep neuroevolution (Such et al. 2017): a generation of `population`
//! genomes is evaluated; its best `parents` breed the next, each child a mutation of a parent
//! drawn uniformly, and its best `elites` are carried over unchanged. The tasks here are
//! deterministic, so elites keep their fitness and are not evaluated again.

use super::books::{Accepted, Books, Next};
use super::saved::{SavedEngine, SavedRng, SavedSlot, restore_rng};
use super::{EvalId, Refusal, Request, Status, Summary};
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

/// The truncation GA (see the module docs); usually driven through [`GaEngine`](super::GaEngine).
#[derive(Debug)]
pub struct Truncation {
    problem: Problem,
    operator: Operator,
    sigma: f64,
    parents: usize,
    elites: usize,
    rng: ChaCha8Rng,
    books: Books<usize>,
    generation: u64,
    /// The current generation; elites come first and are already evaluated.
    slots: Vec<Slot>,
    /// The next slot to issue.
    next_slot: usize,
}

impl Truncation {
    /// As [`GaEngine::new`](super::GaEngine::new).
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
            rng,
            books: Books::new(config.max_evaluations),
            generation: 0,
            slots,
            next_slot: 0,
        })
    }

    /// As [`GaEngine::next_evaluation`](super::GaEngine::next_evaluation).
    pub fn next_evaluation(&mut self) -> Option<Request> {
        if let Next::Decided(request) = self.books.next() {
            return request;
        }
        if self.next_slot >= self.slots.len() {
            return None;
        }
        let slot = &self.slots[self.next_slot];
        let job = Job {
            problem: self.problem.clone(),
            parent: slot.parent.clone(),
            mutation: slot.mutation,
        };
        let request = self.books.issue(job, self.next_slot);
        self.next_slot += 1;
        Some(request)
    }

    /// As [`GaEngine::complete`](super::GaEngine::complete).
    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        let Some(Accepted { tag: slot, .. }) = self.books.complete(id, outcome)? else {
            return Ok(());
        };
        self.slots[slot].fitness = Some(outcome.fitness);
        if self.slots.iter().all(|s| s.fitness.is_some()) {
            self.breed();
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
        self.books.status(self.generation)
    }

    /// As [`GaEngine::summary`](super::GaEngine::summary).
    pub fn summary(&self) -> Summary {
        self.books
            .summary(Algorithm::Truncation, self.operator, self.generation)
    }

    pub(super) fn save(&self) -> SavedEngine {
        SavedEngine::Truncation {
            rng: SavedRng::of(&self.rng),
            books: self.books.save(),
            generation: self.generation,
            slots: self
                .slots
                .iter()
                .map(|s| SavedSlot {
                    parent: s.parent.clone(),
                    mutation: s.mutation,
                    fitness: s.fitness,
                })
                .collect(),
            next_slot: self.next_slot,
        }
    }

    /// The engine `saved` holds, checked against `config`.
    pub(super) fn restore(
        config: &SafeMutationConfig,
        saved: SavedEngine,
    ) -> Result<Self, EvoError> {
        let SavedEngine::Truncation {
            rng,
            books,
            generation,
            slots,
            next_slot,
        } = saved
        else {
            unreachable!("the caller matched the algorithm");
        };
        if slots.len() != config.population {
            return Err(EvoError::invalid(
                "slots",
                slots.len(),
                format!("the population is {}", config.population),
            ));
        }
        if next_slot > slots.len() {
            return Err(EvoError::invalid(
                "next_slot",
                next_slot,
                format!("a generation has {} slots", slots.len()),
            ));
        }
        if let Some(f) = slots
            .iter()
            .filter_map(|s| s.fitness)
            .find(|f| !f.is_finite())
        {
            return Err(EvoError::invalid("slots.fitness", f, "must be finite"));
        }
        let mut engine = Truncation::new(config)?;
        let population = slots.len();
        engine.books = Books::restore(
            config.max_evaluations,
            books,
            |&slot| slot < population,
            &engine.problem,
        )?;
        engine.rng = restore_rng(&rng)?;
        engine.generation = generation;
        engine.slots = slots
            .into_iter()
            .map(|s| Slot {
                parent: s.parent,
                mutation: s.mutation,
                fitness: s.fitness,
            })
            .collect();
        engine.next_slot = next_slot;
        Ok(engine)
    }

    pub(super) fn requeue_outstanding(&mut self) -> usize {
        self.books.requeue_outstanding()
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
