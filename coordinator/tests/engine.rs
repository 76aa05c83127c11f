//! The engine without data or network: outcomes are made up from the requests, so every
//! rule about issuing, applying, refusing and moving between tasks is checked directly.

use ndarray::ArrayD;
use pathnet_coordinator::pathnet::{DeltaError, Engine, EngineError, EvaluationRequest, Refusal};
use pathnet_coordinator::run::{EvalId, Progress, Run, RunState};
use pathnet_coordinator::spec::ExperimentSpec;
use pathnet_nn::pathnet::ModuleId;
use pathnet_work::{JobOutcome, PathwayJob};

mod common;

use common::delta;

fn spec(seed: u64, population: usize, max_generations: usize, threshold: f64) -> ExperimentSpec {
    common::small_pathnet_spec(
        "engine-test",
        seed,
        population,
        threshold,
        max_generations,
        ["a", "b"],
        "",
    )
}

fn engine(population: usize, max_generations: usize, threshold: f64) -> Engine {
    Engine::new(
        "exp",
        spec(7, population, max_generations, threshold),
        5,
        None,
    )
    .unwrap()
}

/// Accuracy as a deterministic function of the pathway: the more even module indices, the
/// better; never reaches 1 so the threshold only triggers when set low.
fn accuracy_of(job: &PathwayJob) -> f64 {
    let modules: Vec<usize> = job.pathway.iter().flatten().copied().collect();
    let even = modules.iter().filter(|&&m| m % 2 == 0).count();
    0.5 + 0.4 * even as f64 / modules.len() as f64
}

fn outcome(engine: &Engine, request: &EvaluationRequest) -> JobOutcome {
    common::outcome(engine, request, accuracy_of(&request.job))
}

/// Every module's parameters and version, to show a refusal changed nothing.
fn snapshot(engine: &Engine) -> Vec<(u64, Vec<ArrayD<f32>>)> {
    let net = engine.parameters();
    net.module_ids()
        .map(|id| {
            let p = engine.module_params(id).unwrap();
            assert_eq!(p.version, net.version(id).unwrap());
            (p.version, p.tensors)
        })
        .collect()
}

fn run_sequentially(engine: &mut Engine) -> Vec<Progress> {
    let mut events = Vec::new();
    while let Some(request) = engine.next_evaluation() {
        let result = outcome(engine, &request);
        engine.complete(request.id, &result).unwrap();
        events.extend(engine.drain_events());
    }
    events
}

#[test]
fn every_issued_evaluation_is_applied_exactly_once_up_to_the_generation_cap() {
    let mut engine = engine(6, 5, 0.999);
    let events = run_sequentially(&mut engine);
    assert_eq!(engine.state(), RunState::Completed);
    let c = engine.counters();
    assert_eq!(c.tournaments_started, 10);
    assert_eq!(c.tournaments_resolved, 10);
    assert_eq!(c.results_accepted, 20);
    assert_eq!(c.evaluations_issued, 20);
    assert_eq!(c.results_refused + c.evaluations_requeued, 0);
    let summary = engine.summary();
    for task in &summary.tasks {
        assert_eq!(
            (task.generations, task.tournaments, task.evaluations),
            (5, 5, 10)
        );
        assert!(!task.reached_threshold);
        assert_eq!(task.test_accuracy, None);
    }
    let generations = events
        .iter()
        .filter(|e| matches!(e, Progress::Generation { .. }))
        .count();
    assert_eq!(generations, 10);
    assert!(matches!(events.last(), Some(Progress::Finished)));
}

#[test]
fn same_seed_same_evaluations() {
    let trace = |seed| {
        let mut engine = Engine::new("exp", spec(seed, 6, 4, 0.999), 5, None).unwrap();
        let mut jobs = Vec::new();
        while let Some(request) = engine.next_evaluation() {
            jobs.push((request.job.pathway.clone(), request.job.data_seed));
            let result = outcome(&engine, &request);
            engine.complete(request.id, &result).unwrap();
        }
        (jobs, snapshot(&engine))
    };
    assert_eq!(trace(3), trace(3));
    assert_ne!(trace(3).0, trace(4).0);
}

#[test]
fn many_tournaments_run_at_once_and_complete_in_any_order() {
    let mut engine = engine(8, 50, 0.999);
    let requests: Vec<EvaluationRequest> =
        std::iter::from_fn(|| engine.next_evaluation()).collect();
    // Eight members, two per tournament: four tournaments, eight evaluations.
    assert_eq!(requests.len(), 8);
    assert_eq!(engine.counters().tournaments_started, 4);
    assert_eq!(engine.status().tournaments_in_flight, 4);
    for request in requests.iter().rev() {
        let result = outcome(&engine, request);
        engine.complete(request.id, &result).unwrap();
    }
    assert_eq!(engine.counters().tournaments_resolved, 4);
    assert_eq!(engine.status().tournaments_in_flight, 0);
}

#[test]
fn deltas_are_added_to_the_current_parameters_and_bump_versions() {
    let mut engine = engine(6, 50, 0.999);
    let first = engine.next_evaluation().unwrap();
    let second = engine.next_evaluation().unwrap();
    let shared: Vec<ModuleId> = first
        .job
        .modules
        .iter()
        .map(|m| m.0)
        .filter(|id| second.job.modules.iter().any(|m| m.0 == *id))
        .collect();
    assert!(
        !shared.is_empty(),
        "both pathways use the task head at least"
    );
    let head = shared[shared.len() - 1];
    let before = engine.module_params(head).unwrap();
    let mut from_base = Vec::new();
    for request in [&first, &second] {
        let result = outcome(&engine, request);
        from_base.push(engine.complete(request.id, &result).unwrap());
    }
    // The first result landed on its own base everywhere; the second only where the first
    // did not change the module: there the evaluator's copy plus its delta is the store's.
    let on_base = |request: &EvaluationRequest, skip: &[ModuleId]| -> Vec<(ModuleId, u64)> {
        request
            .job
            .modules
            .iter()
            .filter(|(id, _)| !skip.contains(id))
            .map(|&(id, version)| (id, version + 1))
            .collect()
    };
    assert_eq!(from_base[0], on_base(&first, &[]));
    assert_eq!(from_base[1], on_base(&second, &shared));
    // The second delta was computed against version 1 but lands on version 2: both count.
    let after = engine.module_params(head).unwrap();
    assert_eq!(after.version, before.version + 2);
    for (a, b) in after.tensors.iter().zip(&before.tensors) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y - 0.002).abs() < 1e-6, "{x} vs {y}");
        }
    }
    assert!(engine.counters().stale_module_updates >= 1);
}

#[test]
fn bad_results_are_refused_without_changing_anything() {
    let mut engine = engine(6, 50, 0.999);
    let request = engine.next_evaluation().unwrap();
    let good = outcome(&engine, &request);
    let before = snapshot(&engine);
    let trainable = request.job.modules[0].0;

    let mut nan = good.clone();
    nan.deltas[0].tensors[0][[0, 0]] = f32::NAN;
    let mut shape = good.clone();
    shape.deltas[0].tensors[0] = ArrayD::zeros(vec![2, 2]);
    let mut count = good.clone();
    count.deltas[0].tensors.pop();
    let mut unknown = good.clone();
    unknown.deltas[0].id = ModuleId::new(9, 9);
    let mut foreign = good.clone();
    let unused = (0..4)
        .map(|i| ModuleId::new(0, i))
        .find(|id| !request.job.pathway[0].contains(&id.index))
        .unwrap();
    foreign.deltas.push(delta(&engine, unused, 1, 0.1));
    let mut twice = good.clone();
    twice.deltas.push(twice.deltas[0].clone());
    let mut future = good.clone();
    future.deltas[0].base_version = 99;
    let mut fitness = good.clone();
    fitness.fitness = f64::NAN;

    let cases: Vec<(JobOutcome, &str)> = vec![
        (nan, "not a finite number"),
        (shape, "shape [2, 2]"),
        (count, "delta tensors given"),
        (unknown, "(9, 9) does not exist"),
        (foreign, "not trained by this evaluation"),
        (twice, "more than once"),
        (future, "base version 99"),
        (fitness, "`fitness` = NaN"),
    ];
    for (bad, expected) in &cases {
        let err = engine.complete(request.id, bad).unwrap_err();
        assert!(matches!(err, EngineError::Refused(_)), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert_eq!(snapshot(&engine), before, "{expected}");
    }
    assert_eq!(engine.counters().results_refused, cases.len() as u64);
    assert_eq!(engine.counters().results_accepted, 0);
    assert!(trainable.layer < 2);

    engine.complete(request.id, &good).unwrap();
    let again = engine.complete(request.id, &good).unwrap_err();
    assert!(
        matches!(again, EngineError::Refused(Refusal::Unknown(_))),
        "{again}"
    );
    let never = engine.complete(EvalId(12345), &good).unwrap_err();
    assert!(
        matches!(never, EngineError::Refused(Refusal::Unknown(_))),
        "{never}"
    );
}

#[test]
fn requeued_evaluations_come_back_with_the_same_id_and_fresh_versions() {
    let mut engine = engine(2, 50, 0.999);
    let first = engine.next_evaluation().unwrap();
    let second = engine.next_evaluation().unwrap();
    assert!(engine.next_evaluation().is_none(), "both members are busy");
    let result = outcome(&engine, &second);
    engine.complete(second.id, &result).unwrap();
    let not_out = engine.complete(second.id, &result);
    assert!(not_out.is_err());

    assert!(engine.requeue(first.id));
    assert!(
        !engine.requeue(first.id),
        "a queued evaluation is not outstanding"
    );
    let refused = engine
        .complete(first.id, &outcome(&engine, &first))
        .unwrap_err();
    assert!(
        matches!(refused, EngineError::Refused(Refusal::NotOutstanding(_))),
        "{refused}"
    );
    let again = engine.next_evaluation().unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.job.data_seed, first.job.data_seed);
    let head = *again.job.modules.last().unwrap();
    let old_head = *first.job.modules.last().unwrap();
    assert_eq!(head.0, old_head.0);
    assert!(
        head.1 > old_head.1,
        "the head was updated by the other result"
    );
    let result = outcome(&engine, &again);
    engine.complete(again.id, &result).unwrap();
    let c = engine.counters();
    assert_eq!(
        (
            c.evaluations_issued,
            c.evaluations_requeued,
            c.results_accepted
        ),
        (3, 1, 2)
    );
}

#[test]
fn reaching_the_threshold_drains_tournaments_in_flight_then_transfers() {
    let mut engine = engine(8, 50, 0.5);
    let requests: Vec<EvaluationRequest> =
        std::iter::from_fn(|| engine.next_evaluation()).collect();
    assert_eq!(requests.len(), 8);
    // Resolve the first tournament: its winner is above the 0.5 threshold.
    for request in &requests[..2] {
        let result = outcome(&engine, request);
        engine.complete(request.id, &result).unwrap();
    }
    assert!(
        engine.next_evaluation().is_none(),
        "no tournament starts after the threshold"
    );
    assert_eq!(
        engine.status().task,
        0,
        "the task waits for the tournaments in flight"
    );
    let mut versions_before = Vec::new();
    for request in &requests[2..] {
        versions_before = snapshot(&engine).into_iter().map(|m| m.0).collect();
        let result = outcome(&engine, request);
        engine.complete(request.id, &result).unwrap();
    }
    let summary = engine.summary();
    let task = &summary.tasks[0];
    assert!(task.reached_threshold);
    assert_eq!(
        (task.generations, task.tournaments, task.evaluations),
        (1, 4, 8)
    );
    assert_eq!(engine.status().task, 1);

    // Transfer: the best pathway's modules are frozen, everything else was re-initialised.
    let frozen = engine.parameters().frozen_ids();
    let best: usize = task.best_pathway.iter().map(Vec::len).sum();
    assert_eq!(frozen.len(), best);
    for (layer, active) in task.best_pathway.iter().enumerate() {
        for &index in active {
            assert!(frozen.contains(&ModuleId::new(layer, index)));
        }
    }
    let versions_after: Vec<u64> = snapshot(&engine).into_iter().map(|m| m.0).collect();
    let ids: Vec<ModuleId> = engine.parameters().module_ids().collect();
    for (id, (version, old)) in ids.iter().zip(versions_after.iter().zip(&versions_before)) {
        if frozen.contains(id) {
            assert!(version - old <= 1, "{id}: frozen, at most the last delta");
        } else {
            assert!(version > old, "{id}: re-initialised");
        }
    }
    let next = engine.next_evaluation().unwrap();
    for id in &next.job.frozen {
        assert!(frozen.contains(id));
    }
    let head = next.job.modules.last().unwrap();
    assert_eq!(head.0, ModuleId::new(2, 1), "task b trains its own head");
}

#[test]
fn stop_cancels_outstanding_work_and_refuses_late_results() {
    let mut engine = engine(6, 50, 0.999);
    let request = engine.next_evaluation().unwrap();
    let result = outcome(&engine, &request);
    assert_eq!(engine.stop(), 1);
    assert_eq!(engine.state(), RunState::Stopped);
    assert!(engine.next_evaluation().is_none());
    let err = engine.complete(request.id, &result).unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    assert_eq!(engine.counters().evaluations_cancelled, 1);
}

#[test]
fn frozen_modules_refuse_deltas() {
    let mut engine = engine(4, 50, 0.5);
    run_until_task(&mut engine, 1);
    let request = engine.next_evaluation().unwrap();
    let before = snapshot(&engine);
    let Some(&frozen) = engine.parameters().frozen_ids().first() else {
        panic!("task a froze its best pathway")
    };
    let mut result = outcome(&engine, &request);
    let version = engine.module_params(frozen).unwrap().version;
    result.deltas.push(delta(&engine, frozen, version, 0.5));
    let err = engine.complete(request.id, &result).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Refused(Refusal::Delta(DeltaError::Frozen { .. }))
        ),
        "{err}"
    );
    assert_eq!(snapshot(&engine), before);
}

fn run_until_task(engine: &mut Engine, task: usize) {
    while engine.status().task < task {
        let request = engine.next_evaluation().unwrap();
        let result = outcome(engine, &request);
        engine.complete(request.id, &result).unwrap();
    }
}

#[test]
fn a_sum_that_overflows_is_refused() {
    let mut engine = engine(6, 50, 0.999);
    let first = engine.next_evaluation().unwrap();
    let second = engine.next_evaluation().unwrap();
    let head = *first.job.modules.last().unwrap();
    let mut huge = outcome(&engine, &first);
    let last = huge.deltas.len() - 1;
    huge.deltas[last] = delta(&engine, head.0, head.1, f32::MAX);
    engine.complete(first.id, &huge).unwrap();
    let before = snapshot(&engine);
    let mut again = outcome(&engine, &second);
    let last = again.deltas.len() - 1;
    again.deltas[last] = delta(&engine, head.0, head.1, f32::MAX);
    let err = engine.complete(second.id, &again).unwrap_err();
    assert!(
        err.to_string().contains("adding the delta makes element"),
        "{err}"
    );
    assert_eq!(snapshot(&engine), before);
}
