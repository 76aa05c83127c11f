//! A Sideways segment lease: the whole pipeline (one thread per stage) trains the segment's
//! batches from the snapshot that came with it, and the report carries the next snapshot.

use crate::context::{Failure, SessionContext};
use crate::link::{NetCarrier, is_peer_lost};
use pathnet_proto::v1;
use pathnet_work::sideways::segment::{self, VideoImages};
use pathnet_work::sideways::{Carrier, StagePlacement};
use pathnet_work::sideways_wire;
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn run(
    ctx: &Arc<SessionContext>,
    work: &str,
    payload: &v1::SidewaysSegment,
) -> Result<(), Failure> {
    let started = Instant::now();
    let job = sideways_wire::job_from_payload(payload)
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    let placement = sideways_wire::placement_from_payload(payload, job.task.stages)
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    tracing::info!(
        %work,
        first_batch = job.first_batch,
        batches = job.batches,
        placement = ?placement.host_of,
        hosts = ?placement.addresses,
        "training segment {}",
        job.segment
    );
    let mut carrier = if placement.is_local() {
        None
    } else {
        // A host that cannot be reached is not this agent's failure nor the work's.
        Some(
            NetCarrier::connect(&job, &placement, ctx.link_token.as_ref(), &ctx.link_tls)
                .await
                .map_err(Failure::PeerLost)?,
        )
    };
    let outcome = tokio::task::spawn_blocking(move || {
        // The stages are the parallelism, and every host must compute bit for bit alike.
        pathnet_nn::set_threads(1);
        let carrier = carrier.as_mut().map(|c| c as &mut dyn Carrier);
        execute(&job, &placement, carrier)
    })
    .await
    .map_err(|err| Failure::Failed(format!("segment thread: {err}")))?
    .map_err(|err| {
        if is_peer_lost(&err) {
            Failure::PeerLost(err.to_string())
        } else {
            Failure::Failed(err.to_string())
        }
    })?;
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

fn execute(
    job: &segment::SegmentJob,
    placement: &StagePlacement,
    carrier: Option<&mut dyn Carrier>,
) -> Result<segment::SegmentOutcome, pathnet_work::sideways::SidewaysJobError> {
    segment::execute_placed(job, &VideoImages::shared(), placement, carrier)
}
