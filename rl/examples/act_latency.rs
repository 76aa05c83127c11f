//! Time of one acting step (forward pass on one observation, no sampling or environment) for
//! the policies of `docs/a3c.md`, and of one segment's training pass.
//!
//! ```sh
//! cargo run --release -p pathnet-rl --example act_latency
//! ```

use ndarray::Array2;
use pathnet_rl::{A3cConfig, Actions, LossCoefs, PolicyKind, initial_policy};
use std::hint::black_box;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cases = [
        ("CartPole-v1", PolicyKind::Mlp, vec![128], 5),
        ("CartPole-v1", PolicyKind::Lstm, vec![64], 10),
        ("MinAtar/Breakout-v1", PolicyKind::Conv, vec![128], 20),
    ];
    for (env, kind, hidden, t_max) in cases {
        let mut config = A3cConfig::new(env);
        config.policy.kind = kind;
        config.policy.hidden = hidden;
        let policy = initial_policy(&config, 0)?;
        let obs = vec![0.1f32; policy.obs_dim()];
        let mut memory = policy.memory();
        let reps = 200_000 / policy.obs_dim().min(100);
        let started = Instant::now();
        for _ in 0..reps {
            black_box(policy.act(black_box(&obs), &mut memory));
        }
        let act_ns = started.elapsed().as_nanos() as f64 / reps as f64;

        let batch = Array2::from_elem((t_max, policy.obs_dim()), 0.1f32);
        let actions = vec![0usize; t_max];
        let returns = ndarray::Array1::from_elem(t_max, 1.0f32);
        let coefs = LossCoefs {
            value_coef: 0.5,
            entropy_beta: 0.01,
        };
        let reps = reps / 50;
        let started = Instant::now();
        for _ in 0..reps {
            black_box(policy.loss_and_grads(
                batch.view(),
                memory.state(),
                Actions::Discrete(&actions),
                returns.view(),
                coefs,
            ));
        }
        let train_us = started.elapsed().as_secs_f64() * 1e6 / reps as f64;
        let params: usize = policy.params().iter().map(|p| p.len()).sum();
        println!(
            "{env:20} {kind:?}: {params} parameters, act {act_ns:.0} ns, \
             training pass over {t_max} steps {train_us:.1} us"
        );
    }
    Ok(())
}
