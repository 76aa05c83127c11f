//! The controls PathNet's transfer is compared with, driven with made-up outcomes: scratch
//! starts from freshly built parameters, fine-tune from the earlier task's parameters with
//! nothing frozen, the transfer freezes, fixed-path controls count generations as two
//! evaluations of one pathway, and the summary reports every arm under its key.

use ndarray::ArrayD;
use pathnet_coordinator::pathnet::{Arm, Engine, EvaluationRequest, RunSummary};
use pathnet_coordinator::run::{Run, RunState};
use pathnet_coordinator::spec::ExperimentSpec;
use pathnet_nn::pathnet::ModuleId;
use pathnet_work::JobOutcome;

mod common;

type Params = Vec<(ModuleId, Vec<ArrayD<f32>>)>;

fn spec(controls: &str, pathway: &str, threshold: f64, max_generations: usize) -> ExperimentSpec {
    let comparison =
        format!("[comparison]\ncontrols = {controls}\ncontrol_pathway = \"{pathway}\"");
    common::small_pathnet_spec(
        "comparison-test",
        11,
        6,
        threshold,
        max_generations,
        ["A", "B"],
        &comparison,
    )
}

fn engine(spec: ExperimentSpec) -> Engine {
    Engine::new("exp", spec, 5, None).unwrap()
}

/// Above any threshold below 0.9 for every pathway, so each phase ends after one tournament
/// when the threshold is low; deltas of 0.001 on every trainable module.
fn outcome(engine: &Engine, request: &EvaluationRequest) -> JobOutcome {
    common::outcome(engine, request, 0.9)
}

fn params(engine: &Engine) -> Params {
    let net = engine.parameters();
    net.module_ids()
        .map(|id| {
            (
                id,
                net.params(id)
                    .unwrap()
                    .iter()
                    .map(|p| p.to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// `before` with `outcome`'s deltas added: the parameters a phase leaves when this outcome
/// is its last, as they were before any transfer step.
fn with_deltas(mut before: Params, outcome: &JobOutcome) -> Params {
    for delta in &outcome.deltas {
        let (_, tensors) = before.iter_mut().find(|(id, _)| *id == delta.id).unwrap();
        for (tensor, change) in tensors.iter_mut().zip(&delta.tensors) {
            *tensor += change;
        }
    }
    before
}

/// One phase as the test saw it: its first request and the parameters it started and ended with.
struct PhaseTrace {
    arm: Arm,
    task: usize,
    first: EvaluationRequest,
    start: Params,
    end: Params,
    requests: Vec<EvaluationRequest>,
}

/// Runs the experiment sequentially and records every phase.
fn trace(engine: &mut Engine) -> Vec<PhaseTrace> {
    let mut phases: Vec<PhaseTrace> = Vec::new();
    while let Some(request) = engine.next_evaluation() {
        let status = engine.status();
        let new_phase = phases
            .last()
            .is_none_or(|p| (p.arm, p.task) != (status.arm, status.task) || !p.end.is_empty());
        if new_phase {
            phases.push(PhaseTrace {
                arm: status.arm,
                task: status.task,
                first: request.clone(),
                start: params(engine),
                end: Vec::new(),
                requests: Vec::new(),
            });
        }
        let before = params(engine);
        let result = outcome(engine, &request);
        engine.complete(request.id, &result).unwrap();
        let phase = phases.last_mut().unwrap();
        phase.requests.push(request);
        let after = engine.status();
        if (after.arm, after.task) != (phase.arm, phase.task) || engine.state() != RunState::Running
        {
            phase.end = with_deltas(before, &result);
        }
    }
    phases
}

fn arms(phases: &[PhaseTrace]) -> Vec<(Arm, usize)> {
    phases.iter().map(|p| (p.arm, p.task)).collect()
}

fn fresh_params(spec: ExperimentSpec) -> Params {
    params(&engine(spec))
}

#[test]
fn fixed_controls_run_after_the_transfer_in_order() {
    let spec = spec(r#"["scratch", "fine_tune"]"#, "fixed", 0.5, 20);
    let mut engine = engine(spec);
    let phases = trace(&mut engine);
    assert_eq!(
        arms(&phases),
        vec![
            (Arm::PathnetTransfer, 0),
            (Arm::PathnetTransfer, 1),
            (Arm::Scratch, 1),
            (Arm::FineTune, 0),
            (Arm::FineTune, 1),
        ]
    );
    assert_eq!(engine.state(), RunState::Completed);
}

#[test]
fn the_transfer_freezes_task_a_best_pathway_and_controls_freeze_nothing() {
    let spec = spec(r#"["scratch", "fine_tune"]"#, "fixed", 0.5, 20);
    let mut engine = engine(spec);
    let phases = trace(&mut engine);
    let summary = engine.summary();
    let best_a: Vec<ModuleId> = summary.tasks[0]
        .best_pathway
        .iter()
        .enumerate()
        .flat_map(|(layer, active)| active.iter().map(move |&i| ModuleId::new(layer, i)))
        .collect();
    let transfer_b = &phases[1];
    for request in &transfer_b.requests {
        let used_frozen: Vec<ModuleId> = request.job.frozen.clone();
        for id in &used_frozen {
            assert!(best_a.contains(id), "{id} frozen but not on task A's best");
        }
        assert!(
            !request
                .job
                .frozen
                .contains(request.job.modules.last().map(|m| &m.0).unwrap())
        );
    }
    assert_eq!(summary.tasks[1].frozen_modules, best_a.len());
    for phase in &phases[2..] {
        for request in &phase.requests {
            assert!(
                request.job.frozen.is_empty(),
                "{:?} froze modules",
                phase.arm
            );
        }
    }
    assert!(summary.tasks[2..].iter().all(|t| t.frozen_modules == 0));
}

#[test]
fn scratch_starts_from_freshly_built_parameters() {
    let spec_ = spec(r#"["scratch"]"#, "fixed", 0.5, 20);
    let built = fresh_params(spec_.clone());
    let mut engine = engine(spec_);
    let phases = trace(&mut engine);
    let scratch = phases.iter().find(|p| p.arm == Arm::Scratch).unwrap();
    assert_eq!(scratch.task, 1);
    assert_eq!(
        scratch.start, built,
        "scratch must start from the built network"
    );
    assert_ne!(
        phases[1].end, built,
        "the transfer run changed the parameters"
    );
    // The replica learns of the reset through versions: every module the job reads moved on.
    for &(id, version) in &scratch.first.job.modules {
        assert!(version > 1, "{id} still at version {version}");
    }
}

#[test]
fn fixed_fine_tune_learns_a_then_continues_on_b_with_nothing_frozen() {
    let spec_ = spec(r#"["fine_tune"]"#, "fixed", 0.5, 20);
    let built = fresh_params(spec_.clone());
    let mut engine = engine(spec_);
    let phases = trace(&mut engine);
    let ft_a = &phases[2];
    let ft_b = &phases[3];
    assert_eq!(
        (ft_a.arm, ft_a.task, ft_b.arm, ft_b.task),
        (Arm::FineTune, 0, Arm::FineTune, 1)
    );
    assert_eq!(
        ft_a.start, built,
        "the control learns task A from fresh parameters"
    );
    assert_ne!(ft_a.end, built, "task A trained the control's pathway");
    assert_eq!(
        ft_b.start, ft_a.end,
        "task B starts from the control's task A parameters"
    );
    assert_eq!(ft_a.first.job.pathway, ft_b.first.job.pathway);
    assert_eq!(ft_b.first.job.pathway, vec![vec![0, 1], vec![0, 1]]);
}

#[test]
fn evolved_fine_tune_starts_from_pathnet_task_a_parameters_unfrozen() {
    let spec_ = spec(r#"["fine_tune"]"#, "evolved", 0.5, 20);
    let mut engine = engine(spec_);
    let phases = trace(&mut engine);
    assert_eq!(
        arms(&phases),
        vec![
            (Arm::PathnetTransfer, 0),
            (Arm::PathnetTransfer, 1),
            (Arm::FineTune, 1)
        ]
    );
    let (pathnet_a, pathnet_b, fine_tune) = (&phases[0], &phases[1], &phases[2]);
    assert_ne!(
        pathnet_b.start, pathnet_a.end,
        "the transfer re-initialised modules"
    );
    assert_eq!(
        fine_tune.start, pathnet_a.end,
        "fine-tune starts where task A ended"
    );
    assert!(fine_tune.requests.iter().all(|r| r.job.frozen.is_empty()));
    let pathways: Vec<_> = fine_tune.requests.iter().map(|r| &r.job.pathway).collect();
    assert!(
        pathways.windows(2).any(|w| w[0] != w[1]),
        "an evolved control evaluates a population of pathways"
    );
}

#[test]
fn a_fixed_generation_is_two_evaluations_of_one_pathway() {
    // An unreachable threshold: every phase runs to the cap of 4 generations.
    let spec_ = spec(r#"["scratch"]"#, "fixed", 0.999, 4);
    let mut engine = engine(spec_);
    let phases = trace(&mut engine);
    let scratch = &phases[2];
    assert_eq!(scratch.requests.len(), 8);
    assert!(
        scratch
            .requests
            .iter()
            .all(|r| r.job.pathway == vec![vec![0, 1], vec![0, 1]])
    );
    let summary = engine.summary();
    let task = summary
        .tasks
        .iter()
        .find(|t| t.arm == Arm::Scratch)
        .unwrap();
    assert_eq!(
        (task.generations, task.tournaments, task.evaluations),
        (4, 4, 8)
    );
    assert!(!task.reached_threshold);
}

#[test]
fn a_fixed_control_has_one_tournament_in_flight() {
    let spec_ = spec(r#"["scratch"]"#, "fixed", 0.5, 20);
    let mut engine = engine(spec_);
    while engine.status().arm != Arm::Scratch {
        let request = engine.next_evaluation().unwrap();
        let result = outcome(&engine, &request);
        engine.complete(request.id, &result).unwrap();
    }
    let first = engine.next_evaluation().unwrap();
    let second = engine.next_evaluation().unwrap();
    assert!(engine.next_evaluation().is_none());
    assert_eq!(first.job.pathway, second.job.pathway);
}

fn summary_json(summary: &RunSummary) -> serde_json::Value {
    serde_json::to_value(summary).unwrap()
}

#[test]
fn the_summary_reports_every_arm_under_its_key() {
    let spec_ = spec(r#"["scratch", "fine_tune"]"#, "fixed", 0.999, 3);
    let mut engine = engine(spec_);
    trace(&mut engine);
    let summary = engine.summary();
    let json = summary_json(&summary);
    let comparison = &json["comparison"];
    assert_eq!(comparison["task"], "B");
    assert_eq!(comparison["control_pathway"], "fixed");
    for arm in ["pathnet_transfer", "scratch", "fine_tune"] {
        assert_eq!(comparison["task_b_generations"][arm], 3, "{arm}");
        assert_eq!(comparison["task_b_evaluations"][arm], 6, "{arm}");
        assert_eq!(comparison["task_b_reached_threshold"][arm], false, "{arm}");
        assert!(comparison["task_b_test_accuracy"][arm].is_null(), "{arm}");
    }
    assert_eq!(comparison["arm_evaluations"]["pathnet_transfer"], 12);
    assert_eq!(comparison["arm_evaluations"]["scratch"], 6);
    assert_eq!(comparison["arm_evaluations"]["fine_tune"], 12);
    let arms: Vec<&str> = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["arm"].as_str().unwrap())
        .collect();
    assert_eq!(
        arms,
        [
            "pathnet_transfer",
            "pathnet_transfer",
            "scratch",
            "fine_tune",
            "fine_tune"
        ]
    );
    assert_eq!(summary.tasks[2].label(), "B (scratch)");
    assert_eq!(engine.counters().results_accepted, 30);
}

#[test]
fn without_controls_there_is_no_comparison() {
    let mut spec_ = spec(r#"[]"#, "fixed", 0.5, 20);
    spec_.comparison.controls.clear();
    let mut engine = engine(spec_);
    let phases = trace(&mut engine);
    assert_eq!(phases.len(), 2);
    assert!(summary_json(&engine.summary())["comparison"].is_null());
}

#[test]
fn controls_are_deterministic() {
    let run = || {
        let mut engine = engine(spec(r#"["scratch", "fine_tune"]"#, "evolved", 0.5, 20));
        let phases = trace(&mut engine);
        phases
            .iter()
            .map(|p| {
                let jobs: Vec<_> = p
                    .requests
                    .iter()
                    .map(|r| (r.job.pathway.clone(), r.job.data_seed))
                    .collect();
                (p.arm, p.task, jobs, p.end.clone())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}
