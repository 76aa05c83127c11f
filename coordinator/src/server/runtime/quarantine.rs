//! Agents that fail everything they are given. One agent with a broken disk or a missing
//! dataset would otherwise take work after work, fail each, and — since the queue hands
//! re-queued work out first — exhaust one evaluation's failure limit on its own while the
//! rest of the cluster is healthy. So an agent whose last `max` leases of the experiment all
//! failed is quarantined: it gets no new leases while some agent outside quarantine has a
//! lease stream open to take them. The quarantine is lifted by a success (the agent is told nothing;
//! it idles and shows in the logs and `pathnet_agents_quarantined`); an agent that restarts
//! joins under a new id and starts clean.
//!
//! With nobody else left, a quarantined agent is given work again: the experiment then
//! fails by the per-work limit rather than stalling with every agent idle.

use super::agents::AgentRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Default)]
pub(super) struct Quarantine {
    /// Leases failed in a row, per agent, in the current experiment.
    streaks: HashMap<String, u32>,
    quarantined: BTreeSet<String>,
}

impl Quarantine {
    /// Counts a failed lease of `agent`; quarantines it once its last `max` leases failed
    /// and another agent can take the work. Returns whether it was quarantined just now.
    pub(super) fn failed(
        &mut self,
        agent: &str,
        max: u32,
        agents: &BTreeMap<String, AgentRecord>,
    ) -> bool {
        let streak = self.streaks.entry(agent.to_owned()).or_default();
        *streak += 1;
        if *streak < max || self.quarantined.contains(agent) {
            return false;
        }
        if !self.anyone_else(agent, agents, |_| true) {
            return false;
        }
        self.quarantined.insert(agent.to_owned());
        true
    }

    pub(super) fn succeeded(&mut self, agent: &str) {
        self.streaks.remove(agent);
        self.quarantined.remove(agent);
    }

    /// Whether `agent` may take new work: it is not quarantined, or no other agent outside
    /// quarantine is left to take it.
    pub(super) fn may_lease(&self, agent: &str, agents: &BTreeMap<String, AgentRecord>) -> bool {
        !self.quarantined.contains(agent) || !self.anyone_else(agent, agents, |_| true)
    }

    /// Whether a joined agent other than `agent` with a lease stream, outside quarantine
    /// and accepted by `eligible`, could take work.
    pub(super) fn anyone_else(
        &self,
        agent: &str,
        agents: &BTreeMap<String, AgentRecord>,
        eligible: impl Fn(&str) -> bool,
    ) -> bool {
        agents.iter().any(|(other, record)| {
            other != agent
                && record.streaming()
                && !self.quarantined.contains(other)
                && eligible(other)
        })
    }

    /// Joined agents in quarantine.
    pub(super) fn count(&self, agents: &BTreeMap<String, AgentRecord>) -> usize {
        self.quarantined
            .iter()
            .filter(|a| agents.contains_key(*a))
            .count()
    }

    pub(super) fn forget(&mut self, agent: &str) {
        self.streaks.remove(agent);
        self.quarantined.remove(agent);
    }

    pub(super) fn clear(&mut self) {
        self.streaks.clear();
        self.quarantined.clear();
    }
}
