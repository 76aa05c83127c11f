//! The coordinator's state behind the gRPC services: joined agents ([`agents`]), the
//! experiment slot ([`slot`]), the lease table, pushed deltas waiting for their report
//! ([`staging`]), what monitoring records ([`observed`]) and the failures of work
//! ([`failures`]).
//!
//! Every method runs under one lock and starts by expiring overdue leases, so a decision is
//! never taken on a lease that has in fact lapsed. Answers are gRPC statuses because this
//! is the layer that decides what an agent is told; the rules themselves live in the runs
//! and the lease table. The state's parts are leaf modules; the methods that act on them
//! are grouped by service: [`leasing`] (join, lease stream, heartbeats, releases),
//! [`report`], [`params`] (pulls and pushed deltas), [`gradients`] (A3C pushes),
//! [`experiments`] (start, stop, status), [`metrics`] and [`dashboard`].

mod agents;
mod checkpoints;
mod dashboard;
mod experiments;
mod failures;
mod gradients;
mod leasing;
mod metrics;
mod observed;
mod params;
mod quarantine;
mod report;
mod slot;
mod staging;
#[cfg(test)]
mod tests;

pub use checkpoints::Resumed;
pub use failures::DEFAULT_MAX_FAILURES_PER_WORK;
pub use observed::RefusalReason;

use super::limits::Limits;
use crate::lease::{LeaseTable, Millis, MonotonicClock};
use crate::run::Progress;
use agents::Agents;
use failures::FailureTally;
use observed::Observed;
use slot::{Leased, Slot};
use staging::Staging;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::time::{SystemTime, UNIX_EPOCH};
use tonic::Status;

pub(super) struct Runtime {
    limits: Limits,
    clock: MonotonicClock,
    unix_origin_ms: u64,
    agents: Agents,
    slot: Slot,
    leases: LeaseTable<Leased>,
    staging: Staging,
    /// Refusals by reason, parameter traffic, evaluation rate and fitness, for monitoring.
    observed: Observed,
    failures: FailureTally,
    /// Set when work may have become available to any agent (requeues, a new experiment,
    /// an agent leaving); cleared by [`Runtime::take_dirty`], which wakes every lease
    /// stream.
    dirty: bool,
    /// Agents whose lease stream last found no work it could take although they had room.
    /// A result wakes them all, since it may have made work; while there are none it wakes
    /// only its own agent's streams (which have room again), not every stream.
    starved: HashSet<String>,
    /// Which run of the coordinator this is: part of every agent and work id.
    incarnation: u64,
    /// Whether the coordinator keeps its state on disk (and so refuses kinds it cannot
    /// save), when to save next, and what was saved last; see [`checkpoints`].
    checkpoints: checkpoints::Checkpoints,
}

pub(super) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Runtime {
    /// A coordinator's runtime that keeps no state on disk. Its incarnation is drawn at
    /// random, so ids of an earlier run of a coordinator on the same address (a late report
    /// after a restart) match nothing of this one.
    pub(super) fn new(limits: Limits) -> Self {
        let incarnation = u64::from(rand::random::<u32>()) + 1;
        Self::with_incarnation(limits, incarnation, false)
    }

    /// The runtime of a coordinator's `incarnation`-th run; with `checkpoints`, it saves its
    /// state (and refuses experiments of kinds that cannot be saved).
    pub(super) fn with_incarnation(limits: Limits, incarnation: u64, checkpoints: bool) -> Self {
        Runtime {
            leases: LeaseTable::new(limits.lease_duration, incarnation),
            staging: Staging::default(),
            limits,
            unix_origin_ms: unix_now_ms(),
            clock: MonotonicClock::start(),
            agents: Agents::new(incarnation),
            incarnation,
            checkpoints: checkpoints::Checkpoints::new(checkpoints),
            slot: Slot::new(),
            dirty: false,
            starved: HashSet::new(),
            observed: Observed::new(),
            failures: FailureTally::new(
                NonZeroU32::new(DEFAULT_MAX_FAILURES_PER_WORK).expect("the default is not 0"),
            ),
        }
    }

    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many times the same work may fail (handed back as failed by its agent, or its
    /// result refused) before its experiment fails; see [`failures`].
    pub(super) fn set_max_failures_per_work(&mut self, max: NonZeroU32) {
        self.failures.set_max(max);
    }

    fn now(&self) -> Millis {
        self.clock.now()
    }

    fn unix_ms(&self, at: Millis) -> u64 {
        self.unix_origin_ms.saturating_add(at.0)
    }

    /// Expires overdue leases (their evaluations go back to the queue) and forgets agents
    /// silent for three lease durations. Returns whether anything changed.
    pub(super) fn tick(&mut self) -> bool {
        self.tick_at(self.now())
    }

    /// [`tick`](Self::tick) as of `now`, which tests set ahead to expire leases.
    fn tick_at(&mut self, now: Millis) -> bool {
        if let Some(exp) = self.slot.current() {
            self.observed
                .sample(now, exp.run.counters().results_accepted);
        }
        let expired = self.leases.expire(now);
        let changed = !expired.is_empty();
        for (work, leased) in expired {
            self.requeue(&work, &leased);
        }
        for agent in self.agents.silent(now, self.limits.lease_duration * 3) {
            self.forget_agent(&agent);
        }
        changed
    }

    /// Whether work may have become available since the last call.
    pub(super) fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Whether experiment `id` is running and has not failed: `None` unless it is the
    /// current one.
    pub(super) fn running(&self, id: &str) -> Option<bool> {
        self.slot.get(id).map(|e| e.is_running())
    }

    /// Whether the current experiment (if any) is running and has not failed.
    pub(super) fn current_running(&self) -> bool {
        self.slot.current().is_some_and(|e| e.is_running())
    }

    /// The current experiment's error, if it failed.
    pub(super) fn current_error(&self) -> Option<String> {
        self.slot.current().and_then(|e| e.error.clone())
    }

    fn requeue(&mut self, work: &str, leased: &Leased) {
        self.dirty = true;
        self.staging.drop_work(work);
        if let Some(exp) = self.slot.get_mut(&leased.experiment) {
            exp.run.requeue(leased.eval);
        }
    }

    fn forget_agent(&mut self, agent: &str) {
        for (work, leased) in self.leases.release_agent(agent) {
            self.requeue(&work, &leased);
        }
        self.agents.remove(agent);
        self.starved.remove(agent);
        self.failures.forget_agent(agent);
        // Work passed over, or agents in quarantine, may have been waiting for this one.
        self.dirty = true;
    }

    /// A result of `agent` was taken: its streams have room again, and work may have
    /// become available to agents that found none.
    fn result_taken(&mut self, agent: &str) {
        if self.starved.is_empty() {
            self.agents.wake(agent);
        } else {
            self.dirty = true;
        }
    }

    fn seen(&mut self, agent: &str) -> Result<(), Status> {
        let now = self.now();
        self.agents.seen(agent, now)
    }

    /// Counts a failure of `leased`'s work on `agent`; the experiment fails once the same
    /// work has failed too often.
    fn work_failed(&mut self, leased: &Leased, agent: &str, detail: &str) {
        let Some(exp) = self
            .slot
            .get(&leased.experiment)
            .filter(|e| e.error.is_none())
        else {
            return;
        };
        self.observed.work_failures += 1;
        tracing::warn!(experiment = %exp.id, work = %leased.what, %agent, %detail, "work failed");
        let verdict = self.failures.failed(
            exp.run.as_ref(),
            leased,
            agent,
            detail,
            self.agents.records(),
        );
        if verdict.quarantined {
            tracing::warn!(
                experiment = %exp.id,
                %agent,
                "agent quarantined: its last leases all failed; it gets no new work while \
                 other agents can take it"
            );
        }
        if let Some(error) = verdict.error {
            self.fail_experiment(format!("the experiment failed: {error}"));
        }
    }

    /// Stops the current experiment with `message` as its error; its leases are cancelled.
    fn fail_experiment(&mut self, message: String) {
        let Some(exp) = self.slot.current_mut() else {
            return;
        };
        exp.error = Some(message);
        exp.run.stop();
        for (work, _) in self.leases.cancel_all() {
            self.staging.drop_work(&work);
        }
        // Wakes watchers, who end their streams on a failed experiment.
        self.dirty = true;
    }

    /// Progress not yet broadcast, tagged with the experiment id.
    pub(super) fn take_events(&mut self) -> Vec<(String, Progress)> {
        let events = self.slot.take_events();
        // A task after the first starting is a phase's end too: the kinds that report no
        // `TaskFinished` (safe-mutation PathNet, whose arms end together) start the next.
        let phase_ended = |event: &Progress| match event {
            Progress::TaskFinished(_) | Progress::Finished => true,
            Progress::TaskStarted { task, .. } => *task > 0,
            _ => false,
        };
        if events.iter().any(|(_, event)| phase_ended(event)) {
            // A phase's end is saved at once rather than at the next interval, and wakes
            // every stream and watcher, as any change beyond one agent's room does.
            self.checkpoints.due = true;
            self.dirty = true;
        }
        let current = self.slot.current().map(|e| e.id.as_str());
        self.observed.progress(
            events
                .iter()
                .filter(|(id, _)| Some(id.as_str()) == current)
                .map(|(_, event)| event),
        );
        events
    }
}
