//! Sideways on the wire: each segment goes out with its snapshot in chunks, and comes back
//! as the next snapshot and the segment's metrics.

use super::{
    Built, Checkpoints, Issued, Pushed, Rejected, SavedRun, Served, ServedKind, fitting,
    invalid_spec, saved_state,
};
use crate::checkpoint::Tensors;
use crate::kind::Kind;
use crate::pathnet::TestSplit;
use crate::placement::StageRule;
use crate::run::{Counters, EvalId, Progress, Run, RunState, RunStatus, Summary};
use crate::server::limits::Limits;
use crate::sideways::{SidewaysRun, SidewaysRunState};
use crate::spec::SidewaysSpec;
use pathnet_proto::v1;
use pathnet_work::sideways::StagePlacement;
use pathnet_work::sideways_wire;
use tonic::Status;

/// The run with the chunk size its snapshots travel in.
struct ServedSideways {
    run: SidewaysRun,
    chunk_bytes: usize,
    /// Where each segment's stages go, if the spec says.
    stage_rule: Option<StageRule>,
}
impl ServedKind for SidewaysSpec {
    const CHECKPOINTS: Option<Checkpoints<Self>> = Some(Checkpoints::new(restore));

    fn build(self, id: &str, _: Option<TestSplit>, limits: &Limits) -> Result<Built, Status> {
        build(id, self, limits)
    }
}

/// A segment's work item and its report each carry one snapshot (parameters and Adam's two
/// moments), which must fit one message.
fn build(id: &str, spec: SidewaysSpec, limits: &Limits) -> Result<Built, Status> {
    let stage_rule = spec.stage_rule().map_err(invalid_spec)?;
    let run = SidewaysRun::new(id.to_owned(), spec).map_err(invalid_spec)?;
    served(run, stage_rule, limits)
}

/// The run a checkpoint saved, resumed from its snapshot, with the segment that was out
/// re-queued (0 or 1).
fn restore(
    spec: SidewaysSpec,
    id: &str,
    _: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    limits: &Limits,
) -> Result<(Built, usize), String> {
    let stage_rule = spec.stage_rule().map_err(|err| err.to_string())?;
    let state: SidewaysRunState = saved_state(state)?;
    let (run, requeued) = SidewaysRun::restore(id.to_owned(), spec, state, tensors)?;
    let built = served(run, stage_rule, limits).map_err(|status| status.message().to_owned())?;
    Ok((built, requeued))
}

/// The run served with its snapshots' chunk size and stage placement.
fn served(
    run: SidewaysRun,
    stage_rule: Option<StageRule>,
    limits: &Limits,
) -> Result<Built, Status> {
    let bytes = run.parameter_bytes();
    // Adam's moments appear after the first step: three times the parameters.
    let snapshot_bytes = 3 * bytes;
    let served = ServedSideways {
        run,
        chunk_bytes: limits.chunk_bytes(),
        stage_rule,
    };
    fitting(Box::new(served), snapshot_bytes, "sideways", limits)
}

/// Says in a segment's work item which agents host its stages.
pub(in crate::server) fn place(payload: &mut v1::work_item::Payload, placement: &StagePlacement) {
    if let v1::work_item::Payload::SidewaysSegment(segment) = payload {
        sideways_wire::set_placement(segment, placement);
    }
}

impl Served for ServedSideways {
    fn stage_rule(&self) -> Option<&StageRule> {
        self.stage_rule.as_ref()
    }

    fn next_work(&mut self) -> Option<Issued> {
        let (eval, job) = self.run.next_segment()?;
        let payload = match sideways_wire::job_payload(&job, self.chunk_bytes) {
            Ok(payload) => payload,
            Err(err) => {
                // The run's own tensors always chunk; a failure here is a bug, and the
                // segment goes back to the queue rather than out broken.
                tracing::error!(%err, "cannot chunk a Sideways snapshot");
                self.run.requeue(eval);
                return None;
            }
        };
        Some(Issued {
            eval,
            payload,
            what: format!(
                "sideways segment {} (batches {}..{})",
                job.segment,
                job.first_batch,
                job.first_batch + job.batches
            ),
        })
    }

    fn complete(
        &mut self,
        eval: EvalId,
        report: &v1::ReportResultRequest,
        _pushed: &mut Pushed<'_>,
    ) -> Result<Vec<v1::ModuleRef>, Rejected> {
        let outcome = sideways_wire::outcome_from_report(report)
            .map_err(|malformed| Rejected::Refused(malformed.to_string()))?;
        self.run
            .complete(eval, outcome)
            .map_err(|refusal| Rejected::Refused(refusal.to_string()))?;
        Ok(Vec::new())
    }

    fn save(&self) -> Option<Result<SavedRun, String>> {
        let (state, tensors) = self.run.checkpoint();
        Some(SavedRun::of(self.run.spec(), &state, tensors))
    }
}

impl Run for ServedSideways {
    fn kind(&self) -> Kind {
        self.run.kind()
    }

    fn state(&self) -> RunState {
        self.run.state()
    }

    fn stop(&mut self) {
        self.run.stop()
    }

    fn requeue(&mut self, id: EvalId) {
        self.run.requeue(id)
    }

    fn counters(&self) -> &Counters {
        self.run.counters()
    }

    fn drain_events(&mut self) -> Vec<Progress> {
        self.run.drain_events()
    }

    fn summary(&self) -> Summary {
        Run::summary(&self.run)
    }

    fn status(&self) -> RunStatus {
        self.run.status()
    }

    fn task_names(&self) -> Vec<String> {
        self.run.task_names()
    }
}
