//! Parameter initialisers. Every initialiser draws from an explicit rng so that a seed fixes
//! the whole network.

use crate::Float;
use ndarray::ArrayD;
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// How a weight tensor is initialised, in terms of its fan-in and fan-out.
///
/// Biases are not covered: layers start them at zero (or at a conventional constant, such as
/// the LSTM forget-gate bias of 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Glorot & Bengio: uniform on `±sqrt(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// Glorot & Bengio: normal with standard deviation `sqrt(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// He et al. for ReLU nets: uniform on `±sqrt(6 / fan_in)`.
    HeUniform,
    /// He et al. for ReLU nets: normal with standard deviation `sqrt(2 / fan_in)`.
    HeNormal,
    /// Every weight 0, so the layer's output starts at its bias.
    Zeros,
}

impl Init {
    /// Draws a tensor of `shape`. `fan_in`/`fan_out` are the number of inputs feeding one
    /// output unit and of outputs fed by one input unit (for a convolution they include the
    /// kernel area).
    pub fn sample<F: Float, R: Rng + ?Sized>(
        self,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
        rng: &mut R,
    ) -> ArrayD<F> {
        // Zero fans only occur for empty tensors; clamping keeps the bounds finite there.
        let fan_in = fan_in.max(1) as f64;
        let fan_out = fan_out.max(1) as f64;
        match self {
            Init::XavierUniform => uniform(shape, (6.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::XavierNormal => normal(shape, (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::HeUniform => uniform(shape, (6.0 / fan_in).sqrt(), rng),
            Init::HeNormal => normal(shape, (2.0 / fan_in).sqrt(), rng),
            Init::Zeros => ArrayD::zeros(shape),
        }
    }
}

fn uniform<F: Float, R: Rng + ?Sized>(shape: &[usize], bound: f64, rng: &mut R) -> ArrayD<F> {
    let dist = Uniform::new_inclusive(-bound, bound).expect("bound is finite and non-negative");
    ArrayD::from_shape_simple_fn(shape, || F::of(dist.sample(rng)))
}

fn normal<F: Float, R: Rng + ?Sized>(shape: &[usize], std: f64, rng: &mut R) -> ArrayD<F> {
    let dist = Normal::new(0.0, std).expect("std is finite and non-negative");
    ArrayD::from_shape_simple_fn(shape, || F::of(dist.sample(rng)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn moments(a: &ArrayD<f64>) -> (f64, f64, f64) {
        let n = a.len() as f64;
        let mean = a.sum() / n;
        let var = a.mapv(|x| (x - mean).powi(2)).sum() / n;
        let max = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        (mean, var.sqrt(), max)
    }

    #[test]
    fn bounds_and_spread_match_the_formulas() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (fan_in, fan_out) = (300, 100);
        let shape = [fan_in, fan_out];
        let cases = [
            (
                Init::XavierUniform,
                (6.0 / 400.0f64).sqrt() / 3f64.sqrt(),
                Some((6.0 / 400.0f64).sqrt()),
            ),
            (Init::XavierNormal, (2.0 / 400.0f64).sqrt(), None),
            (
                Init::HeUniform,
                (6.0 / 300.0f64).sqrt() / 3f64.sqrt(),
                Some((6.0 / 300.0f64).sqrt()),
            ),
            (Init::HeNormal, (2.0 / 300.0f64).sqrt(), None),
        ];
        for (init, want_std, bound) in cases {
            let a: ArrayD<f64> = init.sample(&shape, fan_in, fan_out, &mut rng);
            let (mean, std, max) = moments(&a);
            assert!(mean.abs() < 0.05 * want_std, "{init:?}: mean {mean}");
            assert!(
                (std / want_std - 1.0).abs() < 0.03,
                "{init:?}: std {std} want {want_std}"
            );
            if let Some(b) = bound {
                assert!(max <= b, "{init:?}: {max} outside ±{b}");
            }
        }
        let z: ArrayD<f32> = Init::Zeros.sample(&shape, fan_in, fan_out, &mut rng);
        assert!(z.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn same_seed_same_tensor() {
        let draw = |seed| -> ArrayD<f32> {
            Init::HeNormal.sample(&[4, 5], 4, 5, &mut ChaCha8Rng::seed_from_u64(seed))
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
