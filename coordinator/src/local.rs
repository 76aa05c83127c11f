//! The single-process run of any experiment kind. For PathNet: the [`Engine`] with one
//! in-process executor.
//!
//! The executor is the same one networked agents use: it copies the modules a job needs
//! from the engine's store into its replica, trains, and hands back deltas that the engine
//! adds to its parameters. With one executor there is exactly one evaluation in flight, so
//! the run is a pure function of the spec: same seed, same result.

use crate::a3c::A3cSummary;
use crate::ga::{GaRun, GaSummary};
use crate::pathnet::{Engine, EngineError, RunSummary, TestSplit};
use crate::run::{Progress, Run, RunState, Summary};
use crate::sideways::{SidewaysRun, SidewaysSummary};
use crate::sm_pathnet::{SmPathNetRun, SmPathNetSummary, WireBytes};
use crate::spec::{A3cSpec, ExperimentSpec, GaSpec, SidewaysSpec, SmPathNetSpec, Spec, SpecError};
use pathnet_envs::data::DataError;
use pathnet_nn::pathnet::PathNetError;
use pathnet_rl::RlError;
use pathnet_work::{ExecError, Executor, TaskDataCache};
use pathnet_work::{genome_wire, sm_pathnet_wire};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Genomes the in-process rebuild cache keeps (parents of upcoming children).
pub const GENOME_CACHE: usize = 512;

/// How often the in-process A3C run reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Why an in-process run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The spec was refused (the field is named).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A dataset could not be read or a task not built from it.
    #[error("loading data: {0}")]
    Data(#[from] DataError),
    /// The super-network could not be built or refused a pathway or parameters.
    #[error("building or training the super-network: {0}")]
    PathNet(#[from] PathNetError),
    /// PathNet's engine refused the spec or its own state.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The executor could not train a pathway.
    #[error("training a pathway: {0}")]
    Exec(#[from] ExecError),
    /// The run is neither over nor offering work: a bug, reported rather than looping.
    #[error("the experiment is still running but has nothing to evaluate")]
    Stalled,
    /// An A3C policy, environment or update failed.
    #[error("A3C: {0}")]
    Rl(#[from] RlError),
    /// An A3C worker thread panicked; the run cannot go on without its updates.
    #[error("an A3C worker thread panicked")]
    WorkerPanicked,
    /// A neuroevolution problem could not be set up or evaluated.
    #[error("neuroevolution: {0}")]
    Evo(#[from] pathnet_evo::EvoError),
    /// The run refused its own executor's result (a bug in this process, not a peer's).
    #[error("a result was refused: {0}")]
    Refused(String),
    /// A Sideways task or segment failed.
    #[error("Sideways: {0}")]
    Sideways(#[from] pathnet_work::sideways::SidewaysJobError),
    /// A PathNet-A3C run failed (boxed: the error is large).
    #[error("PathNet-A3C: {0}")]
    PathNetA3c(Box<pathnet_rl::pathnet_a3c::PathNetA3cError>),
}

/// Runs the experiment `spec` describes in this process, reporting progress to `observe`.
pub fn run(spec: &Spec, observe: &mut dyn FnMut(&Progress)) -> Result<Summary, RunError> {
    spec.run_local(observe)
}

/// Runs a safe-mutation PathNet experiment with one in-process executor, one evaluation
/// at a time: a pure function of the spec. The bytes per genome are what a distributed run
/// sends, measured on the same messages. The run measures each dataset task's best genome
/// on the task's held-out split as the arm ends (`test_accuracy` in the summary), with the
/// executor's cache.
pub fn run_sm_pathnet(
    spec: &SmPathNetSpec,
    observe: &mut dyn FnMut(&Progress),
) -> Result<SmPathNetSummary, RunError> {
    spec.validate()?;
    pathnet_nn::set_threads(1);
    let mut run = SmPathNetRun::new(spec.name.clone(), spec.clone())?;
    let cache = std::sync::Arc::new(
        pathnet_evo::sm_pathnet::PathwayRebuildCache::new(GENOME_CACHE)
            .with_examples(std::sync::Arc::new(TaskDataCache::new(None))),
    );
    run.share_cache(std::sync::Arc::clone(&cache));
    let wire_bytes = |job: &pathnet_evo::sm_pathnet::PathwayJob| WireBytes {
        genome: sm_pathnet_wire::genome_bytes(job),
        payload: sm_pathnet_wire::payload_bytes(job),
    };
    loop {
        run.drain_events().iter().for_each(&mut *observe);
        let Some((id, job)) = run.next_evaluation(wire_bytes) else {
            break;
        };
        let outcome = pathnet_evo::sm_pathnet::evaluate_pathway(&job, &cache)?;
        run.complete(id, &outcome)
            .map_err(|refusal| RunError::Refused(refusal.to_string()))?;
    }
    run.drain_events().iter().for_each(&mut *observe);
    if run.state() == RunState::Running {
        return Err(RunError::Stalled);
    }
    Ok(run.summary())
}

/// Runs a neuroevolution experiment with one in-process executor, one evaluation at a
/// time: a pure function of the spec. Genomes still go through their wire encoding, so the
/// summary's bytes per genome are what a distributed run sends.
pub fn run_neuroevolution(
    spec: &GaSpec,
    observe: &mut dyn FnMut(&Progress),
) -> Result<GaSummary, RunError> {
    spec.validate()?;
    // Bit-identical rebuilds on every executor need single-threaded kernels.
    pathnet_nn::set_threads(1);
    let mut run = GaRun::new(spec.name.clone(), spec.clone())?;
    let cache = pathnet_evo::RebuildCache::new(GENOME_CACHE);
    loop {
        run.drain_events().iter().for_each(&mut *observe);
        let Some((id, job)) = run.next_evaluation(|job| genome_wire::genome_bytes(&job.genome()))
        else {
            break;
        };
        let outcome = pathnet_evo::evaluate(&job, &cache)?;
        run.complete(id, &outcome)
            .map_err(|refusal| RunError::Refused(refusal.to_string()))?;
    }
    run.drain_events().iter().for_each(&mut *observe);
    if run.state() == RunState::Running {
        return Err(RunError::Stalled);
    }
    Ok(run.summary())
}

/// Runs a Sideways experiment segment by segment in this process, each segment on the
/// same threaded pipeline an agent runs, from the snapshot the previous one ended with: the
/// result is the distributed run's, bit for bit.
pub fn run_sideways(
    spec: &SidewaysSpec,
    observe: &mut dyn FnMut(&Progress),
) -> Result<SidewaysSummary, RunError> {
    spec.validate()?;
    // The stages are the parallelism, and single-threaded kernels keep every host's
    // arithmetic identical.
    pathnet_nn::set_threads(1);
    let mut run = SidewaysRun::new(spec.name.clone(), spec.clone())?;
    let images = pathnet_work::sideways::segment::VideoImages::shared();
    loop {
        run.drain_events().iter().for_each(&mut *observe);
        let Some((id, job)) = run.next_segment() else {
            break;
        };
        let outcome = pathnet_work::sideways::segment::execute(&job, &images)?;
        run.complete(id, outcome)
            .map_err(|refusal| RunError::Refused(refusal.to_string()))?;
    }
    run.drain_events().iter().for_each(&mut *observe);
    if run.state() == RunState::Running {
        return Err(RunError::Stalled);
    }
    Ok(run.summary())
}

/// Runs A3C with `spec.a3c.workers` worker threads over one in-process parameter server.
/// With one worker the run is a pure function of the spec.
pub fn run_a3c(spec: &A3cSpec, observe: &mut dyn FnMut(&Progress)) -> Result<A3cSummary, RunError> {
    spec.validate()?;
    let config = &spec.a3c;
    // The workers are the parallelism: a layer call splitting one observation's products
    // over the cores would only add overhead and oversubscribe them.
    pathnet_nn::set_threads(1);
    let server = pathnet_rl::local_server(config, spec.seed)?;
    let started = Instant::now();
    let show = |observe: &mut dyn FnMut(&Progress), stats: &pathnet_rl::ServerStats| {
        observe(&Progress::Steps {
            task: 0,
            name: config.env.clone(),
            env_steps: stats.env_steps,
            max_env_steps: config.stop.max_env_steps,
            mean_return: stats.mean_return,
        })
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let reports = std::thread::scope(|scope| {
        let workers = scope.spawn(|| {
            let result =
                pathnet_rl::run_workers(config, &server, spec.seed, 0..config.workers as u64);
            drop(done_tx);
            result
        });
        // Progress until the workers hang up; the timeout only paces the display.
        while let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(PROGRESS_EVERY) {
            show(observe, &server.stats());
        }
        workers.join()
    })
    .map_err(|_| RunError::WorkerPanicked)??;
    let stats = server.stats();
    show(observe, &stats);
    observe(&Progress::Finished);
    Ok(A3cSummary::new(
        &spec.name,
        spec,
        &stats,
        reports.len() as u64,
        started.elapsed().as_secs_f64(),
    ))
}

/// Runs every task of a PathNet `spec` in order, reporting progress to `observe`.
pub fn run_pathnet(
    spec: &ExperimentSpec,
    observe: &mut dyn FnMut(&Progress),
) -> Result<RunSummary, RunError> {
    // A spec built in code rather than parsed still gets the parser's checks.
    spec.validate()?;
    let test = TestSplit::load(spec)?;
    let features = test.features();
    let mut engine = Engine::new(
        spec.name.clone(),
        spec.clone(),
        features,
        Some(Box::new(test)),
    )?;
    let mut executor = Executor::new(TaskDataCache::new(None));
    loop {
        engine.drain_events().iter().for_each(&mut *observe);
        let Some(request) = engine.next_evaluation() else {
            break;
        };
        for (id, _) in executor.stale_modules(&request.job)? {
            executor.load(engine.experiment(), &engine.module_params(id)?)?;
        }
        let outcome = executor.run(&request.job)?;
        let from_base = engine.complete(request.id, &outcome)?;
        // As an agent does: what it trained need not be copied back from the store.
        executor.adopt(engine.experiment(), &outcome.deltas, &from_base)?;
    }
    if engine.is_running() {
        return Err(RunError::Stalled);
    }
    Ok(engine.summary())
}
