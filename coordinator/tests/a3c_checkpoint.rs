//! Checkpoints of the coordinator's A3C run without data or network: a run saved (through
//! JSON, as the manifest holds it) and restored has the saved parameters, RMSProp statistics
//! and counters, counts the workers that were out as re-queued, numbers new workers after
//! the old ones, and applies the same next update to the same result; a state whose tensors
//! do not fit the spec is refused naming the tensor.

use pathnet_coordinator::a3c::{A3cRun, A3cState};
use pathnet_coordinator::checkpoint::Tensors;
use pathnet_coordinator::run::Run;
use pathnet_coordinator::spec::A3cSpec;
use pathnet_rl::GradientUpdate;

mod common;

fn spec() -> A3cSpec {
    common::a3c_spec(
        "kind = \"a3c\"\nname = \"t\"\nmax_workers = 2\n[a3c]\nenv = \"CartPole-v1\"\n\
         anneal_learning_rate = true\n",
    )
}

fn update(run: &A3cRun, base_version: u64, steps: u64, returns: &[f64]) -> GradientUpdate {
    common::ones(&run.parameters(), base_version, steps, returns)
}

/// `run`'s state and tensors, through JSON as a manifest holds them.
fn saved(run: &A3cRun) -> (A3cState, Tensors) {
    let (state, tensors) = run.snapshot();
    let json = serde_json::to_string(&state).unwrap();
    (serde_json::from_str(&json).unwrap(), tensors)
}

#[test]
fn a_restored_run_goes_on_from_the_saved_updates() {
    let mut run = A3cRun::new("t-1".into(), spec()).unwrap();
    let (a, _) = run.next_worker().unwrap();
    let (b, _) = run.next_worker().unwrap();
    for seq in 1..=3 {
        let version = run.stats().updates_applied;
        run.exchange(a, seq, Some(update(&run, version, 10, &[5.0])))
            .unwrap();
    }
    run.exchange(b, 1, Some(update(&run, 3, 7, &[9.0])))
        .unwrap();
    let (state, tensors) = saved(&run);
    let (mut resumed, requeued) =
        A3cRun::restore("t-1".into(), spec(), state, tensors.clone()).unwrap();
    assert_eq!(requeued, 2, "both workers were out");
    assert_eq!(resumed.stats(), run.stats());
    assert_eq!(resumed.stats().updates_applied, 4);
    assert_eq!(resumed.parameters(), run.parameters());
    assert_eq!(
        resumed.counters().evaluations_requeued,
        run.counters().evaluations_requeued + 2
    );
    assert_eq!(resumed.counters().results_accepted, 4);
    // A new worker gets the next number, never one of the earlier run's.
    let (c, worker) = resumed.next_worker().unwrap();
    assert_eq!(worker.worker_index, 2);
    // The same update on both: the same parameters, bit for bit (same RMSProp statistics,
    // same annealed learning rate).
    let next = update(&run, 4, 3, &[]);
    run.exchange(a, 4, Some(next.clone())).unwrap();
    resumed.exchange(c, 1, Some(next)).unwrap();
    assert_eq!(resumed.parameters(), run.parameters());
    assert_eq!(saved(&resumed).1, saved(&run).1);
}

#[test]
fn tensors_that_do_not_fit_the_spec_are_refused_naming_the_tensor() {
    let run = A3cRun::new("t-1".into(), spec()).unwrap();
    let (_, mut tensors) = saved(&run);
    let (name, _) = tensors.remove(1);
    let (state, _) = saved(&run);
    let err = A3cRun::restore("t-1".into(), spec(), state, tensors)
        .err()
        .unwrap();
    assert!(err.contains(&name), "{err}");
}

#[test]
fn an_a3c_state_exports_its_policy() {
    use pathnet_coordinator::checkpoint::{
        self, FORMAT, FORMAT_VERSION, Manifest, SavedExperiment, StateDir,
    };
    let mut run = A3cRun::new("t-1".into(), spec()).unwrap();
    let (a, _) = run.next_worker().unwrap();
    run.exchange(a, 1, Some(update(&run, 0, 10, &[]))).unwrap();
    let (state, tensors) = run.snapshot();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        incarnation: 1,
        written_unix_ms: 0,
        next_experiment: 2,
        experiment: Some(SavedExperiment {
            id: "t-1".into(),
            kind: "a3c".into(),
            spec: serde_json::to_value(run.spec()).unwrap(),
            started_unix_ms: 0,
            error: None,
            leases: Default::default(),
            bytes_pulled: 0,
            bytes_pushed: 0,
            run: serde_json::to_value(state).unwrap(),
            tensors: String::new(),
        }),
    };
    let dir = std::env::temp_dir().join(format!("pathnet-a3c-export-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    StateDir::open(&dir)
        .unwrap()
        .0
        .write(manifest, &tensors)
        .unwrap();
    let exported = checkpoint::export(&dir, false).unwrap();
    let (read, meta) = checkpoint::decode(&exported.bytes).unwrap();
    let parameters = run.parameters();
    assert_eq!(read.len(), parameters.len());
    for ((_, got), want) in read.iter().zip(&parameters) {
        assert_eq!(got, want);
    }
    assert_eq!(meta["kind"], "a3c");
    assert_eq!(meta["env"], "CartPole-v1");
    assert_eq!(meta["updates_applied"], "1");
    std::fs::remove_dir_all(dir).ok();
}
