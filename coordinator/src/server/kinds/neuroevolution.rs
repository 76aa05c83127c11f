//! Neuroevolution on the wire: genomes out as seed lists, fitness back.

use super::{
    Built, Checkpoints, Issued, Pushed, Rejected, SavedRun, Served, ServedKind, invalid_spec,
    no_tensors, saved_state,
};
use crate::checkpoint::Tensors;
use crate::ga::{GaRun, GaRunState};
use crate::pathnet::TestSplit;
use crate::run::EvalId;
use crate::server::limits::Limits;
use crate::spec::GaSpec;
use pathnet_proto::v1;
use pathnet_work::genome_wire;
use tonic::Status;
impl ServedKind for GaSpec {
    const CHECKPOINTS: Option<Checkpoints<Self>> = Some(Checkpoints::new(restore));

    fn build(self, id: &str, _: Option<TestSplit>, _: &Limits) -> Result<Built, Status> {
        build(id, self)
    }
}

/// Genomes travel as seed lists, so the run has no parameters to push.
fn build(id: &str, spec: GaSpec) -> Result<Built, Status> {
    let run = GaRun::new(id.to_owned(), spec).map_err(invalid_spec)?;
    Ok(Built {
        run: Box::new(run),
        parameter_bytes: 0,
    })
}

/// The run a checkpoint saved, resumed, with how many evaluations that were out it re-queued.
fn restore(
    spec: GaSpec,
    id: &str,
    _: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    _: &Limits,
) -> Result<(Built, usize), String> {
    no_tensors("neuroevolution", &tensors)?;
    let state: GaRunState = saved_state(state)?;
    let (run, requeued) = GaRun::restore(id.to_owned(), spec, state)?;
    let built = Built {
        run: Box::new(run),
        parameter_bytes: 0,
    };
    Ok((built, requeued))
}

impl Served for GaRun {
    fn next_work(&mut self) -> Option<Issued> {
        let (eval, job) = self.next_evaluation(|job| genome_wire::genome_bytes(&job.genome()))?;
        Some(Issued {
            eval,
            payload: genome_wire::job_payload(&job),
            what: describe_genome(eval, &job),
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
        GaRun::complete(self, eval, &outcome)
            .map_err(|refusal| Rejected::Refused(refusal.to_string()))?;
        Ok(Vec::new())
    }

    fn save(&self) -> Option<Result<SavedRun, String>> {
        Some(SavedRun::of(self.spec(), &self.snapshot(), Tensors::new()))
    }
}

/// A genome evaluation, as failure messages name it: the genome by its initial seed and
/// last mutation, the seed list itself being as long as its ancestry.
fn describe_genome(id: EvalId, job: &pathnet_evo::Job) -> String {
    let parent = &job.parent;
    let mutations = parent.mutations.len() + usize::from(job.mutation.is_some());
    let last = job
        .mutation
        .as_ref()
        .or(parent.mutations.last())
        .map_or(String::new(), |m| {
            format!(", last mutation seed {}", m.seed)
        });
    format!(
        "neuroevolution {id} (genome with initial seed {}, {mutations} mutations{last})",
        parent.init_seed
    )
}
