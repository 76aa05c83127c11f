//! Checkpoints of PathNet's engine without data or network: a state written and read back
//! is the same bit for bit, a resumed engine goes on exactly as the saved one would have
//! (evaluations handed out before the save redone, each result counted once), what a crash
//! leaves half-written is ignored, a state of another format version is refused by name, and
//! Python's `safetensors` package reads the tensors file as it is.

mod common;

use common::outcome;
use ndarray::ArrayD;
use pathnet_coordinator::checkpoint::{
    self, FORMAT, FORMAT_VERSION, Manifest, SavedExperiment, StateDir, Tensors,
};
use pathnet_coordinator::pathnet::{Engine, EngineState, EvaluationRequest};
use pathnet_coordinator::run::{Progress, Run};
use pathnet_coordinator::spec::ExperimentSpec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two tasks and the evolved fine-tune control, so that parameters kept for a later phase,
/// frozen modules and re-initialised ones are all in the state.
fn spec() -> ExperimentSpec {
    common::small_pathnet_spec(
        "checkpoint-test",
        11,
        6,
        0.999,
        3,
        ["a", "b"],
        "[comparison]\ncontrols = [\"fine_tune\"]\ncontrol_pathway = \"evolved\"",
    )
}

fn engine() -> Engine {
    Engine::new("exp", spec(), 5, None).unwrap()
}

/// Accuracy as a deterministic function of the request, never reaching the threshold.
fn result(engine: &Engine, request: &EvaluationRequest) -> pathnet_work::JobOutcome {
    let modules: Vec<usize> = request.job.pathway.iter().flatten().copied().collect();
    let even = modules.iter().filter(|&&m| m % 2 == 0).count() as f64;
    let noise = (request.job.data_seed % 1000) as f64 * 1e-5;
    outcome(
        engine,
        request,
        0.5 + 0.4 * even / modules.len() as f64 + noise,
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pathnet-ckpt-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

/// The state a coordinator would save of `engine`.
fn manifest_of(engine: &Engine) -> (Manifest, Tensors) {
    let (state, tensors) = engine.snapshot().unwrap();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        incarnation: 1,
        written_unix_ms: 0,
        next_experiment: 2,
        experiment: Some(SavedExperiment {
            id: "exp".into(),
            kind: "pathnet".into(),
            spec: serde_json::to_value(engine.spec()).unwrap(),
            started_unix_ms: 0,
            error: None,
            leases: Default::default(),
            bytes_pulled: 0,
            bytes_pushed: 0,
            run: serde_json::to_value(state).unwrap(),
            tensors: String::new(),
        }),
    };
    (manifest, tensors)
}

fn restore(manifest: &Manifest, tensors: Tensors) -> (Engine, usize) {
    let experiment = manifest.experiment.as_ref().unwrap();
    let state: EngineState = serde_json::from_value(experiment.run.clone()).unwrap();
    let spec: ExperimentSpec = serde_json::from_value(experiment.spec.clone()).unwrap();
    Engine::restore("exp", spec, 5, None, state, tensors).unwrap()
}

/// Same names, shapes and bits; the order of a file is the format's, not the writer's.
fn assert_bitwise_equal(a: &Tensors, b: &Tensors) {
    assert_eq!(a.len(), b.len());
    let sorted = |t: &Tensors| {
        let mut t: Vec<(String, ArrayD<f32>)> = t.clone();
        t.sort_by(|x, y| x.0.cmp(&y.0));
        t
    };
    for ((name_a, ta), (name_b, tb)) in sorted(a).iter().zip(&sorted(b)) {
        assert_eq!(name_a, name_b);
        assert_eq!(ta.shape(), tb.shape(), "{name_a}");
        let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(ta), bits(tb), "{name_a}");
    }
}

/// The run's state without the seconds it has run, which a restore cannot keep exactly.
fn timeless(mut value: serde_json::Value) -> serde_json::Value {
    value["seconds"] = serde_json::Value::Null;
    value["task"]["seconds"] = serde_json::Value::Null;
    for summary in value["summaries"].as_array_mut().unwrap() {
        summary["seconds"] = serde_json::Value::Null;
    }
    value
}

/// Drives `engine` by completing its evaluations in issue order, two at a time in flight,
/// until `stop` evaluations were issued or the run ends; returns what was issued (ids,
/// pathways, data seeds and module versions).
fn drive(engine: &mut Engine, stop: usize, log: &mut Vec<String>) {
    let mut in_flight: Vec<EvaluationRequest> = Vec::new();
    let mut issued = 0;
    loop {
        while in_flight.len() < 2 && issued < stop {
            let Some(request) = engine.next_evaluation() else {
                break;
            };
            log.push(format!(
                "{} {:?} {} {:?}",
                request.id, request.job.pathway, request.job.data_seed, request.job.modules
            ));
            issued += 1;
            in_flight.push(request);
        }
        if in_flight.is_empty() {
            return;
        }
        let request = in_flight.remove(0);
        let result = result(engine, &request);
        engine.complete(request.id, &result).unwrap();
    }
}

#[test]
fn a_state_written_and_read_back_is_the_same_bit_for_bit() {
    let mut engine = engine();
    // Past the first task's transfer and into the fine-tune control, which needs the
    // parameters kept before the transfer.
    drive(&mut engine, 8, &mut Vec::new());
    assert_eq!(engine.status().task, 1, "{:?}", engine.status());
    // Leave two evaluations outstanding: they are in the state as handed out.
    let held = [
        engine.next_evaluation().unwrap(),
        engine.next_evaluation().unwrap(),
    ];
    let (manifest, tensors) = manifest_of(&engine);
    assert!(tensors.iter().any(|(name, _)| name.starts_with("kept.")));
    let dir = scratch("roundtrip");
    let (mut state_dir, none) = StateDir::open(&dir).unwrap();
    assert!(none.is_none());
    state_dir.write(manifest.clone(), &tensors).unwrap();
    let read = checkpoint::read(&dir).unwrap().unwrap();
    let mut expected = manifest.clone();
    expected.experiment.as_mut().unwrap().tensors =
        read.manifest.experiment.as_ref().unwrap().tensors.clone();
    assert_eq!(read.manifest, expected);
    assert_bitwise_equal(&read.tensors, &tensors);

    // Resumed, the engine saves what it was saved from, but for the two evaluations that
    // were handed out: now re-queued, and counted so.
    let (resumed, requeued) = restore(&read.manifest, read.tensors);
    assert_eq!(requeued, 2);
    // Re-queued at the head of the queue, oldest first, as a restore puts them.
    for request in held.iter().rev() {
        assert!(engine.requeue(request.id));
    }
    let (again, again_tensors) = manifest_of(&resumed);
    let (original, original_tensors) = manifest_of(&engine);
    assert_bitwise_equal(&again_tensors, &original_tensors);
    let run = |m: &Manifest| timeless(m.experiment.as_ref().unwrap().run.clone());
    assert_eq!(run(&again), run(&original));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_resumed_engine_goes_on_exactly_as_the_saved_one() {
    let mut saved = engine();
    let mut before = Vec::new();
    drive(&mut saved, 9, &mut before);
    let held = saved.next_evaluation().unwrap();
    let (manifest, tensors) = manifest_of(&saved);
    let (mut resumed, requeued) = restore(&manifest, tensors);
    assert_eq!(requeued, 1);
    // The saved engine's own future, had its coordinator not died: the held evaluation
    // comes back, as it would after its lease expired.
    assert!(saved.requeue(held.id));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    drive(&mut saved, usize::MAX, &mut a);
    drive(&mut resumed, usize::MAX, &mut b);
    assert_eq!(a, b);
    assert!(
        a[0].starts_with(&held.id.to_string()),
        "the held evaluation is redone first"
    );
    assert_eq!(saved.summary().counters, resumed.summary().counters);
    let c = &resumed.summary().counters;
    assert_eq!(c.results_accepted, 2 * c.tournaments_resolved);
    assert_eq!(
        c.evaluations_issued,
        c.results_accepted + c.evaluations_requeued + c.evaluations_cancelled
    );
    let (_, ta) = saved.snapshot().unwrap();
    let (_, tb) = resumed.snapshot().unwrap();
    assert_bitwise_equal(&ta, &tb);
    let tasks = |e: &Engine| serde_json::to_value(&e.summary().tasks).unwrap();
    let strip = |mut v: serde_json::Value| {
        for t in v.as_array_mut().unwrap() {
            t["seconds"] = serde_json::Value::Null;
        }
        v
    };
    assert_eq!(strip(tasks(&saved)), strip(tasks(&resumed)));
    assert!(
        resumed
            .drain_events()
            .iter()
            .any(|e| matches!(e, Progress::Finished))
    );
}

#[test]
fn what_a_crash_leaves_half_written_is_ignored() {
    let engine = engine();
    let dir = scratch("torn");
    let (mut state_dir, _) = StateDir::open(&dir).unwrap();
    let (manifest, tensors) = manifest_of(&engine);
    state_dir.write(manifest, &tensors).unwrap();
    let good = checkpoint::read(&dir).unwrap().unwrap();
    // A crash in the middle of the next save: a torn temporary manifest, and a tensors
    // file cut short that no manifest names yet.
    std::fs::write(dir.join(".tmp-state.json"), b"{\"format\": \"pathnet-coord").unwrap();
    let bytes =
        std::fs::read(dir.join(&good.manifest.experiment.as_ref().unwrap().tensors)).unwrap();
    std::fs::write(
        dir.join("tensors-1-99.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    std::fs::write(dir.join(".tmp-tensors-1-99.safetensors"), &bytes[..10]).unwrap();
    drop(state_dir);
    let (_, state) = StateDir::open(&dir).unwrap();
    let state = state.unwrap();
    assert_eq!(state.manifest, good.manifest);
    assert_bitwise_equal(&state.tensors, &good.tensors);
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 2, "only the committed state stays: {left:?}");
    assert!(left.contains(&"state.json".to_owned()));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_state_of_another_format_version_or_a_damaged_one_is_refused_by_name() {
    let engine = engine();
    let dir = scratch("version");
    let (mut state_dir, _) = StateDir::open(&dir).unwrap();
    let (manifest, tensors) = manifest_of(&engine);
    state_dir.write(manifest, &tensors).unwrap();
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"format_version\": 1", "\"format_version\": 7"),
    )
    .unwrap();
    let err = checkpoint::read(&dir).unwrap_err().to_string();
    assert!(
        err.contains("`format_version` = 7") && err.contains("reads only version 1"),
        "{err}"
    );
    std::fs::write(&path, &text).unwrap();
    let tensors_file = serde_json::from_str::<Manifest>(&text)
        .unwrap()
        .experiment
        .unwrap()
        .tensors;
    std::fs::write(
        dir.join(&tensors_file),
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
    )
    .unwrap();
    let err = checkpoint::read(&dir).unwrap_err().to_string();
    assert!(err.contains(&tensors_file), "{err}");
    std::fs::write(&path, b"{\"format\": \"something else\"}").unwrap();
    let err = checkpoint::read(&dir).unwrap_err().to_string();
    assert!(err.contains("`format`"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_resumed_state_that_does_not_fit_its_spec_is_refused_naming_what() {
    let engine = engine();
    let (manifest, mut tensors) = manifest_of(&engine);
    tensors.retain(|(name, _)| name != "heads.1.param0");
    let experiment = manifest.experiment.as_ref().unwrap();
    let state: EngineState = serde_json::from_value(experiment.run.clone()).unwrap();
    let err = Engine::restore("exp", spec(), 5, None, state, tensors)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("heads.1.param0"), "{err}");
}

/// The reference interpreter `scripts/setup-python-ref` makes (it has `safetensors`).
fn reference_python() -> PathBuf {
    let path = std::env::var_os("PATHNET_REF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-ref/bin/python"));
    assert!(
        path.exists(),
        "no reference Python at {}: run scripts/setup-python-ref or set PATHNET_REF_PYTHON",
        path.display()
    );
    path
}

#[test]
fn python_safetensors_reads_the_tensors_file_as_written() {
    let mut engine = engine();
    drive(&mut engine, 4, &mut Vec::new());
    let (manifest, tensors) = manifest_of(&engine);
    let dir = scratch("python");
    let (mut state_dir, _) = StateDir::open(&dir).unwrap();
    state_dir.write(manifest, &tensors).unwrap();
    let name = checkpoint::read(&dir)
        .unwrap()
        .unwrap()
        .manifest
        .experiment
        .unwrap()
        .tensors;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/read_safetensors.py");
    let output = Command::new(reference_python())
        .arg(&script)
        .arg(dir.join(&name))
        .output()
        .expect("the reference Python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every value, widened to float64 by numpy, comes back exactly.
    let read: HashMap<String, (Vec<usize>, Vec<f64>)> =
        serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read.len(), tensors.len());
    for (name, tensor) in &tensors {
        let (shape, values) = &read[name];
        assert_eq!(shape.as_slice(), tensor.shape(), "{name}");
        let expected: Vec<f64> = tensor.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(values, &expected, "{name}");
    }
    std::fs::remove_dir_all(dir).ok();
}
