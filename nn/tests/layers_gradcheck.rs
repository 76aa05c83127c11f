//! Finite-difference checks of every layer's input and parameter gradients, on fresh random
//! inputs each run (the seed is printed; set `PATHNET_TEST_SEED` to replay one).

use ndarray::ArrayD;
use pathnet_nn::gradcheck::{self, Config};
use pathnet_nn::{
    Conv2d, Conv2dSpec, Elu, Flatten, Init, Layer, Linear, LogSoftmax, Relu, Sequential, Sigmoid,
    Softmax, Tanh,
};
use rand::Rng;

fn check(layer: &mut dyn Layer<f64>, input_shape: &[usize]) {
    let (seed, mut rng) = gradcheck::test_rng();
    let input = gradcheck::random_normal(input_shape, &mut rng);
    let report = gradcheck::check_layer(layer, &input, &mut rng, &Config::default())
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(report.params.len(), layer.params().len());
}

fn rng() -> impl Rng {
    gradcheck::test_rng().1
}

#[test]
fn linear() {
    let mut rng = rng();
    check(
        &mut Linear::new(7, 5, Init::XavierNormal, &mut rng),
        &[4, 7],
    );
    check(&mut Linear::new(1, 1, Init::HeUniform, &mut rng), &[1, 1]);
}

#[test]
fn relu() {
    check(&mut Relu, &[3, 11]);
    check(&mut Relu, &[2, 3, 4, 5]);
}

#[test]
fn smooth_activations() {
    check(&mut Elu::default(), &[4, 6]);
    check(&mut Elu { alpha: 0.3 }, &[2, 3, 5]);
    check(&mut Tanh, &[4, 6]);
    check(&mut Sigmoid, &[4, 6]);
}

#[test]
fn flatten() {
    check(&mut Flatten, &[2, 3, 4, 5]);
    check(&mut Flatten, &[3, 7]);
}

#[test]
fn softmax_and_log_softmax() {
    check(&mut Softmax, &[4, 5]);
    check(&mut LogSoftmax, &[4, 5]);
    check(&mut Softmax, &[1, 1]);
}

#[test]
fn conv2d_stride_and_padding_combinations() {
    let mut rng = rng();
    // (in, out, kernel, stride, padding, height, width)
    let cases = [
        (1, 1, 1, 1, 0, 3, 3),
        (2, 3, 3, 1, 0, 5, 6),
        (2, 3, 3, 1, 1, 5, 5),
        (3, 2, 3, 2, 0, 7, 8),
        (3, 2, 3, 2, 1, 7, 7),
        (2, 2, 4, 2, 2, 6, 5),
        (2, 4, 8, 4, 0, 12, 12),
        (1, 2, 3, 3, 2, 4, 5),
        (2, 2, 2, 1, 3, 2, 2),
    ];
    for (i, o, k, s, p, h, w) in cases {
        let spec = Conv2dSpec {
            in_channels: i,
            out_channels: o,
            kernel: k,
            stride: s,
            padding: p,
        };
        let mut conv = Conv2d::new(spec, Init::HeNormal, &mut rng);
        // Non-zero bias so the bias path is exercised away from its initial value.
        conv.params_mut()[1].assign(&gradcheck::random_normal(&[o], &mut rng));
        check(&mut conv, &[2, i, h, w]);
    }
}

#[test]
fn a3c_style_conv_net() {
    let mut rng = rng();
    let spec1 = Conv2dSpec {
        in_channels: 2,
        out_channels: 3,
        kernel: 4,
        stride: 2,
        padding: 0,
    };
    let spec2 = Conv2dSpec {
        in_channels: 3,
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
    };
    let mut net = Sequential::default()
        .with(Conv2d::new(spec1, Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Conv2d::new(spec2, Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Flatten)
        .with(Linear::new(4 * 2 * 2, 5, Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Linear::new(5, 3, Init::XavierUniform, &mut rng));
    check(&mut net, &[2, 2, 10, 10]);
}

#[test]
fn backward_params_matches_backward() {
    let (seed, mut rng) = gradcheck::test_rng();
    let spec = Conv2dSpec {
        in_channels: 2,
        out_channels: 3,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let net = Sequential::default()
        .with(Conv2d::new(spec, Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Flatten)
        .with(Linear::new(3 * 4 * 4, 2, Init::HeUniform, &mut rng));
    let x = gradcheck::random_normal(&[3, 2, 7, 8], &mut rng);
    let fwd = net.forward(x.view());
    let dy = gradcheck::random_normal(fwd.output.shape(), &mut rng);
    let full = net.backward(&fwd.cache, dy.view()).param_grads;
    let only = net.backward_params(&fwd.cache, dy.view());
    assert_eq!(full, only, "seed {seed}");
}

#[test]
fn sequential_mlp() {
    let mut rng = rng();
    let mut net = Sequential::default()
        .with(Linear::new(6, 8, Init::HeNormal, &mut rng))
        .with(Relu)
        .with(Linear::new(8, 3, Init::XavierUniform, &mut rng));
    check(&mut net, &[5, 6]);
}

#[test]
fn empty_sequential_is_identity() {
    let net = Sequential::<f64>::default();
    let x = ArrayD::from_shape_fn(vec![2, 3], |i| i[0] as f64 - i[1] as f64);
    let fwd = net.forward(x.view());
    assert_eq!(fwd.output, x);
    assert_eq!(net.backward(&fwd.cache, x.view()).input_grad, x);
}

/// A layer whose backward is deliberately wrong, to prove the harness can fail.
struct ScaledWrong(f64);

impl Layer<f64> for ScaledWrong {
    fn name(&self) -> String {
        "scaled-wrong".into()
    }
    fn forward(&self, input: ndarray::ArrayViewD<'_, f64>) -> pathnet_nn::Forward<f64> {
        pathnet_nn::Forward {
            output: input.mapv(|x| x * x),
            cache: pathnet_nn::Cache::new(input.to_owned()),
        }
    }
    fn backward(
        &self,
        cache: &pathnet_nn::Cache,
        output_grad: ndarray::ArrayViewD<'_, f64>,
    ) -> pathnet_nn::Backward<f64> {
        let x: &ArrayD<f64> = cache.get();
        pathnet_nn::Backward {
            input_grad: &output_grad * &x.mapv(|x| self.0 * x),
            param_grads: vec![],
        }
    }
    fn params(&self) -> Vec<ndarray::ArrayViewD<'_, f64>> {
        vec![]
    }
    fn params_mut(&mut self) -> Vec<ndarray::ArrayViewMutD<'_, f64>> {
        vec![]
    }
    fn reinit(&mut self, _: &mut dyn rand::RngCore) {}
}

#[test]
fn harness_rejects_a_wrong_gradient() {
    let (seed, mut rng) = gradcheck::test_rng();
    let input = gradcheck::random_normal(&[3, 4], &mut rng);
    let cfg = Config::default();
    gradcheck::check_layer(&mut ScaledWrong(2.0), &input, &mut rng, &cfg)
        .unwrap_or_else(|e| panic!("seed {seed}: correct gradient rejected: {e}"));
    let err = gradcheck::check_layer(&mut ScaledWrong(2.001), &input, &mut rng, &cfg);
    assert!(
        err.is_err(),
        "seed {seed}: a 0.05% gradient error went unnoticed"
    );
}

#[test]
fn linear_forward_and_backward_by_hand() {
    use ndarray::{Array1, array};
    let layer = Linear::from_params(
        array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        Array1::from(vec![0.5, -1.0]),
    );
    let x = array![[1.0, 0.0, -1.0]].into_dyn();
    let fwd = layer.forward(x.view());
    assert_eq!(fwd.output, array![[-3.5, -5.0]].into_dyn());
    let bwd = layer.backward(&fwd.cache, array![[1.0, 2.0]].into_dyn().view());
    assert_eq!(bwd.input_grad, array![[5.0, 11.0, 17.0]].into_dyn());
    assert_eq!(
        bwd.param_grads[0],
        array![[1.0, 2.0], [0.0, 0.0], [-1.0, -2.0]].into_dyn()
    );
    assert_eq!(bwd.param_grads[1], array![1.0, 2.0].into_dyn());
}

#[test]
fn harness_skips_kinks_but_not_wrong_values_there() {
    let cfg = Config::default();
    // x₁ sits within eps of ReLU's kink, so its central difference is meaningless.
    let x = ndarray::arr1(&[0.7, 0.3 * cfg.eps, -1.2]).into_dyn();
    let relu_sum = |x: &ArrayD<f64>| x.iter().map(|v| v.max(0.0)).sum::<f64>();
    let right = ndarray::arr1(&[1.0, 1.0, 0.0]).into_dyn();
    let report = gradcheck::check_tensor("relu", &x, &right, relu_sum, &cfg).unwrap();
    assert_eq!((report.checked, report.kinks), (2, 1));
    let wrong = ndarray::arr1(&[1.0, 0.5, 0.0]).into_dyn();
    assert!(gradcheck::check_tensor("relu", &x, &wrong, relu_sum, &cfg).is_err());
    let wrong_away = ndarray::arr1(&[0.9, 1.0, 0.0]).into_dyn();
    assert!(gradcheck::check_tensor("relu", &x, &wrong_away, relu_sum, &cfg).is_err());
}
