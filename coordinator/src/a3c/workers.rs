//! The skeleton every A3C run served to agents shares ([`crate::a3c::A3cRun`], and each
//! phase of [`crate::pathnet_a3c::PathNetA3cRun`]): worker leases on one parameter server,
//! their push sequence numbers, the drain check that ends training, progress throttling
//! ([`WorkerLeases`]); and the run's own lifecycle: ids, worker numbers, state, counters,
//! events and wall clock ([`Lifecycle`]). What differs between the kinds (how many workers
//! may be out, what a lease carries, what ends a phase) stays with each run.

use super::push::Settled;
use super::{ExchangeError, PushDone, PushTicket};
use crate::run::{Counters, EvalId, Progress, RunState};
use pathnet_rl::ParameterServer;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Step-progress events per parameter server: one every this fraction of its env-step
/// budget.
const PROGRESS_STEPS: u64 = 200;

/// One worker lease: what the kind keeps of it, and the highest push sequence number
/// received so far.
struct WorkerLease<L> {
    last_sequence: u64,
    data: L,
}

/// The worker leases of one parameter server, each carrying the kind's `L`.
pub(crate) struct WorkerLeases<L> {
    server: Arc<ParameterServer>,
    leases: BTreeMap<EvalId, WorkerLease<L>>,
    next_progress_at: u64,
}

impl<L: Copy> WorkerLeases<L> {
    pub(crate) fn new(server: Arc<ParameterServer>) -> Self {
        WorkerLeases {
            server,
            leases: BTreeMap::new(),
            next_progress_at: 0,
        }
    }

    pub(crate) fn server(&self) -> &Arc<ParameterServer> {
        &self.server
    }

    /// Leases out now.
    pub(crate) fn len(&self) -> usize {
        self.leases.len()
    }

    pub(crate) fn insert(&mut self, id: EvalId, data: L) {
        self.leases.insert(
            id,
            WorkerLease {
                last_sequence: 0,
                data,
            },
        );
    }

    /// What lease `id` carries, while it is out.
    pub(crate) fn get(&self, id: EvalId) -> Option<L> {
        self.leases.get(&id).map(|lease| lease.data)
    }

    /// Ends lease `id`; returns what it carried.
    pub(crate) fn remove(&mut self, id: EvalId) -> Option<L> {
        self.leases.remove(&id).map(|lease| lease.data)
    }

    /// Ends every lease; returns how many there were.
    pub(crate) fn cancel_all(&mut self) -> usize {
        std::mem::take(&mut self.leases).len()
    }

    /// Admits push `sequence` of lease `id` (see [`super::push`]).
    pub(crate) fn admit(
        &mut self,
        id: EvalId,
        sequence: u64,
        fitness: Option<f64>,
        answer_tensors: Option<Vec<usize>>,
    ) -> Result<PushTicket, ExchangeError> {
        let lease = self
            .leases
            .get_mut(&id)
            .ok_or(ExchangeError::UnknownWorker(id))?;
        PushTicket::admit(
            &self.server,
            id,
            &mut lease.last_sequence,
            sequence,
            fitness,
            answer_tensors,
        )
    }

    /// Counts a push its ticket carried out in `counters`; returns what its lease carries
    /// (`None` once the lease is gone) and what the push settled.
    pub(crate) fn settle(
        &mut self,
        done: PushDone,
        counters: &mut Counters,
    ) -> (Option<L>, Result<Settled, ExchangeError>) {
        let lease = self.leases.get_mut(&done.lease());
        let data = lease.as_ref().map(|lease| lease.data);
        let settled = done.settle(lease.map(|lease| &mut lease.last_sequence), counters);
        (data, settled)
    }

    /// Whether training is over here: the stop rule holds, every worker has reported (or
    /// lost its lease), and no push is still being applied (each holds a clone of the
    /// server), so the server's statistics are final.
    pub(crate) fn drained(&self) -> bool {
        self.server.stop_reason().is_some()
            && self.leases.is_empty()
            && Arc::strong_count(&self.server) == 1
    }

    /// Where the step-progress events stand, for a checkpoint.
    pub(crate) fn next_progress_at(&self) -> u64 {
        self.next_progress_at
    }

    /// Leases of a resumed server: none out (they ended with the coordinator that held
    /// them), progress events going on from `next_progress_at`.
    pub(crate) fn resumed(server: Arc<ParameterServer>, next_progress_at: u64) -> Self {
        WorkerLeases {
            server,
            leases: BTreeMap::new(),
            next_progress_at,
        }
    }

    /// Whether a step-progress event is due at `env_steps` of a `budget`; if so, the next
    /// one is due a fraction of the budget later.
    pub(crate) fn progress_due(&mut self, env_steps: u64, budget: u64) -> bool {
        if env_steps < self.next_progress_at {
            return false;
        }
        self.next_progress_at = env_steps + (budget / PROGRESS_STEPS).max(1);
        true
    }
}

/// A [`Lifecycle`] as a checkpoint holds it (events are not kept: they were sent).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedLifecycle {
    state: RunState,
    counters: Counters,
    next_id: u64,
    next_worker: u32,
    seconds: f64,
    clock_stopped: bool,
}

/// A served run's ids, worker numbers, state, counters, events and wall clock.
pub(crate) struct Lifecycle {
    pub(crate) state: RunState,
    pub(crate) counters: Counters,
    pub(crate) events: Vec<Progress>,
    next_id: u64,
    next_worker: u32,
    clock: Instant,
    seconds: Option<f64>,
}

impl Lifecycle {
    /// A running run whose first events are `events`.
    pub(crate) fn new(events: Vec<Progress>) -> Self {
        Lifecycle {
            state: RunState::Running,
            counters: Counters::default(),
            events,
            next_id: 1,
            next_worker: 0,
            clock: Instant::now(),
            seconds: None,
        }
    }

    /// The run's ids and clock as a checkpoint holds them.
    pub(crate) fn saved(&self) -> SavedLifecycle {
        SavedLifecycle {
            state: self.state,
            counters: self.counters.clone(),
            next_id: self.next_id,
            next_worker: self.next_worker,
            seconds: self.seconds(),
            clock_stopped: self.clock_stopped(),
        }
    }

    /// The lifecycle a checkpoint saved, its clock going on from the seconds it had run.
    pub(crate) fn resumed(saved: SavedLifecycle) -> Self {
        let elapsed = std::time::Duration::try_from_secs_f64(saved.seconds).unwrap_or_default();
        Lifecycle {
            state: saved.state,
            counters: saved.counters,
            events: Vec::new(),
            next_id: saved.next_id,
            next_worker: saved.next_worker,
            clock: Instant::now()
                .checked_sub(elapsed)
                .unwrap_or_else(Instant::now),
            seconds: saved.clock_stopped.then_some(saved.seconds),
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state == RunState::Running
    }

    /// The id and worker number of a new worker lease, counted as issued.
    pub(crate) fn issue(&mut self) -> (EvalId, u32) {
        let id = EvalId(self.next_id);
        self.next_id += 1;
        let worker_index = self.next_worker;
        self.next_worker += 1;
        self.counters.evaluations_issued += 1;
        (id, worker_index)
    }

    /// Workers handed out so far.
    pub(crate) fn workers(&self) -> u64 {
        u64::from(self.next_worker)
    }

    /// Stops the clock (once): training is over even if workers are still reporting.
    pub(crate) fn stop_clock(&mut self) {
        let elapsed = self.clock.elapsed().as_secs_f64();
        self.seconds.get_or_insert(elapsed);
    }

    /// Whether the clock was stopped.
    pub(crate) fn clock_stopped(&self) -> bool {
        self.seconds.is_some()
    }

    /// Seconds from the start to the clock's stop, or until now while it runs.
    pub(crate) fn seconds(&self) -> f64 {
        self.seconds
            .unwrap_or_else(|| self.clock.elapsed().as_secs_f64())
    }

    /// Ends the run in `state`: the clock stops and `last` then [`Progress::Finished`] are
    /// the run's last events.
    pub(crate) fn finish(&mut self, state: RunState, last: Option<Progress>) {
        self.state = state;
        self.stop_clock();
        self.events.extend(last);
        self.events.push(Progress::Finished);
    }
}
