//! A safe-mutation PathNet lease: rebuild the pathway genome from its seeds over the base
//! network the earlier tasks' genomes make (a recently built parent makes that one
//! mutation), evaluate it on its task's episodes and report the fitness.

use crate::context::{Failure, SessionContext};
use pathnet_proto::v1;
use pathnet_work::{genome_wire, sm_pathnet_wire};
use std::sync::Arc;
use std::time::Instant;

pub async fn run(
    ctx: &Arc<SessionContext>,
    work: &str,
    evaluation: &v1::PathwayGenomeEvaluation,
) -> Result<(), Failure> {
    let started = Instant::now();
    let job = sm_pathnet_wire::job_from_payload(evaluation)
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    tracing::debug!(%work, task = job.task, "evaluating pathway genome");
    let cache = Arc::clone(ctx);
    let outcome = tokio::task::spawn_blocking(move || {
        // Every agent must rebuild a genome bit for bit: single-threaded kernels.
        pathnet_nn::set_threads(1);
        pathnet_evo::sm_pathnet::evaluate_pathway(&job, &cache.pathway_genomes)
    })
    .await
    .map_err(|err| Failure::Failed(format!("evaluation thread: {err}")))?
    .map_err(|err| Failure::Failed(err.to_string()))?;
    if ctx.held.is_lost(work) {
        return Err(Failure::Lost);
    }
    let report = genome_wire::outcome_to_report(
        &ctx.agent_id,
        work,
        &outcome,
        started.elapsed().as_millis() as u64,
    );
    let answer = ctx.agent.clone().report_result(report).await?;
    let disposition = answer.into_inner().disposition();
    tracing::debug!(%work, ?disposition, fitness = outcome.fitness, "pathway genome reported");
    ctx.held
        .count_report(disposition == v1::ResultDisposition::Accepted);
    Ok(())
}
