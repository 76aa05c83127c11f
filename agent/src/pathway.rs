//! A pathway-training lease: pull the modules the replica lacks, train on a blocking thread,
//! report the deltas, and keep the modules the coordinator updated from this replica's base.

use crate::context::{Failure, SessionContext};
use pathnet_nn::pathnet::ModuleId;
use pathnet_proto::v1;
use pathnet_work::{Executor, ModuleDelta, ModuleParams, PathwayJob, wire};
use prost::Message;
use std::time::Instant;

/// Trains the pathway of one lease on `executor`'s replica, loading the modules sent with
/// the lease (`inline`) and pulling those it still lacks first, and reports the deltas
/// (pushed ahead when the report would be too large).
pub(crate) async fn run(
    ctx: &SessionContext,
    executor: &mut Executor,
    work: &str,
    job: PathwayJob,
    inline: Vec<v1::ParameterChunk>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut stale = executor
        .stale_modules(&job)
        .map_err(|err| Failure::Failed(err.to_string()))?;
    if !inline.is_empty() && !stale.is_empty() {
        load_inline(executor, &job, inline);
        stale = executor
            .stale_modules(&job)
            .map_err(|err| Failure::Failed(err.to_string()))?;
    }
    if !stale.is_empty() {
        for params in pull(ctx, &job, &stale).await? {
            executor
                .load(&job.experiment, &params)
                .map_err(|err| Failure::Failed(err.to_string()))?;
        }
    }
    if ctx.held.is_lost(work) {
        return Err(Failure::Lost);
    }
    tracing::debug!(%work, task = job.task_index, "training");
    let mut owned = std::mem::replace(executor, Executor::new(ctx.data.clone()));
    let training = tokio::task::spawn_blocking(move || {
        let outcome = owned.run(&job);
        (owned, job, outcome)
    })
    .await
    .map_err(|err| Failure::Failed(format!("training thread: {err}")))?;
    let (owned, job, outcome) = training;
    *executor = owned;
    let outcome = outcome.map_err(|err| Failure::Failed(err.to_string()))?;
    if ctx.held.is_lost(work) {
        return Err(Failure::Lost);
    }
    let layers = job.architecture.dims.layers;
    let elapsed = started.elapsed().as_millis() as u64;
    let mut report = wire::outcome_to_report(
        &ctx.agent_id,
        work,
        &outcome,
        layers,
        elapsed,
        ctx.chunk_bytes(),
    )
    .map_err(|err| Failure::Failed(err.to_string()))?;
    if report.encoded_len() > ctx.max_message_bytes {
        push(ctx, work, &mut report).await?;
    }
    let answer = ctx.agent.clone().report_result(report).await?.into_inner();
    let disposition = answer.disposition();
    tracing::debug!(%work, ?disposition, fitness = outcome.fitness, "reported");
    let accepted = disposition == v1::ResultDisposition::Accepted;
    ctx.held.count_report(accepted);
    if accepted {
        keep_trained_modules(executor, &job, &outcome.deltas, &answer.updated_from_base);
    }
    Ok(())
}

/// Moves the modules the coordinator updated from exactly this replica's base to their new
/// version locally, so the next job using them need not pull them. The result is already
/// accepted: a module that cannot be kept is simply pulled again later.
fn keep_trained_modules(
    executor: &mut Executor,
    job: &PathwayJob,
    deltas: &[ModuleDelta],
    updated: &[v1::ModuleRef],
) {
    let layers = job.architecture.dims.layers;
    let updated: Result<Vec<_>, _> = updated
        .iter()
        .map(|r| wire::module_ref_from_wire(Some(r), layers))
        .collect();
    let kept = updated.map_err(|err| err.to_string()).and_then(|updated| {
        executor
            .adopt(&job.experiment, deltas, &updated)
            .map_err(|err| err.to_string())
    });
    if let Err(err) = kept {
        tracing::warn!(%err, "updated modules not kept; they will be pulled");
    }
}

/// Loads the modules sent with the lease into the replica. They only spare a pull: any
/// that cannot be used is pulled instead.
fn load_inline(executor: &mut Executor, job: &PathwayJob, inline: Vec<v1::ParameterChunk>) {
    let layers = job.architecture.dims.layers;
    let loaded = wire::params_from_chunks(inline, layers)
        .map_err(|err| err.to_string())
        .and_then(|modules| {
            modules.iter().try_for_each(|params| {
                executor
                    .load(&job.experiment, params)
                    .map_err(|err| err.to_string())
            })
        });
    if let Err(err) = loaded {
        tracing::warn!(%err, "parameters sent with the lease not used; they will be pulled");
    }
}

/// Pulls the stale modules (any newer version will do) and reassembles them.
async fn pull(
    ctx: &SessionContext,
    job: &PathwayJob,
    stale: &[(ModuleId, u64)],
) -> Result<Vec<ModuleParams>, Failure> {
    let layers = job.architecture.dims.layers;
    let request = v1::PullParametersRequest {
        agent_id: ctx.agent_id.clone(),
        modules: stale
            .iter()
            .map(|&(id, version)| wire::module_ref(id, version, layers))
            .collect(),
        accept_newer: true,
    };
    let mut stream = ctx
        .parameters
        .clone()
        .pull_parameters(request)
        .await?
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await? {
        chunks.push(chunk);
    }
    wire::params_from_chunks(chunks, layers)
        .map_err(|err| Failure::Failed(format!("pulled parameters: {err}")))
}

/// Sends a report's deltas ahead with PushParameters and leaves only their references.
async fn push(
    ctx: &SessionContext,
    work: &str,
    report: &mut v1::ReportResultRequest,
) -> Result<(), Failure> {
    let mut messages = Vec::new();
    for delta in &mut report.deltas {
        for chunk in std::mem::take(&mut delta.chunks) {
            messages.push(v1::PushParametersRequest {
                agent_id: ctx.agent_id.clone(),
                work_id: work.to_owned(),
                kind: v1::ParameterUpdateKind::Delta.into(),
                chunk: Some(v1::ParameterChunk {
                    module: delta.base,
                    chunk: Some(chunk),
                }),
            });
        }
        delta.pushed = true;
    }
    let received = ctx
        .parameters
        .clone()
        .push_parameters(tokio_stream::iter(messages))
        .await?
        .into_inner()
        .received;
    if received.len() != report.deltas.len() {
        return Err(Failure::Failed(format!(
            "pushed {} module deltas, the coordinator received {}",
            report.deltas.len(),
            received.len()
        )));
    }
    Ok(())
}
