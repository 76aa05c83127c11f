//! The evolution options (`same_minibatches`, `winner_only_updates`) and the paper's
//! fine-tune control, driven with made-up outcomes.

use ndarray::ArrayD;
use pathnet_coordinator::pathnet::{Arm, Engine, EvaluationRequest};
use pathnet_coordinator::run::{Run, RunState};
use pathnet_coordinator::spec::ExperimentSpec;
use pathnet_nn::pathnet::ModuleId;
use pathnet_work::JobOutcome;
use std::collections::BTreeMap;

mod common;

type Params = Vec<(ModuleId, Vec<ArrayD<f32>>)>;

fn spec(threshold: f64, max_generations: usize, extra: &str) -> ExperimentSpec {
    common::small_pathnet_spec(
        "options-test",
        5,
        6,
        threshold,
        max_generations,
        ["A", "B"],
        extra,
    )
}

fn params(engine: &Engine) -> Params {
    let net = engine.parameters();
    net.module_ids()
        .map(|id| {
            let tensors = net
                .params(id)
                .unwrap()
                .iter()
                .map(|p| p.to_owned())
                .collect();
            (id, tensors)
        })
        .collect()
}

fn with_deltas(mut before: Params, outcome: &JobOutcome) -> Params {
    for delta in &outcome.deltas {
        let (_, tensors) = before.iter_mut().find(|(id, _)| *id == delta.id).unwrap();
        for (tensor, change) in tensors.iter_mut().zip(&delta.tensors) {
            *tensor += change;
        }
    }
    before
}

/// The two evaluations of the next tournament, issued before either completes.
fn tournament(engine: &mut Engine) -> (EvaluationRequest, EvaluationRequest) {
    let first = engine.next_evaluation().unwrap();
    let second = engine.next_evaluation().unwrap();
    (first, second)
}

#[test]
fn same_minibatches_gives_both_contestants_one_data_seed() {
    let mut on = spec(0.999, 50, "");
    on.evolution.same_minibatches = true;
    let mut engine = Engine::new("exp", on, 5, None).unwrap();
    for _ in 0..3 {
        let (a, b) = tournament(&mut engine);
        assert_eq!(a.job.data_seed, b.job.data_seed);
        assert_ne!(a.job.pathway, b.job.pathway, "two different members");
    }
    let mut engine = Engine::new("exp", spec(0.999, 50, ""), 5, None).unwrap();
    let seeds: Vec<bool> = (0..3)
        .map(|_| {
            let (a, b) = tournament(&mut engine);
            a.job.data_seed == b.job.data_seed
        })
        .collect();
    assert_eq!(seeds, vec![false; 3], "off: each evaluation draws its own");
}

#[test]
fn the_option_off_draws_what_it_drew_before_it_existed() {
    // Off and on share the first contestant's seed and everything else the engine draws.
    let mut on = spec(0.999, 50, "");
    on.evolution.same_minibatches = true;
    let mut a = Engine::new("exp", on, 5, None).unwrap();
    let mut b = Engine::new("exp", spec(0.999, 50, ""), 5, None).unwrap();
    let (a1, _) = tournament(&mut a);
    let (b1, _) = tournament(&mut b);
    assert_eq!(a1.job.data_seed, b1.job.data_seed);
    assert_eq!(a1.job.pathway, b1.job.pathway);
}

#[test]
fn winner_only_updates_keep_the_winners_deltas_and_drop_the_losers() {
    let mut options = spec(0.999, 50, "");
    options.evolution.winner_only_updates = true;
    let mut engine = Engine::new("exp", options, 5, None).unwrap();
    let start = params(&engine);
    let (first, second) = tournament(&mut engine);
    // The second contestant is better: it wins.
    let loser = common::outcome(&engine, &first, 0.5);
    let winner = common::outcome(&engine, &second, 0.75);
    let kept = engine.complete(first.id, &loser).unwrap();
    assert!(
        kept.is_empty(),
        "nothing is added before the tournament is resolved"
    );
    assert_eq!(params(&engine), start);
    let kept = engine.complete(second.id, &winner).unwrap();
    assert_eq!(params(&engine), with_deltas(start.clone(), &winner));
    let trained: Vec<ModuleId> = winner.deltas.iter().map(|d| d.id).collect();
    assert_eq!(
        kept.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        trained,
        "the winner's evaluator may keep its copy"
    );

    // The winner completing first: its evaluator is told nothing when the loser's result
    // resolves the tournament.
    let before = params(&engine);
    let (first, second) = tournament(&mut engine);
    let winner = common::outcome(&engine, &first, 0.9);
    let loser = common::outcome(&engine, &second, 0.1);
    engine.complete(first.id, &winner).unwrap();
    let kept = engine.complete(second.id, &loser).unwrap();
    assert!(kept.is_empty());
    assert_eq!(params(&engine), with_deltas(before, &winner));
}

#[test]
fn without_winner_only_updates_every_result_is_added_on_arrival() {
    let mut engine = Engine::new("exp", spec(0.999, 50, ""), 5, None).unwrap();
    let start = params(&engine);
    let (first, second) = tournament(&mut engine);
    let a = common::outcome(&engine, &first, 0.5);
    let b = common::outcome(&engine, &second, 0.75);
    engine.complete(first.id, &a).unwrap();
    assert_eq!(params(&engine), with_deltas(start.clone(), &a));
    engine.complete(second.id, &b).unwrap();
    assert_eq!(params(&engine), with_deltas(with_deltas(start, &a), &b));
}

#[test]
fn a_bad_held_result_is_refused_on_arrival() {
    let mut options = spec(0.999, 50, "");
    options.evolution.winner_only_updates = true;
    let mut engine = Engine::new("exp", options, 5, None).unwrap();
    let (first, _) = tournament(&mut engine);
    let mut bad = common::outcome(&engine, &first, 0.5);
    bad.deltas[0].tensors[0].fill(f32::NAN);
    assert!(engine.complete(first.id, &bad).is_err());
    let good = common::outcome(&engine, &first, 0.5);
    engine.complete(first.id, &good).unwrap();
}

#[test]
fn winner_only_runs_are_resumed_from_a_checkpoint_with_their_held_deltas() {
    let mut options = spec(0.999, 6, "");
    options.evolution.winner_only_updates = true;
    options.evolution.same_minibatches = true;
    let drive = |engine: &mut Engine, stop_after: Option<usize>| {
        let mut done = 0;
        // Two tournaments in flight; the first contestant of each completes, then a pause.
        while let Some(request) = engine.next_evaluation() {
            let accuracy = 0.1 + (request.id.0 % 7) as f64 / 10.0;
            let result = common::outcome(engine, &request, accuracy);
            engine.complete(request.id, &result).unwrap();
            done += 1;
            if Some(done) == stop_after {
                return;
            }
        }
    };
    let mut whole = Engine::new("exp", options.clone(), 5, None).unwrap();
    drive(&mut whole, None);
    assert_eq!(whole.state(), RunState::Completed);

    let mut saved = Engine::new("exp", options.clone(), 5, None).unwrap();
    // An odd count: the last tournament has one contestant's deltas held.
    drive(&mut saved, Some(5));
    let (state, tensors) = saved.snapshot().unwrap();
    assert!(tensors.iter().any(|(name, _)| name.starts_with("held.")));
    let (mut resumed, _) = Engine::restore("exp", options, 5, None, state, tensors).unwrap();
    drive(&mut resumed, None);
    assert_eq!(params(&resumed), params(&whole));
    let json = |e: &Engine| {
        let mut v = serde_json::to_value(e.summary()).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        for task in v["tasks"].as_array_mut().unwrap() {
            task.as_object_mut().unwrap().remove("seconds");
        }
        v
    };
    assert_eq!(json(&resumed)["tasks"], json(&whole)["tasks"]);
}

#[test]
fn the_paper_fine_tune_trains_task_a_best_pathway_on_b_with_a_new_head() {
    let extra = "[comparison]\ncontrols = [\"paper_fine_tune\", \"scratch\"]";
    let mut engine = Engine::new("exp", spec(0.5, 20, extra), 5, None).unwrap();
    let built = params(&engine);
    let mut starts: BTreeMap<(Arm, usize), Params> = BTreeMap::new();
    let mut ends: BTreeMap<(Arm, usize), Params> = BTreeMap::new();
    let mut requests: BTreeMap<(Arm, usize), Vec<EvaluationRequest>> = BTreeMap::new();
    while let Some(request) = engine.next_evaluation() {
        let status = engine.status();
        let key = (status.arm, status.task);
        starts.entry(key).or_insert_with(|| params(&engine));
        let before = params(&engine);
        let result = common::outcome(&engine, &request, 0.9);
        engine.complete(request.id, &result).unwrap();
        requests.entry(key).or_default().push(request);
        let after = engine.status();
        if (after.arm, after.task) != key || engine.state() != RunState::Running {
            ends.insert(key, with_deltas(before, &result));
        }
    }
    assert_eq!(engine.state(), RunState::Completed);
    let keys: Vec<_> = requests.keys().copied().collect();
    assert_eq!(
        keys,
        vec![
            (Arm::PathnetTransfer, 0),
            (Arm::PathnetTransfer, 1),
            (Arm::Scratch, 1),
            (Arm::PaperFineTune, 1)
        ]
    );
    let summary = engine.summary();
    let a_best = &summary.tasks[0].best_pathway;
    let fine_tune = &requests[&(Arm::PaperFineTune, 1)];
    assert!(fine_tune.iter().all(|r| &r.job.pathway == a_best));
    assert!(
        fine_tune
            .iter()
            .all(|r| r.job.frozen.is_empty() && r.job.task_index == 1)
    );
    let start = &starts[&(Arm::PaperFineTune, 1)];
    assert_eq!(
        start,
        &ends[&(Arm::PathnetTransfer, 0)],
        "task A's parameters, unfrozen"
    );
    let head_b = engine.parameters().head_id(1).unwrap();
    let head = |p: &Params| p.iter().find(|(id, _)| *id == head_b).unwrap().1.clone();
    assert_eq!(
        head(start),
        head(&built),
        "task B's head as built: never trained"
    );
    let fine_tune_summary = summary
        .tasks
        .iter()
        .find(|t| t.arm == Arm::PaperFineTune)
        .unwrap();
    assert_eq!(&fine_tune_summary.best_pathway, a_best);
    assert_eq!(fine_tune_summary.frozen_modules, 0);
    let comparison = summary.comparison.unwrap();
    assert!(
        comparison
            .task_b_generations
            .contains_key(&Arm::PaperFineTune)
    );
}

#[test]
fn the_paper_fine_tune_is_parsed_and_needs_two_tasks() {
    let spec = spec(0.5, 20, "[comparison]\ncontrols = [\"paper_fine_tune\"]");
    assert_eq!(spec.comparison.controls.len(), 1);
    let one_task = ExperimentSpec::from_toml(
        "name = \"t\"\n[data]\ndir = \"/x\"\n[[tasks]]\nname = \"a\"\nclasses = [1, 2]\n[comparison]\ncontrols = [\"paper_fine_tune\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(one_task.contains("comparison.controls"), "{one_task}");
    let options = ExperimentSpec::from_toml(
        "name = \"t\"\n[data]\ndir = \"/x\"\n[evolution]\nsame_minibatches = true\nwinner_only_updates = true\n[[tasks]]\nname = \"a\"\nclasses = [1, 2]\n",
    )
    .unwrap();
    assert!(options.evolution.same_minibatches && options.evolution.winner_only_updates);
    let default = ExperimentSpec::from_toml(
        "name = \"t\"\n[data]\ndir = \"/x\"\n[[tasks]]\nname = \"a\"\nclasses = [1, 2]\n",
    )
    .unwrap();
    assert!(!default.evolution.same_minibatches && !default.evolution.winner_only_updates);
}
