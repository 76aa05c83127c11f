//! The joined agents: their ids, when each was last heard from, and how much work each
//! takes.

use crate::lease::Millis;
use std::collections::BTreeMap;
use std::time::Duration;
use tonic::Status;

/// One joined agent.
pub(super) struct AgentRecord {
    max_in_flight: usize,
    last_seen: Millis,
    /// It opened a lease stream: it takes work (a client that only joined does not).
    streaming: bool,
    /// Results accepted and gradient pushes admitted from it, for the dashboard's
    /// per-agent throughput.
    pub(super) results: u64,
}

impl AgentRecord {
    pub(super) fn streaming(&self) -> bool {
        self.streaming
    }

    pub(super) fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    pub(super) fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

/// The joined agents, by id.
pub(super) struct Agents {
    records: BTreeMap<String, AgentRecord>,
    /// Part of every id (`agent-<incarnation>-<n>`), so that an agent of an earlier run of
    /// the coordinator can never be taken for one joined since.
    incarnation: u64,
    next: u64,
}

impl Agents {
    pub(super) fn new(incarnation: u64) -> Self {
        Agents {
            records: BTreeMap::new(),
            incarnation,
            next: 1,
        }
    }

    /// Joins a new agent, seen `now`; returns its id.
    pub(super) fn join(&mut self, now: Millis) -> String {
        let id = format!("agent-{}-{}", self.incarnation, self.next);
        self.next += 1;
        self.records.insert(
            id.clone(),
            AgentRecord {
                max_in_flight: 1,
                last_seen: now,
                streaming: false,
                results: 0,
            },
        );
        id
    }

    /// Records that `agent` was heard from `now`; `NOT_FOUND` for an agent not joined.
    pub(super) fn seen(&mut self, agent: &str, now: Millis) -> Result<(), Status> {
        match self.records.get_mut(agent) {
            Some(record) => {
                record.last_seen = now;
                Ok(())
            }
            None => Err(Status::not_found(format!(
                "agent `{}` is not joined (the coordinator may have restarted): join again",
                pathnet_proto::quote(agent)
            ))),
        }
    }

    /// `agent` opened its lease stream, taking up to `max_in_flight` leases at once.
    pub(super) fn streams(&mut self, agent: &str, max_in_flight: usize) {
        if let Some(record) = self.records.get_mut(agent) {
            record.max_in_flight = max_in_flight;
            record.streaming = true;
        }
    }

    /// How many leases `agent` takes at once (0 for one not joined).
    pub(super) fn room(&self, agent: &str) -> usize {
        self.records.get(agent).map_or(0, |r| r.max_in_flight)
    }

    /// Agents not heard from since `now - silence`.
    pub(super) fn silent(&self, now: Millis, silence: Duration) -> Vec<String> {
        self.records
            .iter()
            .filter(|(_, a)| now > a.last_seen.plus(silence))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Counts one result (or push) taken from `agent`.
    pub(super) fn credit(&mut self, agent: &str) {
        if let Some(record) = self.records.get_mut(agent) {
            record.results += 1;
        }
    }

    pub(super) fn remove(&mut self, agent: &str) {
        self.records.remove(agent);
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    pub(super) fn records(&self) -> &BTreeMap<String, AgentRecord> {
        &self.records
    }
}
