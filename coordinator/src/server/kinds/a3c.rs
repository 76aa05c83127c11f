//! A3C on the wire: worker leases out; gradient pushes in, each answered with the newest
//! parameters; the final report only ends the lease.

use super::{
    Built, Checkpoints, Issued, PushRefusal, Pushed, Rejected, SavedRun, Served, ServedKind,
    fitting, invalid_spec, saved_state, worker_reported,
};
use crate::a3c::{A3cRun, ExchangeAnswer, ExchangeError, PushDone, PushTicket};
use crate::checkpoint::Tensors;
use crate::pathnet::TestSplit;
use crate::run::EvalId;
use crate::server::limits::Limits;
use crate::spec::A3cSpec;
use pathnet_proto::v1;
use tonic::Status;
impl ServedKind for A3cSpec {
    const CHECKPOINTS: Option<Checkpoints<Self>> = Some(Checkpoints::new(restore));

    fn build(self, id: &str, _: Option<TestSplit>, limits: &Limits) -> Result<Built, Status> {
        build(id, self, limits)
    }
}

/// Its parameters must fit one push answer.
fn build(id: &str, spec: A3cSpec, limits: &Limits) -> Result<Built, Status> {
    let run = A3cRun::new(id.to_owned(), spec).map_err(invalid_spec)?;
    let parameter_bytes = run.parameter_bytes();
    fitting(Box::new(run), parameter_bytes, "a3c.policy", limits)
}

/// The run a checkpoint saved, resumed, with how many worker leases it counts re-queued.
fn restore(
    spec: A3cSpec,
    id: &str,
    _: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    _: &Limits,
) -> Result<(Built, usize), String> {
    let (run, requeued) = A3cRun::restore(id.to_owned(), spec, saved_state(state)?, tensors)?;
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

impl Served for A3cRun {
    fn next_work(&mut self) -> Option<Issued> {
        let (eval, worker) = self.next_worker()?;
        Some(Issued {
            eval,
            what: format!("a3c worker {}", worker.worker_index),
            payload: v1::work_item::Payload::A3cWorker(v1::A3cWorker {
                config_toml: worker.config_toml,
                worker_index: worker.worker_index,
                seed: worker.seed,
            }),
        })
    }

    fn complete(
        &mut self,
        eval: EvalId,
        _report: &v1::ReportResultRequest,
        _pushed: &mut Pushed<'_>,
    ) -> Result<Vec<v1::ModuleRef>, Rejected> {
        worker_reported(A3cRun::complete(self, eval))
    }

    fn work_is_workers(&self) -> bool {
        true
    }

    fn begin_exchange(
        &mut self,
        eval: EvalId,
        push: &v1::GradientPush,
    ) -> Result<PushTicket, PushRefusal> {
        if push.fitness.is_some() {
            return Err(PushRefusal::Unfit(
                "`fitness`: only PathNet-A3C workers report a fitness",
            ));
        }
        Ok(A3cRun::begin_exchange(self, eval, push.sequence)?)
    }

    fn finish_exchange(&mut self, done: PushDone) -> Result<ExchangeAnswer, ExchangeError> {
        A3cRun::finish_exchange(self, done)
    }

    fn save(&self) -> Option<Result<SavedRun, String>> {
        let (state, tensors) = self.snapshot();
        Some(SavedRun::of(self.spec(), &state, tensors))
    }
}
