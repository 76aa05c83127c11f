//! Conv2d against a direct evaluation of the convolution sum, including inputs large enough
//! for im2col and col2im to split across threads.

use ndarray::ArrayD;
use pathnet_nn::gradcheck;
use pathnet_nn::{Conv2d, Conv2dSpec, Init, Layer};

/// Direct evaluation of the convolution sum, to pin down the forward pass itself (the
/// gradient checks only prove backward consistent with forward).
fn naive_conv(x: &ArrayD<f64>, w: &ArrayD<f64>, b: &ArrayD<f64>, spec: Conv2dSpec) -> ArrayD<f64> {
    let (n, h, wd) = (x.shape()[0], x.shape()[2], x.shape()[3]);
    let (oh, ow) = spec.output_size(h, wd).unwrap();
    let mut y = ArrayD::zeros(vec![n, spec.out_channels, oh, ow]);
    for (bn, o, r, c) in ndarray::indices((n, spec.out_channels, oh, ow)) {
        let mut acc = b[[o]];
        for ch in 0..spec.in_channels {
            for ki in 0..spec.kernel {
                for kj in 0..spec.kernel {
                    let ih = (r * spec.stride + ki) as isize - spec.padding as isize;
                    let iw = (c * spec.stride + kj) as isize - spec.padding as isize;
                    if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd {
                        acc += w[[o, ch, ki, kj]] * x[[bn, ch, ih as usize, iw as usize]];
                    }
                }
            }
        }
        y[[bn, o, r, c]] = acc;
    }
    y
}

#[test]
fn conv2d_forward_matches_direct_sum() {
    let (seed, mut rng) = gradcheck::test_rng();
    for (k, s, p) in [(3, 1, 0), (3, 2, 1), (4, 2, 2), (8, 4, 0), (2, 3, 1)] {
        let spec = Conv2dSpec {
            in_channels: 3,
            out_channels: 4,
            kernel: k,
            stride: s,
            padding: p,
        };
        let mut conv = Conv2d::new(spec, Init::HeNormal, &mut rng);
        conv.params_mut()[1].assign(&gradcheck::random_normal(&[4], &mut rng));
        let x = gradcheck::random_normal(&[2, 3, 13, 11], &mut rng);
        let got = conv.forward(x.view()).output;
        let params = conv.params();
        let want = naive_conv(&x, &params[0].to_owned(), &params[1].to_owned(), spec);
        assert_eq!(got.shape(), want.shape(), "seed {seed} {spec:?}");
        let err = (&got - &want).iter().fold(0.0f64, |m, d| m.max(d.abs()));
        assert!(err < 1e-12, "seed {seed} {spec:?}: max deviation {err}");
    }
}

#[test]
fn conv2d_output_size() {
    let spec = Conv2dSpec {
        in_channels: 4,
        out_channels: 16,
        kernel: 8,
        stride: 4,
        padding: 0,
    };
    assert_eq!(spec.output_size(84, 84), Some((20, 20)));
    let spec2 = Conv2dSpec {
        in_channels: 16,
        out_channels: 32,
        kernel: 4,
        stride: 2,
        padding: 0,
    };
    assert_eq!(spec2.output_size(20, 20), Some((9, 9)));
    assert_eq!(spec2.output_size(3, 20), None);
    assert_eq!(Conv2dSpec { stride: 0, ..spec2 }.output_size(20, 20), None);
}

#[test]
fn large_inputs_split_across_threads_give_the_same_result() {
    // Big enough that both the column matrix and the input gradient exceed the size at which
    // the copies are split across threads.
    let (seed, mut rng) = gradcheck::test_rng();
    for (k, s, p) in [(3, 1, 1), (8, 4, 0), (4, 2, 1)] {
        let spec = Conv2dSpec {
            in_channels: 4,
            out_channels: 5,
            kernel: k,
            stride: s,
            padding: p,
        };
        let mut conv = Conv2d::new(spec, Init::HeNormal, &mut rng);
        conv.params_mut()[1].assign(&gradcheck::random_normal(&[5], &mut rng));
        let x = gradcheck::random_normal(&[9, 4, 44, 44], &mut rng);
        let fwd = conv.forward(x.view());
        let params = conv.params();
        let (w, b) = (params[0].to_owned(), params[1].to_owned());
        let want = naive_conv(&x, &w, &b, spec);
        let err = (&fwd.output - &want)
            .iter()
            .fold(0.0f64, |m, d| m.max(d.abs()));
        assert!(
            err < 1e-11,
            "seed {seed} {spec:?}: forward deviates by {err}"
        );

        // The input gradient is the adjoint of the bias-free convolution x ↦ J·x:
        // ⟨J·x', dy⟩ = ⟨x', Jᵀ·dy⟩ for any x'.
        let dy = gradcheck::random_normal(fwd.output.shape(), &mut rng);
        let dx = conv.backward(&fwd.cache, dy.view()).input_grad;
        let probe = gradcheck::random_normal(x.shape(), &mut rng);
        let zero_bias = ArrayD::zeros(vec![5]);
        let lhs = (naive_conv(&probe, &w, &zero_bias, spec) * &dy).sum();
        let rhs = (&probe * &dx).sum();
        assert!(
            (lhs - rhs).abs() < 1e-9 * (1.0 + lhs.abs()),
            "seed {seed} {spec:?}: <Jx, dy> = {lhs} but <x, J^T dy> = {rhs}"
        );
    }
}

#[test]
fn recycled_column_buffers_do_not_leak_between_passes() {
    // The second pass reuses the first pass's column buffer; every element, padding zeros
    // included, must be rewritten. A smaller second input also shrinks the buffer.
    let (seed, mut rng) = gradcheck::test_rng();
    let spec = Conv2dSpec {
        in_channels: 2,
        out_channels: 3,
        kernel: 3,
        stride: 2,
        padding: 2,
    };
    let mut conv = Conv2d::new(spec, Init::HeNormal, &mut rng);
    conv.params_mut()[1].assign(&gradcheck::random_normal(&[3], &mut rng));
    let params = conv.params();
    let (w, b) = (params[0].to_owned(), params[1].to_owned());
    for shape in [[4, 2, 9, 9], [4, 2, 9, 9], [2, 2, 5, 6]] {
        let x = gradcheck::random_normal(&shape, &mut rng) * 100.0;
        let fwd = conv.forward(x.view());
        let dy = gradcheck::random_normal(fwd.output.shape(), &mut rng);
        let d_bias = conv.backward(&fwd.cache, dy.view()).param_grads[1].clone();
        let err = (&fwd.output - &naive_conv(&x, &w, &b, spec))
            .iter()
            .fold(0.0f64, |m, d| m.max(d.abs()));
        assert!(
            err < 1e-9,
            "seed {seed} {shape:?}: forward deviates by {err}"
        );
        let want_bias = dy
            .sum_axis(ndarray::Axis(0))
            .sum_axis(ndarray::Axis(1))
            .sum_axis(ndarray::Axis(1));
        assert!(
            (&d_bias - &want_bias).iter().all(|d| d.abs() < 1e-9),
            "seed {seed}"
        );
    }
}
