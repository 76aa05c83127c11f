//! Finite-difference checks of whole pathways in f64: the input gradient and the gradient of
//! every active module's and the head's parameters.

mod common;

use ndarray::ArrayD;
use pathnet_nn::Layer;
use pathnet_nn::gradcheck::{self, Config};
use pathnet_nn::pathnet::build::{self, ConvModules, LinearModules};
use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetDims, Pathway};

/// The default tolerance (relative error < 1e-4). A smaller step makes it rarer for a
/// perturbation to straddle a ReLU kink, and since one kinked (row, unit) spoils a whole
/// weight column, a small module may legitimately lose more than 5% of a tensor to one kink.
fn config() -> Config {
    Config {
        eps: 1e-6,
        max_kink_fraction: 0.25,
        ..Config::default()
    }
}

/// Checks `pathway` of `net` at a fresh random input and returns how many parameter tensors
/// were checked.
fn check(net: &mut PathNet<f64>, pathway: Pathway, task: usize, batch: usize) -> usize {
    let (_, mut rng) = gradcheck::test_rng();
    let mut shape = vec![batch];
    shape.extend_from_slice(net.input_shape());
    let input = gradcheck::random_normal(&shape, &mut rng);
    // Fresh parameters too: at initialisation the biases are zero, so a row whose previous
    // layer is entirely dead puts every next pre-activation exactly on the ReLU kink.
    let ids: Vec<ModuleId> = net.module_ids().collect();
    for id in ids {
        let params: Vec<ArrayD<f64>> = net
            .params(id)
            .unwrap()
            .iter()
            .map(|p| gradcheck::random_normal(p.shape(), &mut rng) * 0.5)
            .collect();
        net.set_params(id, &params).unwrap();
    }
    let mut layer = net.pathway_layer(pathway, task).unwrap();
    let expected_tensors: usize = layer
        .module_ids()
        .iter()
        .map(|_| 2) // weight and bias of each Linear/Conv2d
        .sum();
    let report = gradcheck::check_layer(&mut layer, &input, &mut rng, &config())
        .unwrap_or_else(|e| panic!("gradient check failed: {e}"));
    assert_eq!(report.params.len(), expected_tensors);
    assert!(report.input.checked > 0);
    for p in &report.params {
        assert!(p.checked > 0, "{p:?}");
    }
    report.params.len()
}

#[test]
fn linear_pathway_gradients_match_finite_differences() {
    let dims = PathNetDims::new(3, 5, 3).unwrap();
    let modules = LinearModules {
        inputs: 6,
        units: 4,
    };
    let mut net = build::linear::<f64>(dims, modules, &[3, 2], 1).unwrap();
    // Layers with 3, 1 and 2 active modules: sums of several modules and a single one.
    let pathway = Pathway::new(vec![vec![4, 0, 2], vec![3], vec![1, 4]], &dims).unwrap();
    assert_eq!(check(&mut net, pathway.clone(), 1, 5), 2 * (3 + 1 + 2 + 1));
    let random = Pathway::random(&dims, 17).unwrap();
    check(&mut net, random, 0, 4);
}

#[test]
fn conv_pathway_gradients_match_finite_differences() {
    let (dims, modules) = common::small_conv();
    let mut net = build::conv::<f64>(dims, modules, &[2, 4], 2).unwrap();
    let pathway = Pathway::new(vec![vec![1, 3], vec![0]], &dims).unwrap();
    assert_eq!(check(&mut net, pathway, 1, 2), 2 * (2 + 1 + 1));
    check(&mut net, Pathway::random(&dims, 3).unwrap(), 0, 3);
}

#[test]
fn conv_networks_reject_maps_that_shrink_below_the_kernel() {
    let dims = PathNetDims::new(4, 2, 1).unwrap();
    let modules = ConvModules {
        channels: 1,
        height: 8,
        width: 8,
        filters: 2,
        kernel: 3,
        stride: 2,
        padding: 0,
    };
    // 8 -> 3 -> 1, and the third layer's 3x3 kernel no longer fits.
    let err = build::conv::<f32>(dims, modules, &[2], 0).err().unwrap();
    assert!(err.to_string().contains("layer 2"), "{err}");
}

#[test]
fn backward_reports_only_active_modules_and_the_head() {
    let dims = PathNetDims::new(2, 4, 2).unwrap();
    let mut net = build::linear::<f64>(
        dims,
        LinearModules {
            inputs: 3,
            units: 5,
        },
        &[2, 2],
        4,
    )
    .unwrap();
    let pathway = Pathway::new(vec![vec![3, 1], vec![2]], &dims).unwrap();
    let input = ArrayD::from_shape_fn(vec![2, 3], |i| i[0] as f64 - 0.3 * i[1] as f64);
    let fwd = net.forward(&pathway, 1, input.view()).unwrap();
    assert_eq!(fwd.output.shape(), &[2, 2]);
    let grads = net.backward(&fwd.cache, fwd.output.view()).unwrap();
    let ids: Vec<ModuleId> = grads.modules.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        vec![
            ModuleId::new(0, 3),
            ModuleId::new(0, 1),
            ModuleId::new(1, 2),
            net.head_id(1).unwrap()
        ]
    );
    for m in &grads.modules {
        let params = net.params(m.id).unwrap();
        let shapes: Vec<&[usize]> = params.iter().map(|p| p.shape()).collect();
        let grad_shapes: Vec<&[usize]> = m.grads.iter().map(|g| g.shape()).collect();
        assert_eq!(shapes, grad_shapes, "{}", m.id);
    }
    assert_eq!(grads.input_grad.shape(), input.shape());

    // The adaptor sees the same pass.
    let layer = net.pathway_layer(pathway, 1).unwrap();
    let out = layer.forward(input.view()).output;
    assert_eq!(out, fwd.output);
}
