//! Safe-mutation operators against finite differences of the network outputs (f64, a small tanh
//! MLP so that there are no kinks), plus the floor rules, SM-R's line search and seeding.

use ndarray::{Array2, ArrayD};
use pathnet_nn::gradcheck::{self, rel_error};
use pathnet_nn::safe_mutation::{
    self, Gradient, LineSearch, Perturbation, RescaleConfig, SafeMutationError, hessian_direction,
    scale, sensitivity, sm_g, sm_r, sm_r_search,
};
use pathnet_nn::{Init, Layer, Linear, Sequential, Tanh};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EPS: f64 = 1e-6;

fn mlp<R: Rng>(rng: &mut R) -> Sequential<f64> {
    let mut net = Sequential::default()
        .with(Linear::new(3, 5, Init::XavierNormal, rng))
        .with(Tanh)
        .with(Linear::new(5, 2, Init::XavierNormal, rng))
        .with(Tanh);
    // Non-zero biases, so that no gradient is trivially structured.
    for mut p in net.params_mut() {
        let noise = gradcheck::random_normal(p.shape(), rng);
        p.zip_mut_with(&noise, |w, n| *w += 0.3 * n);
    }
    net
}

fn inputs<R: Rng>(rng: &mut R, batch: usize) -> ArrayD<f64> {
    gradcheck::random_normal(&[batch, 3], rng)
}

fn nudge(net: &mut Sequential<f64>, tensor: usize, index: usize, by: f64) {
    *net.params_mut()[tensor].iter_mut().nth(index).unwrap() += by;
}

/// `dy_tk/dw` for every weight by central differences, as `[tensor][element]` of a
/// `[batch, outputs]` matrix.
fn numeric_jacobian(net: &mut Sequential<f64>, x: &ArrayD<f64>) -> Vec<Vec<Array2<f64>>> {
    let lens: Vec<usize> = net.params().iter().map(|p| p.len()).collect();
    let mut out = Vec::new();
    for (tensor, &len) in lens.iter().enumerate() {
        let mut per_weight = Vec::new();
        for index in 0..len {
            nudge(net, tensor, index, EPS);
            let plus = net.forward(x.view()).output;
            nudge(net, tensor, index, -2.0 * EPS);
            let minus = net.forward(x.view()).output;
            nudge(net, tensor, index, EPS);
            let d = (plus - minus) / (2.0 * EPS);
            per_weight.push(d.into_dimensionality().unwrap());
        }
        out.push(per_weight);
    }
    out
}

/// Relative comparison; entries below a thousandth of the largest are compared absolutely, since
/// their finite differences are dominated by truncation and round-off.
fn assert_close(what: &str, seed: u64, analytic: &[Vec<f64>], numeric: &[Vec<f64>], tol: f64) {
    let floor = 1e-3 * numeric.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_eq!(analytic.len(), numeric.len());
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert_eq!(a.len(), n.len());
        for (j, (&a, &n)) in a.iter().zip(n).enumerate() {
            let rel = rel_error(a, n, floor);
            assert!(
                rel < tol,
                "seed {seed}: {what} tensor {i} element {j}: analytic {a:e} numeric {n:e}"
            );
        }
    }
}

fn zeros_like(net: &Sequential<f64>) -> Vec<Vec<f64>> {
    net.params().iter().map(|p| vec![0.0; p.len()]).collect()
}

#[test]
fn sm_g_sum_matches_finite_differences() {
    let (seed, mut rng) = gradcheck::test_rng();
    let mut net = mlp(&mut rng);
    let x = inputs(&mut rng, 6);
    let analytic = sensitivity(&net, x.view(), Gradient::Sum, &zeros_like(&net)).unwrap();
    let numeric: Vec<Vec<f64>> = numeric_jacobian(&mut net, &x)
        .iter()
        .map(|t| {
            t.iter()
                .map(|j| j.sum_axis(ndarray::Axis(0)).mapv(|g| g * g).sum().sqrt())
                .collect()
        })
        .collect();
    assert_close("sm-g-sum", seed, &analytic, &numeric, 1e-5);
}

#[test]
fn sm_g_abs_matches_finite_differences() {
    let (seed, mut rng) = gradcheck::test_rng();
    let mut net = mlp(&mut rng);
    let x = inputs(&mut rng, 6);
    let analytic = sensitivity(&net, x.view(), Gradient::Abs, &zeros_like(&net)).unwrap();
    let numeric: Vec<Vec<f64>> = numeric_jacobian(&mut net, &x)
        .iter()
        .map(|t| {
            t.iter()
                .map(|j| {
                    let mean_abs = j.mapv(f64::abs).mean_axis(ndarray::Axis(0)).unwrap();
                    mean_abs.mapv(|g| g * g).sum().sqrt()
                })
                .collect()
        })
        .collect();
    assert_close("sm-g-abs", seed, &analytic, &numeric, 1e-5);
    // Cancellation across examples can only lower SUM (divided by the batch) below ABS.
    let sum = sensitivity(&net, x.view(), Gradient::Sum, &zeros_like(&net)).unwrap();
    for (s, a) in sum.iter().flatten().zip(analytic.iter().flatten()) {
        assert!(s / 6.0 <= a + 1e-12, "seed {seed}: sum/T {s} > abs {a}");
    }
}

/// `D(w') = mean_t sum_k (y(w') - y(w))^2`, the divergence SM-G-SO differentiates twice.
fn divergence_d(net: &Sequential<f64>, x: &ArrayD<f64>, reference: &ArrayD<f64>) -> f64 {
    let y = net.forward(x.view()).output;
    (y - reference).mapv(|v| v * v).sum() / x.shape()[0] as f64
}

#[test]
fn sm_g_so_hessian_direction_matches_finite_differences() {
    let (seed, mut rng) = gradcheck::test_rng();
    let mut net = mlp(&mut rng);
    let x = inputs(&mut rng, 5);
    let reference = net.forward(x.view()).output;
    let raw = safe_mutation::gaussian(&net, 1.0, &mut rng).unwrap();
    let d: Vec<Vec<f64>> = {
        let n = raw.norm();
        raw.deltas
            .iter()
            .map(|t| t.iter().map(|v| v / n).collect())
            .collect()
    };
    let hd = hessian_direction(&net, x.view(), &d).unwrap();

    // Mixed second differences of D alone (no backward pass), which include the
    // second-derivative-of-y terms that the Gauss-Newton form drops: they must vanish at w.
    let h = 1e-4;
    let unit = Perturbation { deltas: d.clone() };
    let mut numeric = zeros_like(&net);
    for (tensor, row) in numeric.iter_mut().enumerate() {
        for (index, value) in row.iter_mut().enumerate() {
            let mut at = |sd: f64, si: f64| {
                unit.apply_scaled(&mut net, sd * h).unwrap();
                nudge(&mut net, tensor, index, si * h);
                let v = divergence_d(&net, &x, &reference);
                nudge(&mut net, tensor, index, -si * h);
                unit.apply_scaled(&mut net, -sd * h).unwrap();
                v
            };
            *value =
                (at(1.0, 1.0) - at(1.0, -1.0) - at(-1.0, 1.0) + at(-1.0, -1.0)) / (4.0 * h * h);
        }
    }
    assert_close("sm-g-so H d", seed, &hd, &numeric, 1e-4);

    let s = sensitivity(&net, x.view(), Gradient::SecondOrder, &raw.deltas).unwrap();
    for (s, hd) in s.iter().flatten().zip(hd.iter().flatten()) {
        assert!((s - hd.abs().sqrt()).abs() < 1e-12, "seed {seed}");
    }
}

#[test]
fn scaling_floors_and_zero_rule() {
    let delta = vec![vec![1.0, 1.0, 1.0, 2.0, -3.0]];
    let s = vec![vec![0.0, 0.001, 0.5, 4.0, 0.01]];
    assert_eq!(
        scale(&delta, &s).unwrap(),
        vec![vec![1.0, 100.0, 2.0, 0.5, -300.0]]
    );
    let err = scale(&delta, &[vec![1.0; 4]]).unwrap_err();
    assert_eq!(
        err,
        SafeMutationError::TensorLen {
            index: 0,
            expected: 4,
            got: 5
        }
    );
}

#[test]
fn sm_g_is_gaussian_divided_by_sensitivity() {
    let mut net = mlp(&mut ChaCha8Rng::seed_from_u64(3));
    let x = inputs(&mut ChaCha8Rng::seed_from_u64(4), 4);
    for gradient in [Gradient::Sum, Gradient::Abs, Gradient::SecondOrder] {
        let got = sm_g(
            &net,
            x.view(),
            gradient,
            0.1,
            &mut ChaCha8Rng::seed_from_u64(9),
        )
        .unwrap();
        let raw = safe_mutation::gaussian(&net, 0.1, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
        let s = sensitivity(&net, x.view(), gradient, &raw.deltas).unwrap();
        assert_eq!(got.deltas, scale(&raw.deltas, &s).unwrap(), "{gradient:?}");

        let before: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
        got.apply(&mut net).unwrap();
        let after: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
        let expected: Vec<f64> = before
            .iter()
            .zip(got.deltas.iter().flatten())
            .map(|(w, d)| w + d)
            .collect();
        assert_eq!(after, expected);
    }
}

#[test]
fn same_seed_same_mutation() {
    let net = mlp(&mut ChaCha8Rng::seed_from_u64(1));
    let x = inputs(&mut ChaCha8Rng::seed_from_u64(2), 8);
    for gradient in [Gradient::Sum, Gradient::Abs, Gradient::SecondOrder] {
        let draw = |seed| {
            sm_g(
                &net,
                x.view(),
                gradient,
                0.05,
                &mut ChaCha8Rng::seed_from_u64(seed),
            )
        };
        assert_eq!(draw(7).unwrap(), draw(7).unwrap());
        assert_ne!(draw(7).unwrap(), draw(8).unwrap());
    }
    let mut net = net;
    let cfg = RescaleConfig::new(1e-3);
    let mut draw = |seed| {
        sm_r(
            &mut net,
            x.view(),
            &cfg,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
    };
    let a = draw(7).unwrap();
    assert_eq!(a, draw(7).unwrap());
    assert_ne!(a, draw(8).unwrap());
}

#[test]
fn sm_r_lands_within_tolerance_and_restores_the_network() {
    let (seed, mut rng) = gradcheck::test_rng();
    let mut net = mlp(&mut rng);
    let x = inputs(&mut rng, 10);
    let reference = net.forward(x.view()).output;
    let original: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    for target in [1e-6, 1e-3, 0.1] {
        let cfg = RescaleConfig {
            tolerance: 1e-3,
            ..RescaleConfig::new(target)
        };
        let got =
            sm_r(&mut net, x.view(), &cfg, &mut rng).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let now: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
        assert_eq!(now, original, "seed {seed}: sm_r left the network changed");
        assert!((got.perturbation.norm() - got.step).abs() < 1e-9 * got.step.max(1.0));

        got.perturbation.apply(&mut net).unwrap();
        let reached = safe_mutation::divergence(&net, x.view(), &reference);
        assert!(
            (reached - target).abs() <= 1e-3 * target,
            "seed {seed}: target {target:e}, reached {reached:e}"
        );
        assert_eq!(reached, got.divergence);
        // Undone by copying back rather than subtracting, which would leave round-off behind.
        let mut flat = original.iter();
        for mut p in net.params_mut() {
            p.iter_mut().for_each(|w| *w = *flat.next().unwrap());
        }
    }
}

#[test]
fn sm_r_reports_an_unreachable_target() {
    let mut net = mlp(&mut ChaCha8Rng::seed_from_u64(5));
    let x = inputs(&mut ChaCha8Rng::seed_from_u64(6), 4);
    let original: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    // A tanh output moves by at most 2, so the mean squared change stays below 4.
    let err = sm_r(
        &mut net,
        x.view(),
        &RescaleConfig::new(5.0),
        &mut ChaCha8Rng::seed_from_u64(0),
    )
    .unwrap_err();
    assert!(
        matches!(err, SafeMutationError::TargetUnreachable { target, reached } if target == 5.0 && reached <= 4.0),
        "{err}"
    );
    let now: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    assert_eq!(now, original);
}

#[test]
fn sm_r_search_gives_the_closest_step_when_it_gives_up() {
    let mut net = mlp(&mut ChaCha8Rng::seed_from_u64(5));
    let x = inputs(&mut ChaCha8Rng::seed_from_u64(6), 4);
    let reference = net.forward(x.view()).output;
    let original: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    let cfg = RescaleConfig::new(5.0);
    let search = sm_r_search(&mut net, x.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let LineSearch::GaveUp {
        closest: Some(closest),
        reason,
    } = search
    else {
        panic!("an unreachable target must give up with a closest step: {search:?}");
    };
    // The same draw as sm_r's, and the same reason it fails with.
    let err = sm_r(&mut net, x.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
    assert_eq!(reason, err);
    let SafeMutationError::TargetUnreachable { reached, .. } = reason else {
        panic!("{reason}");
    };
    // The divergence can only saturate below 4, so the closest step is the largest divergence.
    assert_eq!(closest.divergence, reached);
    assert!(closest.step > 1.0 && closest.divergence > 0.0);
    assert!((closest.perturbation.norm() - closest.step).abs() < 1e-9 * closest.step);
    let now: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    assert_eq!(now, original, "the search must restore the network");
    closest.perturbation.apply(&mut net).unwrap();
    assert_eq!(
        safe_mutation::divergence(&net, x.view(), &reference),
        closest.divergence
    );

    // A reachable target is a hit, identical to sm_r's answer.
    let mut net = mlp(&mut ChaCha8Rng::seed_from_u64(5));
    let cfg = RescaleConfig::new(1e-3);
    let hit = sm_r_search(&mut net, x.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    let plain = sm_r(&mut net, x.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    assert_eq!(hit, LineSearch::Hit(plain));
}

#[test]
fn sm_r_search_reports_no_convergence_with_the_closest_step() {
    let mut net = mlp(&mut ChaCha8Rng::seed_from_u64(5));
    let x = inputs(&mut ChaCha8Rng::seed_from_u64(6), 4);
    // A tolerance no f64 bisection meets in two steps.
    let cfg = RescaleConfig {
        tolerance: 1e-12,
        max_steps: 2,
        ..RescaleConfig::new(1e-3)
    };
    let search = sm_r_search(&mut net, x.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let LineSearch::GaveUp {
        closest: Some(closest),
        reason: SafeMutationError::NoConvergence { achieved, .. },
    } = search
    else {
        panic!("expected no convergence: {search:?}");
    };
    assert_eq!(closest.divergence, achieved);
    // Bracketing by 4 and two bisections leave the step within a factor 4^(1/4) of the
    // target's, so the divergence (about quadratic in the step here) within a factor 2.
    assert!((0.5e-3..=2e-3).contains(&closest.divergence), "{closest:?}");
}

#[test]
fn clipping_bounds_every_change_and_keeps_the_small_ones() {
    let net = mlp(&mut ChaCha8Rng::seed_from_u64(5));
    let raw = safe_mutation::gaussian(&net, 1.0, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
    let mut clipped = raw.clone();
    clipped.clip(0.2);
    let mut hits = 0;
    for (r, c) in raw
        .deltas
        .iter()
        .flatten()
        .zip(clipped.deltas.iter().flatten())
    {
        assert!(c.abs() <= 0.2, "{c}");
        if r.abs() <= 0.2 {
            assert_eq!(r.to_bits(), c.to_bits());
        } else {
            assert_eq!(*c, 0.2 * r.signum());
            hits += 1;
        }
    }
    assert!(hits > 0, "sigma 1 must exceed 0.2 somewhere");
}

#[test]
fn bad_arguments_are_errors() {
    let mut net = mlp(&mut ChaCha8Rng::seed_from_u64(5));
    let rng = &mut ChaCha8Rng::seed_from_u64(0);
    let err = safe_mutation::gaussian(&net, -0.1, rng).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sigma must be finite and positive, got -0.1"
    );
    let err = sm_r(
        &mut net,
        inputs(rng, 2).view(),
        &RescaleConfig::new(f64::NAN),
        rng,
    );
    assert!(err.unwrap_err().to_string().contains("target"));

    let empty = ArrayD::<f64>::zeros(vec![0, 3]);
    let err = sm_g(&net, empty.view(), Gradient::Abs, 0.1, rng).unwrap_err();
    assert_eq!(err, SafeMutationError::NoInputs);

    let before: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    let mut wrong = safe_mutation::gaussian(&net, 0.1, rng).unwrap();
    wrong.deltas[2].pop();
    let err = wrong.apply(&mut net).unwrap_err();
    assert_eq!(
        err,
        SafeMutationError::TensorLen {
            index: 2,
            expected: 10,
            got: 9
        }
    );
    wrong.deltas.pop();
    assert!(matches!(
        wrong.apply(&mut net),
        Err(SafeMutationError::TensorCount {
            expected: 4,
            got: 3
        })
    ));
    let after: Vec<f64> = net.params().iter().flat_map(|p| p.to_owned()).collect();
    assert_eq!(before, after);
}
