//! One evaluation of a pathway genome, what an executor (an agent, or the in-process run)
//! is given and what it reports.

use super::problem::{PathwayProblem, PathwayTask};
use super::rebuild::{PathwayRebuildCache, rebuild};
use crate::EvoError;
use crate::executor::Outcome;
use crate::genome::Genome;
use crate::operator::Mutation;
use serde::{Deserialize, Serialize};

/// An earlier task's best genome, written into the base network with its pathway frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The earlier task, 0-based.
    pub task: usize,
    /// That task's best genome.
    pub genome: Genome,
}

/// Evaluate a fresh genome (`mutation: None`) or a child of `parent` on task `task`, over
/// the base network that `transfers` (in order) make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathwayJob {
    /// The run's tasks and super-network.
    pub problem: PathwayProblem,
    /// The task to evaluate on, 0-based.
    pub task: usize,
    /// Earlier tasks' best genomes, applied in order; each from a task before `task`.
    pub transfers: Vec<Transfer>,
    /// The genome to evaluate, or the parent of the child to evaluate.
    pub parent: Genome,
    /// The child's own mutation; `None` evaluates `parent` itself.
    pub mutation: Option<Mutation>,
}

impl PathwayJob {
    /// The genome this job evaluates.
    pub fn genome(&self) -> Genome {
        match self.mutation {
            Some(m) => self.parent.child(m),
            None => self.parent.clone(),
        }
    }

    /// Checks the problem, the task index, that transfers come from earlier tasks and that
    /// every mutation has a finite, positive magnitude: a job arrives from the network, so
    /// nothing in it is trusted.
    pub fn validate(&self) -> Result<(), EvoError> {
        self.problem.validate()?;
        let tasks = self.problem.tasks.len();
        if self.task >= tasks {
            return Err(EvoError::invalid(
                "task",
                self.task,
                format!("the problem has {tasks} tasks"),
            ));
        }
        for (i, t) in self.transfers.iter().enumerate() {
            if t.task >= self.task {
                return Err(EvoError::invalid(
                    "transfers.task",
                    t.task,
                    format!(
                        "transfer {i} must come from a task before task {}",
                        self.task
                    ),
                ));
            }
        }
        let genomes = self
            .transfers
            .iter()
            .map(|t| &t.genome)
            .chain(std::iter::once(&self.parent));
        for genome in genomes {
            for (index, m) in genome.mutations.iter().chain(&self.mutation).enumerate() {
                if !(m.magnitude.is_finite() && m.magnitude > 0.0) {
                    return Err(EvoError::invalid(
                        "mutation magnitude",
                        m.magnitude,
                        format!("mutation {index} must have a finite, positive magnitude"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Rebuilds and evaluates the job's genome, keeping it in `cache` in case it becomes a
/// parent. Deterministic whatever the cache holds; bit-identical across processes with
/// `pathnet_nn::set_threads(1)` (see [`crate::evaluate`]).
pub fn evaluate_pathway(
    job: &PathwayJob,
    cache: &PathwayRebuildCache,
) -> Result<Outcome, EvoError> {
    job.validate()?;
    let rebuilt = rebuild(job, cache)?;
    let evaluation =
        job.problem
            .evaluate(&rebuilt.net, &rebuilt.pathway, job.task, cache.examples())?;
    cache.store(job, &rebuilt.net, &rebuilt.pathway, &evaluation.experience);
    Ok(Outcome {
        fitness: evaluation.fitness,
        solved: false,
        replayed_mutations: rebuilt.replayed_mutations as u64,
        replayed_evaluations: rebuilt.replayed_evaluations as u64,
        mutation_unchanged: job.mutation.is_some() && rebuilt.last_unchanged,
        mutation_gave_up: job.mutation.is_some() && rebuilt.last_gave_up,
    })
}

/// The held-out accuracy of the job's genome (a run's best, as a summary reports it):
/// rebuilt as for [`evaluate_pathway`], then measured on its task's held-out split (see
/// [`PathwayProblem::held_out_accuracy`]); `None` on an environment task. Nothing is
/// stored in `cache`: the genome is not evolved further.
pub fn held_out_accuracy(
    job: &PathwayJob,
    cache: &PathwayRebuildCache,
) -> Result<Option<f64>, EvoError> {
    job.validate()?;
    if !matches!(job.problem.tasks[job.task], PathwayTask::Data(_)) {
        return Ok(None);
    }
    let rebuilt = rebuild(job, cache)?;
    job.problem
        .held_out_accuracy(&rebuilt.net, &rebuilt.pathway, job.task, cache.examples())
}
