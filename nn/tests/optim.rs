//! Optimiser steps against hand-computed values, shared-statistics behaviour and clipping, and
//! copies into and out of shared tensors.

use ndarray::{ArrayD, arr1};
use pathnet_nn::optim::{OptimError, global_norm};
use pathnet_nn::{
    Adam, AdamConfig, AtomicTensors, Float, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
    clip_grad_norm,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

fn close(got: &ArrayD<f64>, want: &[f64]) {
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12);
    assert!(ok, "got {got}, want {want:?}");
}

fn one(values: &[f64]) -> Vec<ArrayD<f64>> {
    vec![arr1(values).into_dyn()]
}

#[test]
fn sgd_plain_and_momentum() {
    let mut params = one(&[1.0, -2.0]);
    let grads = one(&[0.5, 1.0]);
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        momentum: 0.0,
    })
    .unwrap();
    sgd.step(&mut [params[0].view_mut()], &grads);
    close(&params[0], &[0.95, -2.1]);

    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
    })
    .unwrap();
    params = one(&[1.0, -2.0]);
    sgd.step(&mut [params[0].view_mut()], &grads);
    close(&params[0], &[0.95, -2.1]); // v = g
    sgd.step(&mut [params[0].view_mut()], &grads);
    // v = 0.9·g + g = 1.9·g
    close(&params[0], &[0.95 - 0.1 * 0.95, -2.1 - 0.1 * 1.9]);
}

#[test]
fn rmsprop_a3c_form() {
    let cfg = RmsPropConfig {
        lr: 0.01,
        alpha: 0.99,
        eps: 0.1,
    };
    let mut params = one(&[1.0]);
    let mut opt = RmsProp::new(cfg, &[vec![1]]).unwrap();
    opt.step(&mut [params[0].view_mut()], &one(&[2.0]));
    // g2 = 0.01·4 = 0.04; θ = 1 − 0.01·2/√0.14
    let g2 = 0.04;
    let theta = 1.0 - 0.01 * 2.0 / (g2 + 0.1f64).sqrt();
    close(&params[0], &[theta]);
    opt.step(&mut [params[0].view_mut()], &one(&[-1.0]));
    let g2 = 0.99 * g2 + 0.01;
    close(&params[0], &[theta + 0.01 / (g2 + 0.1f64).sqrt()]);
    close(&opt.statistics().to_arrays()[0], &[g2]);
}

#[test]
fn rmsprop_handles_share_statistics() {
    let cfg = RmsPropConfig {
        lr: 0.01,
        alpha: 0.9,
        eps: 1e-3,
    };
    let a = RmsProp::<f64>::new(cfg, &[vec![2]]).unwrap();
    let b = a.share();
    let shared = AtomicTensors::from_views(&[arr1(&[1.0, 1.0]).into_dyn().view()]);
    a.step_shared(&shared, &one(&[1.0, 0.0]));
    b.step_shared(&shared, &one(&[1.0, 0.0]));
    // Second step sees the first's statistic: 0.1, then 0.9·0.1 + 0.1 = 0.19.
    close(&b.statistics().to_arrays()[0], &[0.19, 0.0]);
    let want = 1.0 - 0.01 / (0.1f64 + 1e-3).sqrt() - 0.01 / (0.19f64 + 1e-3).sqrt();
    close(&shared.to_arrays()[0], &[want, 1.0]);
    assert!(Arc::ptr_eq(a.statistics(), b.statistics()));
}

#[test]
fn rmsprop_shared_leaves_tensors_without_gradient_alone() {
    let cfg = RmsPropConfig {
        lr: 0.01,
        alpha: 0.9,
        eps: 1e-3,
    };
    let opt = RmsProp::<f64>::new(cfg, &[vec![2], vec![2]]).unwrap();
    let shared = AtomicTensors::from_views(&[
        arr1(&[1.0, 1.0]).into_dyn().view(),
        arr1(&[2.0, 2.0]).into_dyn().view(),
    ]);
    let used = arr1(&[1.0, 1.0]).into_dyn();
    opt.step_shared(&shared, &[used.clone(), used.clone()]);
    let before = opt.statistics().to_arrays();
    // The second tensor's module is not on this update's path: all-zero gradient.
    let unused = arr1(&[0.0, 0.0]).into_dyn();
    opt.step_shared(&shared, &[used, unused]);
    let after = opt.statistics().to_arrays();
    close(&after[1], before[1].as_slice().unwrap());
    assert!(
        after[0][0] > before[0][0],
        "the used tensor's statistics still move"
    );
    let p = shared.to_arrays();
    let stepped = 2.0 - 0.01 / (0.1f64 + 1e-3).sqrt();
    close(&p[1], &[stepped, stepped]);
}

/// The A3C RMSProp update written out element by element over plain vectors, in the formula's
/// order of operations; tensors whose gradient is all zero are skipped.
fn rmsprop_reference<F: Float>(
    cfg: &RmsPropConfig,
    params: &mut [Vec<F>],
    square_avg: &mut [Vec<F>],
    grads: &[ArrayD<F>],
) {
    for ((p, s), g) in params.iter_mut().zip(square_avg.iter_mut()).zip(grads) {
        if g.iter().all(|v| *v == F::zero()) {
            continue;
        }
        for ((p, s), &g) in p.iter_mut().zip(s.iter_mut()).zip(g.iter()) {
            let alpha = F::of(cfg.alpha);
            let avg = alpha * *s + (F::one() - alpha) * g * g;
            *s = avg;
            *p -= F::of(cfg.lr) * g / (avg + F::of(cfg.eps)).sqrt();
        }
    }
}

/// Shared steps, local steps and the reference agree bit for bit over several steps, for
/// tensor lengths on both sides of the chunk size, a 2-D tensor whose gradient arrives
/// transposed (not in standard layout), single zero gradient elements (still updated) and a
/// tensor whose gradient is all zero on every other step (left alone then).
fn rmsprop_matches_reference<F: Float>(bits: fn(F) -> u64) {
    let cfg = RmsPropConfig {
        lr: 0.05,
        alpha: 0.9,
        eps: 1e-3,
    };
    let shapes = [
        vec![1],
        vec![63],
        vec![64],
        vec![65],
        vec![1000],
        vec![13, 11],
        vec![130],
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut random = |shape: &[usize]| {
        ArrayD::from_shape_simple_fn(shape, || match rng.random_range(0..10) {
            0 => F::zero(),
            _ => F::of(rng.random_range(-2.0..2.0)),
        })
    };
    let init: Vec<ArrayD<F>> = shapes.iter().map(|s| random(s)).collect();
    let views: Vec<_> = init.iter().map(|a| a.view()).collect();
    let shared = AtomicTensors::from_views(&views);
    let shared_opt = RmsProp::<F>::new(cfg, &shapes).unwrap();
    let mut local = init.clone();
    let mut local_opt = RmsProp::<F>::new(cfg, &shapes).unwrap();
    let mut params: Vec<Vec<F>> = init.iter().map(|a| a.iter().copied().collect()).collect();
    let mut square_avg: Vec<Vec<F>> = init.iter().map(|a| vec![F::zero(); a.len()]).collect();
    let as_bits = |tensors: &[ArrayD<F>]| -> Vec<Vec<u64>> {
        tensors
            .iter()
            .map(|t| t.iter().map(|&v| bits(v)).collect())
            .collect()
    };
    let vec_bits = |tensors: &[Vec<F>]| -> Vec<Vec<u64>> {
        tensors
            .iter()
            .map(|t| t.iter().map(|&v| bits(v)).collect())
            .collect()
    };
    for step in 0..4 {
        let mut grads: Vec<ArrayD<F>> = shapes.iter().map(|s| random(s)).collect();
        let transposed = random(&[11, 13]).reversed_axes();
        assert!(!transposed.is_standard_layout());
        grads[5] = transposed;
        if step % 2 == 1 {
            // Signed zeros count as no gradient too.
            grads[6] = ArrayD::from_shape_fn(vec![130], |i| {
                if i[0] % 2 == 0 { F::zero() } else { -F::zero() }
            });
        }
        rmsprop_reference(&cfg, &mut params, &mut square_avg, &grads);
        shared_opt.step_shared(&shared, &grads);
        let mut views: Vec<_> = local.iter_mut().map(|a| a.view_mut()).collect();
        local_opt.step(&mut views, &grads);

        let want = (vec_bits(&params), vec_bits(&square_avg));
        let got_shared = (
            as_bits(&shared.to_arrays()),
            as_bits(&shared_opt.statistics().to_arrays()),
        );
        assert!(
            got_shared == want,
            "shared step {step} differs from the reference"
        );
        // The local step has no skip: it decays the statistics of the sometimes-unused
        // tensor (the last) too, so it agrees with the reference on the others only.
        let got_local = (
            as_bits(&local),
            as_bits(&local_opt.statistics().to_arrays()),
        );
        assert!(
            got_local.0[..6] == want.0[..6] && got_local.1[..6] == want.1[..6],
            "local step {step} differs from the reference"
        );
    }
    assert_ne!(
        vec_bits(&square_avg)[6],
        vec![0; 130],
        "the sometimes-unused tensor was updated on its used steps"
    );
}

#[test]
fn rmsprop_shared_step_is_bit_identical_to_reference_f32() {
    rmsprop_matches_reference::<f32>(|v| u64::from(v.to_bits()));
}

#[test]
fn rmsprop_shared_step_is_bit_identical_to_reference_f64() {
    rmsprop_matches_reference::<f64>(f64::to_bits);
}

#[test]
fn shared_tensors_copy_in_and_out_in_logical_order() {
    let values = ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (10 * i + j) as f32).into_dyn();
    let shared = AtomicTensors::<f32>::zeros(&[vec![2, 3], vec![2, 3]]);
    // The second source is a transposed view: not contiguous in logical order.
    let transposed_values = values.t().as_standard_layout().into_owned();
    let source = transposed_values.t();
    assert!(source.as_slice().is_none());
    shared.store_from(&[values.view(), source]);
    assert_eq!(shared.to_arrays(), vec![values.clone(), values.clone()]);

    let mut contiguous = ArrayD::<f32>::zeros(vec![2, 3]);
    let mut storage = ArrayD::<f32>::zeros(vec![3, 2]);
    let mut transposed = storage.view_mut().reversed_axes();
    assert!(transposed.as_slice_mut().is_none());
    shared.load_into(&mut [contiguous.view_mut(), transposed]);
    assert_eq!(contiguous, values);
    assert_eq!(storage.t(), values);
}

#[test]
fn rmsprop_workers_update_concurrently() {
    // Lock-free updates may overwrite each other, so the exact result depends on the
    // interleaving. What holds for every interleaving: each stored statistic is the result of
    // some chain of k ≤ 400 updates with g = 1 (s_k = α·s_{k−1} + (1−α)), and every parameter
    // moved down by at least one and at most 400 steps.
    let cfg = RmsPropConfig {
        lr: 0.01,
        alpha: 0.9,
        eps: 0.1,
    };
    let (workers, steps) = (4, 100);
    let opt = RmsProp::<f32>::new(cfg, &[vec![3, 2]]).unwrap();
    let shared = Arc::new(AtomicTensors::<f32>::zeros(&[vec![3, 2]]));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (opt, shared) = (opt.share(), Arc::clone(&shared));
            scope.spawn(move || {
                let g = ndarray::Array2::<f32>::ones((3, 2)).into_dyn();
                for _ in 0..steps {
                    opt.step_shared(&shared, std::slice::from_ref(&g));
                }
            });
        }
    });
    let mut chain = Vec::new();
    let mut single = RmsProp::<f32>::new(cfg, &[vec![1]]).unwrap();
    let mut p = ndarray::Array1::<f32>::zeros(1).into_dyn();
    for _ in 0..workers * steps {
        single.step(&mut [p.view_mut()], &[arr1(&[1.0f32]).into_dyn()]);
        chain.push(single.statistics().to_arrays()[0][[0]]);
    }
    let max_step = 0.01 / (0.1f32 + 0.1).sqrt();
    for &s in opt.statistics().to_arrays()[0].iter() {
        assert!(
            chain.contains(&s),
            "statistic {s} is not on any update chain"
        );
    }
    for &v in shared.to_arrays()[0].iter() {
        let bound = -max_step * (workers * steps) as f32;
        assert!(v < 0.0 && v >= bound, "parameter {v} outside [{bound}, 0)");
    }
}

#[test]
fn adam_matches_hand_computed_steps() {
    let cfg = AdamConfig {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let mut adam = Adam::new(cfg).unwrap();
    let mut params = one(&[1.0]);
    // First step of Adam moves by ~lr·sign(g) regardless of scale.
    adam.step(&mut [params[0].view_mut()], &one(&[3.0]));
    let (mut m, mut v) = (0.3, 0.001 * 9.0);
    let mut theta = 1.0 - 0.1 * (m / 0.1) / ((v / 0.001f64).sqrt() + 1e-8);
    close(&params[0], &[theta]);
    adam.step(&mut [params[0].view_mut()], &one(&[-1.0]));
    m = 0.9 * m - 0.1;
    v = 0.999 * v + 0.001;
    let (c1, c2) = (1.0 - 0.9f64.powi(2), 1.0 - 0.999f64.powi(2));
    theta -= 0.1 * (m / c1) / ((v / c2).sqrt() + 1e-8);
    assert!(
        (params[0][[0]] - theta).abs() < 1e-9,
        "{} vs {theta}",
        params[0][[0]]
    );
    assert_eq!(adam.steps(), 2);
}

#[test]
fn invalid_settings_are_errors_naming_the_field() {
    let err = Sgd::<f32>::new(SgdConfig {
        lr: -1.0,
        momentum: 0.0,
    })
    .unwrap_err();
    assert_eq!(err.field, "lr");
    assert!(err.to_string().contains("-1"), "{err}");
    let err: OptimError = RmsProp::<f32>::new(
        RmsPropConfig {
            alpha: 1.0,
            ..Default::default()
        },
        &[],
    )
    .unwrap_err();
    assert_eq!(err.field, "alpha");
    let err = Adam::<f32>::new(AdamConfig {
        eps: f64::NAN,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.field, "eps");
}

#[test]
fn configs_read_from_toml() {
    let cfg: RmsPropConfig = toml::from_str("lr = 0.001").unwrap();
    assert_eq!(
        cfg,
        RmsPropConfig {
            lr: 0.001,
            ..Default::default()
        }
    );
    assert!(toml::from_str::<AdamConfig>("learning_rate = 0.1").is_err());
    let sgd: SgdConfig = toml::from_str("lr = 0.5").unwrap();
    assert_eq!(
        sgd,
        SgdConfig {
            lr: 0.5,
            momentum: 0.0
        }
    );
}

#[test]
fn clipping_scales_all_tensors_together() {
    let mut grads = vec![arr1(&[3.0f64]).into_dyn(), arr1(&[0.0, 4.0]).into_dyn()];
    assert_eq!(global_norm(&grads), 5.0);
    assert_eq!(clip_grad_norm(&mut grads, 10.0), 5.0);
    close(&grads[1], &[0.0, 4.0]);
    assert_eq!(clip_grad_norm(&mut grads, 1.0), 5.0);
    close(&grads[0], &[0.6]);
    close(&grads[1], &[0.0, 0.8]);
}
