//! The coordinator's state behind the gRPC services: joined agents, the experiment and its
//! engine, the lease table and pushed deltas waiting for their report.
//!
//! Every method runs under one lock and starts by expiring overdue leases, so a decision is
//! never taken on a lease that has in fact lapsed. Answers are gRPC statuses because this
//! is the layer that decides what an agent is told; the rules themselves live in the engine
//! and the lease table; [`failures`] decides when work that keeps failing fails its
//! experiment.

mod failures;
mod quarantine;
#[cfg(test)]
mod tests;

pub use failures::DEFAULT_MAX_FAILURES_PER_WORK;

use super::observe::{Observed, RefusalReason};
use super::staging::Staging;
use crate::lease::{LeaseEnd, LeaseError, LeaseTable, Millis, MonotonicClock};
use crate::pathnet::EngineError;
use crate::run::{EvalId, Progress};
use crate::workload::Workload;
use failures::FailureTally;
use pathnet_proto::v1;
use pathnet_work::{genome_wire, pathnet_a3c_wire, wire};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::Status;

/// Limits and timings of a coordinator, told to every agent at join.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub lease_duration: Duration,
    pub heartbeat_interval: Duration,
}

impl Limits {
    /// Data bytes per tensor chunk: leaves room for the enclosing message's other fields.
    pub fn chunk_bytes(&self) -> usize {
        pathnet_proto::chunk_data_bytes(self.max_message_bytes)
    }
}

pub(super) struct AgentRecord {
    max_in_flight: usize,
    last_seen: Millis,
    /// It opened a lease stream: it takes work (a client that only joined does not).
    streaming: bool,
}

/// Work an agent holds.
#[derive(Debug, Clone)]
pub struct Leased {
    pub(super) experiment: String,
    pub(super) eval: EvalId,
    /// The work as an error names it: kind, evaluation or worker, task or genome.
    pub(super) what: Arc<str>,
}

pub struct Experiment {
    pub id: String,
    pub workload: Workload,
    pub started_unix_ms: u64,
    /// Set when the experiment failed (the engine failed internally, or the same work
    /// failed too often); it is then stopped.
    pub error: Option<String>,
    /// Bytes of all parameters: the most one result can push.
    pub(super) parameter_bytes: usize,
}

pub struct Runtime {
    pub(super) limits: Limits,
    pub(super) clock: MonotonicClock,
    pub(super) unix_origin_ms: u64,
    pub(super) agents: BTreeMap<String, AgentRecord>,
    pub(super) next_agent: u64,
    pub(super) next_experiment: u64,
    pub(super) experiment: Option<Experiment>,
    pub(super) leases: LeaseTable<Leased>,
    pub(super) staging: Staging,
    /// Progress of the current experiment not yet broadcast, tagged with its id.
    pub(super) events: Vec<(String, Progress)>,
    /// Set when work may have become available (results, requeues, a new experiment);
    /// cleared by [`Runtime::take_dirty`].
    pub(super) dirty: bool,
    /// Refusals by reason, parameter traffic, evaluation rate and fitness, for monitoring.
    pub(super) observed: Observed,
    failures: FailureTally,
    /// Work taken from the current experiment for an agent that had failed it, waiting for
    /// another agent (see [`failures`]); emptied when an experiment starts or has ended.
    passed_over: Vec<PassedOver>,
}

/// Work waiting in [`Runtime::passed_over`].
struct PassedOver {
    eval: EvalId,
    payload: v1::work_item::Payload,
    what: String,
}

pub(super) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Runtime {
    pub fn new(limits: Limits) -> Self {
        let clock = MonotonicClock::start();
        Runtime {
            leases: LeaseTable::new(limits.lease_duration),
            staging: Staging::default(),
            limits,
            unix_origin_ms: unix_now_ms(),
            clock,
            agents: BTreeMap::new(),
            next_agent: 1,
            next_experiment: 1,
            experiment: None,
            events: Vec::new(),
            dirty: false,
            observed: Observed::new(),
            failures: FailureTally::new(
                NonZeroU32::new(DEFAULT_MAX_FAILURES_PER_WORK).expect("the default is not 0"),
            ),
            passed_over: Vec::new(),
        }
    }

    /// How many times the same work may fail (handed back as failed by its agent, or its
    /// result refused) before its experiment fails; see [`failures`].
    pub fn set_max_failures_per_work(&mut self, max: NonZeroU32) {
        self.failures.set_max(max);
    }

    pub(super) fn now(&self) -> Millis {
        self.clock.now()
    }

    fn unix_ms(&self, at: Millis) -> u64 {
        self.unix_origin_ms.saturating_add(at.0)
    }

    /// Expires overdue leases (their evaluations go back to the queue) and forgets agents
    /// silent for three lease durations. Returns whether anything changed.
    pub fn tick(&mut self) -> bool {
        self.tick_at(self.now())
    }

    /// [`tick`](Self::tick) as of `now`, which tests set ahead to expire leases.
    fn tick_at(&mut self, now: Millis) -> bool {
        if let Some(exp) = &self.experiment {
            self.observed
                .sample(now, exp.workload.counters().results_accepted);
        }
        let expired = self.leases.expire(now);
        let changed = !expired.is_empty();
        for (work, leased) in expired {
            self.requeue(&work, &leased);
        }
        let silence = self.limits.lease_duration * 3;
        let gone: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| now > a.last_seen.plus(silence))
            .map(|(id, _)| id.clone())
            .collect();
        for agent in gone {
            self.forget_agent(&agent);
        }
        changed
    }

    /// Whether work may have become available since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    fn requeue(&mut self, work: &str, leased: &Leased) {
        self.dirty = true;
        self.staging.drop_work(work);
        if let Some(exp) = self
            .experiment
            .as_mut()
            .filter(|e| e.id == leased.experiment)
        {
            exp.workload.requeue(leased.eval);
        }
    }

    /// Failures start counting for `experiment`; work passed over for an earlier one is
    /// dropped.
    pub(super) fn count_failures_of(&mut self, experiment: &str) {
        self.passed_over.clear();
        self.failures.follow(experiment);
    }

    /// Joined agents in quarantine for failing everything (see [`failures`]).
    pub(super) fn agents_quarantined(&self) -> usize {
        self.failures.quarantined(&self.agents)
    }

    fn forget_agent(&mut self, agent: &str) {
        for (work, leased) in self.leases.release_agent(agent) {
            self.requeue(&work, &leased);
        }
        self.agents.remove(agent);
        self.failures.forget_agent(agent);
        // Work passed over, or agents in quarantine, may have been waiting for this one.
        self.dirty = true;
    }

    pub(super) fn seen(&mut self, agent: &str) -> Result<(), Status> {
        let now = self.now();
        match self.agents.get_mut(agent) {
            Some(record) => {
                record.last_seen = now;
                Ok(())
            }
            None => Err(Status::not_found(format!(
                "agent `{agent}` is not joined (the coordinator may have restarted): join again"
            ))),
        }
    }

    pub fn join(&mut self) -> v1::JoinResponse {
        self.tick();
        let id = format!("agent-{}", self.next_agent);
        self.next_agent += 1;
        let now = self.now();
        self.agents.insert(
            id.clone(),
            AgentRecord {
                max_in_flight: 1,
                last_seen: now,
                streaming: false,
            },
        );
        v1::JoinResponse {
            agent_id: id,
            limits: Some(v1::CoordinatorLimits {
                max_message_bytes: self.limits.max_message_bytes as u64,
                heartbeat_interval_ms: self.limits.heartbeat_interval.as_millis() as u64,
                lease_duration_ms: self.limits.lease_duration.as_millis() as u64,
            }),
        }
    }

    pub fn open_stream(&mut self, agent: &str, max_in_flight: u32) -> Result<(), Status> {
        self.seen(agent)?;
        if max_in_flight == 0 {
            return Err(Status::invalid_argument(
                "`max_in_flight` = 0: an agent must accept at least 1 lease",
            ));
        }
        if let Some(record) = self.agents.get_mut(agent) {
            record.max_in_flight = max_in_flight as usize;
            record.streaming = true;
        }
        self.dirty = true;
        Ok(())
    }

    /// Leases the next evaluation to `agent` if it has room and there is work.
    pub fn next_work(&mut self, agent: &str) -> Result<Option<v1::WorkItem>, Status> {
        self.tick();
        self.seen(agent)?;
        let room = self.agents[agent].max_in_flight;
        if self.leases.held_by(agent) >= room {
            return Ok(None);
        }
        if !self.failures.may_lease(agent, &self.agents) {
            return Ok(None);
        }
        let Some(exp) = self.experiment.as_mut() else {
            return Ok(None);
        };
        if !exp.workload.is_running() {
            // Held work of an experiment that ended is not wanted any more.
            self.passed_over.clear();
        }
        let waiting = self
            .passed_over
            .iter()
            .position(|p| !self.failures.pass_over(p.eval, agent, &self.agents));
        let (eval, payload, what) = match waiting {
            Some(index) => {
                let p = self.passed_over.remove(index);
                (p.eval, p.payload, p.what)
            }
            None => loop {
                let Some((eval, payload, what)) = next_payload(&mut exp.workload) else {
                    return Ok(None);
                };
                if !self.failures.pass_over(eval, agent, &self.agents) {
                    break (eval, payload, what);
                }
                self.passed_over.push(PassedOver {
                    eval,
                    payload,
                    what,
                });
                // Another agent's stream is to take it.
                self.dirty = true;
            },
        };
        let leased = Leased {
            experiment: exp.id.clone(),
            eval,
            what: what.into(),
        };
        let experiment = exp.id.clone();
        let now = self.now();
        let (work, deadline) = self.leases.grant(agent, leased, now);
        Ok(Some(v1::WorkItem {
            work_id: work,
            experiment_id: experiment,
            lease_deadline_unix_ms: self.unix_ms(deadline),
            payload: Some(payload),
        }))
    }

    /// Hands work that could not be delivered straight back to the queue.
    pub fn undeliverable(&mut self, agent: &str, work: &str) {
        for (work, leased) in self.leases.release(agent, &[work.to_owned()]) {
            self.requeue(&work, &leased);
        }
    }

    pub fn heartbeat(
        &mut self,
        request: &v1::HeartbeatRequest,
    ) -> Result<v1::HeartbeatResponse, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let now = self.now();
        let (extended, lost) = self
            .leases
            .heartbeat(&request.agent_id, &request.work_ids, now);
        Ok(v1::HeartbeatResponse {
            extended: extended
                .into_iter()
                .map(|(work_id, deadline)| v1::ExtendedLease {
                    work_id,
                    lease_deadline_unix_ms: self.unix_ms(deadline),
                })
                .collect(),
            lost: lost.into_iter().map(lost_lease).collect(),
        })
    }

    pub fn release(
        &mut self,
        request: &v1::ReleaseLeasesRequest,
    ) -> Result<v1::ReleaseLeasesResponse, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let released = self.leases.release(&request.agent_id, &request.work_ids);
        let ids = released.iter().map(|(w, _)| w.clone()).collect();
        let failed = request.reason == i32::from(v1::ReleaseReason::Failed);
        for (work, leased) in released {
            self.requeue(&work, &leased);
            if failed {
                self.work_failed(&leased, &request.agent_id, &request.detail);
            }
        }
        if request.reason == i32::from(v1::ReleaseReason::Shutdown) {
            self.forget_agent(&request.agent_id);
        }
        Ok(v1::ReleaseLeasesResponse { released: ids })
    }

    /// Applies a result at most once. A bad result ends its lease and re-queues its
    /// evaluation; parameters are untouched.
    pub fn report(
        &mut self,
        request: &v1::ReportResultRequest,
    ) -> Result<v1::ReportResultResponse, Status> {
        let inline: usize = request
            .deltas
            .iter()
            .flat_map(|d| &d.chunks)
            .map(|c| c.data.len())
            .sum();
        self.observed.bytes_pushed += inline as u64;
        match self.apply_report(request) {
            Ok(updated_from_base) => Ok(v1::ReportResultResponse {
                disposition: v1::ResultDisposition::Accepted.into(),
                updated_from_base,
            }),
            Err((reason, answer)) => {
                self.observed.refused(reason);
                answer
            }
        }
    }

    /// The modules the agent may keep (see `updated_from_base`) when the result was
    /// applied; otherwise why not, and the agent's answer.
    fn apply_report(
        &mut self,
        request: &v1::ReportResultRequest,
    ) -> Result<Vec<v1::ModuleRef>, Refused> {
        use RefusalReason as R;
        use v1::ResultDisposition as D;
        self.tick();
        self.seen(&request.agent_id)
            .map_err(|status| (R::UnknownAgent, Err(status)))?;
        let work = &request.work_id;
        let now = self.now();
        let leased = match self.leases.check(&request.agent_id, work, now) {
            Ok(lease) => lease.item.clone(),
            Err(err) => return Err(lease_refusal(err)),
        };
        let Some(exp) = self
            .experiment
            .as_mut()
            .filter(|e| e.id == leased.experiment)
        else {
            self.leases.end(work, LeaseEnd::Cancelled);
            return Err((R::Stale, Ok(disposition(D::Stale))));
        };
        let applied = match &mut exp.workload {
            Workload::PathNet(engine) => {
                let layers = engine.architecture().dims.layers;
                let staging = &mut self.staging;
                let outcome = wire::outcome_from_report(request, layers, |id, base| {
                    staging.take(work, id, base)
                });
                match outcome {
                    Ok(outcome) => engine
                        .complete(leased.eval, &outcome)
                        .map(|from_base| {
                            from_base
                                .into_iter()
                                .map(|(id, version)| wire::module_ref(id, version, layers))
                                .collect()
                        })
                        .map_err(|err| match err {
                            EngineError::Refused(refusal) => Ok(refusal.to_string()),
                            other => Err(other.to_string()),
                        }),
                    Err(malformed) => Err(Ok(malformed.to_string())),
                }
            }
            // The worker's episodes were counted as they were pushed; the report only ends
            // the lease.
            Workload::A3c(run) => run
                .complete(leased.eval)
                .map(|()| Vec::new())
                .map_err(|err| Ok(err.to_string())),
            Workload::PathNetA3c(run) => run
                .complete(leased.eval)
                .map(|()| Vec::new())
                .map_err(|err| Ok(err.to_string())),
            Workload::Neuroevolution(run) => match genome_wire::outcome_from_report(request) {
                Ok(outcome) => run
                    .complete(leased.eval, &outcome)
                    .map(|()| Vec::new())
                    .map_err(|refusal| Ok(refusal.to_string())),
                Err(malformed) => Err(Ok(malformed.to_string())),
            },
        };
        self.events.extend(
            exp.workload
                .drain_events()
                .into_iter()
                .map(|e| (exp.id.clone(), e)),
        );
        match applied {
            Ok(updated_from_base) => {
                self.dirty = true;
                self.leases.end(work, LeaseEnd::Reported);
                self.staging.drop_work(work);
                self.failures.succeeded(&leased, &request.agent_id);
                Ok(updated_from_base)
            }
            Err(Ok(refusal)) => {
                self.leases.end(work, LeaseEnd::Refused);
                self.requeue(work, &leased);
                let detail = format!("its result was refused: {refusal}");
                self.work_failed(&leased, &request.agent_id, &detail);
                Err((
                    R::InvalidResult,
                    Err(Status::invalid_argument(format!(
                        "result for work `{work}` refused: {refusal}"
                    ))),
                ))
            }
            Err(Err(err)) => {
                let message = format!("the experiment failed: {err}");
                self.fail_experiment(message.clone());
                Err((R::Internal, Err(Status::internal(message))))
            }
        }
    }

    /// Counts a failure of `leased`'s work on `agent`; the experiment fails once the same
    /// work has failed too often.
    fn work_failed(&mut self, leased: &Leased, agent: &str, detail: &str) {
        let Some(exp) = self
            .experiment
            .as_ref()
            .filter(|e| e.id == leased.experiment && e.error.is_none())
        else {
            return;
        };
        self.observed.work_failures += 1;
        tracing::warn!(experiment = %exp.id, work = %leased.what, %agent, %detail, "work failed");
        let verdict = self
            .failures
            .failed(&exp.workload, leased, agent, detail, &self.agents);
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
        let Some(exp) = self.experiment.as_mut() else {
            return;
        };
        exp.error = Some(message);
        exp.workload.stop();
        for (work, _) in self.leases.cancel_all() {
            self.staging.drop_work(&work);
        }
        // Wakes watchers, who end their streams on a failed experiment.
        self.dirty = true;
    }

    pub(super) fn drain_engine_events(&mut self) {
        if let Some(exp) = self.experiment.as_mut() {
            let id = exp.id.clone();
            self.events.extend(
                exp.workload
                    .drain_events()
                    .into_iter()
                    .map(|e| (id.clone(), e)),
            );
        }
    }

    /// Progress not yet broadcast, tagged with the experiment id.
    pub fn take_events(&mut self) -> Vec<(String, Progress)> {
        self.drain_engine_events();
        let events = std::mem::take(&mut self.events);
        let current = self.experiment.as_ref().map(|e| e.id.as_str());
        self.observed.progress(
            events
                .iter()
                .filter(|(id, _)| Some(id.as_str()) == current)
                .map(|(_, event)| event),
        );
        events
    }
}

/// The next work the experiment hands out, as it goes on the wire, and as an error would
/// name it.
fn next_payload(workload: &mut Workload) -> Option<(EvalId, v1::work_item::Payload, String)> {
    match workload {
        Workload::PathNet(engine) => {
            let request = engine.next_evaluation()?;
            let task = &engine.spec().tasks[request.job.task_index].name;
            let what = failures::describe_pathway(&request, task);
            Some((request.id, wire::pathway_payload(&request.job), what))
        }
        Workload::A3c(run) => {
            let (id, worker) = run.next_worker()?;
            let what = format!("a3c worker {}", worker.worker_index);
            Some((
                id,
                v1::work_item::Payload::A3cWorker(v1::A3cWorker {
                    config_toml: worker.config_toml,
                    worker_index: worker.worker_index,
                    seed: worker.seed,
                }),
                what,
            ))
        }
        Workload::PathNetA3c(run) => {
            let layers = run.spec().pathnet_a3c.layers;
            let (id, worker) = run.next_worker()?;
            let what = format!(
                "pathnet_a3c worker {} (phase {}, task {})",
                worker.worker_index, worker.phase, worker.task
            );
            Some((
                id,
                v1::work_item::Payload::PathnetA3cWorker(v1::PathNetA3cWorker {
                    config_toml: worker.config_toml,
                    worker_index: worker.worker_index,
                    seed: worker.seed,
                    task: worker.task as u32,
                    phase: worker.phase as u32,
                    pathway: Some(pathnet_a3c_wire::pathway_to_wire(&worker.pathway)),
                    frozen: worker
                        .frozen
                        .iter()
                        .map(|&m| wire::module_to_wire(m, layers))
                        .collect(),
                }),
                what,
            ))
        }
        Workload::Neuroevolution(run) => {
            let (id, job) = run.next_evaluation(|job| genome_wire::genome_bytes(&job.genome()))?;
            let what = failures::describe_genome(id, &job);
            Some((id, genome_wire::job_payload(&job), what))
        }
    }
}

/// A report not applied: why, and what the agent is told.
type Refused = (RefusalReason, Result<v1::ReportResultResponse, Status>);

fn lease_refusal(err: LeaseError) -> Refused {
    use RefusalReason as R;
    use v1::ResultDisposition as D;
    let precondition = |reason| (reason, Err(Status::failed_precondition(err.to_string())));
    match &err {
        LeaseError::Unknown(_) => (R::UnknownWork, Err(Status::not_found(err.to_string()))),
        LeaseError::NotHolder { .. } => precondition(R::NotHolder),
        LeaseError::Ended { end, .. } => match end {
            LeaseEnd::Reported => (R::Duplicate, Ok(disposition(D::Duplicate))),
            LeaseEnd::Cancelled => (R::Stale, Ok(disposition(D::Stale))),
            LeaseEnd::Expired => precondition(R::LeaseExpired),
            LeaseEnd::Released => precondition(R::LeaseReleased),
            LeaseEnd::Refused => precondition(R::LeaseRefused),
        },
    }
}

fn disposition(d: v1::ResultDisposition) -> v1::ReportResultResponse {
    v1::ReportResultResponse {
        disposition: d.into(),
        updated_from_base: Vec::new(),
    }
}

fn lost_lease(err: LeaseError) -> v1::LostLease {
    use v1::LeaseLossReason as R;
    let (work_id, reason) = match err {
        LeaseError::Unknown(work) => (work, R::UnknownWork),
        LeaseError::NotHolder { work, .. } => (work, R::UnknownWork),
        LeaseError::Ended { work, end } => (
            work,
            match end {
                LeaseEnd::Expired => R::Expired,
                LeaseEnd::Cancelled => R::Cancelled,
                LeaseEnd::Reported | LeaseEnd::Released | LeaseEnd::Refused => R::Unspecified,
            },
        ),
    };
    v1::LostLease {
        work_id,
        reason: reason.into(),
    }
}
