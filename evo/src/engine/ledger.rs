//! Bookkeeping both GAs share: issued evaluations, which are out with an executor, which wait
//! to be issued again, and how many have been issued and completed.

use super::{EvalId, Refusal, Request};
use crate::executor::Job;
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
    pub fn new() -> Self {
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
    pub fn issue(&mut self, job: Job, tag: T) -> Request {
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
    pub fn reissue(&mut self) -> Option<Request> {
        let id = self.queue.pop_front()?;
        let pending = self.pending.get_mut(&id).expect("queued ids are pending");
        pending.outstanding = true;
        Some(Request {
            id,
            job: pending.job.clone(),
        })
    }

    /// Puts an outstanding evaluation back in the queue; false if it was not outstanding.
    pub fn requeue(&mut self, id: EvalId) -> bool {
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
    pub fn check(&self, id: EvalId) -> Result<(), Refusal> {
        match self.pending.get(&id) {
            Some(p) if p.outstanding => Ok(()),
            Some(_) => Err(Refusal::NotOutstanding(id)),
            None if id.0 < self.next_id => Err(Refusal::NotOutstanding(id)),
            None => Err(Refusal::Unknown(id)),
        }
    }

    /// Completes an outstanding evaluation, returning its job and tag.
    pub fn take(&mut self, id: EvalId) -> Result<(Job, T), Refusal> {
        self.check(id)?;
        let p = self.pending.remove(&id).expect("checked");
        self.completed += 1;
        Ok((p.job, p.tag))
    }

    /// Evaluations issued and not completed: out with executors or waiting to be re-issued.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Drops every pending evaluation; returns how many were out with executors.
    pub fn cancel_all(&mut self) -> usize {
        let out = self.pending.values().filter(|p| p.outstanding).count();
        self.pending.clear();
        self.queue.clear();
        out
    }
}
