use super::*;
use crate::engine::{EngineState, Refusal};
use crate::genome::Genome;
use crate::operator::{Mutation, Operator};
use pathnet_nn::pathnet::{ModuleId, PathNet};

fn problem() -> PathwayProblem {
    PathwayProblem {
        envs: vec!["CartPole-v1".into(), "Acrobot-v1".into()],
        layers: 2,
        modules: 4,
        max_active: 2,
        units: 8,
        base_seed: 7,
        episodes: 1,
        episode_seed: 100,
        max_experience: 20,
    }
}

fn lineage(operator: Operator, depth: u64, init_seed: u64) -> Genome {
    let mut g = Genome::fresh(init_seed);
    for i in 0..depth {
        g = g.child(Mutation {
            seed: 1000 * init_seed + i,
            magnitude: 0.05,
            operator,
        });
    }
    g
}

fn job(task: usize, transfers: Vec<Transfer>, genome: &Genome) -> PathwayJob {
    let (parent, mutation) = match genome.mutations.last() {
        Some(&m) => (genome.prefix(genome.depth() - 1), Some(m)),
        None => (genome.clone(), None),
    };
    PathwayJob {
        problem: problem(),
        task,
        transfers,
        parent,
        mutation,
    }
}

fn flat(net: &PathNet<f32>) -> Vec<u32> {
    net.module_ids()
        .flat_map(|id| {
            net.params(id)
                .unwrap()
                .iter()
                .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn module(net: &PathNet<f32>, id: ModuleId) -> Vec<u32> {
    net.params(id)
        .unwrap()
        .iter()
        .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
        .collect()
}

#[test]
fn a_rebuild_is_bit_identical_whatever_the_cache_holds() {
    pathnet_nn::set_threads(1);
    for operator in Operator::ALL {
        let genome = lineage(operator, 4, 3);
        // Warm: every ancestor evaluated in turn, as a GA does, so each child is one step.
        let warm = PathwayRebuildCache::new(64);
        for k in 0..=genome.depth() {
            evaluate_pathway(&job(0, vec![], &genome.prefix(k)), &warm).unwrap();
        }
        let j = job(0, vec![], &genome);
        let from_warm = rebuild(&j, &warm).unwrap();
        assert_eq!(from_warm.replayed_mutations, 0, "{operator}: cached itself");
        // Cold: a fresh executor replays the whole lineage.
        let cold = PathwayRebuildCache::new(0);
        let from_cold = rebuild(&j, &cold).unwrap();
        assert_eq!(from_cold.replayed_mutations, 4, "{operator}");
        assert_eq!(flat(&from_warm.net), flat(&from_cold.net), "{operator}");
        assert_eq!(from_warm.pathway, from_cold.pathway, "{operator}");
        let dims = problem().dims().unwrap();
        assert_eq!(genome_pathway(&dims, &genome).unwrap(), from_cold.pathway);
        // And the fitness agrees.
        let a = evaluate_pathway(&j, &warm).unwrap();
        let b = evaluate_pathway(&j, &PathwayRebuildCache::new(0)).unwrap();
        assert_eq!(a.fitness.to_bits(), b.fitness.to_bits(), "{operator}");
        // The mutations changed the weights.
        let base = problem().base_network().unwrap();
        assert_ne!(flat(&base), flat(&from_cold.net), "{operator}");
    }
}

#[test]
fn frozen_modules_are_unchanged_through_the_next_task() {
    pathnet_nn::set_threads(1);
    let a_best = lineage(Operator::SmGSum, 3, 5);
    let cache = PathwayRebuildCache::new(0);
    let a = rebuild(&job(0, vec![], &a_best), &cache).unwrap();
    let transfers = vec![Transfer {
        task: 0,
        genome: a_best.clone(),
    }];
    let base = base_network(&problem(), &transfers, &cache).unwrap();
    let mut frozen: Vec<ModuleId> = a.pathway.module_ids().collect();
    frozen.sort();
    assert_eq!(base.frozen_ids(), frozen);
    for operator in Operator::ALL {
        for seed in 0..4 {
            let genome = lineage(operator, 5, 20 + seed);
            let b = rebuild(&job(1, transfers.clone(), &genome), &cache).unwrap();
            for &id in &frozen {
                assert_eq!(module(&b.net, id), module(&a.net, id), "{operator}: {id}");
            }
            // The task's own weights did move.
            let head = b.net.head_id(1).unwrap();
            assert_ne!(module(&b.net, head), module(&base, head), "{operator}");
        }
    }
}

#[test]
fn a_binary_tournament_overwrites_the_loser_and_counts_each_result_once() {
    pathnet_nn::set_threads(1);
    let config = TournamentConfig {
        selection: Selection::Binary,
        population: 4,
        tournament_size: 2,
        operator: Operator::SmGAbs,
        sigma: 0.05,
        max_evaluations: 12,
        target_fitness: None,
        seed: 1,
    };
    let mut engine = TournamentEngine::new(problem(), 0, vec![], config).unwrap();
    let cache = PathwayRebuildCache::new(32);
    let mut fresh = Vec::new();
    while let Some(w) = engine.next_evaluation() {
        fresh.push(w);
    }
    assert_eq!(fresh.len(), 4, "the population first, then wait");
    for (id, job) in &fresh {
        engine
            .complete(*id, &evaluate_pathway(job, &cache).unwrap())
            .unwrap();
    }
    // Each tournament claims its loser's slot; with one unclaimed member left, the fourth
    // must wait.
    let (first, job1) = engine.next_evaluation().unwrap();
    let (second, _) = engine.next_evaluation().unwrap();
    let (third, _) = engine.next_evaluation().unwrap();
    assert!(engine.next_evaluation().is_none());
    // A lost lease: the same evaluation goes out again under its id.
    assert!(engine.requeue(first));
    let (again, job_again) = engine.next_evaluation().unwrap();
    assert_eq!((again, &job_again), (first, &job1));
    let outcome = evaluate_pathway(&job1, &cache).unwrap();
    engine.complete(first, &outcome).unwrap();
    assert!(matches!(
        engine.complete(first, &outcome),
        Err(Refusal::NotOutstanding(_))
    ));
    assert_eq!(engine.completed(), 5);
    assert!(
        engine
            .summary()
            .population_fitness
            .contains(&outcome.fitness)
    );
    engine.requeue(second);
    engine.requeue(third);
    while let Some((id, job)) = engine.next_evaluation() {
        let outcome = evaluate_pathway(&job, &cache).unwrap();
        engine.complete(id, &outcome).unwrap();
    }
    assert_eq!(engine.state(), EngineState::Exhausted);
    assert_eq!(engine.summary().evaluations, 12);
}

#[test]
fn problems_with_unusable_fields_are_refused() {
    let mut p = problem();
    p.envs.push("Pendulum-v1".into());
    let err = p.validate().unwrap_err().to_string();
    assert!(
        err.contains("Pendulum-v1") && err.contains("discrete"),
        "{err}"
    );
    let mut p = problem();
    p.max_active = 9;
    assert!(p.validate().unwrap_err().to_string().contains("max_active"));
    let mut p = problem();
    p.envs = vec!["NoSuchEnv-v0".into()];
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("NoSuchEnv-v0")
    );
}
