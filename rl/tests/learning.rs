//! A3C learns: one worker, a fixed seed, a budget of environment steps (never wall time).
//! The hyperparameters are the tuned ones documented in `docs/a3c.md`.

mod common;

use common::mean;
use pathnet_rl::{A3cConfig, RunReport, StopReason, run_local};

fn parse(text: &str) -> A3cConfig {
    let config: A3cConfig = toml::from_str(text).expect("valid [a3c] table");
    config.validate().expect("valid settings");
    config
}

/// Mean returns of the first and of the last `n` episodes of the one worker.
fn first_and_last(report: &RunReport, n: usize) -> (f64, f64) {
    let returns = &report.workers[0].episode_returns;
    assert!(returns.len() >= 2 * n, "only {} episodes", returns.len());
    (mean(&returns[..n]), mean(&returns[returns.len() - n..]))
}

#[test]
fn mlp_solves_cartpole() {
    let config = parse(
        r#"
        env = "CartPole-v1"
        t_max = 5
        learning_rate = 0.005
        entropy_beta = 0.01
        policy = { kind = "mlp", hidden = [128], activation = "tanh" }
        stop = { target_return = 475.0, window = 100, max_env_steps = 300000 }
        "#,
    );
    let report = run_local(&config, 1, 1).unwrap();
    eprintln!("CartPole: {:?}", report.stats);
    assert_eq!(
        report.stop,
        Some(StopReason::TargetReturn),
        "{:?}",
        report.stats
    );
    assert!(report.stats.mean_return.unwrap() >= 475.0);
    assert!(report.stats.env_steps < 300_000);
}

#[test]
fn gaussian_policy_improves_on_pendulum() {
    let config = parse(
        r#"
        env = "Pendulum-v1"
        t_max = 5
        gamma = 0.9
        learning_rate = 0.002
        entropy_beta = 0.001
        reward_scale = 0.2
        policy = { kind = "mlp", hidden = [64] }
        stop = { window = 20, max_env_steps = 300000 }
        "#,
    );
    let report = run_local(&config, 1, 1).unwrap();
    let (first, last) = first_and_last(&report, 20);
    eprintln!("Pendulum: first 20 episodes {first:.1}, last 20 {last:.1}");
    // A random policy scores about -1200; the swing-up needs a learnt policy.
    assert!(first < -1000.0, "first episodes {first}");
    assert!(last > -800.0, "last episodes {last}");
}

#[test]
fn lstm_policy_improves_on_cartpole() {
    let config = parse(
        r#"
        env = "CartPole-v1"
        t_max = 10
        learning_rate = 0.005
        policy = { kind = "lstm", hidden = [64], lstm_size = 32 }
        stop = { window = 20, max_env_steps = 60000 }
        "#,
    );
    let report = run_local(&config, 1, 1).unwrap();
    let (first, last) = first_and_last(&report, 20);
    eprintln!("CartPole LSTM: first 20 episodes {first:.1}, last 20 {last:.1}");
    assert!(first < 50.0, "first episodes {first}");
    assert!(last > 150.0, "last episodes {last}");
}

#[test]
fn conv_policy_learns_breakout() {
    let config = parse(
        r#"
        env = "MinAtar/Breakout-v1"
        t_max = 20
        learning_rate = 0.01
        policy = { kind = "conv", hidden = [32], conv_channels = 8 }
        stop = { window = 50, max_env_steps = 40000 }
        "#,
    );
    let report = run_local(&config, 1, 1).unwrap();
    let (first, last) = first_and_last(&report, 50);
    eprintln!("Breakout: first 50 episodes {first:.2}, last 50 {last:.2}");
    assert!(
        last > 1.5 && last > 2.0 * first,
        "first {first}, last {last}"
    );
}
