//! The coordinator's A3C parameter server, without networking: worker leases, pushes applied
//! at most once, leases that lapse, the stop rule and the drain before completion.

use pathnet_coordinator::a3c::{A3cRun, Disposition, ExchangeError};
use pathnet_coordinator::run::{EvalId, Run, RunState};
use pathnet_coordinator::spec::A3cSpec;
use pathnet_rl::GradientUpdate;

mod common;

fn spec(extra: &str) -> A3cSpec {
    let text = format!(
        "kind = \"a3c\"\nname = \"t\"\nmax_workers = 2\n[a3c]\nenv = \"CartPole-v1\"\n{extra}"
    );
    common::a3c_spec(&text)
}

fn run(extra: &str) -> A3cRun {
    A3cRun::new("t-1".into(), spec(extra)).unwrap()
}

/// A gradient of ones for `run`'s parameters, computed against `base_version`.
fn update(run: &A3cRun, base_version: u64, steps: u64, returns: &[f64]) -> GradientUpdate {
    common::ones(&run.parameters(), base_version, steps, returns)
}

#[test]
fn leases_are_capped_and_a_lapsed_one_frees_its_slot() {
    let mut run = run("");
    let (a, first) = run.next_worker().unwrap();
    let (b, second) = run.next_worker().unwrap();
    assert_ne!(first.worker_index, second.worker_index);
    assert!(run.next_worker().is_none(), "max_workers = 2");
    run.requeue(a);
    let (_, third) = run.next_worker().unwrap();
    assert_eq!(
        third.worker_index, 2,
        "a replacement worker gets a new number"
    );
    // The lapsed lease can no longer push.
    let err = run
        .exchange(a, 1, Some(update(&run, 0, 5, &[])))
        .unwrap_err();
    assert!(
        matches!(err, ExchangeError::UnknownWorker(id) if id == a),
        "{err}"
    );
    assert_eq!(run.stats().updates_applied, 0);
    assert!(run.exchange(b, 1, None).is_ok());
    assert_eq!(run.counters().evaluations_requeued, 1);
    let round_trip: pathnet_rl::A3cConfig = toml::from_str(&first.config_toml).unwrap();
    assert_eq!(round_trip, spec("").a3c);
}

#[test]
fn a_push_is_applied_once_and_a_repeat_is_answered_without_effect() {
    let mut run = run("");
    let (id, _) = run.next_worker().unwrap();
    let fetched = run.exchange(id, 1, None).unwrap();
    assert_eq!(fetched.disposition, Disposition::FetchOnly);
    assert_eq!(fetched.version, 0);
    let applied = run.exchange(id, 2, Some(update(&run, 0, 5, &[]))).unwrap();
    assert_eq!(applied.disposition, Disposition::Applied);
    assert_eq!(applied.version, 1);
    assert_ne!(applied.parameters, fetched.parameters);
    // The same push again (a retry after a lost answer) changes nothing.
    let repeat = run.exchange(id, 2, Some(update(&run, 0, 5, &[]))).unwrap();
    assert_eq!(repeat.disposition, Disposition::Duplicate);
    assert_eq!(repeat.version, 1);
    assert_eq!(repeat.parameters, applied.parameters);
    assert_eq!(
        run.stats().env_steps,
        5,
        "a duplicate's steps are not counted"
    );
    let older = run.exchange(id, 1, Some(update(&run, 1, 5, &[]))).unwrap();
    assert_eq!(older.disposition, Disposition::Duplicate);
    assert!(matches!(
        run.exchange(id, 0, None),
        Err(ExchangeError::ZeroSequence)
    ));
    assert_eq!(run.counters().results_accepted, 1);
}

#[test]
fn a_gradient_too_stale_is_dropped() {
    let mut run = run("max_staleness = 1");
    let (a, _) = run.next_worker().unwrap();
    let (b, _) = run.next_worker().unwrap();
    for seq in 1..=2 {
        let answer = run
            .exchange(a, seq, Some(update(&run, seq - 1, 1, &[])))
            .unwrap();
        assert_eq!(answer.disposition, Disposition::Applied);
    }
    let late = run.exchange(b, 1, Some(update(&run, 0, 1, &[]))).unwrap();
    assert_eq!(late.disposition, Disposition::Stale);
    assert_eq!(late.staleness, 2);
    assert_eq!(late.version, 2);
    assert_eq!(run.stats().dropped_stale, 1);
}

#[test]
fn a_malformed_gradient_is_refused_and_nothing_changes() {
    let mut run = run("");
    let (id, _) = run.next_worker().unwrap();
    let mut bad = update(&run, 0, 5, &[]);
    bad.grads[0].fill(f32::NAN);
    assert!(matches!(
        run.exchange(id, 1, Some(bad)),
        Err(ExchangeError::Invalid(_))
    ));
    let mut short = update(&run, 0, 5, &[]);
    short.grads.pop();
    assert!(run.exchange(id, 2, Some(short)).is_err());
    assert_eq!(run.stats().version, 0);
    assert_eq!(run.stats().env_steps, 0);
}

#[test]
fn the_stop_rule_ends_leasing_and_the_run_completes_once_workers_have_reported() {
    let mut run = run("stop = { target_return = 10.0, window = 2, max_env_steps = 1000 }");
    let (a, _) = run.next_worker().unwrap();
    let (b, _) = run.next_worker().unwrap();
    let answer = run
        .exchange(a, 1, Some(update(&run, 0, 20, &[12.0, 11.0])))
        .unwrap();
    assert!(answer.stop);
    assert!(
        run.next_worker().is_none(),
        "no new workers once training is over"
    );
    assert_eq!(run.state(), RunState::Running, "b has not reported yet");
    let late = run.exchange(b, 1, Some(update(&run, 0, 3, &[]))).unwrap();
    assert_eq!(late.disposition, Disposition::TrainingOver);
    assert!(late.stop);
    run.complete(a).unwrap();
    assert_eq!(run.state(), RunState::Running);
    run.requeue(b);
    assert_eq!(run.state(), RunState::Completed);
    let summary = run.summary();
    assert!(summary.reached_target);
    assert_eq!(summary.mean_return, Some(11.5));
    assert_eq!(summary.workers, 2);
    assert!(matches!(
        run.complete(EvalId(99)),
        Err(ExchangeError::UnknownWorker(_))
    ));
}

#[test]
fn a_repeat_arriving_while_the_push_is_applied_is_a_duplicate() {
    let mut run = run("");
    let (id, _) = run.next_worker().unwrap();
    let first = run.begin_exchange(id, 1).unwrap();
    let repeat = run.begin_exchange(id, 1).unwrap();
    let repeat = run
        .finish_exchange(repeat.apply(Some(update(&run, 0, 5, &[]))))
        .unwrap();
    assert_eq!(repeat.disposition, Disposition::Duplicate);
    assert_eq!(run.stats().version, 0, "the repeat applied nothing");
    let first = run
        .finish_exchange(first.apply(Some(update(&run, 0, 5, &[]))))
        .unwrap();
    assert_eq!(first.disposition, Disposition::Applied);
    assert_eq!(first.version, 1);
    assert_eq!(run.stats().env_steps, 5);
    assert_eq!(run.counters().results_accepted, 1);
    assert_eq!(run.counters().results_refused, 1);
}

#[test]
fn a_refused_push_gives_its_sequence_number_back() {
    let mut run = run("");
    let (id, _) = run.next_worker().unwrap();
    let mut bad = update(&run, 0, 5, &[]);
    bad.grads[1].fill(f32::INFINITY);
    let ticket = run.begin_exchange(id, 1).unwrap();
    assert!(matches!(
        run.finish_exchange(ticket.apply(Some(bad))),
        Err(ExchangeError::Invalid(_))
    ));
    let ticket = run.begin_exchange(id, 1).unwrap();
    let err = run
        .finish_exchange(ticket.refuse("`gradients`: cut short".into()))
        .unwrap_err();
    assert!(matches!(&err, ExchangeError::Malformed(_)), "{err}");
    assert_eq!((run.stats().version, run.stats().env_steps), (0, 0));
    let retried = run.exchange(id, 1, Some(update(&run, 0, 5, &[]))).unwrap();
    assert_eq!(retried.disposition, Disposition::Applied);
    // A refusal after a later push was admitted leaves the later one's number in place.
    let refused = run.begin_exchange(id, 2).unwrap();
    let later = run.begin_exchange(id, 3).unwrap();
    assert!(run.finish_exchange(refused.refuse("bad".into())).is_err());
    run.finish_exchange(later.apply(None)).unwrap();
    let again = run.exchange(id, 3, None).unwrap();
    assert_eq!(again.disposition, Disposition::Duplicate);
}

#[test]
fn a_push_whose_lease_lapses_meanwhile_is_counted_and_completion_waits_for_it() {
    let mut run = run("stop = { max_env_steps = 10 }");
    let (a, _) = run.next_worker().unwrap();
    let (b, _) = run.next_worker().unwrap();
    let in_flight = run.begin_exchange(a, 1).unwrap();
    run.requeue(a);
    let applied = run
        .finish_exchange(in_flight.apply(Some(update(&run, 0, 4, &[]))))
        .unwrap();
    assert_eq!(applied.disposition, Disposition::Applied);
    assert_eq!(run.counters().results_accepted, 1);
    assert!(
        matches!(
            run.begin_exchange(a, 2),
            Err(ExchangeError::UnknownWorker(_))
        ),
        "a lapsed lease pushes no more"
    );
    let in_flight = run.begin_exchange(b, 1).unwrap();
    let spent = run.exchange(b, 2, Some(update(&run, 1, 6, &[]))).unwrap();
    assert!(spent.stop, "the budget is spent");
    run.complete(b).unwrap();
    assert_eq!(
        run.state(),
        RunState::Running,
        "a push is still being applied"
    );
    let late = run
        .finish_exchange(in_flight.apply(Some(update(&run, 1, 2, &[]))))
        .unwrap();
    assert_eq!(late.disposition, Disposition::TrainingOver);
    assert_eq!(run.state(), RunState::Completed);
    assert_eq!(run.summary().env_steps, 12);
}
