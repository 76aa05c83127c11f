//! PathNet-A3C served by the coordinator, without networking: one lease per member of the
//! population, fitness reports and their tournaments, pushes taken at most once, and the
//! phases (each task, then the control) that follow each other once every worker is in.

use pathnet_coordinator::a3c::{Disposition, ExchangeError};
use pathnet_coordinator::pathnet_a3c::PathNetA3cRun;
use pathnet_coordinator::run::{EvalId, Run, RunState};
use pathnet_coordinator::spec::PathNetA3cSpec;
use pathnet_rl::GradientUpdate;
use pathnet_rl::pathnet_a3c::PathNetA3cConfig;

mod common;

/// Two CartPole tasks of `budget` env steps each, 2 workers that each meet the other.
fn spec(budget: u64, scratch: bool) -> PathNetA3cSpec {
    let text = format!(
        "kind = \"pathnet_a3c\"\nname = \"t\"\nseed = 5\nscratch_control = {scratch}\n\
         [pathnet_a3c]\nworkers = 2\ntournament_size = 1\nepisodes_per_fitness = 2\n\
         tasks = [\n\
           {{ env = \"CartPole-v1\", stop = {{ max_env_steps = {budget} }} }},\n\
           {{ env = \"Acrobot-v1\", stop = {{ max_env_steps = {budget} }} }},\n]\n"
    );
    common::pathnet_a3c_spec(&text)
}

fn run(budget: u64, scratch: bool) -> PathNetA3cRun {
    PathNetA3cRun::new("t-1".into(), spec(budget, scratch)).unwrap()
}

/// A gradient of ones for every parameter, computed against `base_version`.
fn ones(run: &PathNetA3cRun, base_version: u64, steps: u64) -> GradientUpdate {
    common::ones(&run.parameters().unwrap(), base_version, steps, &[10.0])
}

#[test]
fn leases_are_one_per_member_and_a_lapsed_one_hands_its_pathway_on() {
    let mut run = run(1000, true);
    let (a, first) = run.next_worker().unwrap();
    let (_, second) = run.next_worker().unwrap();
    assert!(run.next_worker().is_none(), "workers = 2");
    assert_eq!((first.task, first.phase), (0, 0));
    assert!(first.frozen.is_empty());
    let config: PathNetA3cConfig = toml::from_str(&first.config_toml).unwrap();
    assert_eq!(config, spec(1000, true).pathnet_a3c);
    run.requeue(a);
    let (_, third) = run.next_worker().unwrap();
    assert_eq!(
        third.worker_index, 2,
        "a replacement worker gets a new number"
    );
    assert_eq!(
        third.pathway, first.pathway,
        "and plays the pathway of the member it replaces"
    );
    assert_ne!(second.worker_index, third.worker_index);
    let err = run.exchange(a, 1, None, None).unwrap_err();
    assert!(
        matches!(err, ExchangeError::UnknownWorker(id) if id == a),
        "{err}"
    );
    assert_eq!(run.counters().evaluations_requeued, 1);
}

#[test]
fn a_losing_fitness_report_is_answered_with_the_winners_pathway_once() {
    let mut run = run(1000, true);
    let (a, _) = run.next_worker().unwrap();
    let (b, second) = run.next_worker().unwrap();
    let alone = run.exchange(a, 1, None, Some(50.0)).unwrap();
    assert_eq!(alone.disposition, Disposition::FetchOnly);
    assert!(alone.pathway.is_none(), "nobody to compare with yet");
    let lost = run.exchange(b, 1, None, Some(20.0)).unwrap();
    let adopted = lost
        .pathway
        .expect("the worse worker takes the better one's pathway");
    assert_eq!(run.counters().tournaments_resolved, 2);
    // The same report again (a retry after a lost answer) runs no second tournament.
    let repeat = run.exchange(b, 1, None, Some(20.0)).unwrap();
    assert_eq!(repeat.disposition, Disposition::Duplicate);
    assert!(repeat.pathway.is_none());
    assert_eq!(run.counters().tournaments_resolved, 2);
    // A replacement of b plays what b adopted, not what b started with.
    run.requeue(b);
    let (_, replacement) = run.next_worker().unwrap();
    assert_eq!(replacement.pathway, adopted);
    assert_ne!(replacement.pathway, second.pathway);
    // A winning report keeps the pathway.
    let won = run.exchange(a, 2, None, Some(60.0)).unwrap();
    assert!(won.pathway.is_none());
    assert!(run.exchange(a, 3, None, Some(f64::NAN)).is_err());
}

/// Trains the current phase to its budget with the workers `ids`, reporting `fitness`
/// first when given, then ends their leases.
fn finish_phase(run: &mut PathNetA3cRun, ids: &[EvalId], fitness: Option<f64>, budget: u64) {
    for (k, &id) in ids.iter().enumerate() {
        if let Some(f) = fitness {
            run.exchange(id, 1, None, Some(f + k as f64)).unwrap();
        }
    }
    let answer = run
        .exchange(ids[0], 2, Some(ones(run, 0, budget - 1)), None)
        .unwrap();
    assert_eq!(answer.disposition, Disposition::Applied);
    assert!(!answer.stop);
    // The push that spends the budget is not applied: the stop rule holds from it on.
    let deciding = run
        .exchange(ids[0], 3, Some(ones(run, 1, 1)), None)
        .unwrap();
    assert_eq!(deciding.disposition, Disposition::TrainingOver);
    assert!(deciding.stop, "the budget is spent");
    assert!(
        run.next_worker().is_none(),
        "no new leases once the phase stops"
    );
    let late = run
        .exchange(ids[1], 2, Some(ones(run, 1, 5)), None)
        .unwrap();
    assert_eq!(late.disposition, Disposition::TrainingOver);
    for &id in ids {
        run.complete(id).unwrap();
    }
}

#[test]
fn phases_follow_each_other_with_the_transfer_and_the_control() {
    let budget = 100;
    let mut run = run(budget, true);
    assert_eq!(
        run.phase_names(),
        ["CartPole-v1", "Acrobot-v1", "Acrobot-v1 (scratch)"]
    );
    let ids: Vec<EvalId> = (0..2).map(|_| run.next_worker().unwrap().0).collect();
    finish_phase(&mut run, &ids, Some(30.0), budget);

    // Task B: the best pathway of task A (worker 1's, fitness 31) is frozen.
    assert_eq!(run.state(), RunState::Running);
    let (b0, transfer) = run.next_worker().unwrap();
    let (b1, _) = run.next_worker().unwrap();
    assert_eq!((transfer.task, transfer.phase), (1, 1));
    let best = run.summary().tasks[0].best_pathway.clone().unwrap();
    let best_modules: usize = best.iter().map(Vec::len).sum();
    assert_eq!(transfer.frozen.len(), best_modules);
    assert_eq!(run.summary().tasks[0].best_fitness, Some(31.0));
    finish_phase(&mut run, &[b0, b1], Some(-200.0), budget);

    // The control: task B again, on a fresh super-network with nothing frozen.
    let (c0, scratch) = run.next_worker().unwrap();
    let (c1, _) = run.next_worker().unwrap();
    assert_eq!((scratch.task, scratch.phase), (1, 2));
    assert!(scratch.frozen.is_empty());
    finish_phase(&mut run, &[c0, c1], None, budget);

    assert_eq!(run.state(), RunState::Completed);
    let summary = run.summary();
    assert_eq!(summary.tasks.len(), 2);
    assert_eq!(summary.tasks[1].frozen_modules, best_modules);
    assert!(summary.tasks.iter().all(|t| t.env_steps >= budget));
    let scratch = summary.scratch.expect("the control ran");
    assert_eq!(
        (scratch.env.as_str(), scratch.frozen_modules),
        ("Acrobot-v1", 0)
    );
    assert_eq!(summary.workers, 6);
    assert!(summary.error.is_none());
}

#[test]
fn a_task_without_any_fitness_cannot_be_transferred_from() {
    let budget = 50;
    let mut run = run(budget, false);
    let ids: Vec<EvalId> = (0..2).map(|_| run.next_worker().unwrap().0).collect();
    finish_phase(&mut run, &ids, None, budget);
    assert_eq!(run.state(), RunState::Stopped);
    let error = run.summary().error.expect("the run says why it stopped");
    assert!(error.contains("episodes"), "{error}");
    assert!(run.next_worker().is_none());
}

#[test]
fn stopping_cancels_the_leases() {
    let mut run = run(1000, true);
    let (a, _) = run.next_worker().unwrap();
    run.stop();
    assert_eq!(run.state(), RunState::Stopped);
    assert_eq!(run.counters().evaluations_cancelled, 1);
    assert!(run.exchange(a, 1, None, None).is_err());
    assert!(run.next_worker().is_none());
}

#[test]
fn a_phase_ends_only_once_its_pushes_are_in_and_they_stay_on_its_server() {
    let budget = 100;
    let mut run = run(budget, false);
    let ids: Vec<EvalId> = (0..2).map(|_| run.next_worker().unwrap().0).collect();
    run.exchange(ids[0], 1, None, Some(30.0)).unwrap();
    let in_flight = run.begin_exchange(ids[1], 1, Some(40.0)).unwrap();
    let spent = run
        .exchange(ids[0], 2, Some(ones(&run, 0, budget)), None)
        .unwrap();
    assert!(spent.stop);
    for &id in &ids {
        run.complete(id).unwrap();
    }
    assert_eq!(run.phases_completed(), 0, "a push is still being applied");
    let late = run
        .finish_exchange(in_flight.apply(Some(ones(&run, 0, 7))))
        .unwrap();
    assert_eq!(late.disposition, Disposition::TrainingOver);
    assert!(late.pathway.is_none());
    assert_eq!(
        run.counters().tournaments_resolved,
        1,
        "the fitness of a lease that ended is dropped with it"
    );
    assert_eq!(run.phases_completed(), 1);
    let summary = run.summary();
    assert_eq!(summary.tasks[0].env_steps, budget + 7, "on its own phase");
    assert_eq!(summary.tasks[0].best_fitness, Some(30.0));
    let next = run.stats().expect("the next phase trains");
    assert_eq!((next.env_steps, next.dropped_after_stop), (0, 0));
}

#[test]
fn a_refused_push_or_fitness_report_leaves_its_lease_as_it_was() {
    let mut run = run(1000, false);
    let (a, _) = run.next_worker().unwrap();
    assert!(run.exchange(a, 1, None, Some(f64::INFINITY)).is_err());
    let mut bad = ones(&run, 0, 5);
    bad.grads.pop();
    assert!(run.exchange(a, 1, Some(bad), Some(10.0)).is_err());
    assert_eq!(run.counters().tournaments_resolved, 0);
    assert_eq!(run.stats().unwrap().env_steps, 0);
    let taken = run.exchange(a, 1, None, Some(10.0)).unwrap();
    assert_eq!(taken.disposition, Disposition::FetchOnly);
    assert_eq!(run.counters().tournaments_resolved, 1);
}

#[test]
fn a_gradient_is_answered_with_the_pathway_and_head_and_a_fetch_or_fitness_with_everything() {
    let mut run = run(1000, true);
    let (id, worker) = run.next_worker().unwrap();
    let all = run.parameters().unwrap().len();
    let fetched = run.exchange(id, 1, None, None).unwrap();
    assert_eq!(
        (fetched.parameter_indices, fetched.parameters.len()),
        (None, all)
    );
    let applied = run.exchange(id, 2, Some(ones(&run, 0, 5)), None).unwrap();
    let indices = applied
        .parameter_indices
        .expect("a subset after a gradient");
    // Weight and bias of each active module, and of the task's head.
    let modules: usize = worker.pathway.layers().iter().map(Vec::len).sum();
    assert_eq!(indices.len(), 2 * (modules + 1));
    assert_eq!(applied.parameters.len(), indices.len());
    let everything = run.parameters().unwrap();
    for (&i, tensor) in indices.iter().zip(&applied.parameters) {
        assert_eq!(tensor, &everything[i]);
    }
    let reported = run.exchange(id, 3, None, Some(1.0)).unwrap();
    assert_eq!(
        (reported.parameter_indices, reported.parameters.len()),
        (None, all)
    );
}
