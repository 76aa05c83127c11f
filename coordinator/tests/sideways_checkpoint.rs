//! Checkpoints of the coordinator's Sideways run without network: a run saved while a
//! segment is out (the state through JSON and its snapshot through a safetensors file, as a
//! checkpoint holds them) and restored re-issues that segment from the saved snapshot, with
//! the same job as the saved run would have sent again, and ends with the same parameters bit
//! for bit as a run never interrupted; a finished run restores finished; a state or tensors
//! that do not fit are refused naming the field or tensor.

use pathnet_coordinator::checkpoint::{Tensors, decode, encode};
use pathnet_coordinator::run::{EvalId, Run, RunState};
use pathnet_coordinator::sideways::{SidewaysRun, SidewaysRunState, SidewaysSummary};
use pathnet_coordinator::spec::{SidewaysSpec, Spec};
use pathnet_work::sideways::SegmentJob;
use pathnet_work::sideways::segment::{VideoImages, execute};
use std::collections::HashMap;

/// A small run: 6 batches of 2 clips of 4 frames on 2 stages, in 3 segments.
fn spec() -> SidewaysSpec {
    let text = r#"
kind = "sideways"
name = "sw"
seed = 3
snapshot_every = 2

[sideways]
data_dir = "/usr/share/datasets/fashion-mnist"
stages = 2
batch = 2
batches = 6
test_videos = 4

[sideways.video]
canvas = 32
objects = 1
frames = 4
speed = 2.0
edges = "wrap"
directions = "four"
downscale = 2
shared_class = true
shared_direction = true
"#;
    match Spec::from_toml(text).unwrap() {
        Spec::Sideways(spec) => spec,
        other => panic!("expected a sideways spec, got {}", other.kind()),
    }
}

/// `run`'s state through JSON and its tensors through a safetensors file, as a checkpoint
/// holds them.
fn saved(run: &SidewaysRun) -> (SidewaysRunState, Tensors) {
    let (state, tensors) = run.checkpoint();
    let json = serde_json::to_string(&state).unwrap();
    let bytes = encode(&tensors, HashMap::new()).unwrap();
    (
        serde_json::from_str(&json).unwrap(),
        decode(&bytes).unwrap().0,
    )
}

fn step(run: &mut SidewaysRun, id: EvalId, job: &SegmentJob) {
    let outcome = execute(job, &VideoImages::shared()).unwrap();
    run.complete(id, outcome).unwrap();
}

/// Runs to the end; the jobs issued.
fn finish(run: &mut SidewaysRun) -> Vec<SegmentJob> {
    let mut jobs = Vec::new();
    while let Some((id, job)) = run.next_segment() {
        step(run, id, &job);
        jobs.push(job);
    }
    jobs
}

/// What two runs of the same spec share bit for bit (timings differ by construction).
fn outcome(s: &SidewaysSummary) -> serde_json::Value {
    serde_json::json!([
        s.fingerprint,
        s.final_loss.map(f64::to_bits),
        s.final_accuracy.map(f64::to_bits),
        s.test_accuracy.map(f64::to_bits),
        s.test_loss.map(f64::to_bits),
        s.frames,
        s.batches,
        s.segments,
        s.snapshot_bytes,
    ])
}

#[test]
fn a_run_restored_with_a_segment_out_ends_as_one_never_interrupted() {
    pathnet_nn::set_threads(1);
    let mut whole = SidewaysRun::new("sw-1".into(), spec()).unwrap();
    let whole_jobs = finish(&mut whole);
    assert_eq!(whole_jobs.len(), 3);

    let mut run = SidewaysRun::new("sw-1".into(), spec()).unwrap();
    let (id, job) = run.next_segment().unwrap();
    step(&mut run, id, &job);
    let (out, job) = run.next_segment().unwrap();
    assert_eq!(job, whole_jobs[1]);
    let (state, tensors) = saved(&run);
    // Parameters and, after a segment of steps, Adam's two moments of each.
    let params = tensors
        .iter()
        .filter(|(n, _)| n.contains(".params."))
        .count();
    let moments = tensors
        .iter()
        .filter(|(n, _)| n.contains(".optimizer."))
        .count();
    assert!(params > 0 && moments == 2 * params, "{params} {moments}");
    assert!(
        tensors
            .iter()
            .any(|(n, _)| n == "sideways.stages.1.params.0000")
    );

    let (mut resumed, requeued) =
        SidewaysRun::restore("sw-1".into(), spec(), state, tensors).unwrap();
    assert_eq!(requeued, 1);
    run.requeue(out);
    assert_eq!(resumed.counters(), run.counters());
    assert_eq!(resumed.status(), run.status());
    assert_eq!(outcome(&resumed.summary()), outcome(&run.summary()));

    let jobs = finish(&mut resumed);
    assert_eq!(
        jobs,
        whole_jobs[1..],
        "the segment out first, from the saved snapshot"
    );
    assert_eq!(resumed.state(), RunState::Completed);
    let (a, b) = (whole.summary(), resumed.summary());
    assert_eq!(outcome(&b), outcome(&a), "{a} vs {b}");
    assert_eq!(b.segments_reissued, 1);
    let c = resumed.counters();
    assert_eq!((c.evaluations_issued, c.results_accepted), (4, 3));

    // A finished run restores finished, with its timing.
    let (state, tensors) = saved(&resumed);
    let (done, requeued) = SidewaysRun::restore("sw-1".into(), spec(), state, tensors).unwrap();
    assert_eq!(requeued, 0);
    assert_eq!(done.state(), RunState::Completed);
    assert_eq!(done.summary().seconds, b.seconds);
    assert_eq!(outcome(&done.summary()), outcome(&b));
}

#[test]
fn a_state_or_tensors_that_do_not_fit_are_refused_naming_them() {
    let mut run = SidewaysRun::new("sw-1".into(), spec()).unwrap();
    let (id, job) = run.next_segment().unwrap();
    step(&mut run, id, &job);
    let (state, tensors) = saved(&run);
    let refused = |state: SidewaysRunState, tensors: Tensors| {
        SidewaysRun::restore("sw-1".into(), spec(), state, tensors)
            .err()
            .unwrap()
    };

    let missing: Tensors = tensors[1..].to_vec();
    let err = refused(state.clone(), missing);
    assert!(
        err.contains(&format!("tensor `{}` is missing", tensors[0].0)),
        "{err}"
    );

    let mut reshaped = tensors.clone();
    reshaped[0].1 = ndarray::ArrayD::zeros(vec![3, 5]);
    let err = refused(state.clone(), reshaped);
    assert!(
        err.contains(&format!("tensor `{}` has shape [3, 5]", tensors[0].0)),
        "{err}"
    );

    let mut extra = tensors.clone();
    extra.push((
        "sideways.stages.9.params.0000".into(),
        ndarray::ArrayD::zeros(vec![1]),
    ));
    let err = refused(state.clone(), extra);
    assert!(
        err.contains("tensor `sideways.stages.9.params.0000`"),
        "{err}"
    );

    let mut json = serde_json::to_value(&state).unwrap();
    json["batches_done"] = 3.into();
    let err = refused(serde_json::from_value(json).unwrap(), tensors.clone());
    assert!(err.contains("`experiment.run.batches_done` = 3"), "{err}");

    let mut json = serde_json::to_value(&state).unwrap();
    json["issued"] = 0.into();
    let err = refused(serde_json::from_value(json).unwrap(), tensors);
    assert!(err.contains("`experiment.run.issued` = 0"), "{err}");
}
