//! Checkpoints of the coordinator's neuroevolution run without network: a run saved
//! (through JSON, as the manifest holds it) and restored has the saved counters, population
//! and books, counts the evaluations that were out as re-queued and issues them again first
//! under their ids, and then goes on exactly as the saved run would have; a finished run
//! restores finished; a state that does not fit the spec is refused naming the field.

use pathnet_coordinator::ga::{GaRun, GaRunState};
use pathnet_coordinator::run::{EvalId, Run, RunState};
use pathnet_coordinator::spec::{GaSpec, Spec};
use pathnet_evo::Outcome;

fn spec(algorithm: &str) -> GaSpec {
    let breeding = if algorithm == "truncation" {
        "parents = 3\nelites = 1"
    } else {
        "tournament_size = 3"
    };
    let text = format!(
        "kind = \"neuroevolution\"\nname = \"ga\"\nseed = 4\n[ga]\ntask = \"parity\"\n\
         operator = \"sm_g_sum\"\nsigma = 0.01\nalgorithm = \"{algorithm}\"\npopulation = 6\n\
         {breeding}\nmax_evaluations = 40\n"
    );
    match Spec::from_toml(&text).unwrap() {
        Spec::Neuroevolution(spec) => spec,
        other => panic!("expected a neuroevolution spec, got {}", other.kind()),
    }
}

fn outcome(id: EvalId, solved: bool) -> Outcome {
    Outcome {
        fitness: -((id.0 * 7919 % 101) as f64) / 10.0,
        solved,
        replayed_mutations: 1,
        replayed_evaluations: 0,
        mutation_unchanged: false,
        mutation_gave_up: false,
    }
}

/// `run`'s state through JSON, as a manifest holds it.
fn saved(run: &GaRun) -> GaRunState {
    let json = serde_json::to_string(&run.snapshot()).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Issues up to `n` evaluations and completes all but every third, which stays out.
fn advance(run: &mut GaRun, n: usize) -> Vec<EvalId> {
    let mut out = Vec::new();
    for _ in 0..n {
        let Some((id, _)) = run.next_evaluation(|job| job.genome().encoded_len()) else {
            break;
        };
        if id.0 % 3 == 1 {
            out.push(id);
        } else {
            run.complete(id, &outcome(id, false)).unwrap();
        }
    }
    out
}

/// Runs to the end, solving at the `solve_at`-th evaluation issued; the ids issued.
fn finish(run: &mut GaRun, solve_at: usize) -> Vec<EvalId> {
    let mut ids = Vec::new();
    while let Some((id, _)) = run.next_evaluation(|job| job.genome().encoded_len()) {
        ids.push(id);
        run.complete(id, &outcome(id, ids.len() == solve_at))
            .unwrap();
    }
    ids
}

/// The summary without its timings, which differ between two runs by construction.
fn summary(run: &GaRun) -> serde_json::Value {
    let mut summary = serde_json::to_value(run.summary()).unwrap();
    for key in ["seconds", "evaluations_per_second"] {
        summary.as_object_mut().unwrap().remove(key);
    }
    summary
}

fn round_trip(algorithm: &str) {
    let mut run = GaRun::new("ga-1".into(), spec(algorithm)).unwrap();
    let out = advance(&mut run, 20);
    assert!(!out.is_empty());
    let state = saved(&run);
    let (mut resumed, requeued) = GaRun::restore("ga-1".into(), spec(algorithm), state).unwrap();
    assert_eq!(requeued, out.len());
    let (before, after) = (run.counters(), resumed.counters());
    assert_eq!(after.results_accepted, before.results_accepted);
    assert_eq!(after.evaluations_issued, before.evaluations_issued);
    assert_eq!(
        after.evaluations_requeued,
        before.evaluations_requeued + out.len() as u64
    );
    // The saved run loses its agents the same way: its work comes back to the queue.
    for &id in &out {
        run.requeue(id);
    }
    assert_eq!(resumed.counters(), run.counters());
    assert_eq!(resumed.status(), run.status());
    assert_eq!(summary(&resumed), summary(&run));

    let (a, b) = (finish(&mut run, 25), finish(&mut resumed, 25));
    assert_eq!(a, b);
    assert_eq!(
        &b[..out.len()],
        out.as_slice(),
        "re-queued work goes out first"
    );
    assert_eq!(resumed.counters(), run.counters());
    assert_eq!(summary(&resumed), summary(&run));
    assert_eq!(resumed.state(), RunState::Completed);
    assert_eq!(resumed.summary().run.solved, run.summary().run.solved);

    // A finished run restores finished, with its timing.
    let (done, requeued) = GaRun::restore("ga-1".into(), spec(algorithm), saved(&run)).unwrap();
    assert_eq!(requeued, 0);
    assert_eq!(done.state(), RunState::Completed);
    assert_eq!(done.summary().seconds, run.summary().seconds);
    assert_eq!(summary(&done), summary(&run));
}

#[test]
fn a_restored_steady_state_run_goes_on_as_the_saved_one() {
    round_trip("steady_state");
}

#[test]
fn a_restored_truncation_run_goes_on_as_the_saved_one() {
    round_trip("truncation");
}

#[test]
fn the_spec_comes_back_from_its_json() {
    let spec = spec("truncation");
    let json = serde_json::to_value(&spec).unwrap();
    let back: GaSpec = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), json);
}

#[test]
fn a_state_of_another_spec_is_refused_naming_the_field() {
    let mut run = GaRun::new("ga-1".into(), spec("steady_state")).unwrap();
    advance(&mut run, 8);
    let err = GaRun::restore("ga-1".into(), spec("truncation"), saved(&run))
        .err()
        .unwrap();
    assert!(
        err.contains("`experiment.run.engine`: `algorithm`"),
        "{err}"
    );
    let mut json = serde_json::to_value(run.snapshot()).unwrap();
    json["engine"]["rng"]["word_pos"] = "12x".into();
    let state: GaRunState = serde_json::from_value(json).unwrap();
    let err = GaRun::restore("ga-1".into(), spec("steady_state"), state)
        .err()
        .unwrap();
    assert!(err.contains("`rng.word_pos`"), "{err}");
}
