//! One worker: takes leased items one at a time, hands each to its kind's module, and
//! settles the lease by how that went.

use crate::context::{Failure, SessionContext};
use crate::{a3c, genome, pathnet_a3c, pathway, sideways, sm_pathnet};
use pathnet_proto::v1::{self, work_item::Payload};
use pathnet_work::{Executor, wire};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};

/// Runs until the queue closes.
pub(crate) async fn run(
    ctx: Arc<SessionContext>,
    queue: Arc<Mutex<mpsc::Receiver<v1::WorkItem>>>,
    mut executor: Executor,
) {
    loop {
        let Some(item) = queue.lock().await.recv().await else {
            return;
        };
        let work = item.work_id.clone();
        let outcome = match &item.payload {
            Some(Payload::A3cWorker(worker)) => {
                a3c::run(&ctx, &work, &item.experiment_id, worker).await
            }
            Some(Payload::PathnetA3cWorker(worker)) => {
                pathnet_a3c::run(&ctx, &work, &item.experiment_id, worker).await
            }
            Some(Payload::GenomeEvaluation(evaluation)) => {
                genome::run(&ctx, &work, evaluation).await
            }
            Some(Payload::SidewaysSegment(segment)) => sideways::run(&ctx, &work, segment).await,
            Some(Payload::PathwayGenomeEvaluation(evaluation)) => {
                sm_pathnet::run(&ctx, &work, evaluation).await
            }
            _ => match wire::job_from_work_item(&item) {
                Ok(job) => pathway::run(&ctx, &mut executor, &work, job, item.parameters).await,
                Err(err) => Err(Failure::Unsupported(err.to_string())),
            },
        };
        match outcome {
            Ok(()) => {}
            Err(Failure::Lost) => tracing::info!(%work, "lease lost; result dropped"),
            Err(Failure::Unsupported(detail)) => {
                ctx.release(&work, v1::ReleaseReason::Unsupported, &detail)
                    .await
            }
            // Typically the coordinator finished and shut down while this work was out;
            // handing it back would fail the same way, and the lease lapses anyway.
            Err(Failure::Unreachable(detail)) => {
                tracing::info!(%work, %detail, "coordinator unreachable; result dropped")
            }
            // Not this agent's failure nor the work's: back to the queue uncounted, to be
            // placed on the agents still there.
            Err(Failure::PeerLost(detail)) => {
                tracing::warn!(%work, %detail, "a stage host was lost");
                ctx.release(&work, v1::ReleaseReason::PeerLost, &detail)
                    .await
            }
            Err(Failure::Failed(detail)) => {
                tracing::warn!(%work, %detail, "work failed");
                ctx.release(&work, v1::ReleaseReason::Failed, &detail).await
            }
        }
        ctx.held.forget(&work);
    }
}
