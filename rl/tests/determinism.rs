//! Same seed, same run: with one worker a run is bit-identical; several workers run Hogwild
//! and keep exact counters.

use pathnet_rl::{A3cConfig, StopReason, run_local};

fn config(env: &str, steps: u64) -> A3cConfig {
    let mut c = A3cConfig::new(env);
    c.t_max = 5;
    c.learning_rate = 0.005;
    c.stop.max_env_steps = steps;
    c
}

#[test]
fn one_worker_runs_are_bit_identical() {
    for c in [config("CartPole-v1", 20_000), config("Pendulum-v1", 5_000)] {
        let a = run_local(&c, 1, 11).unwrap();
        let b = run_local(&c, 1, 11).unwrap();
        assert_eq!(a, b, "{}", c.env);
        let bits = |r: &pathnet_rl::RunReport| -> Vec<u32> {
            r.parameters
                .iter()
                .flat_map(|t| t.iter().map(|v| v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&a), bits(&b));
        let other = run_local(&c, 1, 12).unwrap();
        assert_ne!(a.parameters, other.parameters, "{}", c.env);
        assert_ne!(
            a.workers[0].episode_returns,
            other.workers[0].episode_returns
        );
    }
}

#[test]
fn several_workers_share_one_server() {
    let mut c = config("CartPole-v1", 30_000);
    c.policy.kind = pathnet_rl::PolicyKind::Lstm;
    c.policy.lstm_size = Some(8);
    c.policy.hidden = vec![16];
    let report = run_local(&c, 3, 5).unwrap();
    assert_eq!(report.stop, Some(StopReason::EnvStepBudget));
    assert_eq!(report.workers.len(), 3);
    let s = &report.stats;
    let sum = |f: fn(&pathnet_rl::WorkerReport) -> u64| report.workers.iter().map(f).sum::<u64>();
    assert_eq!(s.env_steps, sum(|w| w.env_steps));
    assert!(s.env_steps >= 30_000);
    assert_eq!(s.episodes, sum(|w| w.episode_returns.len() as u64));
    assert_eq!(s.updates_applied, sum(|w| w.updates_applied));
    assert_eq!(
        s.updates_applied + s.dropped_stale + s.dropped_after_stop,
        sum(|w| w.segments)
    );
    assert!(report.workers.iter().all(|w| w.segments > 0));
    assert_eq!(report.parameter_names.len(), report.parameters.len());
}

#[test]
fn invalid_configs_are_errors() {
    let mut c = config("CartPole-v1", 100);
    c.gamma = 2.0;
    let e = run_local(&c, 1, 0).unwrap_err().to_string();
    assert!(e.contains("`gamma` = 2"), "{e}");
    let e = run_local(&config("Pong", 100), 1, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`env`") && e.contains("Pong"), "{e}");
    let e = run_local(&config("CartPole-v1", 100), 0, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`workers` = 0"), "{e}");
}
