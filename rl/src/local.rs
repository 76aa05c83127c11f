//! Classic A3C in one process: worker threads over one [`ParameterServer`], Hogwild updates of
//! the shared weights with shared RMSProp statistics.

use crate::config::A3cConfig;
use crate::error::RlError;
use crate::parameter_server::{ParameterServer, ServerConfig, ServerStats, StopReason};
use crate::shared_parameters::SharedParameters;
use crate::worker::{Worker, WorkerReport, initial_policy};
use ndarray::ArrayD;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// The outcome of [`run_local`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Which stop rule ended the run; `None` if the workers stopped before either held.
    pub stop: Option<StopReason>,
    /// The parameter server's counters at the end.
    pub stats: ServerStats,
    /// The policy's tensor names ([`ActorCritic::param_names`](crate::ActorCritic::param_names)).
    pub parameter_names: Vec<String>,
    /// The final global parameters, in `parameter_names` order.
    pub parameters: Vec<ArrayD<f32>>,
    /// One report per worker, in worker order.
    pub workers: Vec<WorkerReport>,
}

/// Runs `workers` A3C workers in this process until the stop rule holds. With one worker the
/// run is a pure function of `config` and `seed`, bit for bit.
pub fn run_local(config: &A3cConfig, workers: usize, seed: u64) -> Result<RunReport, RlError> {
    let server = local_server(config, seed)?;
    let reports = run_workers(config, &server, seed, 0..workers as u64)?;
    let policy = initial_policy(config, seed)?;
    Ok(RunReport {
        stop: server.stop_reason(),
        stats: server.stats(),
        parameter_names: policy.param_names(),
        parameters: server.parameters(),
        workers: reports,
    })
}

/// The server [`run_local`] trains: the config's settings over [`initial_policy`]'s
/// parameters. Exposed so that a caller can watch `stats()` from another thread while
/// [`run_workers`] runs against it.
pub fn local_server(config: &A3cConfig, seed: u64) -> Result<ParameterServer, RlError> {
    config.validate()?;
    let policy = initial_policy(config, seed)?;
    ParameterServer::new(ServerConfig::from(config), &policy.params())
}

/// Runs workers with the given `indices` (one thread each) against `shared` until it answers
/// `stop`. Worker `i`'s environment and sampling are seeded from `seed` and `i`, so distinct
/// processes of one run take distinct index ranges. When one worker fails the others finish
/// their segment and stop, and the first error (by index) is returned.
pub fn run_workers(
    config: &A3cConfig,
    shared: &dyn SharedParameters,
    seed: u64,
    indices: Range<u64>,
) -> Result<Vec<WorkerReport>, RlError> {
    if indices.is_empty() {
        return Err(RlError::config("workers", 0, "at least 1"));
    }
    let mut workers = indices
        .map(|i| Worker::new(config, seed, i))
        .collect::<Result<Vec<_>, _>>()?;
    run_threads(
        &mut workers,
        |worker| worker.report().worker,
        |worker, cancel| worker.run(shared, cancel),
    )
}

/// Runs `run` on every worker, one scoped thread each, with a shared cancel flag: when one
/// worker fails (or panics) the flag is set, so the others finish their segment and stop.
/// The first error by position is returned; a panic as [`RlError::WorkerPanicked`] naming
/// the worker's `index`.
pub(crate) fn run_threads<W, R, E>(
    workers: &mut [W],
    index: impl Fn(&W) -> u64,
    run: impl Fn(&mut W, &AtomicBool) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E>
where
    W: Send,
    R: Send,
    E: Send + From<RlError>,
{
    let cancel = AtomicBool::new(false);
    let results: Vec<Result<R, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter_mut()
            .map(|worker| {
                let worker_index = index(worker);
                let (cancel, run) = (&cancel, &run);
                let handle = scope.spawn(move || {
                    let result = run(worker, cancel);
                    if result.is_err() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    result
                });
                (worker_index, handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(worker, handle)| {
                handle.join().unwrap_or_else(|_| {
                    cancel.store(true, Ordering::Relaxed);
                    Err(RlError::WorkerPanicked { worker }.into())
                })
            })
            .collect()
    });
    results.into_iter().collect()
}
