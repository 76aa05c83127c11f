//! The single-process runner: PathNet binary tournaments on supervised tasks, task after
//! task with transfer, all in this process.
//!
//! A generation is one binary tournament: two pathways drawn at random each train for `T`
//! minibatches (updating the shared modules they use), the fitter one's genotype overwrites
//! the other's, mutated. A task ends when an evaluation reaches the accuracy threshold over
//! its `T` minibatches, or at the generation cap. Before the next task the best pathway's
//! modules are frozen and every other parameter is re-initialised, as in the paper.

use crate::spec::{ExperimentSpec, SpecError};
use ndarray::{Array2, Axis};
use pathnet_envs::data::{BatchSampler, BinaryTaskSpec, DataError, Dataset, Family, Split};
use pathnet_nn::pathnet::{
    Batch, ModuleOptimizers, PathNet, PathNetDims, PathNetError, Pathway, build, ga,
};
use pathnet_nn::{Sgd, SgdConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("loading data: {0}")]
    Data(#[from] DataError),
    #[error("building or training the super-network: {0}")]
    PathNet(#[from] PathNetError),
    #[error("invalid optimiser setting: {0}")]
    Optimizer(#[from] pathnet_nn::optim::OptimError),
}

/// What the runner reports while it works, for progress displays and logs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    TaskStarted {
        task: usize,
        name: String,
        max_generations: usize,
    },
    Generation {
        task: usize,
        generation: usize,
        /// Training accuracy of this tournament's winner over its `T` minibatches.
        winner_accuracy: f64,
        best_accuracy: f64,
    },
    TaskFinished(TaskSummary),
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary {
    pub task: usize,
    pub name: String,
    pub classes: [u8; 2],
    pub description: String,
    pub reached_threshold: bool,
    /// Tournaments run, including the one that reached the threshold.
    pub generations: usize,
    /// Pathway evaluations (two per tournament).
    pub evaluations: usize,
    pub best_train_accuracy: f64,
    /// Accuracy of the best pathway on the task's test split.
    pub test_accuracy: f64,
    pub best_pathway: Vec<Vec<usize>>,
    /// Modules frozen when the task started (the earlier tasks' best pathways).
    pub frozen_modules: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub experiment: String,
    pub seed: u64,
    pub tasks: Vec<TaskSummary>,
    pub seconds: f64,
}

/// Runs every task of `spec` in order, reporting progress to `observe`.
pub fn run(
    spec: &ExperimentSpec,
    observe: &mut dyn FnMut(&Progress),
) -> Result<RunSummary, RunError> {
    // A spec built in code rather than parsed still gets the parser's checks.
    spec.validate()?;
    let started = Instant::now();
    let train = Dataset::load(&spec.data.dir, Split::Train)?;
    let test = Dataset::load(&spec.data.dir, Split::Test)?;
    let p = &spec.pathnet;
    let dims = PathNetDims::new(p.layers, p.modules_per_layer, p.max_active)?;
    let modules = build::LinearModules {
        inputs: train.features(),
        units: p.module_units,
    };
    let mut net: PathNet<f32> = build::linear(dims, modules, &vec![2; spec.tasks.len()], spec.seed)?;
    let sgd = Sgd::new(SgdConfig {
        lr: spec.evolution.learning_rate,
        momentum: 0.0,
    })?;
    let mut optimizers = ModuleOptimizers::cloning(sgd);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut summaries: Vec<TaskSummary> = Vec::new();

    for (task, task_spec) in spec.tasks.iter().enumerate() {
        if let Some(previous) = summaries.last() {
            let best = Pathway::new(previous.best_pathway.clone(), &dims)?;
            net.freeze_pathway(&best)?;
            let reinitialised = net.reinit_unfrozen(&mut rng);
            optimizers.reset(&reinitialised);
        }
        let [negative, positive] = task_spec.classes;
        let task_seed = spec.seed.wrapping_add(task as u64);
        let binary = |data: &Dataset, salt: u64| {
            BinaryTaskSpec::new(negative, positive)
                .with_noise(spec.data.noise as f32)
                .with_seed(task_seed ^ salt)
                .build(data)
        };
        let task_train = binary(&train, 0)?.into_dataset();
        let task_test = binary(&test, 0x5eed_7e57)?.into_dataset();
        let ctx = TaskContext {
            spec,
            task,
            name: task_spec.name.clone(),
            classes: task_spec.classes,
            frozen_modules: net.frozen_ids().len(),
            train: as_matrix(&task_train),
            train_labels: task_train.labels().iter().map(|&l| l as usize).collect(),
            sampler: BatchSampler::for_dataset(&task_train, spec.evolution.batch_size, task_seed)?,
        };
        let summary = evolve_task(ctx, &mut net, &mut optimizers, &mut rng, &task_test, observe)?;
        observe(&Progress::TaskFinished(summary.clone()));
        summaries.push(summary);
    }
    Ok(RunSummary {
        experiment: spec.name.clone(),
        seed: spec.seed,
        tasks: summaries,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct TaskContext<'a> {
    spec: &'a ExperimentSpec,
    task: usize,
    name: String,
    classes: [u8; 2],
    frozen_modules: usize,
    train: Array2<f32>,
    train_labels: Vec<usize>,
    sampler: BatchSampler,
}

impl TaskContext<'_> {
    /// Trains `pathway` for `T` freshly sampled minibatches; returns its training accuracy.
    fn evaluate(
        &mut self,
        net: &mut PathNet<f32>,
        pathway: &Pathway,
        optimizers: &mut ModuleOptimizers<Sgd<f32>>,
    ) -> Result<f64, RunError> {
        let owned: Vec<(Array2<f32>, Vec<usize>)> = (0..self.spec.evolution.minibatches_per_evaluation)
            .map(|_| {
                let indices = self.sampler.next_indices();
                let labels = indices.iter().map(|&i| self.train_labels[i]).collect();
                (self.train.select(Axis(0), indices), labels)
            })
            .collect();
        let batches = owned.iter().map(|(inputs, labels)| Batch {
            inputs: inputs.view().into_dyn(),
            labels,
        });
        let report = net.train_pathway(pathway, self.task, batches, optimizers)?;
        Ok(1.0 + report.fitness())
    }
}

fn evolve_task(
    mut ctx: TaskContext<'_>,
    net: &mut PathNet<f32>,
    optimizers: &mut ModuleOptimizers<Sgd<f32>>,
    rng: &mut ChaCha8Rng,
    test: &Dataset,
    observe: &mut dyn FnMut(&Progress),
) -> Result<TaskSummary, RunError> {
    let started = Instant::now();
    let evolution = &ctx.spec.evolution;
    let dims = *net.dims();
    observe(&Progress::TaskStarted {
        task: ctx.task,
        name: ctx.name.clone(),
        max_generations: evolution.max_generations,
    });
    let mut population: Vec<Pathway> = (0..evolution.population)
        .map(|_| Pathway::random_with(&dims, rng))
        .collect::<Result<_, _>>()?;
    let mut best = (f64::NEG_INFINITY, population[0].clone());
    let mut generations = 0;
    let mut reached = false;
    while generations < evolution.max_generations && !reached {
        generations += 1;
        let first = rng.random_range(0..population.len());
        let second = (first + rng.random_range(1..population.len())) % population.len();
        let accuracy = [
            ctx.evaluate(net, &population[first], optimizers)?,
            ctx.evaluate(net, &population[second], optimizers)?,
        ];
        let (winner_index, winner_accuracy) = if ga::tournament(accuracy[0], accuracy[1]).winner
            == ga::Contestant::First
        {
            (first, accuracy[0])
        } else {
            (second, accuracy[1])
        };
        if winner_accuracy >= best.0 {
            best = (winner_accuracy, population[winner_index].clone());
        }
        reached = winner_accuracy >= evolution.accuracy_threshold;
        let (a, b) = pair_mut(&mut population, first, second);
        ga::tournament_step((a, accuracy[0]), (b, accuracy[1]), &dims, rng)?;
        observe(&Progress::Generation {
            task: ctx.task,
            generation: generations,
            winner_accuracy,
            best_accuracy: best.0,
        });
    }
    let test_matrix = as_matrix(test);
    let test_labels: Vec<usize> = test.labels().iter().map(|&l| l as usize).collect();
    let test_report = net.evaluate(
        &best.1,
        ctx.task,
        pathnet_nn::pathnet::batches(test_matrix.view().into_dyn(), &test_labels, 500)?,
    )?;
    Ok(TaskSummary {
        task: ctx.task,
        name: ctx.name,
        classes: ctx.classes,
        description: Family::FashionMnist.describe_pair(ctx.classes[0], ctx.classes[1]),
        reached_threshold: reached,
        generations,
        evaluations: 2 * generations,
        best_train_accuracy: best.0,
        test_accuracy: test_report.accuracy(),
        best_pathway: best.1.layers().to_vec(),
        frozen_modules: ctx.frozen_modules,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn as_matrix(data: &Dataset) -> Array2<f32> {
    Array2::from_shape_vec((data.len(), data.features()), data.images().to_vec())
        .expect("a Dataset's image buffer is len x features by construction")
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(items: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j, "a tournament needs two different pathways");
    if i < j {
        let (head, tail) = items.split_at_mut(j);
        (&mut head[i], &mut tail[0])
    } else {
        let (head, tail) = items.split_at_mut(i);
        (&mut tail[0], &mut head[j])
    }
}
