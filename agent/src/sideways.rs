//! A Sideways segment lease: the whole pipeline (one thread per stage) trains the segment's
//! batches from the snapshot that came with it, and the report carries the next snapshot.

use crate::context::{Failure, SessionContext};
use pathnet_proto::v1;
use pathnet_work::sideways::segment::{self, VideoImages};
use pathnet_work::sideways_wire;
use std::sync::Arc;
use std::time::Instant;

pub async fn run(
    ctx: &Arc<SessionContext>,
    work: &str,
    payload: &v1::SidewaysSegment,
) -> Result<(), Failure> {
    let started = Instant::now();
    let job = sideways_wire::job_from_payload(payload)
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    tracing::info!(
        %work,
        first_batch = job.first_batch,
        batches = job.batches,
        "training segment {}",
        job.segment
    );
    let outcome = tokio::task::spawn_blocking(move || {
        // The stages are the parallelism, and every host must compute bit for bit alike.
        pathnet_nn::set_threads(1);
        segment::execute(&job, &VideoImages::shared())
    })
    .await
    .map_err(|err| Failure::Failed(format!("segment thread: {err}")))?
    .map_err(|err| Failure::Failed(err.to_string()))?;
    if ctx.held.is_lost(work) {
        return Err(Failure::Lost);
    }
    let chunk_bytes = pathnet_proto::chunk_data_bytes(ctx.max_message_bytes);
    let report = sideways_wire::outcome_to_report(
        &ctx.agent_id,
        work,
        &outcome,
        started.elapsed().as_millis() as u64,
        chunk_bytes,
    )
    .map_err(|err| Failure::Failed(format!("chunking the snapshot: {err}")))?;
    let answer = ctx.agent.clone().report_result(report).await?;
    let disposition = answer.into_inner().disposition();
    tracing::info!(
        %work,
        ?disposition,
        segment = outcome.segment,
        frames = outcome.metrics.frames,
        seconds = outcome.metrics.seconds,
        loss = outcome.metrics.mean_loss,
        "segment reported"
    );
    ctx.held
        .count_report(disposition == v1::ResultDisposition::Accepted);
    Ok(())
}
