//! Fixtures the coordinator's integration tests share: small specs of each kind, made-up
//! PathNet outcomes and gradients of ones.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use ndarray::ArrayD;
use pathnet_coordinator::pathnet::{Engine, EvaluationRequest};
use pathnet_coordinator::spec::{A3cSpec, ExperimentSpec, PathNetA3cSpec, Spec};
use pathnet_nn::pathnet::ModuleId;
use pathnet_rl::GradientUpdate;
use pathnet_work::{JobOutcome, ModuleDelta};

/// A two-task PathNet spec small enough to drive by hand (2 layers of 4 modules of 3 units,
/// one example per evaluation), its data never read; `extra` is appended (a
/// `[comparison]` table).
pub(crate) fn small_pathnet_spec(
    name: &str,
    seed: u64,
    population: usize,
    threshold: f64,
    max_generations: usize,
    tasks: [&str; 2],
    extra: &str,
) -> ExperimentSpec {
    let [a, b] = tasks;
    ExperimentSpec::from_toml(&format!(
        r#"
        name = "{name}"
        seed = {seed}
        [data]
        dir = "/unused"
        [pathnet]
        layers = 2
        modules_per_layer = 4
        max_active = 2
        module_units = 3
        [evolution]
        population = {population}
        minibatches_per_evaluation = 1
        batch_size = 1
        learning_rate = 0.1
        accuracy_threshold = {threshold}
        max_generations = {max_generations}
        [[tasks]]
        name = "{a}"
        classes = [0, 1]
        [[tasks]]
        name = "{b}"
        classes = [2, 3]
        {extra}
        "#
    ))
    .unwrap()
}

/// A delta of `value` everywhere on module `id`, computed against version `base`.
pub(crate) fn delta(engine: &Engine, id: ModuleId, base: u64, value: f32) -> ModuleDelta {
    let tensors = engine
        .parameters()
        .params(id)
        .unwrap()
        .iter()
        .map(|p| ArrayD::from_elem(p.shape(), value))
        .collect();
    ModuleDelta {
        id,
        base_version: base,
        tensors,
    }
}

/// The outcome of `request` at training accuracy `accuracy`, with deltas of 0.001 on every
/// module it trains.
pub(crate) fn outcome(engine: &Engine, request: &EvaluationRequest, accuracy: f64) -> JobOutcome {
    let deltas = request
        .job
        .modules
        .iter()
        .filter(|(id, _)| !request.job.frozen.contains(id))
        .map(|&(id, version)| delta(engine, id, version, 0.001))
        .collect();
    JobOutcome {
        fitness: accuracy - 1.0,
        training_accuracy: accuracy,
        mean_loss: 0.5,
        examples: 1,
        deltas,
    }
}

pub(crate) fn a3c_spec(text: &str) -> A3cSpec {
    match Spec::from_toml(text).unwrap() {
        Spec::A3c(spec) => spec,
        other => panic!("expected an A3C spec, got {}", other.kind()),
    }
}

pub(crate) fn pathnet_a3c_spec(text: &str) -> PathNetA3cSpec {
    match Spec::from_toml(text).unwrap() {
        Spec::PathNetA3c(spec) => spec,
        other => panic!("expected a PathNet-A3C spec, got {}", other.kind()),
    }
}

/// A gradient of ones for `parameters`, computed against `base_version`, reporting
/// `steps` env steps and the episodes' `returns`.
pub(crate) fn ones(
    parameters: &[ArrayD<f32>],
    base_version: u64,
    steps: u64,
    returns: &[f64],
) -> GradientUpdate {
    GradientUpdate {
        base_version,
        grads: parameters.iter().map(|p| ArrayD::ones(p.shape())).collect(),
        env_steps: steps,
        episode_returns: returns.to_vec(),
    }
}
