//! `AgentService.ReportResult`: a result applied at most once, or refused with an answer
//! that says why ([`ReportError`]).

use super::Runtime;
use super::observed::RefusalReason;
use super::slot::Leased;
use crate::lease::{LeaseEnd, LeaseError};
use crate::server::kinds::Rejected;
use pathnet_proto::v1;
use tonic::Status;

/// A report not applied: what the agent is told, what becomes of the lease and of the
/// work, and the `reason` monitoring counts it under.
#[derive(Debug)]
enum ReportError {
    /// The agent is not joined.
    UnknownAgent(Status),
    /// The lease is unknown, another agent's or ended; it stays as it is.
    Lease(LeaseError),
    /// The experiment was stopped or replaced, or its run ended (another result solved it)
    /// while this one was out: the lease is cancelled, the result dropped.
    Stale,
    /// The result is unusable: the lease ends, the work goes back to the queue and counts
    /// as failed on the agent.
    Refused {
        work: String,
        leased: Leased,
        detail: String,
    },
    /// Applying it failed the experiment, whose leases are all cancelled.
    Failed(String),
}

impl ReportError {
    fn reason(&self) -> RefusalReason {
        use RefusalReason as R;
        match self {
            ReportError::UnknownAgent(_) => R::UnknownAgent,
            ReportError::Lease(err) => lease_status(err).0,
            ReportError::Stale => R::Stale,
            ReportError::Refused { .. } => R::InvalidResult,
            ReportError::Failed(_) => R::Internal,
        }
    }

    /// How the lease ends, when the report ends it.
    fn lease_end(&self) -> Option<LeaseEnd> {
        match self {
            ReportError::Stale => Some(LeaseEnd::Cancelled),
            ReportError::Refused { .. } => Some(LeaseEnd::Refused),
            ReportError::UnknownAgent(_) | ReportError::Lease(_) | ReportError::Failed(_) => None,
        }
    }

    /// The agent's answer: a disposition for a result that is simply not needed (a
    /// duplicate, a stale one), an error status otherwise.
    fn answer(self) -> Result<v1::ReportResultResponse, Status> {
        use v1::ResultDisposition as D;
        match self {
            ReportError::UnknownAgent(status) => Err(status),
            ReportError::Lease(err) => match &err {
                LeaseError::Ended {
                    end: LeaseEnd::Reported,
                    ..
                } => Ok(disposition(D::Duplicate)),
                LeaseError::Ended {
                    end: LeaseEnd::Cancelled,
                    ..
                } => Ok(disposition(D::Stale)),
                _ => Err(lease_status(&err).1),
            },
            ReportError::Stale => Ok(disposition(D::Stale)),
            ReportError::Refused { work, detail, .. } => Err(Status::invalid_argument(format!(
                "result for work `{work}` refused: {detail}"
            ))),
            ReportError::Failed(message) => Err(Status::internal(message)),
        }
    }
}

/// Why a work id cannot be acted on, as counted and as told: one status per cause, whichever
/// service was called (`NOT_FOUND` for a work id never leased, `FAILED_PRECONDITION` for a
/// lease held by another agent or ended).
pub(super) fn lease_status(err: &LeaseError) -> (RefusalReason, Status) {
    use RefusalReason as R;
    let message = err.to_string();
    let reason = match err {
        LeaseError::Unknown(_) => return (R::UnknownWork, Status::not_found(message)),
        LeaseError::NotHolder { .. } => R::NotHolder,
        LeaseError::Ended { end, .. } => match end {
            LeaseEnd::Reported => R::Duplicate,
            LeaseEnd::Cancelled => R::Stale,
            LeaseEnd::Expired => R::LeaseExpired,
            LeaseEnd::Released => R::LeaseReleased,
            LeaseEnd::Refused => R::LeaseRefused,
            LeaseEnd::Restarted => R::LeaseRestarted,
        },
    };
    (reason, Status::failed_precondition(message))
}

fn disposition(d: v1::ResultDisposition) -> v1::ReportResultResponse {
    v1::ReportResultResponse {
        disposition: d.into(),
        updated_from_base: Vec::new(),
    }
}

impl Runtime {
    /// Applies a result at most once. A bad result ends its lease and re-queues its
    /// evaluation; parameters are untouched.
    pub(crate) fn report(
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
        let err = match self.apply_report(request) {
            Ok(updated_from_base) => {
                return Ok(v1::ReportResultResponse {
                    disposition: v1::ResultDisposition::Accepted.into(),
                    updated_from_base,
                });
            }
            Err(err) => err,
        };
        if let Some(end) = err.lease_end() {
            self.leases.end(&request.work_id, end);
        }
        match &err {
            ReportError::Refused {
                work,
                leased,
                detail,
            } => {
                self.requeue(work, leased);
                let detail = format!("its result was refused: {detail}");
                self.work_failed(leased, &request.agent_id, &detail);
            }
            ReportError::Failed(message) => self.fail_experiment(message.clone()),
            ReportError::UnknownAgent(_) | ReportError::Lease(_) | ReportError::Stale => {}
        }
        self.observed.refused(err.reason());
        err.answer()
    }

    /// The modules the agent may keep (see `updated_from_base`) when the result was
    /// applied.
    fn apply_report(
        &mut self,
        request: &v1::ReportResultRequest,
    ) -> Result<Vec<v1::ModuleRef>, ReportError> {
        self.tick();
        self.seen(&request.agent_id)
            .map_err(ReportError::UnknownAgent)?;
        let work = &request.work_id;
        let now = self.now();
        let leased = self
            .leases
            .check(&request.agent_id, work, now)
            .map_err(ReportError::Lease)?
            .item
            .clone();
        let exp = self
            .slot
            .get_mut(&leased.experiment)
            .ok_or(ReportError::Stale)?;
        let was_running = exp.is_running();
        let staging = &mut self.staging;
        let applied = exp.run.complete(leased.eval, request, &mut |id, base| {
            staging.take(work, id, base)
        });
        self.slot.drain_run_events();
        match applied {
            Ok(updated_from_base) => {
                self.agent_kept(&request.agent_id, &leased.experiment, &updated_from_base);
                self.result_taken(&request.agent_id);
                self.leases.end(work, LeaseEnd::Reported);
                self.staging.drop_work(work);
                self.failures.succeeded(&leased, &request.agent_id);
                self.agents.credit(&request.agent_id);
                Ok(updated_from_base)
            }
            // A result that raced the run's end (another agent's result solved it) is late,
            // not bad: it must not count against the work or the agent.
            Err(Rejected::Refused(_)) if !was_running => Err(ReportError::Stale),
            Err(Rejected::Refused(detail)) => Err(ReportError::Refused {
                work: work.clone(),
                leased,
                detail,
            }),
            Err(Rejected::Failed(err)) => {
                Err(ReportError::Failed(format!("the experiment failed: {err}")))
            }
        }
    }
}
