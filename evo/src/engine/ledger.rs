//! Bookkeeping both GAs share: issued evaluations, which are out with an executor, which wait
//! to be issued again, and how many have been issued and completed.

use super::saved::{SavedLedger, SavedPending};
use super::{EvalId, Refusal, Request};
use crate::EvoError;
use crate::executor::{Job, Problem};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug)]
struct Pending<T> {
    job: Job,
    tag: T,
    /// False while the evaluation waits in the queue to be issued again.
    outstanding: bool,
}

/// `T` is what the engine needs back when the evaluation completes (e.g. a slot index).
#[derive(Debug)]
pub(super) struct Ledger<T> {
    pending: BTreeMap<EvalId, Pending<T>>,
    queue: VecDeque<EvalId>,
    next_id: u64,
    /// Distinct evaluations handed out (a re-issue does not count again).
    pub issued: u64,
    pub completed: u64,
    pub requeued: u64,
}

impl<T> Ledger<T> {
    pub(super) fn new() -> Self {
        Ledger {
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            next_id: 0,
            issued: 0,
            completed: 0,
            requeued: 0,
        }
    }

    /// Hands out a new evaluation under a fresh id.
    pub(super) fn issue(&mut self, job: Job, tag: T) -> Request {
        let id = EvalId(self.next_id);
        self.next_id += 1;
        self.issued += 1;
        self.pending.insert(
            id,
            Pending {
                job: job.clone(),
                tag,
                outstanding: true,
            },
        );
        Request { id, job }
    }

    /// Hands out again the longest-waiting requeued evaluation, under its old id.
    pub(super) fn reissue(&mut self) -> Option<Request> {
        let id = self.queue.pop_front()?;
        let pending = self.pending.get_mut(&id).expect("queued ids are pending");
        pending.outstanding = true;
        Some(Request {
            id,
            job: pending.job.clone(),
        })
    }

    /// Puts an outstanding evaluation back in the queue; false if it was not outstanding.
    pub(super) fn requeue(&mut self, id: EvalId) -> bool {
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

    /// Refuses ids that are not out with an executor, changing nothing.
    pub(super) fn check(&self, id: EvalId) -> Result<(), Refusal> {
        match self.pending.get(&id) {
            Some(p) if p.outstanding => Ok(()),
            Some(_) => Err(Refusal::NotOutstanding(id)),
            None if id.0 < self.next_id => Err(Refusal::NotOutstanding(id)),
            None => Err(Refusal::Unknown(id)),
        }
    }

    /// Completes an outstanding evaluation, returning its job and tag.
    pub(super) fn take(&mut self, id: EvalId) -> Result<(Job, T), Refusal> {
        self.check(id)?;
        let p = self.pending.remove(&id).expect("checked");
        self.completed += 1;
        Ok((p.job, p.tag))
    }

    /// Evaluations issued and not completed: out with executors or waiting to be re-issued.
    pub(super) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Drops every pending evaluation; returns how many were out with executors.
    pub(super) fn cancel_all(&mut self) -> usize {
        let out = self.pending.values().filter(|p| p.outstanding).count();
        self.pending.clear();
        self.queue.clear();
        out
    }
}

impl<T: Clone> Ledger<T> {
    pub(super) fn save(&self) -> SavedLedger<T> {
        SavedLedger {
            pending: self
                .pending
                .iter()
                .map(|(&id, p)| SavedPending {
                    id,
                    parent: p.job.parent.clone(),
                    mutation: p.job.mutation,
                    tag: p.tag.clone(),
                    outstanding: p.outstanding,
                })
                .collect(),
            queue: self.queue.iter().copied().collect(),
            next_id: self.next_id,
            issued: self.issued,
            completed: self.completed,
            requeued: self.requeued,
        }
    }

    /// The ledger `saved` holds, its jobs of `problem`; every pending id issued once, every
    /// queued id pending and waiting, every waiting one queued once, and every tag `fits`.
    pub(super) fn restore(
        saved: SavedLedger<T>,
        fits: impl Fn(&T) -> bool,
        problem: &Problem,
    ) -> Result<Self, EvoError> {
        let mut pending = BTreeMap::new();
        for p in saved.pending {
            if p.id.0 >= saved.next_id {
                return Err(EvoError::invalid(
                    "ledger.pending.id",
                    p.id.0,
                    format!("not issued yet (next_id is {})", saved.next_id),
                ));
            }
            if !fits(&p.tag) {
                return Err(EvoError::invalid(
                    "ledger.pending.tag",
                    p.id,
                    "not a slot of the GA",
                ));
            }
            let job = Job {
                problem: problem.clone(),
                parent: p.parent,
                mutation: p.mutation,
            };
            let entry = Pending {
                job,
                tag: p.tag,
                outstanding: p.outstanding,
            };
            if pending.insert(p.id, entry).is_some() {
                return Err(EvoError::invalid(
                    "ledger.pending.id",
                    p.id.0,
                    "pending twice",
                ));
            }
        }
        let waiting = pending.values().filter(|p| !p.outstanding).count();
        let mut seen = std::collections::BTreeSet::new();
        for id in &saved.queue {
            let queued = pending.get(id).is_some_and(|p| !p.outstanding);
            if !queued || !seen.insert(*id) {
                return Err(EvoError::invalid(
                    "ledger.queue",
                    id.0,
                    "not a pending evaluation waiting to be issued again, or queued twice",
                ));
            }
        }
        if seen.len() != waiting {
            return Err(EvoError::invalid(
                "ledger.queue",
                seen.len(),
                format!("{waiting} pending evaluations wait to be issued again"),
            ));
        }
        let in_flight = pending.len() as u64;
        if saved.completed + in_flight > saved.issued || saved.issued > saved.next_id {
            return Err(EvoError::invalid(
                "ledger.issued",
                saved.issued,
                format!(
                    "fewer than the {} completed and {in_flight} pending, or more than the ids \
                     given ({})",
                    saved.completed, saved.next_id
                ),
            ));
        }
        Ok(Ledger {
            pending,
            queue: saved.queue.into_iter().collect(),
            next_id: saved.next_id,
            issued: saved.issued,
            completed: saved.completed,
            requeued: saved.requeued,
        })
    }

    /// Puts every outstanding evaluation back in the queue, in id order; returns how many.
    pub(super) fn requeue_outstanding(&mut self) -> usize {
        let out: Vec<EvalId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.outstanding)
            .map(|(&id, _)| id)
            .collect();
        out.into_iter().filter(|&id| self.requeue(id)).count()
    }
}
