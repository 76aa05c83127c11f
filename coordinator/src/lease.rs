//! Leases: which agent holds which work until when.
//!
//! Every piece of work handed to an agent gets a fresh work id and a deadline; heartbeats
//! push the deadline out; a lease ends exactly once, by a report, a release, a refusal, a
//! cancellation or its deadline passing. An overdue lease counts as expired from the moment
//! its deadline passes, and [`LeaseTable::expire`] hands its work back to be re-queued. Ended
//! leases are remembered (up to a bound), so a late or repeated report gets a precise answer.
//!
//! Time is passed in as [`Millis`] on every call, so tests drive the clock by hand.

use pathnet_proto::quote;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

/// A point on a monotonic clock, in milliseconds from an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// `duration` later, saturating at the clock's end.
    pub fn plus(self, duration: Duration) -> Millis {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Millis(self.0.saturating_add(ms))
    }
}

/// The process's monotonic clock, counted from its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }

    /// Milliseconds since the clock started.
    pub fn now(&self) -> Millis {
        Millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

/// Why a lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    /// Its result was accepted.
    Reported,
    /// Its deadline passed without a heartbeat; the work went back to the queue.
    Expired,
    /// The agent handed it back unfinished; the work went back to the queue.
    Released,
    /// Its result was refused; the work went back to the queue.
    Refused,
    /// The experiment no longer needs the work.
    Cancelled,
    /// Leased by an earlier run of the coordinator, which restarted since; the work was
    /// re-queued from its checkpoint.
    Restarted,
}

impl fmt::Display for LeaseEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LeaseEnd::Reported => "its result was already accepted",
            LeaseEnd::Expired => "its lease expired and the work was re-queued",
            LeaseEnd::Released => "its lease was handed back",
            LeaseEnd::Refused => "its result was refused and the work was re-queued",
            LeaseEnd::Cancelled => "it was cancelled: the experiment no longer needs it",
            LeaseEnd::Restarted => {
                "it was leased before the coordinator restarted, and its work was re-queued"
            }
        })
    }
}

/// Why an agent cannot act on a work id. Ids came from the agent, so they are quoted bounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// No lease had this work id, or it ended too long ago to be remembered.
    #[error("work `{}` was never leased (or is too old to be remembered)", quote(.0))]
    Unknown(String),
    /// The lease has ended.
    #[error("work `{}` is no longer leased: {end}", quote(.work))]
    Ended {
        /// The work id, as the agent sent it.
        work: String,
        /// How the lease ended.
        end: LeaseEnd,
    },
    /// Another agent holds the lease.
    #[error(
        "work `{}` is leased to agent `{}`, not to `{}`",
        quote(.work),
        quote(.holder),
        quote(.agent)
    )]
    NotHolder {
        /// The work id, as the agent sent it.
        work: String,
        /// The agent that holds the lease.
        holder: String,
        /// The agent that asked.
        agent: String,
    },
}

/// A live lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease<T> {
    /// The agent holding it.
    pub agent: String,
    /// When it expires unless a heartbeat moves it out.
    pub deadline: Millis,
    /// The work leased.
    pub item: T,
}

/// Totals since the table was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseCounters {
    /// Leases granted.
    pub granted: u64,
    /// Deadlines moved out by heartbeats.
    pub extended: u64,
    /// Leases ended by their deadline passing.
    pub expired: u64,
    /// Leases handed back unfinished.
    pub released: u64,
    /// Leases ended by an accepted result.
    pub reported: u64,
    /// Leases ended by a refused result.
    pub refused: u64,
    /// Leases ended because the experiment no longer needed the work.
    pub cancelled: u64,
    /// Leases live when the coordinator last saved its state before a restart; their work
    /// was re-queued when it resumed.
    pub restarted: u64,
}

/// Ended work ids remembered for precise refusals; older ones are forgotten first.
const ENDED_MEMORY: usize = 100_000;

/// The live leases of items `T`, the ended ones remembered, and the counters.
pub struct LeaseTable<T> {
    duration: Duration,
    active: BTreeMap<String, Lease<T>>,
    /// Live leases per agent, kept as leases start and end: asked on every lease offered,
    /// where counting over `active` would cost a scan of every lease.
    held: HashMap<String, usize>,
    /// No live lease has a deadline before this, so [`LeaseTable::expire`] has nothing to
    /// do until it passes. Grants never lower the earliest deadline below it (every
    /// deadline is a grant or heartbeat time plus the same duration) and heartbeats only
    /// move deadlines later, so it stays a lower bound until the next scan makes it exact.
    earliest_deadline: Option<Millis>,
    ended: HashMap<String, LeaseEnd>,
    ended_order: VecDeque<String>,
    /// Part of every work id (`w<incarnation>-<n>`), so ids never repeat across restarts.
    incarnation: u64,
    next: u64,
    counters: LeaseCounters,
}

impl<T> LeaseTable<T> {
    /// A table whose leases last `duration` after each grant or heartbeat, for a coordinator
    /// in its `incarnation`-th run.
    pub fn new(duration: Duration, incarnation: u64) -> Self {
        LeaseTable {
            duration,
            active: BTreeMap::new(),
            held: HashMap::new(),
            earliest_deadline: None,
            ended: HashMap::new(),
            ended_order: VecDeque::new(),
            incarnation,
            next: 1,
            counters: LeaseCounters::default(),
        }
    }

    /// How long a lease lasts after its grant or latest heartbeat.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The totals since the table was created (or resumed from a saved state).
    pub fn counters(&self) -> &LeaseCounters {
        &self.counters
    }

    /// The counters as a state saved now reads on resuming: every live lease ended by the
    /// restart.
    pub fn counters_after_restart(&self) -> LeaseCounters {
        let mut counters = self.counters.clone();
        counters.restarted += self.active.len() as u64;
        counters
    }

    /// Carries on the counters of the coordinator's earlier runs.
    pub fn resume_counters(&mut self, counters: LeaseCounters) {
        self.counters = counters;
    }

    /// Whether `work` has the form of a work id of an earlier incarnation.
    fn leased_by_earlier_incarnation(&self, work: &str) -> bool {
        work.strip_prefix('w')
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(incarnation, _)| incarnation.parse::<u64>().ok())
            .is_some_and(|incarnation| incarnation < self.incarnation)
    }

    /// Leases not yet ended (overdue ones included until [`expire`](Self::expire) runs).
    pub fn outstanding(&self) -> usize {
        self.active.len()
    }

    /// Leases `agent` holds.
    pub fn held_by(&self, agent: &str) -> usize {
        self.held.get(agent).copied().unwrap_or(0)
    }

    /// Leases `item` to `agent` under a new work id; returns the id and the deadline.
    pub fn grant(&mut self, agent: &str, item: T, now: Millis) -> (String, Millis) {
        let work = format!("w{}-{}", self.incarnation, self.next);
        self.next += 1;
        let deadline = now.plus(self.duration);
        self.active.insert(
            work.clone(),
            Lease {
                agent: agent.to_owned(),
                deadline,
                item,
            },
        );
        match self.held.get_mut(agent) {
            Some(n) => *n += 1,
            None => {
                self.held.insert(agent.to_owned(), 1);
            }
        }
        if self.earliest_deadline.is_none_or(|e| deadline < e) {
            self.earliest_deadline = Some(deadline);
        }
        self.counters.granted += 1;
        (work, deadline)
    }

    /// The live lease of `work` if `agent` holds it and it is not overdue.
    pub fn check(&self, agent: &str, work: &str, now: Millis) -> Result<&Lease<T>, LeaseError> {
        let Some(lease) = self.active.get(work) else {
            return Err(match self.ended.get(work) {
                Some(&end) => LeaseError::Ended {
                    work: work.to_owned(),
                    end,
                },
                None if self.leased_by_earlier_incarnation(work) => LeaseError::Ended {
                    work: work.to_owned(),
                    end: LeaseEnd::Restarted,
                },
                None => LeaseError::Unknown(work.to_owned()),
            });
        };
        if lease.agent != agent {
            return Err(LeaseError::NotHolder {
                work: work.to_owned(),
                holder: lease.agent.clone(),
                agent: agent.to_owned(),
            });
        }
        if lease.deadline < now {
            return Err(LeaseError::Ended {
                work: work.to_owned(),
                end: LeaseEnd::Expired,
            });
        }
        Ok(lease)
    }

    /// Extends every listed lease `agent` still holds; the others come back with the reason
    /// they are not held.
    pub fn heartbeat(
        &mut self,
        agent: &str,
        works: &[String],
        now: Millis,
    ) -> (Vec<(String, Millis)>, Vec<LeaseError>) {
        let mut extended = Vec::new();
        let mut lost = Vec::new();
        for work in works {
            if let Err(err) = self.check(agent, work, now) {
                lost.push(err);
                continue;
            }
            let deadline = now.plus(self.duration);
            if let Some(lease) = self.active.get_mut(work) {
                lease.deadline = deadline;
            }
            self.counters.extended += 1;
            extended.push((work.clone(), deadline));
        }
        (extended, lost)
    }

    /// Ends every overdue lease; returns their work so it can be re-queued.
    ///
    /// Called before every decision, so it scans the leases only once the earliest
    /// deadline may have passed; the scan then learns the next earliest deadline.
    pub fn expire(&mut self, now: Millis) -> Vec<(String, T)> {
        match self.earliest_deadline {
            Some(earliest) if earliest < now => {}
            _ => return Vec::new(),
        }
        self.expire_scan(now)
    }

    /// [`expire`](Self::expire) by a scan of every lease, whatever the earliest deadline.
    fn expire_scan(&mut self, now: Millis) -> Vec<(String, T)> {
        let mut overdue = Vec::new();
        let mut earliest: Option<Millis> = None;
        for (work, lease) in &self.active {
            if lease.deadline < now {
                overdue.push(work.clone());
            } else if earliest.is_none_or(|e| lease.deadline < e) {
                earliest = Some(lease.deadline);
            }
        }
        self.earliest_deadline = earliest;
        overdue
            .into_iter()
            .filter_map(|work| self.end(&work, LeaseEnd::Expired).map(|l| (work, l.item)))
            .collect()
    }

    /// Ends a live lease for `reason`; `None` if it was not live.
    pub fn end(&mut self, work: &str, reason: LeaseEnd) -> Option<Lease<T>> {
        let lease = self.active.remove(work)?;
        if let Some(n) = self.held.get_mut(&lease.agent) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&lease.agent);
            }
        }
        let counter = match reason {
            LeaseEnd::Reported => &mut self.counters.reported,
            LeaseEnd::Expired => &mut self.counters.expired,
            LeaseEnd::Released => &mut self.counters.released,
            LeaseEnd::Refused => &mut self.counters.refused,
            LeaseEnd::Cancelled => &mut self.counters.cancelled,
            LeaseEnd::Restarted => &mut self.counters.restarted,
        };
        *counter += 1;
        self.remember(work.to_owned(), reason);
        Some(lease)
    }

    /// Ends the listed leases `agent` holds (overdue ones too: their work goes back either
    /// way); returns their work so it can be re-queued.
    pub fn release(&mut self, agent: &str, works: &[String]) -> Vec<(String, T)> {
        let held: Vec<&String> = works
            .iter()
            .filter(|work| self.active.get(*work).is_some_and(|l| l.agent == agent))
            .collect();
        held.into_iter()
            .filter_map(|work| {
                self.end(work, LeaseEnd::Released)
                    .map(|l| (work.clone(), l.item))
            })
            .collect()
    }

    /// Ends every lease `agent` holds, e.g. when it leaves.
    pub fn release_agent(&mut self, agent: &str) -> Vec<(String, T)> {
        if self.held_by(agent) == 0 {
            return Vec::new();
        }
        let works: Vec<String> = self
            .active
            .iter()
            .filter(|(_, l)| l.agent == agent)
            .map(|(w, _)| w.clone())
            .collect();
        self.release(agent, &works)
    }

    /// Ends every live lease as cancelled.
    pub fn cancel_all(&mut self) -> Vec<(String, T)> {
        let works: Vec<String> = self.active.keys().cloned().collect();
        works
            .into_iter()
            .filter_map(|work| self.end(&work, LeaseEnd::Cancelled).map(|l| (work, l.item)))
            .collect()
    }

    fn remember(&mut self, work: String, end: LeaseEnd) {
        if self.ended_order.len() == ENDED_MEMORY
            && let Some(oldest) = self.ended_order.pop_front()
        {
            self.ended.remove(&oldest);
        }
        self.ended.insert(work.clone(), end);
        self.ended_order.push_back(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> LeaseTable<&'static str> {
        LeaseTable::new(Duration::from_millis(100), 1)
    }

    #[test]
    fn heartbeat_extends_and_expiry_requeues_only_overdue_work() {
        let mut t = table();
        let (a, deadline) = t.grant("agent-1", "a", Millis(0));
        let (b, _) = t.grant("agent-1", "b", Millis(0));
        assert_eq!(deadline, Millis(100));
        let (extended, lost) = t.heartbeat("agent-1", std::slice::from_ref(&a), Millis(90));
        assert_eq!(extended, [(a.clone(), Millis(190))]);
        assert!(lost.is_empty());
        assert!(
            t.expire(Millis(100)).is_empty(),
            "not overdue at the deadline itself"
        );
        assert_eq!(t.expire(Millis(150)), [(b.clone(), "b")]);
        assert!(t.check("agent-1", &a, Millis(150)).is_ok());
        let err = t.check("agent-1", &b, Millis(150)).unwrap_err();
        assert_eq!(
            err,
            LeaseError::Ended {
                work: b,
                end: LeaseEnd::Expired
            }
        );
        assert_eq!(t.counters().expired, 1);
        assert_eq!(t.counters().extended, 1);
    }

    #[test]
    fn overdue_lease_is_refused_before_expire_runs_and_then_requeued_once() {
        let mut t = table();
        let (w, _) = t.grant("agent-1", "x", Millis(0));
        let err = t.check("agent-1", &w, Millis(101)).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let (extended, lost) = t.heartbeat("agent-1", std::slice::from_ref(&w), Millis(101));
        assert!(extended.is_empty());
        assert_eq!(lost.len(), 1);
        assert_eq!(t.expire(Millis(101)).len(), 1);
        assert!(
            t.expire(Millis(500)).is_empty(),
            "expired work is handed back once"
        );
    }

    #[test]
    fn a_lease_ends_once_and_later_reports_name_the_reason() {
        let mut t = table();
        let (w, _) = t.grant("agent-1", "x", Millis(0));
        assert!(t.end(&w, LeaseEnd::Reported).is_some());
        assert!(t.end(&w, LeaseEnd::Reported).is_none());
        let err = t.check("agent-1", &w, Millis(1)).unwrap_err();
        assert!(err.to_string().contains("already accepted"), "{err}");
        assert_eq!(t.counters().reported, 1);
        let unknown = t.check("agent-1", "w1-999", Millis(1)).unwrap_err();
        assert_eq!(unknown, LeaseError::Unknown("w1-999".into()));
    }

    #[test]
    fn only_the_holder_may_act_on_a_lease() {
        let mut t = table();
        let (w, _) = t.grant("agent-1", "x", Millis(0));
        let err = t.check("agent-2", &w, Millis(1)).unwrap_err();
        assert!(matches!(err, LeaseError::NotHolder { .. }), "{err}");
        assert!(t.release("agent-2", std::slice::from_ref(&w)).is_empty());
        let (extended, lost) = t.heartbeat("agent-2", std::slice::from_ref(&w), Millis(1));
        assert!(extended.is_empty() && lost.len() == 1);
        assert_eq!(t.held_by("agent-1"), 1);
    }

    #[test]
    fn release_agent_and_cancel_all_hand_work_back() {
        let mut t = table();
        t.grant("agent-1", "a", Millis(0));
        t.grant("agent-2", "b", Millis(0));
        t.grant("agent-1", "c", Millis(0));
        let mut back: Vec<_> = t
            .release_agent("agent-1")
            .into_iter()
            .map(|(_, i)| i)
            .collect();
        back.sort_unstable();
        assert_eq!(back, ["a", "c"]);
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.cancel_all().len(), 1);
        assert_eq!(t.outstanding(), 0);
        assert_eq!(t.counters().released, 2);
        assert_eq!(t.counters().cancelled, 1);
    }

    #[test]
    fn work_ids_of_an_earlier_incarnation_are_told_apart_from_unknown_ones() {
        let mut earlier = table();
        let (old, _) = earlier.grant("agent-1-1", "a", Millis(0));
        let mut t = LeaseTable::<&str>::new(Duration::from_millis(100), 2);
        let (new, _) = t.grant("agent-2-1", "a", Millis(0));
        assert_ne!(old, new, "ids never repeat across incarnations");
        let err = t.check("agent-2-1", &old, Millis(1)).unwrap_err();
        assert_eq!(
            err,
            LeaseError::Ended {
                work: old,
                end: LeaseEnd::Restarted
            }
        );
        assert!(err.to_string().contains("restarted"), "{err}");
        let later = t.check("agent-2-1", "w3-1", Millis(1)).unwrap_err();
        assert!(matches!(later, LeaseError::Unknown(_)), "{later}");
        assert_eq!(t.counters_after_restart().restarted, 1);
    }

    #[test]
    fn work_ids_are_never_reused() {
        let mut t = table();
        let (first, _) = t.grant("agent-1", "a", Millis(0));
        t.end(&first, LeaseEnd::Released);
        let (second, _) = t.grant("agent-1", "a", Millis(0));
        assert_ne!(first, second);
    }

    mod lazy_expiry {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Grant { agent: usize },
            Heartbeat { agent: usize, lease: usize },
            Report { lease: usize },
            ReleaseAgent { agent: usize },
            Advance { ms: u64 },
            Expire,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0..4usize).prop_map(|agent| Op::Grant { agent }),
                2 => (0..4usize, 0..64usize)
                    .prop_map(|(agent, lease)| Op::Heartbeat { agent, lease }),
                2 => (0..64usize).prop_map(|lease| Op::Report { lease }),
                1 => (0..4usize).prop_map(|agent| Op::ReleaseAgent { agent }),
                3 => (0..80u64).prop_map(|ms| Op::Advance { ms }),
                3 => Just(Op::Expire),
            ]
        }

        proptest! {
            /// The lazy scan expires exactly what a scan of every lease would, at every
            /// step, and the per-agent counts match a count over the live leases.
            #[test]
            fn lazy_expiry_matches_the_full_scan(ops in proptest::collection::vec(op(), 1..200)) {
                let mut lazy = LeaseTable::<usize>::new(Duration::from_millis(100), 1);
                let mut full = LeaseTable::<usize>::new(Duration::from_millis(100), 1);
                let mut now = Millis(0);
                let mut works: Vec<String> = Vec::new();
                for (i, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Grant { agent } => {
                            let agent = format!("agent-{agent}");
                            let a = lazy.grant(&agent, i, now);
                            let b = full.grant(&agent, i, now);
                            prop_assert_eq!(&a, &b);
                            works.push(a.0);
                        }
                        Op::Heartbeat { agent, lease } => {
                            let Some(work) = works.get(lease).cloned() else { continue };
                            let agent = format!("agent-{agent}");
                            let a = lazy.heartbeat(&agent, std::slice::from_ref(&work), now);
                            let b = full.heartbeat(&agent, std::slice::from_ref(&work), now);
                            prop_assert_eq!(a, b);
                        }
                        Op::Report { lease } => {
                            let Some(work) = works.get(lease) else { continue };
                            let a = lazy.end(work, LeaseEnd::Reported).map(|l| l.item);
                            let b = full.end(work, LeaseEnd::Reported).map(|l| l.item);
                            prop_assert_eq!(a, b);
                        }
                        Op::ReleaseAgent { agent } => {
                            let agent = format!("agent-{agent}");
                            prop_assert_eq!(lazy.release_agent(&agent), full.release_agent(&agent));
                        }
                        Op::Advance { ms } => now = Millis(now.0 + ms),
                        Op::Expire => {
                            prop_assert_eq!(lazy.expire(now), full.expire_scan(now));
                        }
                    }
                    prop_assert_eq!(lazy.outstanding(), full.outstanding());
                    for agent in 0..4 {
                        let agent = format!("agent-{agent}");
                        let counted = lazy.active.values().filter(|l| l.agent == agent).count();
                        prop_assert_eq!(lazy.held_by(&agent), counted);
                    }
                }
                prop_assert_eq!(lazy.expire(Millis(u64::MAX)), full.expire_scan(Millis(u64::MAX)));
                prop_assert_eq!(lazy.counters(), full.counters());
            }
        }
    }
}
