//! Work that keeps failing: an evaluation whose agent hands its lease back as failed, or
//! whose result is refused, goes back to the queue, and one that fails every time (a data
//! file unreadable, a genome that trips a bug) would otherwise be re-issued forever. After
//! the coordinator's limit of failures of the same evaluation the experiment fails instead,
//! naming the evaluation, the count and the agent's last word on it.
//!
//! A3C and PathNet-A3C workers are never re-issued: a failed worker's slot goes to a new
//! worker. For them the failures of the experiment's workers in a row count, with no
//! update applied in between: parameters that move mean the work can succeed.
//!
//! An expired lease (its agent died) and a shutdown release (its agent is leaving) say
//! nothing about the work and are not counted.
//!
//! The limit is meant to catch broken work, not a broken agent: work that failed on an
//! agent is passed over for that agent while another agent that has not failed it could
//! take it, so with several agents the failures of one evaluation come from different
//! agents; and an agent that fails everything is quarantined ([`Quarantine`]).

use super::agents::AgentRecord;
use super::quarantine::Quarantine;
use super::slot::Leased;
use crate::run::EvalId;
use crate::server::kinds::Served;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;

/// Failures of one evaluation after which its experiment fails, unless configured.
pub const DEFAULT_MAX_FAILURES_PER_WORK: u32 = 3;

/// Failures of a running experiment's work so far.
pub(super) struct FailureTally {
    max: NonZeroU32,
    /// The experiment counted; another one starts from nothing.
    experiment: String,
    /// Failures of each evaluation not yet completed, and the agents they happened on.
    evaluations: HashMap<EvalId, (u32, BTreeSet<String>)>,
    /// Worker leases failed in a row, and the accepted results when the last one failed.
    worker_streak: u32,
    worker_progress: u64,
    quarantine: Quarantine,
}

/// What one failure led to.
pub(super) struct Verdict {
    /// The experiment's error, once the limit is reached.
    pub(super) error: Option<String>,
    /// The agent was quarantined by this failure.
    pub(super) quarantined: bool,
}

impl FailureTally {
    pub(super) fn new(max: NonZeroU32) -> Self {
        FailureTally {
            max,
            experiment: String::new(),
            evaluations: HashMap::new(),
            worker_streak: 0,
            worker_progress: 0,
            quarantine: Quarantine::default(),
        }
    }

    pub(super) fn set_max(&mut self, max: NonZeroU32) {
        self.max = max;
    }

    /// Counts one failure of `leased`'s work on `agent`, `detail` being what went wrong,
    /// `agents` those joined.
    pub(super) fn failed(
        &mut self,
        run: &dyn Served,
        leased: &Leased,
        agent: &str,
        detail: &str,
        agents: &BTreeMap<String, AgentRecord>,
    ) -> Verdict {
        self.follow(&leased.experiment);
        let quarantined = self.quarantine.failed(agent, self.max.get(), agents);
        let error = self.count(run, leased, agent, detail);
        Verdict { error, quarantined }
    }

    fn count(
        &mut self,
        run: &dyn Served,
        leased: &Leased,
        agent: &str,
        detail: &str,
    ) -> Option<String> {
        let detail = if detail.trim().is_empty() {
            "(the agent gave no detail)"
        } else {
            detail
        };
        let max = self.max.get();
        if run.work_is_workers() {
            let progress = run.counters().results_accepted;
            if progress != self.worker_progress {
                self.worker_streak = 0;
                self.worker_progress = progress;
            }
            self.worker_streak += 1;
            return (self.worker_streak >= max).then(|| {
                format!(
                    "{} {} worker leases failed in a row with no update applied in between \
                     (the limit set by --max-failures-per-work); the last, {} on agent \
                     `{agent}`: {detail}",
                    self.worker_streak,
                    run.kind(),
                    leased.what
                )
            });
        }
        let (failures, agents) = self.evaluations.entry(leased.eval).or_default();
        *failures += 1;
        agents.insert(agent.to_owned());
        (*failures >= max).then(|| {
            let times = if *failures == 1 { "time" } else { "times" };
            format!(
                "{} failed {failures} {times} (the limit set by --max-failures-per-work); the \
                 last failure, on agent `{agent}`: {detail}",
                leased.what
            )
        })
    }

    /// `leased`'s work was done by `agent`: its earlier failures no longer count, and the
    /// agent is out of quarantine.
    pub(super) fn succeeded(&mut self, leased: &Leased, agent: &str) {
        if leased.experiment == self.experiment {
            self.evaluations.remove(&leased.eval);
            self.worker_streak = 0;
            self.quarantine.succeeded(agent);
        }
    }

    /// Whether `agent` may take new work (see [`Quarantine`]).
    pub(super) fn may_lease(&self, agent: &str, agents: &BTreeMap<String, AgentRecord>) -> bool {
        self.quarantine.may_lease(agent, agents)
    }

    /// Whether `agent` should leave `eval` to another: it failed there before, and a joined
    /// agent outside quarantine that has not failed it could take it.
    pub(super) fn pass_over(
        &self,
        eval: EvalId,
        agent: &str,
        agents: &BTreeMap<String, AgentRecord>,
    ) -> bool {
        let Some((_, failed_on)) = self.evaluations.get(&eval) else {
            return false;
        };
        failed_on.contains(agent)
            && self
                .quarantine
                .anyone_else(agent, agents, |other| !failed_on.contains(other))
    }

    /// Joined agents in quarantine.
    pub(super) fn quarantined(&self, agents: &BTreeMap<String, AgentRecord>) -> usize {
        self.quarantine.count(agents)
    }

    /// `agent` left: a new join starts clean.
    pub(super) fn forget_agent(&mut self, agent: &str) {
        self.quarantine.forget(agent);
    }

    /// Starts counting for `experiment`, from nothing unless it is the one counted.
    pub(super) fn follow(&mut self, experiment: &str) {
        if self.experiment != experiment {
            self.experiment = experiment.to_owned();
            self.evaluations.clear();
            self.worker_streak = 0;
            self.worker_progress = 0;
            self.quarantine.clear();
        }
    }
}
