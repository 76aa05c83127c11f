//! A genome rebuilt from its seed list has exactly the weights it had when it was evaluated,
//! whether or not its ancestors are cached, for every operator.

use pathnet_evo::rebuild::rebuild;
use pathnet_evo::task::TaskSpec;
use pathnet_evo::{Genome, Job, Mutation, Operator, Problem, RebuildCache, evaluate};

fn problems() -> [Problem; 2] {
    let parity = TaskSpec::Parity { bits: 3 };
    // A short episode keeps the test fast; the dynamics are the same.
    let maze = TaskSpec::Maze { steps: 60 };
    [
        Problem {
            network: parity.network(6, 2),
            task: parity,
            max_experience: 100,
            weight_clip: None,
        },
        Problem {
            network: maze.network(8, 6),
            task: maze,
            max_experience: 20,
            weight_clip: None,
        },
    ]
}

/// Ten generations cycling through every operator, each at a magnitude it handles.
fn lineage() -> Genome {
    let mut genome = Genome::fresh(7);
    for generation in 0..10u64 {
        let operator = Operator::ALL[generation as usize % 5];
        let magnitude = match operator {
            Operator::Control => 0.05,
            Operator::SmR => 1e-3,
            _ => 0.005,
        };
        genome = genome.child(Mutation {
            seed: 100 + generation,
            magnitude,
            operator,
        });
    }
    genome
}

fn weights(problem: &Problem, genome: &Genome, cache: &RebuildCache) -> Vec<u32> {
    let rebuilt = rebuild(problem, genome, cache).unwrap();
    rebuilt
        .net
        .params()
        .iter()
        .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
        .collect()
}

#[test]
fn rebuilt_weights_are_bit_identical_with_and_without_the_cache() {
    for problem in problems() {
        let genome = lineage();
        let cold = weights(&problem, &genome, &RebuildCache::new(0));

        // Evolve the lineage generation by generation through a cache, as executors do.
        let cache = RebuildCache::new(64);
        for depth in 0..=genome.depth() {
            let (parent, mutation) = match depth {
                0 => (genome.prefix(0), None),
                d => (genome.prefix(d - 1), Some(genome.mutations[d - 1])),
            };
            let outcome = evaluate(
                &Job {
                    problem: problem.clone(),
                    parent,
                    mutation,
                },
                &cache,
            )
            .unwrap();
            if depth > 0 {
                assert_eq!(
                    (outcome.replayed_mutations, outcome.replayed_evaluations),
                    (1, 0),
                    "a child of a cached parent costs one mutation"
                );
            }
        }
        assert!(cache.contains(&genome));
        assert_eq!(
            weights(&problem, &genome, &cache),
            cold,
            "{:?}",
            problem.task
        );

        // A cache holding only some ancestors: the rebuild starts from the deepest one and
        // evaluates the others again for their experience.
        let partial = RebuildCache::new(64);
        let middle = genome.prefix(4);
        let stored = rebuild(&problem, &middle, &RebuildCache::new(0)).unwrap();
        let experience = problem
            .task
            .evaluate(&*stored.net, problem.max_experience)
            .experience;
        partial.store(&middle, &*stored.net, &experience);
        let warm = rebuild(&problem, &genome, &partial).unwrap();
        assert_eq!(warm.replayed_mutations, 6);
        let flat: Vec<u32> = warm
            .net
            .params()
            .iter()
            .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
            .collect();
        assert_eq!(flat, cold);
    }
}

#[test]
fn the_same_job_gives_the_same_outcome_whatever_the_cache_holds() {
    let problem = problems()[0].clone();
    let genome = lineage();
    let job = Job {
        problem,
        parent: genome.prefix(9),
        mutation: Some(genome.mutations[9]),
    };
    let cold = evaluate(&job, &RebuildCache::new(0)).unwrap();
    let cache = RebuildCache::new(8);
    let first = evaluate(&job, &cache).unwrap();
    let again = evaluate(&job, &cache).unwrap();
    assert_eq!(cold.fitness.to_bits(), first.fitness.to_bits());
    assert_eq!(first.fitness.to_bits(), again.fitness.to_bits());
    assert_eq!(again.replayed_mutations, 0, "the genome itself was cached");
    assert!(cold.replayed_mutations == 10 && cold.replayed_evaluations > 0);
}

#[test]
fn a_small_cache_evicts_the_least_recently_used() {
    let problem = problems()[0].clone();
    let cache = RebuildCache::new(2);
    let job = |seed| Job {
        problem: problem.clone(),
        parent: Genome::fresh(seed),
        mutation: None,
    };
    for seed in [1, 2] {
        evaluate(&job(seed), &cache).unwrap();
    }
    // Touch 1, then add 3: 2 is the least recently used.
    evaluate(&job(1), &cache).unwrap();
    evaluate(&job(3), &cache).unwrap();
    assert!(cache.contains(&Genome::fresh(1)));
    assert!(!cache.contains(&Genome::fresh(2)));
    assert!(cache.contains(&Genome::fresh(3)));
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.stats().evictions, 1);
}

#[test]
fn jobs_with_bad_fields_are_errors() {
    let mut problem = problems()[0].clone();
    problem.max_experience = 0;
    let job = Job {
        problem,
        parent: Genome::fresh(1),
        mutation: None,
    };
    let err = evaluate(&job, &RebuildCache::new(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`experience` = 0"), "{err}");

    let mut job = Job {
        problem: problems()[0].clone(),
        parent: Genome::fresh(1),
        mutation: Some(Mutation {
            seed: 1,
            magnitude: f64::NAN,
            operator: Operator::Control,
        }),
    };
    let err = evaluate(&job, &RebuildCache::new(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("NaN"), "{err}");
    job.problem.network = problems()[1].network.clone();
    let err = evaluate(&job, &RebuildCache::new(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not fit task"), "{err}");
}
