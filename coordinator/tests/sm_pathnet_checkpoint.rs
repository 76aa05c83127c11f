//! Checkpoints of the coordinator's safe-mutation PathNet run without network: a run saved
//! (through JSON, as the manifest holds it) in its first task or in a later one (transfer and
//! scratch arms, a transfer chain) and restored has the saved counters, populations and
//! books, counts the evaluations that were out as re-queued and issues them again first under
//! their ids, and then hands out the same jobs (pathways, seed lists, transfers) as the saved
//! run would have, to the end; a finished run restores finished; a state that does not fit
//! the spec or itself is refused naming the field.

use pathnet_coordinator::run::{EvalId, Run, RunState};
use pathnet_coordinator::sm_pathnet::{SmPathNetRun, SmPathNetRunState, WireBytes};
use pathnet_coordinator::spec::{SmPathNetSpec, Spec};
use pathnet_evo::Outcome;
use pathnet_evo::sm_pathnet::PathwayJob;

fn spec(selection: &str, scratch_control: bool) -> SmPathNetSpec {
    let text = format!(
        r#"
        kind = "sm_pathnet"
        name = "smp"
        seed = 5
        [sm_pathnet]
        envs = ["CartPole-v1", "Acrobot-v1", "CartPole-v1"]
        layers = 2
        modules = 4
        max_active = 2
        units = 8
        selection = "{selection}"
        population = 4
        tournament_size = 2
        operator = "sm_g_sum"
        evaluations_per_task = 14
        scratch_control = {scratch_control}
        "#
    );
    match Spec::from_toml(&text).unwrap() {
        Spec::SmPathNet(spec) => spec,
        other => panic!("expected an sm_pathnet spec, got {}", other.kind()),
    }
}

fn outcome(id: EvalId) -> Outcome {
    Outcome {
        fitness: -((id.0 * 7919 % 101) as f64) / 10.0,
        solved: false,
        replayed_mutations: id.0 % 3,
        replayed_evaluations: 0,
        mutation_unchanged: id.0.is_multiple_of(5),
        mutation_gave_up: false,
    }
}

fn wire(job: &PathwayJob) -> WireBytes {
    WireBytes {
        genome: job.genome().encoded_len(),
        payload: job.transfers.len(),
    }
}

/// `run`'s state through JSON, as a manifest holds it.
fn saved(run: &SmPathNetRun) -> SmPathNetRunState {
    let json = serde_json::to_string(&run.snapshot()).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Completes every evaluation until the run reaches task `label` (its monitoring label).
fn run_to(run: &mut SmPathNetRun, label: usize) {
    while run.status().task < label {
        let (id, _) = run.next_evaluation(wire).unwrap();
        run.complete(id, &outcome(id)).unwrap();
    }
}

/// Issues up to `n` evaluations and completes all but every third, which stays out.
fn advance(run: &mut SmPathNetRun, n: usize) -> Vec<EvalId> {
    let mut out = Vec::new();
    for _ in 0..n {
        let Some((id, _)) = run.next_evaluation(wire) else {
            break;
        };
        if id.0 % 3 == 1 {
            out.push(id);
        } else {
            run.complete(id, &outcome(id)).unwrap();
        }
    }
    out
}

/// Runs to the end; the evaluations issued.
fn finish(run: &mut SmPathNetRun) -> Vec<(EvalId, PathwayJob)> {
    let mut issued = Vec::new();
    while let Some((id, job)) = run.next_evaluation(wire) {
        run.complete(id, &outcome(id)).unwrap();
        issued.push((id, job));
    }
    issued
}

/// The summary without its timings, which differ between two runs by construction.
fn summary(run: &SmPathNetRun) -> serde_json::Value {
    let mut summary = serde_json::to_value(run.summary()).unwrap();
    for key in ["seconds", "evaluations_per_second"] {
        summary.as_object_mut().unwrap().remove(key);
    }
    summary
}

fn round_trip(selection: &str, label: usize) {
    let spec = || spec(selection, true);
    let mut run = SmPathNetRun::new("smp-1".into(), spec()).unwrap();
    run_to(&mut run, label);
    let out = advance(&mut run, 9);
    assert!(!out.is_empty());
    assert_eq!(run.status().task, label, "saved inside the task");
    let state = saved(&run);
    let (mut resumed, requeued) = SmPathNetRun::restore("smp-1".into(), spec(), state).unwrap();
    assert_eq!(requeued, out.len());
    // The saved run loses its agents the same way: its work comes back to the queue.
    for &id in &out {
        run.requeue(id);
    }
    assert_eq!(resumed.counters(), run.counters());
    assert_eq!(resumed.status(), run.status());
    assert_eq!(summary(&resumed), summary(&run));

    let (a, b) = (finish(&mut run), finish(&mut resumed));
    assert_eq!(a.len(), b.len());
    assert!(
        a == b,
        "{selection}, task {label}: the resumed run issued other jobs"
    );
    let ids: Vec<EvalId> = b.iter().map(|(id, _)| *id).collect();
    // Re-queued work goes out again under its id, each arm's first (the arms take turns).
    assert!(out.iter().all(|id| ids.contains(id)), "{out:?} in {ids:?}");
    assert!(out.contains(&ids[0]), "{out:?}: {:?} first", ids[0]);
    assert_eq!(resumed.counters(), run.counters());
    assert_eq!(summary(&resumed), summary(&run));
    assert_eq!(resumed.state(), RunState::Completed);
    let s = resumed.summary();
    assert_eq!(s.tasks.len(), 5, "one arm, then two for each later task");
    assert!(s.tasks.iter().all(|t| t.run.evaluations == 14));
    // Two tasks' pathways of 2 layers x 2 modules frozen, which may share modules.
    assert!((4..=8).contains(&s.tasks[3].frozen_modules), "{s}");
    assert_eq!(s.tasks[4].frozen_modules, 0, "{s}");
    let c = resumed.counters();
    assert_eq!(c.results_accepted, 5 * 14);
    assert_eq!(
        c.evaluations_issued,
        c.results_accepted + c.evaluations_requeued + c.evaluations_cancelled
    );

    // A finished run restores finished, with its timing, whichever arm's turn it was last.
    let mut json = serde_json::to_value(run.snapshot()).unwrap();
    json["turn"] = 1.into();
    let state: SmPathNetRunState = serde_json::from_value(json).unwrap();
    let (done, requeued) = SmPathNetRun::restore("smp-1".into(), spec(), state).unwrap();
    assert_eq!(requeued, 0);
    assert_eq!(done.state(), RunState::Completed);
    assert_eq!(done.summary().seconds, run.summary().seconds);
    assert_eq!(summary(&done), summary(&run));
}

#[test]
fn a_run_restored_in_its_first_task_goes_on_as_the_saved_one() {
    round_trip("binary", 0);
    round_trip("steady_state", 0);
}

#[test]
fn a_run_restored_in_a_later_task_goes_on_as_the_saved_one() {
    // Labels: 0 the first task, 1 and 2 the second (transfer, scratch), 3 and 4 the third.
    round_trip("binary", 3);
    round_trip("steady_state", 1);
}

#[test]
fn a_run_saved_when_one_arm_reached_its_target_and_the_other_runs_goes_on_as_the_saved_one() {
    let spec = || {
        let mut spec = spec("binary", true);
        spec.sm_pathnet.target_fitness = vec![1.0, -2.0];
        spec
    };
    let mut run = SmPathNetRun::new("smp-1".into(), spec()).unwrap();
    run_to(&mut run, 1);
    // Both arms' populations evaluated (below the target), then four children out, two
    // per arm, claiming their slots; the first completed reaches the target, ending its arm
    // and dropping the arm's other child.
    let below = Outcome {
        fitness: -5.0,
        ..outcome(EvalId(0))
    };
    for _ in 0..8 {
        let (id, _) = run.next_evaluation(wire).unwrap();
        run.complete(id, &below).unwrap();
    }
    let issued: Vec<EvalId> = (0..4)
        .map(|_| run.next_evaluation(wire).unwrap().0)
        .collect();
    let reached = Outcome {
        fitness: 0.0,
        ..below
    };
    run.complete(issued[0], &reached).unwrap();
    assert_eq!(run.counters().evaluations_cancelled, 1);
    let out = [issued[1], issued[3]];
    assert_eq!(run.status().task, 1, "the task goes on in its other arm");
    let (mut resumed, requeued) =
        SmPathNetRun::restore("smp-1".into(), spec(), saved(&run)).unwrap();
    assert_eq!(
        requeued, 2,
        "the other arm's two; the ended arm's one was dropped"
    );
    for &id in &out {
        run.requeue(id);
    }
    assert_eq!(resumed.counters(), run.counters());
    let (a, b) = (finish(&mut run), finish(&mut resumed));
    assert!(a == b, "the resumed run issued other jobs");
    assert_eq!(summary(&resumed), summary(&run));
    assert_eq!(resumed.state(), RunState::Completed);
}

#[test]
fn the_spec_comes_back_from_its_json() {
    let spec = spec("binary", true);
    let json = serde_json::to_value(&spec).unwrap();
    let back: SmPathNetSpec = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), json);
}

#[test]
fn a_state_that_does_not_fit_is_refused_naming_the_field() {
    let mut run = SmPathNetRun::new("smp-1".into(), spec("binary", true)).unwrap();
    run_to(&mut run, 1);
    // Both arms' populations evaluated, then children out: binary tournaments' claimed slots.
    for _ in 0..12 {
        let (id, _) = run.next_evaluation(wire).unwrap();
        run.complete(id, &outcome(id)).unwrap();
    }
    for _ in 0..4 {
        run.next_evaluation(wire).unwrap();
    }
    let refused = |spec: SmPathNetSpec, json: serde_json::Value| {
        let state: SmPathNetRunState = serde_json::from_value(json).unwrap();
        SmPathNetRun::restore("smp-1".into(), spec, state)
            .err()
            .unwrap()
    };
    let json = serde_json::to_value(run.snapshot()).unwrap();

    // Without the scratch control the second task has only the transfer arm.
    let err = refused(spec("binary", false), json.clone());
    assert!(err.contains("`experiment.run.arms`"), "{err}");

    let mut bad = json.clone();
    bad["arms"][1]["engine"]["rng"]["word_pos"] = "12x".into();
    let err = refused(spec("binary", true), bad);
    assert!(
        err.contains("`experiment.run.arms[1].engine`: `rng.word_pos`"),
        "{err}"
    );

    let mut bad = json.clone();
    bad["transfers"] = serde_json::json!([]);
    let err = refused(spec("binary", true), bad);
    assert!(err.contains("`experiment.run.transfers`"), "{err}");

    let mut bad = json.clone();
    bad["arms"][0]["engine"]["queue"] = serde_json::json!([0]);
    let err = refused(spec("binary", true), bad);
    assert!(err.contains("`queue`"), "{err}");

    let mut bad = json.clone();
    bad["task"] = 7.into();
    let err = refused(spec("binary", true), bad);
    assert!(err.contains("`experiment.run.task` = 7"), "{err}");

    // A steady-state engine has no claimed slots.
    let err = refused(spec("steady_state", true), json);
    assert!(err.contains("`pending.slot`"), "{err}");
}
