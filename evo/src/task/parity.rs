//! Recurrent parity: the network reads every `bits`-bit sequence one bit per step and must
//! say, after the last bit, whether the sequence holds an odd number of ones.

use super::{BROKEN_FITNESS, Evaluation, evenly_spaced};
use ndarray::{Array3, Axis};
use pathnet_nn::Layer;

/// Network outputs: the probabilities of "even" and "odd".
pub const OUTPUTS: usize = 2;

/// Every `bits`-bit sequence, most significant bit first (sequence `n` spells `n` in binary),
/// as `[2^bits, bits, 1]`, and each one's parity.
pub fn sequences(bits: usize) -> (Array3<f32>, Vec<usize>) {
    let count = 1usize << bits;
    let mut inputs = Array3::zeros((count, bits, 1));
    let mut labels = Vec::with_capacity(count);
    for n in 0..count {
        for t in 0..bits {
            inputs[[n, t, 0]] = ((n >> (bits - 1 - t)) & 1) as f32;
        }
        labels.push(n.count_ones() as usize % 2);
    }
    (inputs, labels)
}

/// Fitness is minus the mean negative log-likelihood of the right answer over all `2^bits`
/// sequences (the mean, as the reference code's `NLLLoss`); solved when every sequence's right
/// answer gets the larger probability. The experience is the sequences themselves (up to
/// `max_experience` of them, evenly spaced).
pub fn evaluate(net: &dyn Layer<f32>, bits: usize, max_experience: usize) -> Evaluation {
    let (inputs, labels) = sequences(bits);
    let probs = net.forward(inputs.view().into_dyn()).output;
    let mut nll = 0.0f64;
    let mut correct = 0;
    for (row, &label) in probs.axis_iter(Axis(0)).zip(&labels) {
        let right = row[label] as f64;
        let wrong = row[1 - label] as f64;
        // A probability that rounded to 0 in f32 would make the loss infinite; the smallest
        // normal f32 caps one sequence's loss at about 87.
        nll -= right.max(f32::MIN_POSITIVE as f64).ln();
        if right > wrong {
            correct += 1;
        }
    }
    let fitness = -nll / labels.len() as f64;
    let broken = !fitness.is_finite() || probs.iter().any(|p| !p.is_finite());
    let picked = evenly_spaced(labels.len(), max_experience);
    let experience = inputs.select(Axis(0), &picked);
    Evaluation {
        fitness: if broken { BROKEN_FITNESS } else { fitness },
        solved: !broken && correct == labels.len(),
        experience: experience.into_dyn(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
    use pathnet_nn::{Backward, Cache, Forward};

    #[test]
    fn sequences_and_labels() {
        let (x, y) = sequences(4);
        assert_eq!(x.shape(), &[16, 4, 1]);
        assert_eq!(
            x.index_axis(Axis(0), 5).iter().copied().collect::<Vec<_>>(),
            [0.0, 1.0, 0.0, 1.0]
        );
        assert_eq!(y[5], 0);
        assert_eq!(y[7], 1);
        assert_eq!(y.iter().sum::<usize>(), 8);
    }

    /// Answers parity exactly, with a chosen confidence, by reading its input.
    struct Oracle(f32);

    impl Layer<f32> for Oracle {
        fn name(&self) -> String {
            "oracle".into()
        }
        fn forward(&self, input: ArrayViewD<'_, f32>) -> Forward<f32> {
            let n = input.shape()[0];
            let out = ArrayD::from_shape_fn(vec![n, 2], |idx| {
                let ones: f32 = input.index_axis(Axis(0), idx[0]).sum();
                let odd = ones as usize % 2;
                if idx[1] == odd { self.0 } else { 1.0 - self.0 }
            });
            Forward {
                output: out,
                cache: Cache::none(),
            }
        }
        fn backward(&self, _: &Cache, _: ArrayViewD<'_, f32>) -> Backward<f32> {
            unreachable!("not differentiated in these tests")
        }
        fn params(&self) -> Vec<ArrayViewD<'_, f32>> {
            Vec::new()
        }
        fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, f32>> {
            Vec::new()
        }
        fn reinit(&mut self, _: &mut dyn rand::RngCore) {}
    }

    #[test]
    fn fitness_is_minus_the_mean_nll_and_solving_needs_every_answer() {
        let e = evaluate(&Oracle(0.9), 4, 100);
        assert!((e.fitness - 0.9f64.ln()).abs() < 1e-6, "{}", e.fitness);
        assert!(e.solved);
        assert_eq!(e.experience.shape(), &[16, 4, 1]);
        let wrong = evaluate(&Oracle(0.4), 4, 100);
        assert!(!wrong.solved);
        assert!((wrong.fitness - 0.4f64.ln()).abs() < 1e-6);
        let capped = evaluate(&Oracle(0.9), 4, 5);
        assert_eq!(capped.experience.shape(), &[5, 4, 1]);
    }
}
