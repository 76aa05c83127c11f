//! PathNet-A3C experiments: every task in order with the transfer step between them, then
//! (by default) the last task from scratch as the control. [`run`] trains with threads in
//! this process; [`served::PathNetA3cRun`] serves the workers to agents.

use crate::kind::{ExperimentKind, Kind};
use crate::local::RunError;
use crate::run::Progress;
use crate::spec::{MemoryEstimate, PathNetA3cSpec, SpecError};
use pathnet_rl::StopReason;
use pathnet_rl::pathnet_a3c::{PathNetA3cError, TaskReport, run_scratch, run_transfer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Instant;

pub mod served;

pub use served::{PathNetA3cAssignment, PathNetA3cRun, PathNetA3cState};

/// One task as a PathNet-A3C run learnt it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathNetA3cTask {
    /// Zero-based index of the task in the `[pathnet_a3c]` table.
    pub task: usize,
    /// The task's environment, as the spec names it.
    pub env: String,
    /// Whether the mean return over the task's window reached its target.
    pub reached_target: bool,
    /// Environment steps until the mean return reached the target; absent when it did not.
    pub steps_to_target: Option<u64>,
    /// Environment steps all workers took on the task.
    pub env_steps: u64,
    /// Episodes all workers finished on the task.
    pub episodes: u64,
    /// Mean return over the task's window of recent episodes at the end.
    pub mean_return: Option<f64>,
    /// The pathway with the highest latest fitness at the end, active module indices per
    /// hidden layer; absent when no worker finished a fitness evaluation.
    pub best_pathway: Option<Vec<Vec<usize>>>,
    /// That pathway's fitness: the mean return of its last `episodes_per_fitness` episodes.
    pub best_fitness: Option<f64>,
    /// Modules frozen when the task started (the earlier tasks' best pathways).
    pub frozen_modules: usize,
    /// Fitness reports, and those after which a worker took a better worker's pathway.
    pub tournaments: u64,
    /// Fitness reports after which the worker took the winner's pathway (see `tournaments`).
    pub adoptions: u64,
    /// Wall-clock seconds the task took.
    pub seconds: f64,
}

impl From<&TaskReport> for PathNetA3cTask {
    fn from(r: &TaskReport) -> Self {
        PathNetA3cTask {
            task: r.task,
            env: r.env.clone(),
            reached_target: r.stop == Some(StopReason::TargetReturn),
            steps_to_target: r.steps_to_target(),
            env_steps: r.stats.env_steps,
            episodes: r.stats.episodes,
            mean_return: r.stats.mean_return,
            best_pathway: r.best.as_ref().map(|(p, _)| p.layers().to_vec()),
            best_fitness: r.best.as_ref().map(|(_, f)| *f),
            frozen_modules: r.frozen.len(),
            tournaments: r.evolution.reports,
            adoptions: r.evolution.adoptions,
            seconds: r.wall_seconds,
        }
    }
}

/// The summary of a PathNet-A3C run.
#[derive(Debug, Clone, Serialize)]
pub struct PathNetA3cSummary {
    /// The experiment's id.
    pub experiment: String,
    /// `pathnet_a3c`.
    pub kind: &'static str,
    /// The experiment's seed.
    pub seed: u64,
    /// Every task in order, each after the transfer step from the one before.
    pub tasks: Vec<PathNetA3cTask>,
    /// The last task alone on a fresh super-network (the control), when asked for.
    pub scratch: Option<PathNetA3cTask>,
    /// Workers that trained: threads per task in-process, worker leases when served.
    pub workers: u64,
    /// Why the run ended early, when it did (e.g. no worker finished `T` episodes of a task
    /// that a later one transfers from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
}

/// Runs the experiment; `observe` hears when it is finished.
pub fn run(
    spec: &PathNetA3cSpec,
    observe: &mut dyn FnMut(&Progress),
) -> Result<PathNetA3cSummary, PathNetA3cError> {
    let started = Instant::now();
    let config = &spec.pathnet_a3c;
    let tasks: Vec<PathNetA3cTask> = run_transfer(config, spec.seed)?
        .iter()
        .map(PathNetA3cTask::from)
        .collect();
    let scratch = if spec.scratch_control {
        Some(PathNetA3cTask::from(&run_scratch(config, spec.seed)?))
    } else {
        None
    };
    observe(&Progress::Finished);
    Ok(PathNetA3cSummary {
        experiment: spec.name.clone(),
        kind: Kind::PathNetA3c.as_str(),
        seed: spec.seed,
        tasks,
        scratch,
        workers: config.workers as u64,
        error: None,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl ExperimentKind for PathNetA3cSpec {
    type Summary = PathNetA3cSummary;

    fn memory_estimate(&self, _input_features: usize) -> Result<MemoryEstimate, SpecError> {
        PathNetA3cSpec::memory_estimate(self)
    }

    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<PathNetA3cSummary, RunError> {
        self.validate()?;
        // The workers are the parallelism.
        pathnet_nn::set_threads(1);
        run(self, observe).map_err(|err| RunError::PathNetA3c(Box::new(err)))
    }

    /// One worker lease per genotype of the population.
    fn worker_leases(&self) -> Option<usize> {
        Some(self.pathnet_a3c.workers)
    }
}

impl fmt::Display for PathNetA3cSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "experiment {} (seed {}) finished in {:.1} s",
            self.experiment, self.seed, self.seconds
        )?;
        let line = |f: &mut fmt::Formatter<'_>, label: String, t: &PathNetA3cTask| {
            writeln!(
                f,
                "  {label:<24} {}  {} env steps  mean return {}  best pathway {}  frozen modules {}",
                t.steps_to_target.map_or_else(
                    || "target not reached".to_owned(),
                    |s| format!("target after {s} steps")
                ),
                t.env_steps,
                t.mean_return
                    .map_or_else(|| "none".to_owned(), |r| format!("{r:.1}")),
                t.best_pathway
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |p| format!("{p:?}")),
                t.frozen_modules
            )
        };
        for task in &self.tasks {
            line(f, task.env.clone(), task)?;
        }
        if let Some(scratch) = &self.scratch {
            line(f, format!("{} (scratch)", scratch.env), scratch)?;
        }
        Ok(())
    }
}
