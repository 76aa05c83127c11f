//! Parameter traffic of the runtime: pulls of module versions and deltas pushed ahead of
//! their result report.

use super::Runtime;
use super::report::lease_status;
use super::slot::Experiment;
use crate::pathnet::Engine;
use pathnet_proto::v1;
use pathnet_work::wire;
use tonic::Status;

impl Runtime {
    /// Stages pushed delta chunks of a held lease.
    pub(crate) fn push(&mut self, request: v1::PushParametersRequest) -> Result<(), Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let now = self.now();
        self.leases
            .check(&request.agent_id, &request.work_id, now)
            .map_err(|err| lease_status(&err).1)?;
        if request.kind != i32::from(v1::ParameterUpdateKind::Delta) {
            return Err(Status::invalid_argument(format!(
                "`kind` = {}: only PARAMETER_UPDATE_KIND_DELTA is accepted for pathway training",
                request.kind
            )));
        }
        let exp = self
            .slot
            .current()
            .ok_or_else(|| Status::failed_precondition("no experiment is running"))?;
        let engine = pathnet_engine(exp)?;
        let layers = engine.architecture().dims.layers;
        let chunk = request
            .chunk
            .ok_or_else(|| Status::invalid_argument("`chunk` is missing"))?;
        let (module, base) = wire::module_ref_from_wire(chunk.module.as_ref(), layers)
            .map_err(|err| Status::invalid_argument(err.to_string()))?;
        engine
            .parameters()
            .version(module)
            .map_err(|err| Status::invalid_argument(err.to_string()))?;
        let data = chunk
            .chunk
            .ok_or_else(|| Status::invalid_argument("`chunk.chunk` is missing"))?;
        let limit = exp.parameter_bytes;
        self.observed.bytes_pushed += data.data.len() as u64;
        self.staging
            .add(&request.work_id, module, base, data, limit)
            .map_err(|err| Status::invalid_argument(err.to_string()))
    }

    /// Completes the push of `work`: the modules whose tensors all arrived and are valid.
    pub(crate) fn finish_push(&mut self, work: &str) -> Result<v1::PushParametersResponse, Status> {
        let layers = self
            .slot
            .current()
            .and_then(|e| e.run.modules())
            .map_or(0, |e| e.architecture().dims.layers);
        let received = self
            .staging
            .seal(work)
            .map_err(|err| Status::invalid_argument(err.to_string()))?;
        Ok(v1::PushParametersResponse {
            received: received
                .into_iter()
                .map(|(id, base)| wire::module_ref(id, base, layers))
                .collect(),
        })
    }

    /// The chunks of the requested modules.
    pub(crate) fn pull(
        &mut self,
        request: &v1::PullParametersRequest,
    ) -> Result<Vec<v1::ParameterChunk>, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let exp = self
            .slot
            .current()
            .ok_or_else(|| Status::not_found("no experiment has been started"))?;
        let engine = pathnet_engine(exp)?;
        let layers = engine.architecture().dims.layers;
        // Each module is wanted at most once, so a longer list only multiplies the answer.
        let modules = engine.parameters().module_ids().count();
        if request.modules.len() > modules {
            return Err(Status::invalid_argument(format!(
                "`modules`: {} module references, but the network has only {modules} modules",
                request.modules.len()
            )));
        }
        let mut chunks = Vec::new();
        let mut held = self.agents.held_modules(&request.agent_id, &exp.id);
        for module in &request.modules {
            let (id, wanted) = wire::module_ref_from_wire(Some(module), layers)
                .map_err(|err| Status::invalid_argument(err.to_string()))?;
            let params = engine
                .module_params(id)
                .map_err(|err| Status::not_found(err.to_string()))?;
            if wanted > params.version {
                return Err(Status::not_found(format!(
                    "module {id}: version {wanted} not yet assigned (current {})",
                    params.version
                )));
            }
            if wanted < params.version && !request.accept_newer {
                return Err(Status::not_found(format!(
                    "module {id}: version {wanted} is no longer kept (current {})",
                    params.version
                )));
            }
            chunks.extend(
                wire::params_to_chunks(&params, layers, self.limits.chunk_bytes())
                    .map_err(|err| Status::internal(err.to_string()))?,
            );
            if let Some(held) = held.as_mut() {
                held.got(id, params.version);
            }
        }
        let bytes: usize = chunks
            .iter()
            .filter_map(|c| c.chunk.as_ref())
            .map(|c| c.data.len())
            .sum();
        self.observed.bytes_pulled += bytes as u64;
        Ok(chunks)
    }
}

impl Runtime {
    /// The parameters to send with a pathway lease to `agent`, so that it need not pull
    /// them: the modules of the lease it is not believed to hold at the version named or
    /// newer, at their current version, as long as they fit in half a message (the rest
    /// it pulls). Nothing for other work, or for an agent that did not ask for them.
    pub(super) fn inline_parameters(
        &mut self,
        agent: &str,
        experiment: &str,
        payload: &v1::work_item::Payload,
    ) -> Vec<v1::ParameterChunk> {
        let v1::work_item::Payload::PathwayTraining(job) = payload else {
            return Vec::new();
        };
        let Some(engine) = self.slot.get(experiment).and_then(|e| e.run.modules()) else {
            return Vec::new();
        };
        let Some(held) = self.agents.held_modules(agent, experiment) else {
            return Vec::new();
        };
        let layers = engine.architecture().dims.layers;
        let budget = self.limits.max_message_bytes / 2;
        let (mut chunks, mut bytes) = (Vec::new(), 0);
        for module in &job.modules {
            // The runtime built these references itself; one it cannot read is pulled.
            let Ok((id, wanted)) = wire::module_ref_from_wire(Some(module), layers) else {
                continue;
            };
            if held.holds(id, wanted) {
                continue;
            }
            let Ok(params) = engine.module_params(id) else {
                continue;
            };
            let size: usize = params.tensors.iter().map(|t| t.len() * 4).sum();
            if bytes + size > budget {
                break;
            }
            let Ok(module_chunks) =
                wire::params_to_chunks(&params, layers, self.limits.chunk_bytes())
            else {
                continue;
            };
            chunks.extend(module_chunks);
            bytes += size;
            held.got(id, params.version);
        }
        self.observed.bytes_pulled += bytes as u64;
        chunks
    }

    /// `agent`'s accepted result moved the modules in `updated` to those versions on its
    /// side too (it adds its own delta, as the coordinator did).
    pub(super) fn agent_kept(&mut self, agent: &str, experiment: &str, updated: &[v1::ModuleRef]) {
        let Some(engine) = self.slot.get(experiment).and_then(|e| e.run.modules()) else {
            return;
        };
        let layers = engine.architecture().dims.layers;
        let Some(held) = self.agents.held_modules(agent, experiment) else {
            return;
        };
        for module in updated {
            if let Ok((id, version)) = wire::module_ref_from_wire(Some(module), layers) {
                held.got(id, version);
            }
        }
    }
}

/// The experiment's PathNet engine: module parameters are only served for PathNet experiments.
fn pathnet_engine(exp: &Experiment) -> Result<&Engine, Status> {
    exp.run.modules().ok_or_else(|| {
        Status::failed_precondition(format!(
            "experiment `{}` is of kind `{}`, which has no PathNet modules to pull or push",
            exp.id,
            exp.run.kind()
        ))
    })
}
