//! The experiment slot: the current experiment (one at a time), the ids of the next, its
//! progress not yet broadcast and its work held back for another agent.

use crate::run::{EvalId, Progress};
use crate::server::kinds::{Issued, Served};
use std::sync::Arc;

/// The experiment being run (or the last one run).
pub(super) struct Experiment {
    pub(super) id: String,
    pub(super) run: Box<dyn Served>,
    pub(super) started_unix_ms: u64,
    /// Set when the experiment failed (the run failed internally, or the same work failed
    /// too often); it is then stopped.
    pub(super) error: Option<String>,
    /// Bytes of all parameters: the most one result can push.
    pub(super) parameter_bytes: usize,
}

impl Experiment {
    /// Running and not failed.
    pub(super) fn is_running(&self) -> bool {
        self.run.is_running() && self.error.is_none()
    }
}

/// Work an agent holds.
#[derive(Debug, Clone)]
pub(super) struct Leased {
    pub(super) experiment: String,
    pub(super) eval: EvalId,
    /// The work as an error names it: kind, evaluation or worker, task or genome.
    pub(super) what: Arc<str>,
    /// The other agents hosting its stages (Sideways segments placed on several agents).
    pub(super) peers: Vec<String>,
}

pub(super) struct Slot {
    current: Option<Experiment>,
    next_id: u64,
    /// Progress of the current experiment not yet broadcast, tagged with its id.
    events: Vec<(String, Progress)>,
    /// Work taken from the current experiment for an agent that had failed it, waiting for
    /// another agent (see `failures`); emptied when an experiment starts or has ended.
    passed_over: Vec<Issued>,
}

impl Slot {
    pub(super) fn new() -> Self {
        Slot {
            current: None,
            next_id: 1,
            events: Vec::new(),
            passed_over: Vec::new(),
        }
    }

    /// The id the next experiment of spec `name` gets.
    pub(super) fn next_id(&mut self, name: &str) -> String {
        let id = format!("{name}-{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// The number the next experiment's id gets.
    pub(super) fn next_number(&self) -> u64 {
        self.next_id
    }

    /// Carries on the numbering of a coordinator's earlier runs.
    pub(super) fn resume_numbering(&mut self, next: u64) {
        self.next_id = self.next_id.max(next);
    }

    /// Puts `experiment` in the slot, replacing the last one, whose held-back work goes.
    pub(super) fn start(&mut self, experiment: Experiment) {
        self.passed_over.clear();
        self.current = Some(experiment);
        self.drain_run_events();
    }

    pub(super) fn current(&self) -> Option<&Experiment> {
        self.current.as_ref()
    }

    pub(super) fn current_mut(&mut self) -> Option<&mut Experiment> {
        self.current.as_mut()
    }

    /// Experiment `id` if it is the current one.
    pub(super) fn get(&self, id: &str) -> Option<&Experiment> {
        self.current.as_ref().filter(|e| e.id == id)
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Experiment> {
        self.current.as_mut().filter(|e| e.id == id)
    }

    /// Moves the run's progress to the events to broadcast.
    pub(super) fn drain_run_events(&mut self) {
        if let Some(exp) = self.current.as_mut() {
            let id = &exp.id;
            self.events
                .extend(exp.run.drain_events().into_iter().map(|e| (id.clone(), e)));
        }
    }

    /// Progress not yet broadcast, tagged with the experiment id.
    pub(super) fn take_events(&mut self) -> Vec<(String, Progress)> {
        self.drain_run_events();
        std::mem::take(&mut self.events)
    }

    /// The next work of the current experiment for an agent that must pass over the work
    /// `pass_over` names: work held back that it may take first, else new work from the
    /// run, holding back what it passes over. Returns the experiment's id with the work,
    /// and whether work was held back (for another agent's stream to take).
    pub(super) fn next_work(
        &mut self,
        pass_over: impl Fn(EvalId) -> bool,
    ) -> (Option<(&str, Issued)>, bool) {
        let Some(exp) = self.current.as_mut() else {
            return (None, false);
        };
        if !exp.run.is_running() {
            // Held work of an experiment that ended is not wanted any more.
            self.passed_over.clear();
        }
        if let Some(index) = self.passed_over.iter().position(|p| !pass_over(p.eval)) {
            return (Some((&exp.id, self.passed_over.remove(index))), false);
        }
        let mut held_back = false;
        loop {
            let Some(issued) = exp.run.next_work() else {
                return (None, held_back);
            };
            if !pass_over(issued.eval) {
                return (Some((&exp.id, issued)), held_back);
            }
            self.passed_over.push(issued);
            held_back = true;
        }
    }
}
