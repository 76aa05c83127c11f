//! The single-process run of any experiment kind. For PathNet: the [`Engine`] with one
//! in-process executor.
//!
//! The executor is the same one networked agents use: it copies the modules a job needs
//! from the engine's store into its replica, trains, and hands back deltas that the engine
//! adds to its parameters. With one executor there is exactly one evaluation in flight, so
//! the run is a pure function of the spec: same seed, same result.

use crate::engine::{Engine, EngineError, TestSplit};
use crate::spec::{ExperimentSpec, Spec, SpecError};
use crate::workload::Summary;
use pathnet_agent::{ExecError, Executor, TaskDataCache};
use pathnet_envs::data::DataError;
use pathnet_nn::pathnet::PathNetError;

pub use crate::engine::{Progress, RunSummary, TaskSummary};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("loading data: {0}")]
    Data(#[from] DataError),
    #[error("building or training the super-network: {0}")]
    PathNet(#[from] PathNetError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("training a pathway: {0}")]
    Exec(#[from] ExecError),
    #[error("the experiment is still running but has nothing to evaluate")]
    Stalled,
}

/// Runs the experiment `spec` describes in this process, reporting progress to `observe`.
pub fn run(spec: &Spec, observe: &mut dyn FnMut(&Progress)) -> Result<Summary, RunError> {
    match spec {
        Spec::PathNet(spec) => run_pathnet(spec, observe).map(Summary::PathNet),
    }
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
        engine.complete(request.id, &outcome)?;
    }
    if engine.is_running() {
        return Err(RunError::Stalled);
    }
    Ok(engine.summary())
}
