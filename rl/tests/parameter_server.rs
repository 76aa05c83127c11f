//! The Hogwild parameter server: updates, versions, staleness, stop rules, annealing,
//! rejection of malformed updates, and exact counters under concurrent pushes.

use ndarray::{ArrayD, ArrayViewMutD, IxDyn};
use pathnet_nn::{Optimizer, RmsProp, RmsPropConfig};
use pathnet_rl::{
    GradientUpdate, ParameterServer, RlError, ServerConfig, SharedParameters, StopConfig,
    StopReason,
};

fn tensors() -> Vec<ArrayD<f32>> {
    vec![
        ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, -2.0, 3.0, 0.5]).unwrap(),
        ArrayD::from_elem(IxDyn(&[3]), 0.25),
    ]
}

fn config(max_staleness: u64, stop: StopConfig, anneal: bool) -> ServerConfig {
    ServerConfig {
        rmsprop: RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 0.1,
        },
        anneal_learning_rate: anneal,
        max_staleness,
        stop,
    }
}

fn no_target(max_env_steps: u64) -> StopConfig {
    StopConfig {
        target_return: None,
        window: 3,
        max_env_steps,
    }
}

fn server(cfg: ServerConfig) -> ParameterServer {
    let init = tensors();
    let views: Vec<_> = init.iter().map(|t| t.view()).collect();
    ParameterServer::new(cfg, &views).unwrap()
}

fn grads(scale: f32) -> Vec<ArrayD<f32>> {
    tensors()
        .into_iter()
        .map(|t| t.mapv(|v| v * scale + 0.1))
        .collect()
}

fn update(base_version: u64, env_steps: u64, episode_returns: Vec<f64>) -> GradientUpdate {
    GradientUpdate {
        base_version,
        grads: grads(1.0),
        env_steps,
        episode_returns,
    }
}

fn fetch(s: &ParameterServer) -> (u64, Vec<ArrayD<f32>>) {
    let mut out: Vec<ArrayD<f32>> = tensors()
        .iter()
        .map(|t| ArrayD::zeros(t.raw_dim()))
        .collect();
    let mut views: Vec<ArrayViewMutD<'_, f32>> = out.iter_mut().map(|t| t.view_mut()).collect();
    let version = s.fetch(&mut views).unwrap();
    (version, out)
}

#[test]
fn updates_are_shared_rmsprop_steps() {
    let s = server(config(10, no_target(1000), false));
    let (version, params) = fetch(&s);
    assert_eq!((version, params), (0, tensors()));

    // The same two steps on a local copy with nn's RMSProp.
    let mut local = tensors();
    let mut opt = RmsProp::new(s.config().rmsprop, s.shapes()).unwrap();
    for scale in [1.0, -3.0] {
        let out = s
            .push(GradientUpdate {
                grads: grads(scale),
                ..update(s.version(), 5, vec![])
            })
            .unwrap();
        assert!(out.applied && !out.stop);
        let mut views: Vec<_> = local.iter_mut().map(|t| t.view_mut()).collect();
        opt.step(&mut views, &grads(scale));
    }
    let (version, params) = fetch(&s);
    assert_eq!(version, 2);
    assert_eq!(params, local);
    assert_ne!(params, tensors());
    assert_eq!(s.stats().env_steps, 10);
}

#[test]
fn stale_updates_are_dropped_and_counted() {
    let s = server(config(1, no_target(1000), false));
    let outcomes: Vec<bool> = (0..3)
        .map(|_| s.push(update(0, 1, vec![])).unwrap().applied)
        .collect();
    // Staleness 0, 1, 2 against a bound of 1.
    assert_eq!(outcomes, [true, true, false]);
    let st = s.stats();
    assert_eq!(
        (st.version, st.updates_applied, st.dropped_stale),
        (2, 2, 1)
    );
    assert_eq!((st.max_staleness, st.mean_staleness), (2, 1.0));
    assert_eq!(st.env_steps, 3, "steps count even for dropped updates");
}

#[test]
fn target_return_over_a_full_window_stops_training() {
    let stop = StopConfig {
        target_return: Some(10.0),
        window: 3,
        max_env_steps: 1_000_000,
    };
    let s = server(config(10, stop, false));
    // High returns, but the window is not yet full.
    assert!(!s.push(update(0, 1, vec![50.0, 50.0])).unwrap().stop);
    assert_eq!(s.stats().mean_return, Some(50.0));
    // [50, 50, -100]: mean 0, below target.
    assert!(!s.push(update(s.version(), 1, vec![-100.0])).unwrap().stop);
    // [50, -100, 80]: mean 10, target reached; this update is not applied.
    let out = s.push(update(s.version(), 1, vec![80.0])).unwrap();
    assert!(out.stop && !out.applied);
    assert_eq!(out.version, 2);
    let after = s.push(update(s.version(), 1, vec![])).unwrap();
    assert!(after.stop && !after.applied);
    let st = s.stats();
    assert_eq!(st.stop, Some(StopReason::TargetReturn));
    assert_eq!((st.episodes, st.dropped_after_stop), (4, 2));
    assert_eq!(st.mean_return, Some(10.0));
}

#[test]
fn step_budget_stops_and_anneals_the_rate() {
    let s = server(config(10, no_target(10), true));
    assert!((s.stats().learning_rate - 0.01).abs() < 1e-12);
    let first = s.push(update(0, 4, vec![])).unwrap();
    assert!(first.applied && !first.stop);
    assert!((s.stats().learning_rate - 0.006).abs() < 1e-12);

    // The update after 4 steps used the rate at 4 of 10 steps: 0.6 · lr.
    let mut local = tensors();
    let annealed = RmsPropConfig {
        lr: 0.006,
        ..s.config().rmsprop
    };
    let mut opt = RmsProp::new(annealed, s.shapes()).unwrap();
    let mut views: Vec<_> = local.iter_mut().map(|t| t.view_mut()).collect();
    opt.step(&mut views, &grads(1.0));
    assert_eq!(fetch(&s).1, local);

    assert!(!s.push(update(1, 4, vec![])).unwrap().stop);
    let last = s.push(update(2, 4, vec![])).unwrap();
    assert!(last.stop && !last.applied);
    assert_eq!(s.stop_reason(), Some(StopReason::EnvStepBudget));
    assert_eq!(s.stats().learning_rate, 0.0);
}

#[test]
fn a_requested_stop_ends_training() {
    let s = server(config(10, no_target(1000), false));
    s.request_stop();
    let out = s.push(update(0, 1, vec![])).unwrap();
    assert!(out.stop && !out.applied);
    assert_eq!(s.stop_reason(), Some(StopReason::Requested));
}

#[test]
fn malformed_updates_are_errors_and_change_nothing() {
    let s = server(config(10, no_target(1000), false));
    let mut bad = update(0, 1, vec![]);
    bad.grads.pop();
    assert!(matches!(
        s.push(bad),
        Err(RlError::TensorCount {
            expected: 2,
            got: 1,
            ..
        })
    ));
    let mut bad = update(0, 1, vec![]);
    bad.grads[1] = ArrayD::zeros(IxDyn(&[4]));
    let e = s.push(bad).unwrap_err();
    assert!(
        e.to_string()
            .contains("tensor 1 has shape [4], expected [3]"),
        "{e}"
    );
    let mut bad = update(0, 1, vec![]);
    bad.grads[0][[1, 0]] = f32::NAN;
    assert!(matches!(
        s.push(bad),
        Err(RlError::NonFiniteGradient { index: 0 })
    ));
    assert!(matches!(
        s.push(update(0, 1, vec![f64::INFINITY])),
        Err(RlError::NonFiniteReturn { .. })
    ));
    assert!(matches!(
        s.push(update(7, 1, vec![])),
        Err(RlError::FutureVersion {
            base_version: 7,
            current: 0
        })
    ));
    let mut wrong: Vec<ArrayD<f32>> =
        vec![ArrayD::zeros(IxDyn(&[2, 3])), ArrayD::zeros(IxDyn(&[3]))];
    let mut views: Vec<_> = wrong.iter_mut().map(|t| t.view_mut()).collect();
    assert!(matches!(
        s.fetch(&mut views),
        Err(RlError::Shape { index: 0, .. })
    ));
    let st = s.stats();
    assert_eq!((st.version, st.env_steps, st.episodes), (0, 0, 0));
    assert_eq!(fetch(&s).1, tensors());
}

#[test]
fn counters_are_exact_under_concurrent_pushes() {
    let s = server(config(u64::MAX, no_target(1_000_000), false));
    let (threads, pushes) = (8, 200);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let s = &s;
            scope.spawn(move || {
                for i in 0..pushes {
                    let (version, _) = fetch(s);
                    let returns = if i % 10 == 0 { vec![t as f64] } else { vec![] };
                    let mut u = update(version, 3, returns);
                    u.grads = grads(0.0).into_iter().map(|g| g * 0.0).collect();
                    assert!(s.push(u).unwrap().applied);
                }
            });
        }
    });
    let st = s.stats();
    let total = threads * pushes;
    assert_eq!((st.version, st.updates_applied), (total, total));
    assert_eq!(st.env_steps, 3 * total);
    assert_eq!(st.episodes, total / 10);
    assert_eq!(st.dropped_stale, 0);
    // Zero gradients: the parameters are untouched even with racing writers.
    assert_eq!(fetch(&s).1, tensors());
}

#[test]
fn invalid_settings_name_the_field() {
    let mut cfg = config(1, no_target(10), false);
    cfg.rmsprop.alpha = 1.5;
    let init = tensors();
    let views: Vec<_> = init.iter().map(|t| t.view()).collect();
    let e = ParameterServer::new(cfg, &views).unwrap_err().to_string();
    assert!(e.contains("rmsprop_alpha") && e.contains("1.5"), "{e}");
    let e = ParameterServer::new(config(1, no_target(0), false), &views)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stop.max_env_steps"), "{e}");
}

/// A server restored from its snapshot is the snapshotted one: the same parameters, RMSProp
/// statistics, counters, window and learning-rate position, so the same next update gives
/// the same result on both, bit for bit.
#[test]
fn a_restored_server_goes_on_exactly_as_the_snapshotted_one() {
    let cfg = config(5, no_target(1000), true);
    let a = server(cfg.clone());
    a.push(update(0, 10, vec![1.0, 2.0])).unwrap();
    a.push(update(1, 20, vec![3.0])).unwrap();
    a.push(update(0, 5, vec![])).unwrap();
    let snapshot = a.snapshot();
    assert_eq!(snapshot.counters.version, 3);
    assert_eq!(snapshot.counters.recent_returns, vec![1.0, 2.0, 3.0]);
    let b = ParameterServer::restore(cfg, &snapshot).unwrap();
    assert_eq!(b.snapshot(), snapshot);
    assert_eq!(a.stats(), b.stats());
    let next = update(3, 7, vec![4.0]);
    assert_eq!(a.push(next.clone()).unwrap(), b.push(next).unwrap());
    assert_eq!(a.snapshot(), b.snapshot());
}

#[test]
fn a_snapshot_that_does_not_fit_is_refused_naming_what() {
    let cfg = config(5, no_target(1000), false);
    let mut snapshot = server(cfg.clone()).snapshot();
    snapshot.rmsprop_statistics.pop();
    let err = ParameterServer::restore(cfg.clone(), &snapshot)
        .err()
        .unwrap();
    assert!(err.to_string().contains("RMSProp statistics"), "{err}");
    let mut snapshot = server(cfg.clone()).snapshot();
    snapshot.counters.recent_returns = vec![1.0; 4];
    let err = ParameterServer::restore(cfg, &snapshot).err().unwrap();
    assert!(err.to_string().contains("recent_returns"), "{err}");
}
