//! Checkpoints of the coordinator's PathNet-A3C run without network: a run saved mid-phase,
//! after a transfer (through JSON, as the manifest holds it), restored with its parameters,
//! RMSProp statistics, population, frozen modules and counters, counts the workers that
//! were out as re-queued, and then goes on exactly as the saved run would have (same
//! parameters after the same pushes, same tournaments, same phases and summary); a finished
//! run restores finished; a state that does not fit the spec is refused naming what.

use pathnet_coordinator::checkpoint::Tensors;
use pathnet_coordinator::pathnet_a3c::{PathNetA3cRun, PathNetA3cState};
use pathnet_coordinator::run::{EvalId, Run, RunState};
use pathnet_coordinator::spec::PathNetA3cSpec;
use pathnet_rl::GradientUpdate;

mod common;

/// Two CartPole-like tasks of `budget` env steps each, 2 workers, and the control.
fn spec(budget: u64) -> PathNetA3cSpec {
    let text = format!(
        "kind = \"pathnet_a3c\"\nname = \"t\"\nseed = 5\n\
         [pathnet_a3c]\nworkers = 2\ntournament_size = 1\nepisodes_per_fitness = 2\n\
         tasks = [\n\
           {{ env = \"CartPole-v1\", stop = {{ max_env_steps = {budget} }} }},\n\
           {{ env = \"Acrobot-v1\", stop = {{ max_env_steps = {budget} }} }},\n]\n"
    );
    common::pathnet_a3c_spec(&text)
}

fn ones(run: &PathNetA3cRun, base_version: u64, steps: u64) -> GradientUpdate {
    common::ones(&run.parameters().unwrap(), base_version, steps, &[10.0])
}

/// `run`'s state and tensors, through JSON as a manifest holds them.
fn saved(run: &PathNetA3cRun) -> (PathNetA3cState, Tensors) {
    let (state, tensors) = run.snapshot();
    let json = serde_json::to_string(&state).unwrap();
    (serde_json::from_str(&json).unwrap(), tensors)
}

/// The summary without its timings, which differ between two runs by construction.
fn summary(run: &PathNetA3cRun) -> serde_json::Value {
    let mut summary = serde_json::to_value(run.summary()).unwrap();
    summary.as_object_mut().unwrap().remove("seconds");
    for task in summary["tasks"].as_array_mut().unwrap() {
        task.as_object_mut().unwrap().remove("seconds");
    }
    if let Some(scratch) = summary["scratch"].as_object_mut() {
        scratch.remove("seconds");
    }
    summary
}

/// Both workers of the current phase: fitness reports, a push each, then the budget spent
/// and their leases ended.
fn finish_phase(run: &mut PathNetA3cRun, budget: u64) {
    let ids: Vec<EvalId> = (0..2).map(|_| run.next_worker().unwrap().0).collect();
    for (k, &id) in ids.iter().enumerate() {
        run.exchange(id, 1, None, Some(30.0 + k as f64)).unwrap();
    }
    let version = run.stats().unwrap().updates_applied;
    run.exchange(ids[0], 2, Some(ones(run, version, budget)), None)
        .unwrap();
    run.exchange(ids[1], 2, Some(ones(run, version, 1)), None)
        .unwrap();
    for &id in &ids {
        run.complete(id).unwrap();
    }
}

#[test]
fn a_run_restored_mid_phase_goes_on_as_the_saved_one() {
    let budget = 100;
    let mut run = PathNetA3cRun::new("t-1".into(), spec(budget)).unwrap();
    finish_phase(&mut run, budget);
    // Task B, after the transfer: a fitness report and an applied gradient.
    let (b0, _) = run.next_worker().unwrap();
    let (b1, _) = run.next_worker().unwrap();
    run.exchange(b0, 1, None, Some(5.0)).unwrap();
    run.exchange(b1, 1, Some(ones(&run, 0, 10)), None).unwrap();
    run.exchange(b1, 2, None, Some(3.0)).unwrap();

    let (state, tensors) = saved(&run);
    let (mut resumed, requeued) =
        PathNetA3cRun::restore("t-1".into(), spec(budget), state, tensors).unwrap();
    assert_eq!(requeued, 2, "both workers were out");
    assert_eq!(resumed.phase(), 1);
    assert_eq!(resumed.stats(), run.stats());
    assert_eq!(resumed.parameters(), run.parameters());
    assert_eq!(resumed.best_fitness(), run.best_fitness());
    assert_eq!(
        resumed.counters().evaluations_requeued,
        run.counters().evaluations_requeued + 2
    );
    // The saved run loses its workers the same way.
    run.requeue(b0);
    run.requeue(b1);
    assert_eq!(resumed.counters(), run.counters());
    assert_eq!(resumed.status(), run.status());
    assert_eq!(summary(&resumed), summary(&run));

    // New workers: the same members, pathways and frozen modules, numbered after the old.
    let (r0, on_resumed) = resumed.next_worker().unwrap();
    let (s0, on_saved) = run.next_worker().unwrap();
    assert_eq!(on_resumed, on_saved);
    assert_eq!(on_resumed.worker_index, 4);
    assert!(
        !on_resumed.frozen.is_empty(),
        "task B freezes task A's best"
    );
    let (r1, _) = resumed.next_worker().unwrap();
    let (s1, _) = run.next_worker().unwrap();
    // The same pushes: bit for bit the same parameters, the same tournaments.
    for (run, a, b) in [(&mut run, s0, s1), (&mut resumed, r0, r1)] {
        run.exchange(a, 1, Some(ones(run, 1, 7)), None).unwrap();
        let answer = run.exchange(b, 1, None, Some(1.0)).unwrap();
        assert!(answer.pathway.is_some(), "3 and 5 beat 1: b adopts");
    }
    assert_eq!(resumed.parameters(), run.parameters());
    assert_eq!(saved(&resumed).1, saved(&run).1);
    for (run, a, b) in [(&mut run, s0, s1), (&mut resumed, r0, r1)] {
        let version = run.stats().unwrap().updates_applied;
        run.exchange(a, 2, Some(ones(run, version, budget)), None)
            .unwrap();
        run.complete(a).unwrap();
        run.complete(b).unwrap();
        finish_phase(run, budget);
        assert_eq!(run.state(), RunState::Completed);
    }
    assert_eq!(summary(&resumed), summary(&run));
    assert_eq!(resumed.counters(), run.counters());

    // A finished run restores finished, with the super-network's parameters.
    let (state, tensors) = saved(&run);
    let (done, requeued) =
        PathNetA3cRun::restore("t-1".into(), spec(budget), state, tensors.clone()).unwrap();
    assert_eq!(requeued, 0);
    assert_eq!(done.state(), RunState::Completed);
    assert_eq!(summary(&done), summary(&run));
    assert_eq!(saved(&done).1, tensors);
}

#[test]
fn a_state_that_does_not_fit_is_refused_naming_what() {
    let run = PathNetA3cRun::new("t-1".into(), spec(100)).unwrap();
    let (_, mut tensors) = saved(&run);
    let (name, _) = tensors.remove(3);
    let (state, _) = saved(&run);
    let err = PathNetA3cRun::restore("t-1".into(), spec(100), state, tensors)
        .err()
        .unwrap();
    assert!(err.contains(&name), "{err}");

    let (state, tensors) = saved(&run);
    let mut json = serde_json::to_value(&state).unwrap();
    json["phase"] = 7.into();
    let state: PathNetA3cState = serde_json::from_value(json).unwrap();
    let err = PathNetA3cRun::restore("t-1".into(), spec(100), state, tensors.clone())
        .err()
        .unwrap();
    assert!(err.contains("`experiment.run.phase` = 7"), "{err}");

    let mut json = serde_json::to_value(state_of(&run)).unwrap();
    json["training"]["evolution"]["members"][0]["pathway"]["layers"][0] = vec![99].into();
    let state: PathNetA3cState = serde_json::from_value(json).unwrap();
    let err = PathNetA3cRun::restore("t-1".into(), spec(100), state, tensors)
        .err()
        .unwrap();
    assert!(err.contains("evolution.members[0].pathway"), "{err}");
}

fn state_of(run: &PathNetA3cRun) -> PathNetA3cState {
    saved(run).0
}
