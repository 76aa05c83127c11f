use super::*;
use crate::EvoError;
use crate::engine::{EngineState, Refusal};
use crate::genome::Genome;
use crate::operator::{Mutation, Operator};
use ndarray::{Array2, Axis};
use pathnet_envs::data::BatchSampler;
use pathnet_nn::pathnet::{ModuleId, PathNet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

pub(super) fn problem() -> PathwayProblem {
    PathwayProblem {
        tasks: vec![env("CartPole-v1"), env("Acrobot-v1")],
        layers: 2,
        modules: 4,
        max_active: 2,
        units: 8,
        conv: None,
        base_seed: 7,
        episodes: 1,
        episode_seed: 100,
        max_experience: 20,
        eval_examples: 256,
        hybrid: None,
    }
}

pub(super) fn env(id: &str) -> PathwayTask {
    PathwayTask::Env(id.into())
}

pub(super) fn lineage(operator: Operator, depth: u64, init_seed: u64) -> Genome {
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
    job_of(problem(), task, transfers, genome)
}

pub(super) fn job_of(
    problem: PathwayProblem,
    task: usize,
    transfers: Vec<Transfer>,
    genome: &Genome,
) -> PathwayJob {
    let (parent, mutation) = match genome.mutations.last() {
        Some(&m) => (genome.prefix(genome.depth() - 1), Some(m)),
        None => (genome.clone(), None),
    };
    PathwayJob {
        problem,
        task,
        transfers,
        parent,
        mutation,
    }
}

pub(super) fn flat(net: &PathNet<f32>) -> Vec<u32> {
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

pub(super) fn module(net: &PathNet<f32>, id: ModuleId) -> Vec<u32> {
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
    p.tasks.push(env("Pendulum-v1"));
    let err = p.validate().unwrap_err().to_string();
    assert!(
        err.contains("Pendulum-v1") && err.contains("discrete"),
        "{err}"
    );
    let mut p = problem();
    p.max_active = 9;
    assert!(p.validate().unwrap_err().to_string().contains("max_active"));
    let mut p = problem();
    p.tasks = vec![env("NoSuchEnv-v0")];
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("NoSuchEnv-v0")
    );
}

/// A small seeded two-class dataset of 28 x 28 "images": class 1 is brighter in the top half.
/// A task's first class flips the labels, so two tasks differ.
struct Synthetic {
    inputs: Array2<f32>,
    labels: Vec<usize>,
    /// The held-out split: drawn from another seed, never in a minibatch.
    test: problem::Examples,
}

impl Synthetic {
    fn new() -> Arc<Self> {
        let (inputs, labels) = Self::draw(300, 11);
        Arc::new(Synthetic {
            inputs,
            labels,
            test: Self::draw(120, 12),
        })
    }

    fn draw(rows: usize, seed: u64) -> problem::Examples {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<usize> = (0..rows).map(|i| i % 2).collect();
        let inputs = Array2::from_shape_fn((rows, DATA_FEATURES), |(i, j)| {
            let lift = if labels[i] == 1 && j < DATA_FEATURES / 2 {
                0.3
            } else {
                0.0
            };
            rng.random::<f32>() * 0.5 + lift
        });
        (inputs, labels)
    }
}

impl ExampleSource for Synthetic {
    fn minibatches(
        &self,
        task: &DataTask,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Vec<problem::Examples>, String> {
        let flip = usize::from(task.classes[0] & 1);
        let mut sampler =
            BatchSampler::new(self.labels.len(), batch_size, seed).map_err(|e| e.to_string())?;
        Ok((0..count)
            .map(|_| {
                let indices = sampler.next_indices();
                let labels = indices.iter().map(|&i| self.labels[i] ^ flip).collect();
                (self.inputs.select(Axis(0), indices), labels)
            })
            .collect())
    }

    fn held_out(&self, task: &DataTask) -> Result<problem::Examples, String> {
        let flip = usize::from(task.classes[0] & 1);
        let (inputs, labels) = &self.test;
        Ok((inputs.clone(), labels.iter().map(|&l| l ^ flip).collect()))
    }
}

/// A loader with training examples only, as an executor whose dataset lacks test files.
struct TrainOnly(Arc<Synthetic>);

impl ExampleSource for TrainOnly {
    fn minibatches(
        &self,
        task: &DataTask,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Vec<problem::Examples>, String> {
        self.0.minibatches(task, count, batch_size, seed)
    }
}

fn data(a: u8, b: u8) -> PathwayTask {
    PathwayTask::Data(DataTask {
        dir: "synthetic".into(),
        classes: [a, b],
        noise: 0.0,
        noise_seed: 0,
    })
}

const HYBRID: Hybrid = Hybrid {
    minibatches: 4,
    batch_size: 16,
    learning_rate: 0.05,
};

fn data_problem(hybrid: Option<Hybrid>) -> PathwayProblem {
    PathwayProblem {
        tasks: vec![data(3, 5), data(2, 7)],
        eval_examples: 64,
        hybrid,
        ..problem()
    }
}

fn loaded(capacity: usize) -> PathwayRebuildCache {
    PathwayRebuildCache::new(capacity).with_examples(Synthetic::new())
}

#[test]
fn dataset_fitness_is_accuracy_and_rebuilds_bit_for_bit() {
    pathnet_nn::set_threads(1);
    for hybrid in [None, Some(HYBRID)] {
        let p = data_problem(hybrid);
        for operator in Operator::ALL {
            let genome = lineage(operator, 3, 4);
            let warm = loaded(64);
            let mut fitness = Vec::new();
            for k in 0..=genome.depth() {
                let outcome =
                    evaluate_pathway(&job_of(p.clone(), 0, vec![], &genome.prefix(k)), &warm)
                        .unwrap();
                fitness.push(outcome.fitness);
            }
            assert!(
                fitness.iter().all(|f| (0.0..=1.0).contains(f)),
                "{operator} {hybrid:?}: accuracies {fitness:?}"
            );
            let j = job_of(p.clone(), 0, vec![], &genome);
            let from_warm = rebuild(&j, &warm).unwrap();
            // An agent: a fresh cache and its own loader.
            let from_cold = rebuild(&j, &loaded(0)).unwrap();
            assert_eq!(from_cold.replayed_mutations, 3, "{operator}");
            assert_eq!(
                flat(&from_warm.net),
                flat(&from_cold.net),
                "{operator} {hybrid:?}"
            );
            assert_eq!(from_warm.pathway, from_cold.pathway);
            let again = evaluate_pathway(&j, &loaded(0)).unwrap();
            assert_eq!(
                again.fitness.to_bits(),
                fitness[3].to_bits(),
                "{operator} {hybrid:?}"
            );
        }
    }
}

#[test]
fn held_out_accuracy_measures_the_rebuilt_genome_on_the_held_out_split_only() {
    pathnet_nn::set_threads(1);
    for hybrid in [None, Some(HYBRID)] {
        let p = data_problem(hybrid);
        let genome = lineage(Operator::SmGSum, 3, 4);
        let transfer = Transfer {
            task: 0,
            genome: lineage(Operator::Control, 2, 9),
        };
        for (task, transfers) in [(0, vec![]), (1, vec![transfer])] {
            let j = job_of(p.clone(), task, transfers, &genome);
            let warm = loaded(64);
            evaluate_pathway(&j, &warm).unwrap();
            let held_out = held_out_accuracy(&j, &warm).unwrap().unwrap();
            // The same number from a fresh executor, and it is the accuracy on the held-out
            // examples, measured by hand.
            let cold = held_out_accuracy(&j, &loaded(0)).unwrap().unwrap();
            assert_eq!(held_out.to_bits(), cold.to_bits(), "{hybrid:?} task {task}");
            let rebuilt = rebuild(&j, &loaded(0)).unwrap();
            let PathwayTask::Data(data) = &p.tasks[task] else {
                unreachable!()
            };
            let (inputs, labels) = Synthetic::new().held_out(data).unwrap();
            let report = rebuilt
                .net
                .evaluate(
                    &rebuilt.pathway,
                    task,
                    [pathnet_nn::pathnet::Batch {
                        inputs: inputs.view().into_dyn(),
                        labels: &labels,
                    }],
                )
                .unwrap();
            assert_eq!(report.examples, 120, "the whole held-out split");
            assert_eq!(held_out.to_bits(), report.accuracy().to_bits());
        }
    }
    // An environment task has no held-out split: no number, and no error.
    let env_job = job(0, vec![], &lineage(Operator::Control, 1, 2));
    assert_eq!(
        held_out_accuracy(&env_job, &PathwayRebuildCache::new(0)).unwrap(),
        None
    );
    // A loader without a held-out split is an error naming the dataset, not a made-up number.
    let j = job_of(data_problem(None), 0, vec![], &Genome::fresh(5));
    let train_only =
        PathwayRebuildCache::new(0).with_examples(Arc::new(TrainOnly(Synthetic::new())));
    let err = held_out_accuracy(&j, &train_only).unwrap_err().to_string();
    assert!(
        err.contains("synthetic") && err.contains("held-out"),
        "{err}"
    );
}

#[test]
fn hybrid_mode_trains_each_genome_and_spares_frozen_modules() {
    pathnet_nn::set_threads(1);
    let cache = loaded(0);
    let fresh = Genome::fresh(9);
    let plain = rebuild(&job_of(data_problem(None), 0, vec![], &fresh), &cache).unwrap();
    let trained = rebuild(
        &job_of(data_problem(Some(HYBRID)), 0, vec![], &fresh),
        &cache,
    )
    .unwrap();
    assert_eq!(plain.pathway, trained.pathway);
    // SGD moved the pathway's modules and head, and only those.
    let base = data_problem(None).base_network().unwrap();
    assert_eq!(
        flat(&plain.net),
        flat(&base),
        "no training without hybrid mode"
    );
    for id in base.module_ids() {
        let on_path = plain.pathway.uses(id) || id == base.head_id(0).unwrap();
        assert_eq!(
            module(&trained.net, id) != module(&base, id),
            on_path,
            "{id}: trained iff on the pathway"
        );
    }
    // Task B over task A's frozen best: SGD and mutations leave the frozen modules alone.
    let p = data_problem(Some(HYBRID));
    let a_best = lineage(Operator::SmGSum, 2, 5);
    let a = rebuild(&job_of(p.clone(), 0, vec![], &a_best), &cache).unwrap();
    let transfers = vec![Transfer {
        task: 0,
        genome: a_best,
    }];
    for operator in [Operator::Control, Operator::SmGSum] {
        let b = rebuild(
            &job_of(p.clone(), 1, transfers.clone(), &lineage(operator, 3, 30)),
            &cache,
        )
        .unwrap();
        for id in a.pathway.module_ids() {
            assert_eq!(module(&b.net, id), module(&a.net, id), "{operator}: {id}");
        }
    }
}

#[test]
fn unusable_dataset_tasks_are_refused_by_field() {
    let mut p = data_problem(None);
    p.tasks[1] = data(4, 4);
    let err = p.validate().unwrap_err().to_string();
    assert!(err.contains("`classes`") && err.contains("[4, 4]"), "{err}");
    let mut p = data_problem(None);
    p.tasks[0] = data(3, 10);
    assert!(p.validate().unwrap_err().to_string().contains("classes"));
    // Hybrid mode needs labels on every task.
    let mut p = data_problem(Some(HYBRID));
    p.tasks.push(env("CartPole-v1"));
    let err = p.validate().unwrap_err().to_string();
    assert!(
        err.contains("`hybrid`") && err.contains("CartPole-v1"),
        "{err}"
    );
    let p = data_problem(Some(Hybrid {
        learning_rate: -1.0,
        ..HYBRID
    }));
    let err = p.validate().unwrap_err().to_string();
    assert!(err.contains("hybrid.learning_rate"), "{err}");
    let p = data_problem(Some(Hybrid {
        minibatches: 0,
        ..HYBRID
    }));
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("hybrid.minibatches")
    );
    // An executor without a dataset loader says so rather than guessing a fitness.
    let err = evaluate_pathway(
        &job_of(data_problem(None), 0, vec![], &Genome::fresh(1)),
        &PathwayRebuildCache::new(0),
    )
    .unwrap_err();
    assert!(matches!(err, EvoError::Data(_)), "{err}");
    // A mixed run: a dataset task and an environment share the super-network.
    let mut p = data_problem(None);
    p.tasks[1] = env("CartPole-v1");
    p.validate().unwrap();
    assert_eq!(p.inputs().unwrap(), DATA_FEATURES);
    let outcome = evaluate_pathway(&job_of(p, 1, vec![], &Genome::fresh(2)), &loaded(0)).unwrap();
    assert!(
        outcome.fitness >= 1.0,
        "a CartPole return: {}",
        outcome.fitness
    );
}
