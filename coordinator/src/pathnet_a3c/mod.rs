//! PathNet-A3C experiments: every task in order with the transfer step between them, then
//! (by default) the last task from scratch as the control. [`run`] trains with threads in
//! this process; [`served::PathNetA3cRun`] serves the workers to agents.

use crate::kind::Kind;
use crate::run::Progress;
use crate::spec::PathNetA3cSpec;
use pathnet_rl::StopReason;
use pathnet_rl::pathnet_a3c::{PathNetA3cError, TaskReport, run_scratch, run_transfer};
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub mod served;

pub use served::{PathNetA3cAssignment, PathNetA3cRun, PathNetA3cState};

/// One task as a PathNet-A3C run learnt it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathNetA3cTask {
    pub task: usize,
    pub env: String,
    pub reached_target: bool,
    /// Environment steps until the mean return reached the target; absent when it did not.
    pub steps_to_target: Option<u64>,
    pub env_steps: u64,
    pub episodes: u64,
    /// Mean return over the task's window of recent episodes at the end.
    pub mean_return: Option<f64>,
    pub best_pathway: Option<Vec<Vec<usize>>>,
    pub best_fitness: Option<f64>,
    pub frozen_modules: usize,
    /// Fitness reports, and those after which a worker took a better worker's pathway.
    pub tournaments: u64,
    pub adoptions: u64,
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
    pub experiment: String,
    pub kind: &'static str,
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
