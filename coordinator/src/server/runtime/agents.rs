//! The joined agents: their ids, when each was last heard from, how much work each takes
//! and how to wake its lease streams.

use crate::lease::Millis;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use tonic::Status;

/// One joined agent.
pub(super) struct AgentRecord {
    max_in_flight: usize,
    last_seen: Millis,
    /// Lease streams it has open: while there is one it takes work (a client that only
    /// joined does not, nor one whose streams all closed, as a dead agent's do).
    streams: usize,
    /// Wakes this agent's lease streams alone, when only its own room changed.
    wake: watch::Sender<()>,
    /// Results accepted and gradient pushes admitted from it, for the dashboard's
    /// per-agent throughput.
    pub(super) results: u64,
}

impl AgentRecord {
    pub(super) fn streaming(&self) -> bool {
        self.streams > 0
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
    /// No agent was last seen before this: until `earliest_seen + silence` passes, none can
    /// be silent and [`Agents::silent`] need not look. Joins and sightings only move times
    /// later, so it stays a lower bound until the next scan makes it exact.
    earliest_seen: Option<Millis>,
}

impl Agents {
    pub(super) fn new(incarnation: u64) -> Self {
        Agents {
            records: BTreeMap::new(),
            incarnation,
            next: 1,
            earliest_seen: None,
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
                streams: 0,
                wake: watch::Sender::new(()),
                results: 0,
            },
        );
        if self.earliest_seen.is_none() {
            self.earliest_seen = Some(now);
        }
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

    /// `agent` opened a lease stream, taking up to `max_in_flight` leases at once; returns
    /// what wakes the stream when the agent's own room changes (`None` for an agent not
    /// joined).
    pub(super) fn streams(
        &mut self,
        agent: &str,
        max_in_flight: usize,
    ) -> Option<watch::Receiver<()>> {
        let record = self.records.get_mut(agent)?;
        record.max_in_flight = max_in_flight;
        record.streams += 1;
        Some(record.wake.subscribe())
    }

    /// One of `agent`'s lease streams closed.
    pub(super) fn stream_closed(&mut self, agent: &str) {
        if let Some(record) = self.records.get_mut(agent) {
            record.streams = record.streams.saturating_sub(1);
        }
    }

    /// Wakes `agent`'s lease streams.
    pub(super) fn wake(&self, agent: &str) {
        if let Some(record) = self.records.get(agent) {
            record.wake.send_replace(());
        }
    }

    /// How many leases `agent` takes at once (0 for one not joined).
    pub(super) fn room(&self, agent: &str) -> usize {
        self.records.get(agent).map_or(0, |r| r.max_in_flight)
    }

    /// Agents not heard from since `now - silence`. Asked before every decision, so it
    /// looks at the agents only once the earliest sighting may be that old.
    pub(super) fn silent(&mut self, now: Millis, silence: Duration) -> Vec<String> {
        match self.earliest_seen {
            Some(earliest) if now > earliest.plus(silence) => {}
            _ => return Vec::new(),
        }
        let mut silent = Vec::new();
        let mut earliest: Option<Millis> = None;
        for (id, a) in &self.records {
            if now > a.last_seen.plus(silence) {
                silent.push(id.clone());
            } else if earliest.is_none_or(|e| a.last_seen < e) {
                earliest = Some(a.last_seen);
            }
        }
        self.earliest_seen = earliest;
        silent
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
