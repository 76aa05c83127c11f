//! Optimiser steps against hand-computed values, shared-statistics behaviour and clipping.

use ndarray::{ArrayD, arr1};
use pathnet_nn::optim::{OptimError, global_norm};
use pathnet_nn::{
    Adam, AdamConfig, AtomicTensors, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
    clip_grad_norm,
};
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
