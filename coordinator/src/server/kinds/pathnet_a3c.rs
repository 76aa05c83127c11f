//! PathNet-A3C on the wire: worker leases out with their pathway and frozen modules;
//! gradient pushes and fitness reports in, a report answered with a new pathway when its
//! worker lost the tournament.

use super::{
    Built, Checkpoints, Issued, PushRefusal, Pushed, Rejected, SavedRun, Served, ServedKind,
    fitting, invalid_spec, saved_state, worker_reported,
};
use crate::a3c::{ExchangeAnswer, ExchangeError, PushDone, PushTicket};
use crate::checkpoint::Tensors;
use crate::pathnet::TestSplit;
use crate::pathnet_a3c::PathNetA3cRun;
use crate::run::EvalId;
use crate::server::limits::Limits;
use crate::spec::PathNetA3cSpec;
use pathnet_proto::v1;
use pathnet_work::{pathnet_a3c_wire, wire};
use tonic::Status;

impl ServedKind for PathNetA3cSpec {
    const CHECKPOINTS: Option<Checkpoints<Self>> = Some(Checkpoints::new(restore));

    fn build(self, id: &str, _: Option<TestSplit>, limits: &Limits) -> Result<Built, Status> {
        build(id, self, limits)
    }
}

/// Its parameters must fit one push answer.
fn build(id: &str, spec: PathNetA3cSpec, limits: &Limits) -> Result<Built, Status> {
    let run = PathNetA3cRun::new(id.to_owned(), spec).map_err(invalid_spec)?;
    let parameter_bytes = run.parameter_bytes();
    fitting(Box::new(run), parameter_bytes, "pathnet_a3c", limits)
}

/// The run a checkpoint saved, resumed, with how many worker leases it counts re-queued.
fn restore(
    spec: PathNetA3cSpec,
    id: &str,
    _: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    _: &Limits,
) -> Result<(Built, usize), String> {
    let (run, requeued) =
        PathNetA3cRun::restore(id.to_owned(), spec, saved_state(state)?, tensors)?;
    let parameter_bytes = run.parameter_bytes();
    let run = Box::new(run);
    Ok((
        Built {
            run,
            parameter_bytes,
        },
        requeued,
    ))
}

impl Served for PathNetA3cRun {
    fn next_work(&mut self) -> Option<Issued> {
        let layers = self.spec().pathnet_a3c.layers;
        let (eval, worker) = self.next_worker()?;
        let what = format!(
            "pathnet_a3c worker {} (phase {}, task {})",
            worker.worker_index, worker.phase, worker.task
        );
        Some(Issued {
            eval,
            what,
            payload: v1::work_item::Payload::PathnetA3cWorker(v1::PathNetA3cWorker {
                config_toml: worker.config_toml,
                worker_index: worker.worker_index,
                seed: worker.seed,
                task: wire::to_wire("task", worker.task),
                phase: wire::to_wire("phase", worker.phase),
                pathway: Some(pathnet_a3c_wire::pathway_to_wire(&worker.pathway)),
                frozen: worker
                    .frozen
                    .iter()
                    .map(|&m| wire::module_to_wire(m, layers))
                    .collect(),
            }),
        })
    }

    fn complete(
        &mut self,
        eval: EvalId,
        _report: &v1::ReportResultRequest,
        _pushed: &mut Pushed<'_>,
    ) -> Result<Vec<v1::ModuleRef>, Rejected> {
        worker_reported(PathNetA3cRun::complete(self, eval))
    }

    fn work_is_workers(&self) -> bool {
        true
    }

    fn begin_exchange(
        &mut self,
        eval: EvalId,
        push: &v1::GradientPush,
    ) -> Result<PushTicket, PushRefusal> {
        Ok(PathNetA3cRun::begin_exchange(
            self,
            eval,
            push.sequence,
            push.fitness,
        )?)
    }

    fn finish_exchange(&mut self, done: PushDone) -> Result<ExchangeAnswer, ExchangeError> {
        PathNetA3cRun::finish_exchange(self, done)
    }

    fn save(&self) -> Option<Result<SavedRun, String>> {
        let (state, tensors) = self.snapshot();
        Some(SavedRun::of(self.spec(), &state, tensors))
    }
}
