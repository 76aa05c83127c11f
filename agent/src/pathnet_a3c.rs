//! A PathNet-A3C worker lease: the reinforcement-learning crate's PathNet worker, acting on
//! this agent, with the coordinator as its shared parameters and as its evolution.
//!
//! Gradients travel as for a plain A3C worker. Every `T` episodes the worker's fitness goes
//! to the coordinator in a push without gradients, and the answer names the pathway it
//! plays next when it lost its tournament. The agent's parameter copy is per experiment
//! phase: the phases of a transfer run share no parameters.

use crate::context::{Failure, SessionContext};
use crate::remote::{Remote, remote_error, train_and_report};
use pathnet_nn::pathnet::{PathNetDims, Pathway};
use pathnet_proto::v1;
use pathnet_rl::pathnet_a3c::{PathNetA3cError, PathNetWorker, PathwaySelection};
use pathnet_work::pathnet_a3c_wire::{self, PathNetA3cWorkerJob};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Runs the worker of one PathNet-A3C lease until the coordinator says the phase is over,
/// then reports the worker's episodes.
pub(crate) async fn run(
    ctx: &Arc<SessionContext>,
    work: &str,
    experiment: &str,
    item: &v1::PathNetA3cWorker,
) -> Result<(), Failure> {
    let started = Instant::now();
    let job = pathnet_a3c_wire::worker_from_payload(item)
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    let copy = ctx.a3c.of(&format!("{experiment}/phase-{}", job.phase));
    let lease = Lease {
        remote: Remote::new(ctx, work, copy),
        dims: job.config.dims(),
        task: job.task,
        pathway: job.pathway.clone(),
    };
    let mut worker =
        new_worker(&job, &lease).map_err(|err| Failure::Unsupported(err.to_string()))?;
    // Each worker acts on one observation at a time; the workers are the parallelism.
    pathnet_nn::set_threads(1);
    tracing::debug!(%work, worker = job.worker_index, task = job.task, "PathNet-A3C worker started");
    train_and_report(ctx, work, started, "PathNet-A3C", move || {
        let cancel = AtomicBool::new(false);
        worker
            .run(&lease.remote, &lease, &cancel)
            .map(|report| (report.episode_returns, report.env_steps))
    })
    .await
}

fn new_worker(job: &PathNetA3cWorkerJob, lease: &Lease) -> Result<PathNetWorker, PathNetA3cError> {
    PathNetWorker::new(
        &job.config,
        &job.frozen,
        lease,
        job.seed,
        job.worker_index as usize,
    )
}

/// The coordinator as the worker's evolution: its assignment came with the lease, and each
/// fitness report is a push whose answer may carry the next pathway.
struct Lease {
    remote: Remote,
    dims: PathNetDims,
    task: usize,
    pathway: Pathway,
}

impl PathwaySelection for Lease {
    fn assignment(&self, _worker: usize) -> Result<(usize, Pathway), PathNetA3cError> {
        Ok((self.task, self.pathway.clone()))
    }

    fn report_fitness(
        &self,
        _worker: usize,
        fitness: f64,
    ) -> Result<Option<Pathway>, PathNetA3cError> {
        let answer = self.remote.exchange(None, Some(fitness))?;
        answer
            .pathway
            .as_ref()
            .map(|p| pathnet_a3c_wire::pathway_from_wire("pathway", p, &self.dims))
            .transpose()
            .map_err(|err| remote_error(format!("the coordinator's answer: {err}")).into())
    }
}
