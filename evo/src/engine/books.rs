//! What both GAs keep about a run besides their population: the ledger of evaluations, the
//! budget, the run's state, the best result and the rebuild work reported. The rules for
//! issuing, re-issuing, accepting and refusing results, running out of budget and stopping
//! are the same for both GAs and live here; each GA only chooses the jobs and places the
//! results.

use super::ledger::Ledger;
use super::saved::{SavedBooks, SavedMember};
use super::{EngineState, EvalId, Refusal, Request, Status, Summary};
use crate::EvoError;
use crate::config::Algorithm;
use crate::executor::{Job, Outcome, Problem};
use crate::genome::Genome;
use crate::operator::Operator;

/// What [`Books::next`] decided before the GA is asked for new work.
pub(super) enum Next {
    /// The answer does not depend on the GA: a requeued evaluation goes out again, or
    /// nothing does (the run is over or the budget is issued).
    Decided(Option<Request>),
    /// The GA may issue a new evaluation with [`Books::issue`].
    New,
}

/// An accepted result that did not solve the task, for the GA to place.
pub(super) struct Accepted<T> {
    pub job: Job,
    pub tag: T,
    pub genome: Genome,
}

/// `T` is what the GA needs back when an evaluation completes (see [`Ledger`]).
#[derive(Debug)]
pub(super) struct Books<T> {
    ledger: Ledger<T>,
    max_evaluations: u64,
    state: EngineState,
    best: Option<(f64, Genome)>,
    evaluations_to_solve: Option<u64>,
    replayed_mutations: u64,
    replayed_evaluations: u64,
    unchanged_mutations: u64,
    sm_r_give_ups: u64,
}

impl<T> Books<T> {
    pub(super) fn new(max_evaluations: u64) -> Self {
        Books {
            ledger: Ledger::new(),
            max_evaluations,
            state: EngineState::Running,
            best: None,
            evaluations_to_solve: None,
            replayed_mutations: 0,
            replayed_evaluations: 0,
            unchanged_mutations: 0,
            sm_r_give_ups: 0,
        }
    }

    /// The start of `next_evaluation`: requeued work goes out before anything new.
    pub(super) fn next(&mut self) -> Next {
        if self.state != EngineState::Running {
            return Next::Decided(None);
        }
        if let Some(request) = self.ledger.reissue() {
            return Next::Decided(Some(request));
        }
        if self.ledger.issued >= self.max_evaluations {
            return Next::Decided(None);
        }
        Next::New
    }

    /// Hands out a new evaluation; only after [`Books::next`] returned [`Next::New`].
    pub(super) fn issue(&mut self, job: Job, tag: T) -> Request {
        self.ledger.issue(job, tag)
    }

    /// Accepts the outcome of an outstanding evaluation; a refusal changes nothing. `None`
    /// when it solved the task: the run is over and evaluations still out are cancelled.
    /// The run is exhausted once the whole budget is issued and completed; the GA's placing
    /// of the result cannot change that, so it is decided here.
    pub(super) fn complete(
        &mut self,
        id: EvalId,
        outcome: &Outcome,
    ) -> Result<Option<Accepted<T>>, Refusal> {
        if self.state != EngineState::Running {
            return Err(Refusal::NotRunning(self.state));
        }
        self.ledger.check(id)?;
        if !outcome.fitness.is_finite() {
            return Err(Refusal::NonFiniteFitness(outcome.fitness));
        }
        let (job, tag) = self.ledger.take(id)?;
        let genome = job.genome();
        if self.record(&genome, outcome) {
            self.ledger.cancel_all();
            return Ok(None);
        }
        if self.ledger.issued >= self.max_evaluations && self.ledger.in_flight() == 0 {
            self.state = EngineState::Exhausted;
        }
        Ok(Some(Accepted { job, tag, genome }))
    }

    /// Records an accepted outcome; returns whether it solved the task.
    fn record(&mut self, genome: &Genome, outcome: &Outcome) -> bool {
        self.replayed_mutations += outcome.replayed_mutations;
        self.replayed_evaluations += outcome.replayed_evaluations;
        self.unchanged_mutations += u64::from(outcome.mutation_unchanged);
        self.sm_r_give_ups += u64::from(outcome.mutation_gave_up);
        if self.best.as_ref().is_none_or(|(f, _)| outcome.fitness > *f) || outcome.solved {
            self.best = Some((outcome.fitness, genome.clone()));
        }
        if outcome.solved {
            self.state = EngineState::Solved;
            self.evaluations_to_solve = Some(self.ledger.completed);
        }
        outcome.solved
    }

    /// Puts an outstanding evaluation back to be issued again; false if it was not
    /// outstanding or the run is over.
    pub(super) fn requeue(&mut self, id: EvalId) -> bool {
        self.state == EngineState::Running && self.ledger.requeue(id)
    }

    /// Ends the run; returns how many evaluations out with executors were cancelled.
    pub(super) fn stop(&mut self) -> usize {
        if self.state != EngineState::Running {
            return 0;
        }
        self.state = EngineState::Stopped;
        self.ledger.cancel_all()
    }

    /// Evaluations completed so far.
    pub(super) fn completed(&self) -> u64 {
        self.ledger.completed
    }

    pub(super) fn status(&self, generation: u64) -> Status {
        Status {
            state: self.state,
            generation,
            evaluations_issued: self.ledger.issued,
            evaluations_completed: self.ledger.completed,
            in_flight: self.ledger.in_flight(),
            best_fitness: self.best_fitness(),
        }
    }

    pub(super) fn summary(
        &self,
        algorithm: Algorithm,
        operator: Operator,
        generations: u64,
    ) -> Summary {
        Summary {
            algorithm,
            operator,
            state: self.state,
            solved: self.state == EngineState::Solved,
            evaluations_to_solve: self.evaluations_to_solve,
            best_fitness: self.best_fitness(),
            best_genome: self.best.as_ref().map(|b| b.1.clone()),
            generations,
            evaluations: self.ledger.completed,
            requeued: self.ledger.requeued,
            replayed_mutations: self.replayed_mutations,
            replayed_evaluations: self.replayed_evaluations,
            unchanged_mutations: self.unchanged_mutations,
            sm_r_give_ups: self.sm_r_give_ups,
        }
    }

    fn best_fitness(&self) -> Option<f64> {
        self.best.as_ref().map(|b| b.0)
    }
}

impl<T: Clone> Books<T> {
    pub(super) fn save(&self) -> SavedBooks<T> {
        SavedBooks {
            ledger: self.ledger.save(),
            state: self.state,
            best: self.best.as_ref().map(|(fitness, genome)| SavedMember {
                genome: genome.clone(),
                fitness: *fitness,
            }),
            evaluations_to_solve: self.evaluations_to_solve,
            replayed_mutations: self.replayed_mutations,
            replayed_evaluations: self.replayed_evaluations,
            unchanged_mutations: self.unchanged_mutations,
            sm_r_give_ups: self.sm_r_give_ups,
        }
    }

    /// The books `saved` holds, checked against the budget; `fits` says whether a tag is
    /// one of the GA's, and every pending job is of `problem`.
    pub(super) fn restore(
        max_evaluations: u64,
        saved: SavedBooks<T>,
        fits: impl Fn(&T) -> bool,
        problem: &Problem,
    ) -> Result<Self, EvoError> {
        if let Some(best) = &saved.best
            && !best.fitness.is_finite()
        {
            return Err(EvoError::invalid(
                "best.fitness",
                best.fitness,
                "must be finite",
            ));
        }
        let ledger = Ledger::restore(saved.ledger, fits, problem)?;
        if ledger.issued > max_evaluations {
            return Err(EvoError::invalid(
                "ledger.issued",
                ledger.issued,
                format!("more than the spec's max_evaluations ({max_evaluations})"),
            ));
        }
        if saved.state == EngineState::Running && ledger.completed >= max_evaluations {
            return Err(EvoError::invalid(
                "state",
                "running",
                "every evaluation of the budget is completed",
            ));
        }
        Ok(Books {
            ledger,
            max_evaluations,
            state: saved.state,
            best: saved.best.map(|b| (b.fitness, b.genome)),
            evaluations_to_solve: saved.evaluations_to_solve,
            replayed_mutations: saved.replayed_mutations,
            replayed_evaluations: saved.replayed_evaluations,
            unchanged_mutations: saved.unchanged_mutations,
            sm_r_give_ups: saved.sm_r_give_ups,
        })
    }

    /// Puts every evaluation out with an executor back in the queue; returns how many.
    pub(super) fn requeue_outstanding(&mut self) -> usize {
        if self.state != EngineState::Running {
            return 0;
        }
        self.ledger.requeue_outstanding()
    }
}
