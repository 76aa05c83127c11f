//! Finite-difference checks (in f64) of every loss term and of the total, for both heads.

use super::*;
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use pathnet_nn::gradcheck::{Config, check_tensor, random_normal, test_rng};
use pathnet_nn::layers::log_softmax;
use rand::Rng;

const COEFS: LossCoefs = LossCoefs {
    value_coef: 0.7,
    entropy_beta: 0.3,
};

fn cfg() -> Config {
    Config::default()
}

fn d2(a: &ArrayD<f64>) -> Array2<f64> {
    a.clone().into_dimensionality::<Ix2>().unwrap()
}

fn d1(a: &ArrayD<f64>) -> Array1<f64> {
    a.clone().into_dimensionality::<Ix1>().unwrap()
}

struct Case {
    head: Array2<f64>,
    log_std: Array1<f64>,
    values: Array1<f64>,
    returns: Array1<f64>,
    discrete: Vec<usize>,
    continuous: Array2<f64>,
}

fn case(steps: usize, width: usize, rng: &mut impl Rng) -> Case {
    let mut normal = |shape: &[usize]| random_normal(shape, rng);
    let (head, values, returns) = (normal(&[steps, width]), normal(&[steps]), normal(&[steps]));
    let (log_std, continuous) = (normal(&[width]), normal(&[steps, width]));
    Case {
        head: d2(&head),
        log_std: d1(&log_std) * 0.5,
        values: d1(&values),
        returns: d1(&returns) * 3.0,
        discrete: (0..steps).map(|_| rng.random_range(0..width)).collect(),
        continuous: d2(&continuous) * 2.0,
    }
}

fn advantages(c: &Case) -> Vec<f64> {
    (&c.returns - &c.values).to_vec()
}

#[test]
fn value_term_gradient() {
    let (_, mut rng) = test_rng();
    let c = case(6, 3, &mut rng);
    let mut d = Array1::zeros(6);
    value_term(c.values.view(), c.returns.view(), 0.7, &mut d);
    let f =
        |v: &ArrayD<f64>| value_term(d1(v).view(), c.returns.view(), 0.7, &mut Array1::zeros(6));
    check_tensor(
        "value",
        &c.values.clone().into_dyn(),
        &d.into_dyn(),
        f,
        &cfg(),
    )
    .unwrap();
}

#[test]
fn categorical_policy_and_entropy_term_gradients() {
    let (_, mut rng) = test_rng();
    let c = case(5, 4, &mut rng);
    let adv = advantages(&c);
    let policy = |z: &ArrayD<f64>, d: &mut Array2<f64>| {
        categorical::policy_term(&log_softmax(d2(z).view()), &c.discrete, &adv, d)
    };
    let entropy = |z: &ArrayD<f64>, d: &mut Array2<f64>| {
        -0.3 * categorical::entropy_term(&log_softmax(d2(z).view()), 0.3, d)
    };
    let z = c.head.clone().into_dyn();
    for (name, term) in [
        (
            "policy",
            &policy as &dyn Fn(&ArrayD<f64>, &mut Array2<f64>) -> f64,
        ),
        ("entropy", &entropy),
    ] {
        let mut d = Array2::zeros(c.head.raw_dim());
        term(&z, &mut d);
        let f = |z: &ArrayD<f64>| term(z, &mut Array2::zeros(c.head.raw_dim()));
        check_tensor(name, &z, &d.into_dyn(), f, &cfg()).unwrap();
    }
}

#[test]
fn gaussian_policy_and_entropy_term_gradients() {
    let (_, mut rng) = test_rng();
    let c = case(5, 2, &mut rng);
    let adv = advantages(&c);
    let policy = |mean: &Array2<f64>, s: &Array1<f64>| {
        let (mut dm, mut ds) = (Array2::zeros(mean.raw_dim()), Array1::zeros(s.len()));
        let v = gaussian::policy_term(
            mean.view(),
            s.view(),
            c.continuous.view(),
            &adv,
            &mut dm,
            &mut ds,
        );
        (v, dm, ds)
    };
    let (_, dm, ds) = policy(&c.head, &c.log_std);
    let f = |m: &ArrayD<f64>| policy(&d2(m), &c.log_std).0;
    check_tensor(
        "gauss mean",
        &c.head.clone().into_dyn(),
        &dm.into_dyn(),
        f,
        &cfg(),
    )
    .unwrap();
    let f = |s: &ArrayD<f64>| policy(&c.head, &d1(s)).0;
    check_tensor(
        "gauss log_std",
        &c.log_std.clone().into_dyn(),
        &ds.into_dyn(),
        f,
        &cfg(),
    )
    .unwrap();

    let entropy =
        |s: &Array1<f64>, d: &mut Array1<f64>| -0.3 * gaussian::entropy_term(s.view(), 5, 0.3, d);
    let mut ds = Array1::zeros(2);
    entropy(&c.log_std, &mut ds);
    let f = |s: &ArrayD<f64>| entropy(&d1(s), &mut Array1::zeros(2));
    check_tensor(
        "gauss entropy",
        &c.log_std.clone().into_dyn(),
        &ds.into_dyn(),
        f,
        &cfg(),
    )
    .unwrap();
}

/// The total with the advantages frozen at `adv`, as the loss treats them.
fn frozen_total(
    c: &Case,
    head: &Array2<f64>,
    s: &Array1<f64>,
    v: &Array1<f64>,
    adv: &[f64],
    discrete: bool,
) -> f64 {
    let actions = if discrete {
        Actions::Discrete(&c.discrete)
    } else {
        Actions::Continuous(c.continuous.view())
    };
    let outputs = Outputs {
        head: head.view(),
        log_std: (!discrete).then(|| s.view()),
        values: v.view(),
    };
    loss_with_advantages(outputs, actions, c.returns.view(), adv, COEFS)
        .0
        .total()
}

fn check_total(discrete: bool) {
    let (_, mut rng) = test_rng();
    let c = case(7, 3, &mut rng);
    let adv = advantages(&c);
    let actions = if discrete {
        Actions::Discrete(&c.discrete)
    } else {
        Actions::Continuous(c.continuous.view())
    };
    let outputs = Outputs {
        head: c.head.view(),
        log_std: (!discrete).then(|| c.log_std.view()),
        values: c.values.view(),
    };
    let (parts, grads) = actor_critic_loss(outputs, actions, c.returns.view(), COEFS);
    let terms = parts.policy + parts.value + parts.entropy;
    assert!((parts.total() - terms).abs() < 1e-12 && parts.entropy < 0.0);

    let f = |h: &ArrayD<f64>| frozen_total(&c, &d2(h), &c.log_std, &c.values, &adv, discrete);
    check_tensor(
        "total head",
        &c.head.clone().into_dyn(),
        &grads.head.into_dyn(),
        f,
        &cfg(),
    )
    .unwrap();
    let f = |v: &ArrayD<f64>| frozen_total(&c, &c.head, &c.log_std, &d1(v), &adv, discrete);
    check_tensor(
        "total values",
        &c.values.clone().into_dyn(),
        &grads.values.into_dyn(),
        f,
        &cfg(),
    )
    .unwrap();
    if discrete {
        assert!(grads.log_std.is_none());
    } else {
        let f = |s: &ArrayD<f64>| frozen_total(&c, &c.head, &d1(s), &c.values, &adv, discrete);
        let ds = grads.log_std.expect("Gaussian head has a log_std gradient");
        check_tensor(
            "total log_std",
            &c.log_std.clone().into_dyn(),
            &ds.into_dyn(),
            f,
            &cfg(),
        )
        .unwrap();
    }
}

#[test]
fn categorical_total_gradient() {
    check_total(true);
}

#[test]
fn gaussian_total_gradient() {
    check_total(false);
}

#[test]
fn parts_by_hand() {
    // Uniform logits over 4 actions: log π = −ln 4, H = ln 4.
    let head = Array2::<f64>::zeros((2, 4));
    let values = Array1::from(vec![1.0, 0.0]);
    let returns = Array1::from(vec![3.0, -1.0]);
    let outputs = Outputs {
        head: head.view(),
        log_std: None,
        values: values.view(),
    };
    let (parts, grads) =
        actor_critic_loss(outputs, Actions::Discrete(&[0, 3]), returns.view(), COEFS);
    let ln4 = 4f64.ln();
    // Advantages 2 and −1: policy = −(2·(−ln4) + (−1)·(−ln4)) = ln 4.
    assert!((parts.policy - ln4).abs() < 1e-12);
    // 0.7 · ½ (2² + 1²) = 1.75
    assert!((parts.value - 1.75).abs() < 1e-12);
    assert!((parts.entropy + 0.3 * 2.0 * ln4).abs() < 1e-12);
    assert!((parts.mean_entropy - ln4).abs() < 1e-12);
    // d/dV = 0.7 (V − R)
    assert!((grads.values[0] + 1.4).abs() < 1e-12 && (grads.values[1] - 0.7).abs() < 1e-12);
    // At the uniform policy the entropy gradient vanishes; −A (1[k=a] − ¼) remains.
    assert!((grads.head[(0, 0)] + 2.0 * 0.75).abs() < 1e-12);
    assert!((grads.head[(0, 1)] - 2.0 * 0.25).abs() < 1e-12);

    // A standard normal in 2 dimensions: H = 1 + ln 2π.
    let (one_value, one_return) = (Array1::from(vec![1.0]), Array1::from(vec![3.0]));
    let mean = Array2::<f64>::zeros((1, 2));
    let log_std = Array1::<f64>::zeros(2);
    let outputs = Outputs {
        head: mean.view(),
        log_std: Some(log_std.view()),
        values: one_value.view(),
    };
    let actions = Array2::<f64>::zeros((1, 2));
    let (parts, _) = actor_critic_loss(
        outputs,
        Actions::Continuous(actions.view()),
        one_return.view(),
        COEFS,
    );
    let h = 1.0 + (2.0 * std::f64::consts::PI).ln();
    assert!((parts.mean_entropy - h).abs() < 1e-12);
    // log π(0) = −ln 2π, advantage 2.
    assert!((parts.policy - 2.0 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
}
