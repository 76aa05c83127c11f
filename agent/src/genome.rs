//! A neuroevolution lease: rebuild the genome from its seed list (a recently built parent
//! makes that one mutation) and report its fitness. Weights never cross the wire.

use crate::context::{Failure, SessionContext};
use pathnet_evo::Outcome;
use pathnet_proto::v1;
use pathnet_work::genome_wire;
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn run(
    ctx: &Arc<SessionContext>,
    work: &str,
    evaluation: &v1::GenomeEvaluation,
) -> Result<(), Failure> {
    let started = Instant::now();
    let job = genome_wire::job_from_payload(evaluation)
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    let cache = Arc::clone(ctx);
    let outcome = tokio::task::spawn_blocking(move || {
        // Every agent must rebuild a genome bit for bit: single-threaded kernels.
        pathnet_nn::set_threads(1);
        pathnet_evo::evaluate(&job, &cache.genomes)
    })
    .await
    .map_err(|err| Failure::Failed(format!("evaluation thread: {err}")))?
    .map_err(|err| Failure::Failed(err.to_string()))?;
    report(ctx, work, &outcome, started, "genome").await
}

/// Reports the fitness of a genome rebuilt from its seeds (`what` names its kind in the log),
/// unless its lease was lost while it ran. Safe-mutation PathNet's pathway genomes report
/// the same way.
pub(crate) async fn report(
    ctx: &SessionContext,
    work: &str,
    outcome: &Outcome,
    started: Instant,
    what: &str,
) -> Result<(), Failure> {
    if ctx.held.is_lost(work) {
        return Err(Failure::Lost);
    }
    let report = genome_wire::outcome_to_report(
        &ctx.agent_id,
        work,
        outcome,
        started.elapsed().as_millis() as u64,
    );
    let answer = ctx.agent.clone().report_result(report).await?;
    let disposition = answer.into_inner().disposition();
    tracing::debug!(%work, ?disposition, fitness = outcome.fitness, "{what} reported");
    ctx.held
        .count_report(disposition == v1::ResultDisposition::Accepted);
    Ok(())
}
