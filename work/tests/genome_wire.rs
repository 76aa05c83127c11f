//! Seed-list genomes on the wire: round trips, the parent/child split an agent's rebuild
//! cache relies on, and refusals of malformed evaluations.

use pathnet_evo::config::TaskKind;
use pathnet_evo::{Genome, Job, Mutation, Operator, Outcome, SafeMutationConfig};
use pathnet_proto::v1::{self, work_item::Payload};
use pathnet_work::genome_wire::{
    genome_bytes, genome_from_wire, genome_to_wire, job_from_payload, job_payload,
    outcome_from_report, outcome_to_report,
};

fn genome() -> Genome {
    let ops = [
        Operator::Control,
        Operator::SmR,
        Operator::SmGSum,
        Operator::SmGAbs,
        Operator::SmGSo,
    ];
    ops.iter()
        .enumerate()
        .fold(Genome::fresh(7), |g, (i, &operator)| {
            g.child(Mutation {
                seed: 100 + i as u64,
                magnitude: 0.01 * (i + 1) as f64,
                operator,
            })
        })
}

fn job() -> Job {
    let config = SafeMutationConfig::new(TaskKind::Parity, Operator::SmGSum, 0.01);
    let g = genome();
    Job {
        problem: config.problem(),
        parent: g.prefix(g.depth() - 1),
        mutation: g.mutations.last().copied(),
    }
}

fn evaluation(job: &Job) -> v1::GenomeEvaluation {
    match job_payload(job) {
        Payload::GenomeEvaluation(e) => e,
        other => panic!("not a genome evaluation: {other:?}"),
    }
}

#[test]
fn genomes_and_jobs_round_trip() {
    let g = genome();
    assert_eq!(genome_from_wire(&genome_to_wire(&g)).unwrap(), g);
    let job = job();
    let back = job_from_payload(&evaluation(&job)).unwrap();
    assert_eq!(
        back, job,
        "the last mutation is the child's, the rest its parent"
    );
    let fresh = Job {
        parent: Genome::fresh(3),
        mutation: None,
        ..job
    };
    assert_eq!(job_from_payload(&evaluation(&fresh)).unwrap(), fresh);
}

#[test]
fn a_genome_is_tens_of_bytes_per_generation_not_the_weights() {
    let job = job();
    let bytes = genome_bytes(&job.genome());
    assert!(bytes < 25 * (job.genome().depth() + 1), "{bytes} bytes");
    assert!(bytes * 100 < job.problem.network.weight_bytes());
}

#[test]
fn malformed_evaluations_are_refused_naming_the_field() {
    let good = evaluation(&job());
    let mut nan = good.clone();
    nan.genome.as_mut().unwrap().mutations[0].sigma = f64::NAN;
    let mut operator = good.clone();
    operator.genome.as_mut().unwrap().mutations[1].operator = 42;
    let mut missing = good.clone();
    missing.genome = None;
    let mut toml = good.clone();
    toml.config_toml = "task = 3".into();
    for (bad, field) in [
        (nan, "sigma"),
        (operator, "operator"),
        (missing, "genome"),
        (toml, "config_toml"),
    ] {
        let err = job_from_payload(&bad).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn outcomes_round_trip_and_need_a_finite_fitness_and_a_verdict() {
    let outcome = Outcome {
        fitness: -0.25,
        solved: true,
        replayed_mutations: 0,
        replayed_evaluations: 0,
        mutation_unchanged: false,
        mutation_gave_up: false,
    };
    let report = outcome_to_report("agent-1", "w1", &outcome, 5);
    assert_eq!(outcome_from_report(&report).unwrap(), outcome);
    let mut nan = report.clone();
    nan.fitness = f64::NAN;
    assert!(outcome_from_report(&nan).is_err());
    let mut silent = report;
    silent.evaluation = None;
    let err = outcome_from_report(&silent).unwrap_err().to_string();
    assert!(err.contains("solved"), "{err}");
}
