//! Whole-network checks: parameter gradients through the loss against finite differences
//! (f64), and the acting path against the training pass.

use super::*;
use crate::loss::{Actions, LossCoefs, Outputs, loss_with_advantages};
use ndarray::{Array2, ArrayD, Ix2};
use pathnet_nn::gradcheck::{Config, check_tensor, random_normal, test_rng};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const COEFS: LossCoefs = LossCoefs {
    value_coef: 0.5,
    entropy_beta: 0.05,
};

fn policy(kind: PolicyKind, activation: Activation, hidden: Vec<usize>) -> PolicyConfig {
    PolicyConfig {
        kind,
        hidden,
        activation: Some(activation),
        lstm_size: (kind == PolicyKind::Lstm).then_some(5),
        conv_channels: (kind == PolicyKind::Conv).then_some(2),
        init_log_std: -0.3,
    }
}

/// Checks every parameter's gradient of the segment loss of `net` on random data.
fn check_network(mut net: ActorCritic<f64>, obs_dim: usize, rng: &mut ChaCha8Rng) {
    use rand::Rng;
    // Biases start at zero, so an observation that silences every unit of a ReLU layer would
    // put the next layer exactly on its kinks; jittering every parameter keeps the probe off them.
    for mut param in net.params_mut() {
        let jitter = random_normal(param.shape(), rng) * 0.1;
        param += &jitter;
    }
    let steps = 4;
    let obs = random_normal(&[steps, obs_dim], rng)
        .into_dimensionality::<Ix2>()
        .unwrap();
    let returns = random_normal(&[steps], rng).into_dimensionality().unwrap();
    let width = net.head().width();
    let discrete: Vec<usize> = (0..steps).map(|_| rng.random_range(0..width)).collect();
    let continuous: Array2<f64> = random_normal(&[steps, width], rng)
        .into_dimensionality()
        .unwrap();
    let start = net.memory().state().map(|s| RecurrentState {
        h: random_normal(s.h.shape(), rng)
            .into_dimensionality()
            .unwrap()
            * 0.5,
        c: random_normal(s.c.shape(), rng)
            .into_dimensionality()
            .unwrap(),
    });
    let actions = match net.head() {
        ActionHead::Categorical { .. } => Actions::Discrete(&discrete),
        ActionHead::Gaussian { .. } => Actions::Continuous(continuous.view()),
    };
    // The advantages are constants of the loss; freeze them at the unperturbed values.
    let base = net.forward_segment(obs.view(), start.as_ref());
    let advantages = (&returns - &base.values).to_vec();
    let loss = |net: &ActorCritic<f64>| {
        let pass = net.forward_segment(obs.view(), start.as_ref());
        let outputs = Outputs {
            head: pass.head.view(),
            log_std: net.log_std().map(|s| s.view()),
            values: pass.values.view(),
        };
        loss_with_advantages(outputs, actions, returns.view(), &advantages, COEFS)
            .0
            .total()
    };
    let (_, grads) = net.loss_and_grads(obs.view(), start.as_ref(), actions, returns.view(), COEFS);
    let names = net.param_names();
    assert_eq!(grads.len(), names.len());
    let cfg = Config::default();
    for (i, (grad, name)) in grads.iter().zip(&names).enumerate() {
        let original = net.params()[i].to_owned();
        let report = check_tensor(
            name,
            &original,
            grad,
            |p: &ArrayD<f64>| {
                net.params_mut()[i].assign(p);
                loss(&net)
            },
            &cfg,
        );
        net.params_mut()[i].assign(&original);
        report.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn mlp_gradients_through_the_loss() {
    let (_, mut rng) = test_rng();
    for (activation, head) in [
        (Activation::Tanh, ActionHead::Categorical { actions: 3 }),
        (Activation::Relu, ActionHead::Gaussian { dim: 2 }),
    ] {
        let config = policy(PolicyKind::Mlp, activation, vec![6, 5]);
        let net = ActorCritic::new(&config, 4, head, &mut rng).unwrap();
        check_network(net, 4, &mut rng);
    }
}

#[test]
fn lstm_gradients_through_the_loss() {
    let (_, mut rng) = test_rng();
    for (hidden, head) in [
        (vec![6], ActionHead::Categorical { actions: 2 }),
        (vec![], ActionHead::Gaussian { dim: 1 }),
    ] {
        let config = policy(PolicyKind::Lstm, Activation::Tanh, hidden);
        let net = ActorCritic::new(&config, 3, head, &mut rng).unwrap();
        check_network(net, 3, &mut rng);
    }
}

#[test]
fn conv_gradients_through_the_loss() {
    let (_, mut rng) = test_rng();
    let config = policy(PolicyKind::Conv, Activation::Tanh, vec![4]);
    let net = ActorCritic::new(
        &config,
        200,
        ActionHead::Categorical { actions: 3 },
        &mut rng,
    )
    .unwrap();
    check_network(net, 200, &mut rng);
}

#[test]
fn acting_matches_the_training_pass() {
    let (_, mut rng) = test_rng();
    let cases = [
        (policy(PolicyKind::Mlp, Activation::Relu, vec![8, 8]), 4),
        (policy(PolicyKind::Lstm, Activation::Tanh, vec![8]), 4),
        (policy(PolicyKind::Conv, Activation::Relu, vec![8]), 300),
    ];
    for (config, obs_dim) in cases {
        let head = ActionHead::Categorical { actions: 3 };
        let net = ActorCritic::<f64>::new(&config, obs_dim, head, &mut rng).unwrap();
        let obs: Array2<f64> = random_normal(&[5, obs_dim], &mut rng)
            .into_dimensionality()
            .unwrap();
        let pass = net.forward_segment(obs.view(), None);
        let mut memory = net.memory();
        for (t, row) in obs.outer_iter().enumerate() {
            let row = row.to_vec();
            let peek = net.peek_value(&row, &mut memory);
            let (head, value) = net.act(&row, &mut memory);
            assert!(
                (value - pass.values[t]).abs() < 1e-12,
                "{:?} step {t}",
                config.kind
            );
            assert!(
                (peek - value).abs() < 1e-12,
                "peeking must not advance the state"
            );
            for (a, b) in head.iter().zip(pass.head.row(t)) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{:?} step {t}: {a} vs {b}",
                    config.kind
                );
            }
        }
        // The state after the segment starts the next one; a reset returns to zero.
        let resumed = net.forward_segment(obs.view(), memory.state());
        memory.reset();
        let fresh = net.forward_segment(obs.view(), memory.state());
        assert_eq!(fresh.values, pass.values);
        if net.is_recurrent() {
            assert_ne!(resumed.values, pass.values);
        }
    }
}

#[test]
fn names_shapes_and_seeded_init() {
    let config = policy(PolicyKind::Lstm, Activation::Relu, vec![7]);
    let head = ActionHead::Gaussian { dim: 2 };
    let build = |seed| {
        ActorCritic::<f32>::new(&config, 3, head, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
    };
    let net = build(1);
    assert_eq!(
        net.param_names(),
        [
            "dense.0.weight",
            "dense.0.bias",
            "lstm.w_x",
            "lstm.w_h",
            "lstm.bias",
            "policy.weight",
            "policy.bias",
            "value.weight",
            "value.bias",
            "log_std"
        ]
    );
    assert_eq!(net.param_shapes()[2], vec![7, 20]);
    assert_eq!(net.param_shapes()[9], vec![2]);
    assert_eq!(net.log_std().unwrap().to_vec(), vec![-0.3f32; 2]);
    let same: Vec<_> = build(1).params().iter().map(|p| p.to_owned()).collect();
    let other: Vec<_> = build(2).params().iter().map(|p| p.to_owned()).collect();
    let first: Vec<_> = net.params().iter().map(|p| p.to_owned()).collect();
    assert_eq!(first, same);
    assert_ne!(first, other);
}

#[test]
fn conv_needs_grid_observations() {
    let config = policy(PolicyKind::Conv, Activation::Relu, vec![]);
    let head = ActionHead::Categorical { actions: 2 };
    let err = ActorCritic::<f32>::new(&config, 150, head, &mut ChaCha8Rng::seed_from_u64(0))
        .err()
        .expect("150 values are not a 10x10xC grid");
    assert!(err.to_string().contains("150"), "{err}");
}
