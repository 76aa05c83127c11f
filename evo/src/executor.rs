//! What an executor (an agent, or a thread of the in-process runner) does with a job: rebuild
//! the genome, evaluate it, and keep it in its rebuild cache in case it becomes a parent.

use crate::EvoError;
use crate::genome::Genome;
use crate::network::NetworkSpec;
use crate::operator::{Applied, Mutation};
use crate::rebuild::{RebuildCache, rebuild};
use crate::task::TaskSpec;
use serde::{Deserialize, Serialize};

/// Everything fixed for a whole run: the task, the network, how much experience to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// The task every genome is evaluated on.
    pub task: TaskSpec,
    /// The network every genome's seed list builds; it must fit the task.
    pub network: NetworkSpec,
    /// The most inputs kept from an evaluation for the safe-mutation operators (the paper: 100).
    pub max_experience: usize,
    /// Clips each weight's change to `[-c, c]` after the operator computed it (the reference
    /// implementation clips 0.2 on the maze). Off when absent; part of the problem because
    /// every rebuild of a genome must clip alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_clip: Option<f64>,
}

impl Problem {
    /// Checks the task, the network, that they fit each other, and the experience and clip
    /// settings; the error names the field.
    pub fn validate(&self) -> Result<(), EvoError> {
        self.task.validate()?;
        self.network.validate()?;
        self.task.check_network(&self.network)?;
        if self.max_experience == 0 {
            return Err(EvoError::invalid(
                "experience",
                self.max_experience,
                "must be at least 1: the safe-mutation operators need stored inputs",
            ));
        }
        crate::operator::validate_weight_clip(self.weight_clip)
    }
}

/// One evaluation: a fresh genome (`mutation: None`), or a child of `parent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// What the run evaluates on.
    pub problem: Problem,
    /// The genome to evaluate, or the parent of the child to evaluate.
    pub parent: Genome,
    /// The child's own mutation; `None` evaluates `parent` itself.
    pub mutation: Option<Mutation>,
}

impl Job {
    /// The genome this job evaluates.
    pub fn genome(&self) -> Genome {
        match self.mutation {
            Some(m) => self.parent.child(m),
            None => self.parent.clone(),
        }
    }

    /// Checks the problem and that every mutation has a finite, positive magnitude: a job
    /// arrives from the network, so nothing in it is trusted.
    pub fn validate(&self) -> Result<(), EvoError> {
        self.problem.validate()?;
        let genome = self.genome();
        for (index, m) in genome.mutations.iter().enumerate() {
            if !(m.magnitude.is_finite() && m.magnitude > 0.0) {
                return Err(EvoError::invalid(
                    "mutation magnitude",
                    m.magnitude,
                    format!("mutation {index} must have a finite, positive magnitude"),
                ));
            }
        }
        Ok(())
    }
}

/// The result of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The task's fitness; higher is better.
    pub fitness: f64,
    /// Whether the genome solved the task.
    pub solved: bool,
    /// Rebuild work: mutations applied (1 when the parent was cached).
    pub replayed_mutations: u64,
    /// Rebuild work: ancestors evaluated again for their experience (0 when the parent was
    /// cached).
    pub replayed_evaluations: u64,
    /// The child's own mutation left the parent's weights unchanged (SM-R's search saw no
    /// finite divergence).
    pub mutation_unchanged: bool,
    /// The child's own mutation was SM-R's closest step after its line search gave up.
    #[serde(default)]
    pub mutation_gave_up: bool,
}

/// Rebuilds and evaluates the job's genome, storing it in `cache`.
///
/// Deterministic: the same job gives the same outcome whatever the cache holds. Bit-identical
/// weights across processes also need identical floating-point kernels: run evaluations with
/// `pathnet_nn::set_threads(1)` (large matrix products are otherwise split by core count) on
/// machines of one instruction-set family.
pub fn evaluate(job: &Job, cache: &RebuildCache) -> Result<Outcome, EvoError> {
    job.validate()?;
    let genome = job.genome();
    let rebuilt = rebuild(&job.problem, &genome, cache)?;
    let mutation_unchanged = job.mutation.is_some() && rebuilt.last == Some(Applied::Unchanged);
    let mutation_gave_up = job.mutation.is_some() && rebuilt.last == Some(Applied::ClosestStep);
    let evaluation = job
        .problem
        .task
        .evaluate(&*rebuilt.net, job.problem.max_experience);
    cache.store(&genome, &*rebuilt.net, &evaluation.experience);
    Ok(Outcome {
        fitness: evaluation.fitness,
        solved: evaluation.solved,
        replayed_mutations: rebuilt.replayed_mutations as u64,
        replayed_evaluations: rebuilt.replayed_evaluations as u64,
        mutation_unchanged,
        mutation_gave_up,
    })
}
