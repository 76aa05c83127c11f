//! The joined agents: their ids, when each was last heard from, how much work each takes
//! and how to wake its lease streams.

use crate::lease::Millis;
use pathnet_nn::pathnet::ModuleId;
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
    /// Its place in the order agents joined.
    number: u64,
    /// The operator's labels it reported at join, matched by `place` selectors.
    labels: BTreeMap<String, String>,
    /// Where it serves stage links (`host:port`); empty if it does not.
    stage_link_address: String,
    /// Set when a segment it hosted stages of was handed back as "peer lost": it is not
    /// chosen as a stage host, nor leased a placed segment, until it sends a heartbeat (a
    /// dead agent never does, while its lease stream may not have been seen closing yet).
    suspect: bool,
    /// What it holds, for an agent that takes module parameters with its leases; `None`
    /// for one that pulls them all.
    held_modules: Option<HeldModules>,
}

/// The module versions an agent is believed to hold, for one experiment: those sent with
/// its leases, those it pulled and those its accepted results moved. A wrong belief costs
/// bytes or a pull, never a wrong result: the agent pulls whatever is still stale.
#[derive(Debug, Default)]
pub(super) struct HeldModules {
    experiment: String,
    versions: BTreeMap<ModuleId, u64>,
}

impl HeldModules {
    /// Whether it holds `module` at `version` or newer.
    pub(super) fn holds(&self, module: ModuleId, version: u64) -> bool {
        self.versions
            .get(&module)
            .is_some_and(|&held| held >= version)
    }

    /// It now holds `module` at `version` (unless it held a newer one).
    pub(super) fn got(&mut self, module: ModuleId, version: u64) {
        let held = self.versions.entry(module).or_default();
        *held = (*held).max(version);
    }
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

    /// Its place in the order agents joined.
    pub(super) fn number(&self) -> u64 {
        self.number
    }

    pub(super) fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// Whether it is suspected of being the stage host a segment lost.
    pub(super) fn suspect(&self) -> bool {
        self.suspect
    }

    /// Its stage-link address, if it may host stages now: streaming leases (alive), serving
    /// stage links, and not suspected of being the peer a segment lost.
    pub(super) fn stage_host(&self) -> Option<&str> {
        (self.streaming() && !self.suspect && !self.stage_link_address.is_empty())
            .then_some(self.stage_link_address.as_str())
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

    /// Joins a new agent, seen `now`, with its operator `labels`, the address it serves
    /// stage links on (empty: none) and whether it takes parameters with its leases;
    /// returns its id.
    pub(super) fn join(
        &mut self,
        now: Millis,
        labels: BTreeMap<String, String>,
        stage_link_address: String,
        inline_parameters: bool,
    ) -> String {
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
                number: self.next - 1,
                labels,
                stage_link_address,
                suspect: false,
                held_modules: inline_parameters.then(HeldModules::default),
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

    /// What `agent` holds of `experiment`'s modules, if it takes parameters with its
    /// leases; what it held of another experiment is forgotten.
    pub(super) fn held_modules(
        &mut self,
        agent: &str,
        experiment: &str,
    ) -> Option<&mut HeldModules> {
        let held = self.records.get_mut(agent)?.held_modules.as_mut()?;
        if held.experiment != experiment {
            *held = HeldModules {
                experiment: experiment.to_owned(),
                versions: BTreeMap::new(),
            };
        }
        Some(held)
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

    /// `agent` itself called (a heartbeat): a suspicion is lifted. Not any call: the
    /// coordinator's own lease-stream task asks for work on behalf of an agent that may be
    /// dead. Returns whether a suspicion was lifted.
    pub(super) fn heard_from(&mut self, agent: &str) -> bool {
        self.records
            .get_mut(agent)
            .is_some_and(|record| std::mem::take(&mut record.suspect))
    }

    /// Suspects `agent` of being the stage host a segment lost (see `suspect`).
    pub(super) fn suspect(&mut self, agent: &str) {
        if let Some(record) = self.records.get_mut(agent) {
            record.suspect = true;
        }
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
