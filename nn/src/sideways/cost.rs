//! What each layer of a network costs, estimated from its shapes alone, and the cut of a
//! chain of units (layers or blocks of layers) into contiguous stages that balances that cost:
//! a Sideways pipeline ticks at the pace of its slowest stage, so the cut that minimises the
//! most expensive stage is the one that trains fastest.

use crate::{Float, Layer};
use ndarray::{ArrayD, IxDyn};

/// Multiply-adds of `layer`'s forward pass on one example of `input_shape` (no batch axis),
/// and the shape of its output (no batch axis).
///
/// Found by running the layer once on a zero example, so that every layer, present or
/// future, is covered without a formula of its own: each weight tensor (a parameter with two
/// or more axes) is taken to be used once per output position (the output's elements over
/// its channels, axis 1 of the batched output: one for a dense layer, the output's pixels for
/// a convolution), and every output element costs one operation more (the bias, the
/// activation, the copy). The backward pass costs about twice the forward in each of these
/// layers, so the forward alone ranks layers as the whole step does.
pub fn layer_cost<F: Float>(layer: &dyn Layer<F>, input_shape: &[usize]) -> (u64, Vec<usize>) {
    let mut batched = Vec::with_capacity(input_shape.len() + 1);
    batched.push(1);
    batched.extend_from_slice(input_shape);
    let input = ArrayD::<F>::zeros(IxDyn(&batched));
    let output = layer.forward(input.view()).output;
    let elements = output.len() as u64;
    let channels = output.shape().get(1).copied().unwrap_or(1).max(1) as u64;
    let positions = elements / channels;
    let weights: u64 = layer
        .params()
        .iter()
        .filter(|p| p.ndim() >= 2)
        .map(|p| p.len() as u64)
        .sum();
    (weights * positions + elements, output.shape()[1..].to_vec())
}

/// The cost (as [`layer_cost`]) of each layer of a chain fed examples of `input_shape`, in
/// order, and the chain's output shape.
pub fn chain_costs<F: Float>(
    layers: &[Box<dyn Layer<F>>],
    input_shape: &[usize],
) -> (Vec<u64>, Vec<usize>) {
    let mut shape = input_shape.to_vec();
    let costs = layers
        .iter()
        .map(|layer| {
            let (cost, out) = layer_cost(layer.as_ref(), &shape);
            shape = out;
            cost
        })
        .collect();
    (costs, shape)
}

/// Cuts a chain of units with `costs` into `stages` contiguous, non-empty stages so that the
/// most expensive stage costs as little as possible; returns how many units each stage takes,
/// bottom first. Among cuts that tie, the top stages take as few units as they can
/// (deterministic, and the lower stages, which also hold the larger activations, stay
/// together). `None` when there are fewer units than stages or no stage at all.
pub fn balanced_cut(costs: &[u64], stages: usize) -> Option<Vec<usize>> {
    let n = costs.len();
    if stages == 0 || stages > n {
        return None;
    }
    let mut prefix = vec![0u64; n + 1];
    for (i, &c) in costs.iter().enumerate() {
        prefix[i + 1] = prefix[i].saturating_add(c);
    }
    let span = |a: usize, b: usize| prefix[b] - prefix[a];
    // best[j][i]: the least possible most expensive stage of units 0..i cut into j stages.
    let mut best = vec![vec![u64::MAX; n + 1]; stages + 1];
    best[0][0] = 0;
    for j in 1..=stages {
        for i in j..=n {
            best[j][i] = (j - 1..i)
                .filter(|&s| best[j - 1][s] != u64::MAX)
                .map(|s| best[j - 1][s].max(span(s, i)))
                .min()
                .unwrap_or(u64::MAX);
        }
    }
    // From the top: each stage starts as late as the optimum allows.
    let mut sizes = vec![0; stages];
    let mut end = n;
    for j in (1..=stages).rev() {
        let target = best[j][end];
        let start = (j - 1..end)
            .rev()
            .find(|&s| best[j - 1][s] != u64::MAX && best[j - 1][s].max(span(s, end)) <= target)
            .expect("the optimum is reached by some start");
        sizes[j - 1] = end - start;
        end = start;
    }
    Some(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Conv2d, Conv2dSpec, Flatten, Init, Linear, Relu};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_dense_layer_costs_its_weights_and_a_convolution_its_weights_per_pixel() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let linear = Linear::<f32>::new(20, 10, Init::HeUniform, &mut rng);
        assert_eq!(layer_cost(&linear, &[20]), (200 + 10, vec![10]));
        let spec = Conv2dSpec {
            in_channels: 2,
            out_channels: 4,
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        let conv = Conv2d::<f32>::new(spec, Init::HeUniform, &mut rng);
        // 4x4 output pixels, 4*2*3*3 weights each, plus 4*16 output elements.
        assert_eq!(layer_cost(&conv, &[2, 8, 8]), (72 * 16 + 64, vec![4, 4, 4]));
        assert_eq!(layer_cost::<f32>(&Relu, &[3, 5]), (15, vec![3, 5]));
        assert_eq!(layer_cost::<f32>(&Flatten, &[3, 5]), (15, vec![15]));
    }

    #[test]
    fn chain_costs_follow_the_shapes_down_the_chain() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let layers: Vec<Box<dyn Layer<f32>>> = vec![
            Box::new(Flatten),
            Box::new(Linear::new(12, 6, Init::HeUniform, &mut rng)),
            Box::new(Relu),
            Box::new(Linear::new(6, 2, Init::HeUniform, &mut rng)),
        ];
        let (costs, out) = chain_costs(&layers, &[3, 4]);
        assert_eq!(costs, [12, 72 + 6, 6, 12 + 2]);
        assert_eq!(out, [2]);
    }

    #[test]
    fn one_heavy_unit_gets_a_stage_of_its_own() {
        assert_eq!(balanced_cut(&[1, 100, 1, 1], 3), Some(vec![1, 1, 2]));
        assert_eq!(balanced_cut(&[1, 1, 100, 1, 1], 3), Some(vec![2, 1, 2]));
        assert_eq!(balanced_cut(&[100, 1, 1, 1], 2), Some(vec![1, 3]));
        assert_eq!(balanced_cut(&[1, 1, 1, 100], 2), Some(vec![3, 1]));
    }

    #[test]
    fn equal_units_are_cut_by_count_and_ties_leave_the_top_short() {
        assert_eq!(balanced_cut(&[5; 4], 2), Some(vec![2, 2]));
        assert_eq!(balanced_cut(&[5; 4], 4), Some(vec![1, 1, 1, 1]));
        assert_eq!(balanced_cut(&[5; 4], 1), Some(vec![4]));
        // 3 units in 2 stages: 10 either way; the top takes one.
        assert_eq!(balanced_cut(&[5; 3], 2), Some(vec![2, 1]));
        // Every unit free: the top stage takes as little as the optimum allows.
        assert_eq!(balanced_cut(&[0; 5], 2), Some(vec![4, 1]));
    }

    #[test]
    fn impossible_cuts_are_none() {
        assert_eq!(balanced_cut(&[1, 2], 3), None);
        assert_eq!(balanced_cut(&[1, 2], 0), None);
        assert_eq!(balanced_cut(&[], 1), None);
    }
}
