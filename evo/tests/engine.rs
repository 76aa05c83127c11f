//! Engine bookkeeping with made-up outcomes: ids, requeues, completing once, the order in
//! which each GA issues work, and how runs end.

use pathnet_evo::config::TaskKind;
use pathnet_evo::engine::{EngineState, Refusal};
use pathnet_evo::{Algorithm, EvalId, GaEngine, Operator, Outcome, Request, SafeMutationConfig};
use std::collections::HashSet;

fn outcome(fitness: f64) -> Outcome {
    Outcome {
        fitness,
        solved: false,
        replayed_mutations: 1,
        replayed_evaluations: 0,
        mutation_unchanged: false,
        mutation_gave_up: false,
    }
}

fn steady(population: usize, max_evaluations: u64) -> GaEngine {
    let mut cfg = SafeMutationConfig::new(TaskKind::Parity, Operator::SmGSum, 0.01);
    cfg.population = population;
    cfg.tournament_size = Some(2);
    cfg.max_evaluations = max_evaluations;
    cfg.seed = 3;
    GaEngine::new(&cfg).unwrap()
}

fn truncation(population: usize, max_evaluations: u64) -> GaEngine {
    let mut cfg = SafeMutationConfig::new(TaskKind::Parity, Operator::Control, 0.1);
    cfg.algorithm = Algorithm::Truncation;
    cfg.population = population;
    cfg.parents = Some(2);
    cfg.elites = Some(1);
    cfg.max_evaluations = max_evaluations;
    GaEngine::new(&cfg).unwrap()
}

fn drain(engine: &mut GaEngine) -> Vec<Request> {
    std::iter::from_fn(|| engine.next_evaluation()).collect()
}

#[test]
fn steady_state_evaluates_the_population_before_breeding() {
    let mut engine = steady(4, 100);
    let fresh = drain(&mut engine);
    assert_eq!(fresh.len(), 4, "children wait for the whole population");
    assert!(fresh.iter().all(|r| r.job.mutation.is_none()));
    let ids: HashSet<EvalId> = fresh.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 4);

    for (i, r) in fresh.iter().enumerate() {
        engine.complete(r.id, &outcome(-(i as f64))).unwrap();
    }
    // Now children flow without limit: many can be out at once.
    let children: Vec<Request> = (0..10).map(|_| engine.next_evaluation().unwrap()).collect();
    assert!(children.iter().all(|r| r.job.mutation.is_some()));
    assert!(children.iter().all(|r| r.job.genome().depth() == 1));
    assert_eq!(engine.status().in_flight, 10);
    // Tournaments of two among fitnesses 0, -1, -2, -3: the worst member never wins one.
    let worst = &fresh[3].job.parent;
    assert!(children.iter().all(|r| &r.job.parent != worst));
}

#[test]
fn results_are_accepted_once_and_requeued_work_keeps_its_id() {
    let mut engine = steady(3, 100);
    let r = drain(&mut engine);
    assert!(engine.requeue(r[1].id));
    assert!(!engine.requeue(r[1].id), "already waiting");
    assert_eq!(
        engine.complete(r[1].id, &outcome(0.0)),
        Err(Refusal::NotOutstanding(r[1].id)),
        "a requeued evaluation is not out with anyone"
    );
    let again = engine.next_evaluation().unwrap();
    assert_eq!(again, r[1], "same id, same job");
    assert_eq!(
        engine.status().evaluations_issued,
        3,
        "a re-issue is not a new evaluation"
    );

    engine.complete(r[0].id, &outcome(-1.0)).unwrap();
    assert_eq!(
        engine.complete(r[0].id, &outcome(-1.0)),
        Err(Refusal::NotOutstanding(r[0].id))
    );
    assert_eq!(
        engine.complete(EvalId(99), &outcome(0.0)),
        Err(Refusal::Unknown(EvalId(99)))
    );
    assert_eq!(
        engine
            .complete(r[2].id, &outcome(f64::NAN))
            .unwrap_err()
            .to_string(),
        "`fitness` = NaN: must be finite"
    );
    // The refused result left r[2] outstanding.
    engine.complete(r[2].id, &outcome(-2.0)).unwrap();
    engine.complete(r[1].id, &outcome(-3.0)).unwrap();
    assert_eq!(engine.status().evaluations_completed, 3);
    assert_eq!(engine.summary().requeued, 1);
    assert_eq!(engine.summary().best_fitness, Some(-1.0));
}

#[test]
fn a_solving_result_ends_the_run_and_cancels_the_rest() {
    let mut engine = steady(2, 100);
    for r in drain(&mut engine) {
        engine.complete(r.id, &outcome(-1.0)).unwrap();
    }
    let a = engine.next_evaluation().unwrap();
    let b = engine.next_evaluation().unwrap();
    let mut solved = outcome(-0.5);
    solved.solved = true;
    engine.complete(a.id, &solved).unwrap();
    assert!(!engine.is_running());
    assert_eq!(engine.next_evaluation(), None);
    assert_eq!(
        engine.complete(b.id, &outcome(0.0)),
        Err(Refusal::NotRunning(EngineState::Solved))
    );
    let s = engine.summary();
    assert!(s.solved);
    assert_eq!(s.evaluations_to_solve, Some(3));
    assert_eq!(s.best_genome, Some(a.job.genome()));
    assert_eq!(s.best_fitness, Some(-0.5));
}

#[test]
fn the_budget_bounds_issued_evaluations() {
    let mut engine = steady(2, 5);
    let mut completed = 0;
    while engine.is_running() {
        let batch = drain(&mut engine);
        assert!(
            !batch.is_empty(),
            "a running engine with nothing out has work"
        );
        for r in batch {
            engine.complete(r.id, &outcome(-1.0)).unwrap();
            completed += 1;
        }
    }
    assert_eq!(completed, 5);
    let s = engine.summary();
    assert_eq!(
        (s.state, s.evaluations, s.solved),
        (EngineState::Exhausted, 5, false)
    );
}

#[test]
fn truncation_breeds_generation_by_generation() {
    let mut engine = truncation(4, 100);
    let first = drain(&mut engine);
    assert_eq!(first.len(), 4);
    // The generation is incomplete: nothing more until every member is back.
    for r in &first[..3] {
        engine.complete(r.id, &outcome(-(r.id.0 as f64))).unwrap();
    }
    assert_eq!(engine.next_evaluation(), None);
    engine.complete(first[3].id, &outcome(-3.0)).unwrap();
    assert_eq!(engine.status().generation, 1);

    // Population 4 with one elite carried over: three children, all of the top two.
    let second = drain(&mut engine);
    assert_eq!(second.len(), 3);
    let top: Vec<_> = [&first[0], &first[1]].map(|r| r.job.genome()).to_vec();
    for r in &second {
        assert!(top.contains(&r.job.parent), "parents come from the top T");
        assert_eq!(r.job.genome().depth(), 1);
    }
    let ids: HashSet<EvalId> = first.iter().chain(&second).map(|r| r.id).collect();
    assert_eq!(ids.len(), 7, "ids are never reused");
    for r in &second {
        engine.complete(r.id, &outcome(-10.0)).unwrap();
    }
    // The elite (fitness 0) was not evaluated again but still ranks first.
    assert_eq!(engine.status().generation, 2);
    assert_eq!(engine.status().evaluations_completed, 7);
    assert_eq!(engine.summary().best_fitness, Some(0.0));
    let third = drain(&mut engine);
    assert!(third.iter().any(|r| r.job.parent == first[0].job.genome()));
}

#[test]
fn stopping_cancels_outstanding_work() {
    let mut engine = truncation(4, 100);
    let out = drain(&mut engine);
    assert_eq!(engine.stop(), 4);
    assert_eq!(engine.stop(), 0);
    assert!(!engine.requeue(out[0].id));
    assert_eq!(
        engine.complete(out[0].id, &outcome(0.0)),
        Err(Refusal::NotRunning(EngineState::Stopped))
    );
}

#[test]
fn the_same_seed_and_call_order_give_the_same_run() {
    let run = || {
        let mut engine = steady(5, 40);
        let mut trace = Vec::new();
        while engine.is_running() {
            for r in drain(&mut engine) {
                let f = -(((r.id.0 * 7919) % 13) as f64);
                trace.push(r.job.genome());
                engine.complete(r.id, &outcome(f)).unwrap();
            }
        }
        (trace, engine.summary().best_genome)
    };
    assert_eq!(run(), run());
}
