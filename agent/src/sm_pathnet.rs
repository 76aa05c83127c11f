//! A safe-mutation PathNet lease: rebuild the pathway genome from its seeds over the base
//! network the earlier tasks' genomes make (a recently built parent makes that one
//! mutation), evaluate it on its task's episodes and report the fitness.

use crate::context::{Failure, SessionContext};
use crate::genome;
use pathnet_proto::v1;
use pathnet_work::sm_pathnet_wire;
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn run(
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
    genome::report(ctx, work, &outcome, started, "pathway genome").await
}
