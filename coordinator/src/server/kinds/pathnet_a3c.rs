//! PathNet-A3C on the wire: worker leases out with their pathway and frozen modules;
//! gradient pushes and fitness reports in, a report answered with a new pathway when its
//! worker lost the tournament.

use super::{
    Built, Issued, PushRefusal, Pushed, Rejected, SavedRun, Served, ServedKind, fitting,
    from_saved_json, invalid_spec, saved_json, worker_reported,
};
use crate::a3c::{ExchangeAnswer, ExchangeError, PushDone, PushTicket};
use crate::checkpoint::Tensors;
use crate::pathnet::TestSplit;
use crate::pathnet_a3c::{PathNetA3cRun, PathNetA3cState};
use crate::run::EvalId;
use crate::server::limits::Limits;
use crate::spec::PathNetA3cSpec;
use pathnet_proto::v1;
use pathnet_work::{pathnet_a3c_wire, wire};
use tonic::Status;

impl ServedKind for PathNetA3cSpec {
    const CHECKPOINTS: bool = true;

    fn build(self, id: &str, _: Option<TestSplit>, limits: &Limits) -> Result<Built, Status> {
        build(id, self, limits)
    }

    fn to_saved(&self) -> Result<serde_json::Value, String> {
        saved_json(self)
    }

    fn from_saved(spec: serde_json::Value) -> Result<Self, String> {
        from_saved_json(spec)
    }

    fn restore(
        self,
        id: &str,
        _: Option<TestSplit>,
        state: serde_json::Value,
        tensors: Tensors,
    ) -> Result<(Built, usize), String> {
        restore(id, self, state, tensors)
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
    id: &str,
    spec: PathNetA3cSpec,
    state: serde_json::Value,
    tensors: Tensors,
) -> Result<(Built, usize), String> {
    let state: PathNetA3cState =
        serde_json::from_value(state).map_err(|err| format!("`experiment.run`: {err}"))?;
    let (run, requeued) = PathNetA3cRun::restore(id.to_owned(), spec, state, tensors)?;
    let parameter_bytes = run.parameter_bytes();
    Ok((
        Built {
            run: Box::new(run),
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
        let saved = || {
            let (state, tensors) = self.snapshot();
            Ok(SavedRun {
                spec: serde_json::to_value(self.spec()).map_err(|err| err.to_string())?,
                state: serde_json::to_value(state).map_err(|err| err.to_string())?,
                tensors,
            })
        };
        Some(saved())
    }
}
