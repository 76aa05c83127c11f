//! PathNet on the wire: pathway jobs out, fitness and module deltas back (inline or pushed
//! ahead of the report), and the modules agents pull.

use super::{
    Built, Checkpoints, Issued, Pushed, Rejected, SavedRun, Served, ServedKind, saved_state,
};
use crate::checkpoint::Tensors;
use crate::pathnet::{Engine, EngineError, EngineState, TestSplit};
use crate::run::EvalId;
use crate::server::limits::Limits;
use crate::spec::ExperimentSpec;
use pathnet_proto::v1;
use pathnet_work::wire;
use tonic::Status;

fn check_data_dir(spec: &ExperimentSpec) -> Result<(), Status> {
    if !spec.data.dir.is_dir() {
        return Err(Status::invalid_argument(format!(
            "invalid spec: `data.dir` = {}: not a directory on the coordinator",
            spec.data.dir.display()
        )));
    }
    Ok(())
}

fn load_test_split(spec: &ExperimentSpec) -> Result<TestSplit, Status> {
    TestSplit::load(spec)
        .map_err(|err| Status::invalid_argument(format!("invalid spec: `data.dir`: {err}")))
}
impl ServedKind for ExperimentSpec {
    const CHECKPOINTS: Option<Checkpoints<Self>> = Some(Checkpoints::new(restore));

    fn precheck(&self) -> Result<(), Status> {
        check_data_dir(self)
    }

    fn load(&self) -> Result<Option<TestSplit>, Status> {
        load_test_split(self).map(Some)
    }

    fn build(self, id: &str, test: Option<TestSplit>, _: &Limits) -> Result<Built, Status> {
        build(id, self, test)
    }
}

fn build(id: &str, spec: ExperimentSpec, test: Option<TestSplit>) -> Result<Built, Status> {
    let test = test.ok_or_else(|| Status::internal("the test split was not loaded"))?;
    let features = test.features();
    let engine = Engine::new(id.to_owned(), spec, features, Some(Box::new(test)))
        .map_err(|err| Status::invalid_argument(err.to_string()))?;
    Ok(built(engine))
}

/// The engine a checkpoint saved, resumed, with how many evaluations went back to the queue.
fn restore(
    spec: ExperimentSpec,
    id: &str,
    test: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    _: &Limits,
) -> Result<(Built, usize), String> {
    let test = test.ok_or("the test split was not loaded")?;
    let features = test.features();
    let state: EngineState = saved_state(state)?;
    let (engine, requeued) = Engine::restore(
        id.to_owned(),
        spec,
        features,
        Some(Box::new(test)),
        state,
        tensors,
    )
    .map_err(|err| err.to_string())?;
    Ok((built(engine), requeued))
}

fn built(engine: Engine) -> Built {
    let net = engine.parameters();
    let parameter_bytes = net
        .module_ids()
        .filter_map(|id| net.params(id).ok())
        .flatten()
        .map(|p| p.len() * 4)
        .sum();
    Built {
        run: Box::new(engine),
        parameter_bytes,
    }
}

impl Served for Engine {
    fn next_work(&mut self) -> Option<Issued> {
        let request = self.next_evaluation()?;
        let task = &self.spec().tasks[request.job.task_index].name;
        let what = format!(
            "pathnet {} (task {} `{task}`, pathway {:?})",
            request.id, request.job.task_index, request.job.pathway
        );
        Some(Issued {
            eval: request.id,
            payload: wire::pathway_payload(&request.job),
            what,
        })
    }

    fn complete(
        &mut self,
        eval: EvalId,
        report: &v1::ReportResultRequest,
        pushed: &mut Pushed<'_>,
    ) -> Result<Vec<v1::ModuleRef>, Rejected> {
        let layers = self.architecture().dims.layers;
        let outcome = wire::outcome_from_report(report, layers, pushed)
            .map_err(|malformed| Rejected::Refused(malformed.to_string()))?;
        let from_base = Engine::complete(self, eval, &outcome).map_err(|err| match err {
            EngineError::Refused(refusal) => Rejected::Refused(refusal.to_string()),
            other => Rejected::Failed(other.to_string()),
        })?;
        Ok(from_base
            .into_iter()
            .map(|(id, version)| wire::module_ref(id, version, layers))
            .collect())
    }

    fn modules(&self) -> Option<&Engine> {
        Some(self)
    }

    fn save(&self) -> Option<Result<SavedRun, String>> {
        let saved = self.snapshot().map_err(|err| err.to_string());
        Some(saved.and_then(|(state, tensors)| SavedRun::of(self.spec(), &state, tensors)))
    }
}
