//! Safe-mutation PathNet on the wire: pathway genomes out as seed lists, fitness back.

use super::{
    Built, Checkpoints, Issued, Pushed, Rejected, SavedRun, Served, ServedKind, invalid_spec,
    no_tensors, saved_state,
};
use crate::checkpoint::Tensors;
use crate::pathnet::TestSplit;
use crate::run::EvalId;
use crate::server::limits::Limits;
use crate::sm_pathnet::{SmPathNetRun, SmPathNetRunState, WireBytes};
use crate::spec::SmPathNetSpec;
use pathnet_evo::sm_pathnet::PathwayJob;
use pathnet_proto::v1;
use pathnet_work::{genome_wire, sm_pathnet_wire};
use tonic::Status;
impl ServedKind for SmPathNetSpec {
    const CHECKPOINTS: Option<Checkpoints<Self>> = Some(Checkpoints::new(restore));

    fn build(self, id: &str, _: Option<TestSplit>, _: &Limits) -> Result<Built, Status> {
        build(id, self)
    }
}

/// Genomes travel as seed lists, so the run has no parameters to push.
fn build(id: &str, spec: SmPathNetSpec) -> Result<Built, Status> {
    let run = SmPathNetRun::new(id.to_owned(), spec).map_err(invalid_spec)?;
    Ok(Built {
        run: Box::new(run),
        parameter_bytes: 0,
    })
}

/// The run a checkpoint saved, resumed, with how many evaluations that were out it re-queued.
fn restore(
    spec: SmPathNetSpec,
    id: &str,
    _: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    _: &Limits,
) -> Result<(Built, usize), String> {
    no_tensors("sm_pathnet", &tensors)?;
    let state: SmPathNetRunState = saved_state(state)?;
    let (run, requeued) = SmPathNetRun::restore(id.to_owned(), spec, state)?;
    let built = Built {
        run: Box::new(run),
        parameter_bytes: 0,
    };
    Ok((built, requeued))
}

/// What an evaluation costs on the wire.
fn wire_bytes(job: &PathwayJob) -> WireBytes {
    WireBytes {
        genome: sm_pathnet_wire::genome_bytes(job),
        payload: sm_pathnet_wire::payload_bytes(job),
    }
}

impl Served for SmPathNetRun {
    fn next_work(&mut self) -> Option<Issued> {
        let (eval, job) = self.next_evaluation(wire_bytes)?;
        Some(Issued {
            eval,
            payload: sm_pathnet_wire::job_payload(&job),
            what: describe(eval, &job),
        })
    }

    fn complete(
        &mut self,
        eval: EvalId,
        report: &v1::ReportResultRequest,
        _pushed: &mut Pushed<'_>,
    ) -> Result<Vec<v1::ModuleRef>, Rejected> {
        let outcome = genome_wire::outcome_from_report(report)
            .map_err(|malformed| Rejected::Refused(malformed.to_string()))?;
        SmPathNetRun::complete(self, eval, &outcome)
            .map_err(|refusal| Rejected::Refused(refusal.to_string()))?;
        Ok(Vec::new())
    }

    fn save(&self) -> Option<Result<SavedRun, String>> {
        Some(SavedRun::of(self.spec(), &self.snapshot(), Tensors::new()))
    }
}

/// A pathway genome evaluation, as failure messages name it.
fn describe(id: EvalId, job: &PathwayJob) -> String {
    let genome = job.genome();
    format!(
        "sm_pathnet {id} (task {}, {} transfers, genome with initial seed {}, {} mutations)",
        job.task,
        job.transfers.len(),
        genome.init_seed,
        genome.depth()
    )
}
