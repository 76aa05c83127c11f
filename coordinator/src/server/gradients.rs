//! `ParameterService.ExchangeGradients`: A3C workers' gradient pushes, each answered with
//! the newest parameters.

use super::observe::RefusalReason;
use super::runtime::Runtime;
use crate::a3c::Disposition;
use crate::workload::Workload;
use pathnet_agent::{pathnet_a3c_wire, wire};
use pathnet_proto::v1;
use pathnet_rl::GradientUpdate;
use tonic::Status;

impl Runtime {
    /// Applies one A3C gradient (at most once per sequence number, only from the lease's
    /// holder) and answers with the newest parameters.
    pub fn exchange(
        &mut self,
        request: v1::GradientPush,
    ) -> Result<v1::GradientPushResponse, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let now = self.now();
        let leased = self
            .leases
            .check(&request.agent_id, &request.work_id, now)
            .map_err(|err| {
                self.observed.refused(RefusalReason::LeaseExpired);
                Status::failed_precondition(err.to_string())
            })?
            .item
            .clone();
        let pushed: usize = request.gradients.iter().map(|c| c.data.len()).sum();
        self.observed.bytes_pushed += pushed as u64;
        let chunk_bytes = self.limits.chunk_bytes();
        let exp = self
            .experiment
            .as_mut()
            .filter(|e| e.id == leased.experiment)
            .ok_or_else(|| Status::failed_precondition("the lease's experiment is over"))?;
        let update = if request.gradients.is_empty() {
            None
        } else {
            let grads = wire::tensors_from_chunks(request.gradients)
                .map_err(|err| Status::invalid_argument(format!("`gradients`: {err}")))?;
            Some(GradientUpdate {
                base_version: request.base_version,
                grads,
                env_steps: request.env_steps,
                episode_returns: request.episode_returns,
            })
        };
        let answer = match &mut exp.workload {
            Workload::A3c(run) if request.fitness.is_none() => {
                run.exchange(leased.eval, request.sequence, update)
            }
            Workload::A3c(_) => {
                return Err(Status::invalid_argument(
                    "`fitness`: only PathNet-A3C workers report a fitness",
                ));
            }
            Workload::PathNetA3c(run) => {
                run.exchange(leased.eval, request.sequence, update, request.fitness)
            }
            other => {
                return Err(Status::failed_precondition(format!(
                    "experiment `{}` is of kind `{}`, which takes no gradient pushes",
                    exp.id,
                    other.kind()
                )));
            }
        }
        .map_err(|err| {
            self.observed.refused(RefusalReason::InvalidResult);
            Status::invalid_argument(err.to_string())
        })?;
        let pathway = answer
            .pathway
            .as_ref()
            .map(pathnet_a3c_wire::pathway_to_wire);
        if answer.stop {
            // Wakes watchers and the run loop, who end on a finished experiment.
            self.dirty = true;
        }
        let parameters = wire::tensors_to_chunks(&answer.parameters, chunk_bytes)
            .map_err(|err| Status::internal(err.to_string()))?;
        let pulled: usize = parameters.iter().map(|c| c.data.len()).sum();
        self.observed.bytes_pulled += pulled as u64;
        use v1::GradientDisposition as D;
        Ok(v1::GradientPushResponse {
            disposition: match answer.disposition {
                Disposition::Applied => D::Applied,
                Disposition::Stale => D::Stale,
                Disposition::Duplicate => D::Duplicate,
                Disposition::FetchOnly => D::FetchOnly,
                Disposition::TrainingOver => D::TrainingOver,
            }
            .into(),
            version: answer.version,
            parameters,
            stop: answer.stop,
            staleness: answer.staleness,
            pathway,
        })
    }
}
