//! Conversions between neuroevolution jobs and their `pathnet.v1` messages: a genome travels
//! as its seed list (`Genome`), never as weights, and the problem (task, network, experience
//! kept) as TOML in the neuroevolution crate's own schema.

use crate::wire::WireError;
use pathnet_evo::{Genome, Job, Mutation, Operator, Outcome, executor::Problem};
use pathnet_proto::v1::{self, work_item::Payload};

fn operator_to_wire(operator: Operator) -> v1::MutationOperator {
    match operator {
        Operator::Control => v1::MutationOperator::Gaussian,
        Operator::SmR => v1::MutationOperator::SmR,
        Operator::SmGSum => v1::MutationOperator::SmGSum,
        Operator::SmGAbs => v1::MutationOperator::SmGAbs,
        Operator::SmGSo => v1::MutationOperator::SmGSo,
    }
}

fn operator_from_wire(value: i32) -> Result<Operator, WireError> {
    match v1::MutationOperator::try_from(value) {
        Ok(v1::MutationOperator::Gaussian) => Ok(Operator::Control),
        Ok(v1::MutationOperator::SmR) => Ok(Operator::SmR),
        Ok(v1::MutationOperator::SmGSum) => Ok(Operator::SmGSum),
        Ok(v1::MutationOperator::SmGAbs) => Ok(Operator::SmGAbs),
        Ok(v1::MutationOperator::SmGSo) => Ok(Operator::SmGSo),
        Ok(v1::MutationOperator::Unspecified) | Err(_) => Err(WireError::invalid(
            "mutations.operator",
            value,
            "not a mutation operator",
        )),
    }
}

/// A genome as its seed list.
pub fn genome_to_wire(genome: &Genome) -> v1::Genome {
    v1::Genome {
        initial_seed: genome.init_seed,
        mutations: genome
            .mutations
            .iter()
            .map(|m| v1::Mutation {
                seed: m.seed,
                sigma: m.magnitude,
                operator: operator_to_wire(m.operator).into(),
            })
            .collect(),
    }
}

/// Bytes `genome`'s seed list takes in a message.
pub fn genome_bytes(genome: &Genome) -> usize {
    prost::Message::encoded_len(&genome_to_wire(genome))
}

/// Rebuilds a genome from its seed list; an error names the mutation field that is not a
/// valid sigma or operator.
pub fn genome_from_wire(genome: &v1::Genome) -> Result<Genome, WireError> {
    let mut rebuilt = Genome::fresh(genome.initial_seed);
    for m in &genome.mutations {
        if !(m.sigma.is_finite() && m.sigma > 0.0) {
            return Err(WireError::invalid(
                "mutations.sigma",
                m.sigma,
                "must be finite and positive",
            ));
        }
        rebuilt = rebuilt.child(Mutation {
            seed: m.seed,
            magnitude: m.sigma,
            operator: operator_from_wire(m.operator)?,
        });
    }
    Ok(rebuilt)
}

/// The work item payload asking an agent to evaluate `job`'s genome.
pub fn job_payload(job: &Job) -> Payload {
    Payload::GenomeEvaluation(v1::GenomeEvaluation {
        config_toml: toml::to_string(&job.problem).expect("a problem is plain TOML data"),
        genome: Some(genome_to_wire(&job.genome())),
    })
}

/// Decodes a genome evaluation into a job: the genome's last mutation is the child's own,
/// the rest is its parent (which the agent may hold in its rebuild cache).
pub fn job_from_payload(evaluation: &v1::GenomeEvaluation) -> Result<Job, WireError> {
    let problem: Problem = toml::from_str(&evaluation.config_toml)
        .map_err(|err| WireError::invalid("config_toml", "(the problem)", err.to_string()))?;
    let genome = genome_from_wire(
        evaluation
            .genome
            .as_ref()
            .ok_or(WireError::Missing("genome"))?,
    )?;
    let (parent, mutation) = match genome.mutations.last() {
        Some(&last) => (genome.prefix(genome.depth() - 1), Some(last)),
        None => (genome, None),
    };
    let job = Job {
        problem,
        parent,
        mutation,
    };
    job.validate()
        .map_err(|err| WireError::invalid("genome_evaluation", "(the job)", err.to_string()))?;
    Ok(job)
}

/// The report of an evaluated genome.
pub fn outcome_to_report(
    agent_id: &str,
    work_id: &str,
    outcome: &Outcome,
    elapsed_ms: u64,
) -> v1::ReportResultRequest {
    v1::ReportResultRequest {
        agent_id: agent_id.to_owned(),
        work_id: work_id.to_owned(),
        fitness: outcome.fitness,
        training_accuracy: None,
        evaluation: Some(v1::EvaluationStats {
            solved: Some(outcome.solved),
            ..Default::default()
        }),
        deltas: Vec::new(),
        elapsed_ms,
        sideways: None,
    }
}

/// The outcome a genome evaluation report carries. Rebuild statistics stay with the agent.
pub fn outcome_from_report(report: &v1::ReportResultRequest) -> Result<Outcome, WireError> {
    if !report.fitness.is_finite() {
        return Err(WireError::invalid(
            "fitness",
            report.fitness,
            "must be finite",
        ));
    }
    let solved = report
        .evaluation
        .as_ref()
        .and_then(|e| e.solved)
        .ok_or(WireError::Missing("evaluation.solved"))?;
    Ok(Outcome {
        fitness: report.fitness,
        solved,
        replayed_mutations: 0,
        replayed_evaluations: 0,
        mutation_unchanged: false,
        mutation_gave_up: false,
    })
}
