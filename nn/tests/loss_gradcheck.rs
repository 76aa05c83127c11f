//! Finite-difference checks of the losses' gradients with respect to the prediction.

use ndarray::Ix2;
use pathnet_nn::gradcheck::{self, Config};
use pathnet_nn::{cross_entropy, mse};
use rand::Rng;

#[test]
fn mse_gradient() {
    let (seed, mut rng) = gradcheck::test_rng();
    for shape in [vec![1, 1], vec![4, 3], vec![2, 3, 4]] {
        let p = gradcheck::random_normal(&shape, &mut rng);
        let t = gradcheck::random_normal(&shape, &mut rng);
        let grad = mse(p.view(), t.view()).unwrap().grad;
        gradcheck::check_tensor(
            "mse",
            &p,
            &grad,
            |p| mse(p.view(), t.view()).unwrap().value,
            &Config::default(),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn cross_entropy_gradient() {
    let (seed, mut rng) = gradcheck::test_rng();
    for (batch, classes) in [(1, 1), (1, 2), (5, 3), (8, 6)] {
        let logits = gradcheck::random_normal(&[batch, classes], &mut rng) * 3.0;
        let targets: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
        let ce = |l: &ndarray::ArrayD<f64>| {
            cross_entropy(l.view().into_dimensionality::<Ix2>().unwrap(), &targets).unwrap()
        };
        let grad = ce(&logits).grad.into_dyn();
        gradcheck::check_tensor(
            "cross_entropy",
            &logits,
            &grad,
            |l| ce(l).value,
            &Config::default(),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}
