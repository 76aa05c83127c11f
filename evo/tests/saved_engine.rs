//! An engine saved mid-run and restored goes on exactly as the saved one would have once
//! its evaluations out with executors were re-queued: same requests (ids, genomes), same
//! decisions, same summary. Both GAs, with made-up outcomes; and states that do not fit the
//! config or themselves refused by field.

use pathnet_evo::config::TaskKind;
use pathnet_evo::engine::{EngineState, SavedEngine};
use pathnet_evo::{Algorithm, EvalId, GaEngine, Operator, Outcome, Request, SafeMutationConfig};

fn outcome(id: EvalId, solved: bool) -> Outcome {
    // A fitness that depends on the evaluation, so that choices of parents and victims matter.
    Outcome {
        fitness: -((id.0 * 7919 % 101) as f64) / 10.0,
        solved,
        replayed_mutations: id.0 % 3,
        replayed_evaluations: 1,
        mutation_unchanged: id.0.is_multiple_of(5),
        mutation_gave_up: id.0.is_multiple_of(7),
    }
}

fn steady() -> SafeMutationConfig {
    let mut cfg = SafeMutationConfig::new(TaskKind::Parity, Operator::SmGSum, 0.01);
    cfg.population = 6;
    cfg.tournament_size = Some(3);
    cfg.max_evaluations = 60;
    cfg.seed = 11;
    cfg
}

fn truncation() -> SafeMutationConfig {
    let mut cfg = SafeMutationConfig::new(TaskKind::Parity, Operator::Control, 0.1);
    cfg.algorithm = Algorithm::Truncation;
    cfg.population = 6;
    cfg.parents = Some(3);
    cfg.elites = Some(1);
    cfg.max_evaluations = 60;
    cfg.seed = 12;
    cfg
}

/// Issues up to `n` evaluations and completes all but every third, which stays out.
fn advance(engine: &mut GaEngine, n: usize) -> Vec<EvalId> {
    let mut out = Vec::new();
    for _ in 0..n {
        let Some(Request { id, .. }) = engine.next_evaluation() else {
            break;
        };
        if id.0 % 3 == 1 {
            out.push(id);
        } else {
            engine.complete(id, &outcome(id, false)).unwrap();
        }
    }
    out
}

/// Runs `engine` to its end, completing requests in order (solving at `solve_at` issued
/// requests); returns every request and the final summary as text.
fn finish(engine: &mut GaEngine, solve_at: usize) -> (Vec<Request>, String) {
    let mut requests = Vec::new();
    while let Some(request) = engine.next_evaluation() {
        let solved = requests.len() + 1 == solve_at;
        engine
            .complete(request.id, &outcome(request.id, solved))
            .unwrap();
        requests.push(request);
    }
    (requests, format!("{:?}", engine.summary()))
}

fn round_trip(config: &SafeMutationConfig, solve_at: usize) {
    let mut original = GaEngine::new(config).unwrap();
    let mut out = advance(&mut original, 20);
    // One evaluation already waiting to go out again when the state is saved.
    let waiting = out.remove(0);
    assert!(original.requeue(waiting));
    assert!(!out.is_empty(), "the save must catch evaluations out");
    let saved = original.save();
    let (mut restored, requeued) = GaEngine::restore(config, saved.clone()).unwrap();
    assert_eq!(requeued, out.len());
    // What the restore did to the evaluations out, the original does by hand.
    for id in &out {
        assert!(original.requeue(*id));
    }
    assert_eq!(restored.save(), original.save());
    assert_eq!(restored.status(), original.status());
    assert_eq!(restored.status().in_flight, out.len() + 1);

    let (a, summary_a) = finish(&mut original, solve_at);
    let (b, summary_b) = finish(&mut restored, solve_at);
    assert_eq!(a, b);
    assert_eq!(summary_a, summary_b);
    // The waiting and the re-queued evaluations went out first, under their old ids.
    let first: Vec<EvalId> = b.iter().take(out.len() + 1).map(|r| r.id).collect();
    let mut expected = vec![waiting];
    expected.extend(&out);
    assert_eq!(first, expected);
}

#[test]
fn a_restored_steady_state_engine_goes_on_as_the_saved_one() {
    round_trip(&steady(), usize::MAX);
    round_trip(&steady(), 15);
}

#[test]
fn a_restored_truncation_engine_goes_on_as_the_saved_one() {
    round_trip(&truncation(), usize::MAX);
    round_trip(&truncation(), 9);
}

#[test]
fn a_finished_engine_restores_finished() {
    let config = steady();
    let mut engine = GaEngine::new(&config).unwrap();
    finish(&mut engine, 10);
    assert_eq!(engine.status().state, EngineState::Solved);
    let (restored, requeued) = GaEngine::restore(&config, engine.save()).unwrap();
    assert_eq!(requeued, 0);
    assert_eq!(restored.summary(), engine.summary());
    assert_eq!(restored.status(), engine.status());
}

#[test]
fn a_state_that_does_not_fit_is_refused_naming_the_field() {
    let config = steady();
    let mut engine = GaEngine::new(&config).unwrap();
    advance(&mut engine, 12);
    let saved = engine.save();

    let err = GaEngine::restore(&truncation(), saved.clone()).unwrap_err();
    assert!(err.to_string().contains("`algorithm`"), "{err}");

    let mut smaller = config.clone();
    smaller.population = 4;
    let err = GaEngine::restore(&smaller, saved.clone()).unwrap_err();
    assert!(err.to_string().contains("`fresh_issued` = 6"), "{err}");

    let mut budget = config.clone();
    budget.max_evaluations = 4;
    let err = GaEngine::restore(&budget, saved.clone()).unwrap_err();
    assert!(err.to_string().contains("`ledger.issued` = 6"), "{err}");

    let SavedEngine::SteadyState {
        rng,
        books,
        members,
        fresh_issued,
    } = saved
    else {
        panic!("a steady-state engine");
    };
    let broken = SavedEngine::SteadyState {
        rng,
        books,
        members,
        fresh_issued: fresh_issued + 100,
    };
    let err = GaEngine::restore(&config, broken).unwrap_err();
    assert!(err.to_string().contains("`fresh_issued`"), "{err}");
}

#[test]
fn an_engine_goes_on_only_once_restored_from_a_state_with_outstanding_work() {
    // A completion for an evaluation that was out at the save is refused by the restored
    // engine until it is issued again: its executor is gone.
    let config = steady();
    let mut engine = GaEngine::new(&config).unwrap();
    let out = advance(&mut engine, 9);
    let (mut restored, _) = GaEngine::restore(&config, engine.save()).unwrap();
    let err = restored
        .complete(out[0], &outcome(out[0], false))
        .unwrap_err();
    assert!(
        err.to_string().contains("not out with an executor"),
        "{err}"
    );
    let again = restored.next_evaluation().unwrap();
    assert_eq!(again.id, out[0]);
    restored
        .complete(again.id, &outcome(again.id, false))
        .unwrap();
}
