//! The parameters-only backward pass that training uses: bit-identical to the full backward's
//! parameter gradients, without frozen modules, and without work nothing depends on (the
//! first layer's input gradient, modules below the lowest unfrozen one).

mod common;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Ix2};
use pathnet_nn::gradcheck;
use pathnet_nn::pathnet::build::{self, LinearModules};
use pathnet_nn::pathnet::{
    Batch, ModuleGrads, ModuleId, ModuleOptimizers, PathNet, PathNetDims, PathNetError, Pathway,
};
use pathnet_nn::{Backward, Cache, Forward, Init, Layer, Linear, Sgd, SgdConfig, cross_entropy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn bits(grads: &[ModuleGrads<f64>]) -> Vec<(ModuleId, Vec<Vec<u64>>)> {
    grads
        .iter()
        .map(|m| {
            let tensors = m
                .grads
                .iter()
                .map(|g| g.iter().map(|v| v.to_bits()).collect())
                .collect();
            (m.id, tensors)
        })
        .collect()
}

fn input_for(net: &PathNet<f64>, batch: usize, seed: u64) -> ArrayD<f64> {
    let mut shape = vec![batch];
    shape.extend_from_slice(net.input_shape());
    gradcheck::random_normal(&shape, &mut ChaCha8Rng::seed_from_u64(seed))
}

/// The full backward's gradients of the modules that are not frozen, and the parameters-only
/// backward's, for the same pass.
fn both(
    net: &PathNet<f64>,
    pathway: &Pathway,
    task: usize,
    input: &ArrayD<f64>,
) -> (Vec<ModuleGrads<f64>>, Vec<ModuleGrads<f64>>) {
    let fwd = net.forward(pathway, task, input.view()).unwrap();
    // A non-uniform output gradient, so that every parameter receives a distinct value.
    let dy = fwd.output.mapv(|v| v.sin() + 0.5);
    let full = net.backward(&fwd.cache, dy.view()).unwrap();
    assert_eq!(full.input_grad.shape(), input.shape());
    let trainable = full
        .modules
        .into_iter()
        .filter(|m| !net.is_frozen(m.id).unwrap())
        .collect();
    (
        trainable,
        net.backward_params(&fwd.cache, dy.view()).unwrap(),
    )
}

fn linear_net() -> (PathNet<f64>, PathNetDims) {
    let dims = PathNetDims::new(3, 5, 3).unwrap();
    let modules = LinearModules {
        inputs: 7,
        units: 6,
    };
    (build::linear(dims, modules, &[3, 2], 21).unwrap(), dims)
}

#[test]
fn params_only_equals_the_full_backward_bit_for_bit() {
    let (net, dims) = linear_net();
    for seed in 0..4 {
        let pathway = Pathway::random(&dims, seed).unwrap();
        let (full, params) = both(
            &net,
            &pathway,
            (seed % 2) as usize,
            &input_for(&net, 5, seed),
        );
        assert_eq!(full.len(), 3 * 3 + 1);
        assert_eq!(bits(&params), bits(&full), "pathway {pathway}");
    }

    let (dims, modules) = common::small_conv();
    let net = build::conv::<f64>(dims, modules, &[2], 2).unwrap();
    let pathway = Pathway::new(vec![vec![1, 3], vec![0]], &dims).unwrap();
    let (full, params) = both(&net, &pathway, 0, &input_for(&net, 3, 9));
    assert_eq!(full.len(), 4);
    assert_eq!(bits(&params), bits(&full));
}

#[test]
fn frozen_modules_are_left_out_but_still_pass_gradients_down() {
    let (mut net, dims) = linear_net();
    let pathway = Pathway::new(vec![vec![0, 1], vec![2, 3], vec![4]], &dims).unwrap();
    let input = input_for(&net, 4, 1);
    // Frozen modules above, beside and below trainable ones, and a frozen head.
    for id in [
        ModuleId::new(2, 4),
        ModuleId::new(1, 3),
        ModuleId::new(0, 0),
    ] {
        net.freeze(id).unwrap();
    }
    net.freeze(net.head_id(1).unwrap()).unwrap();
    let (full, params) = both(&net, &pathway, 1, &input);
    let ids: Vec<ModuleId> = params.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![ModuleId::new(0, 1), ModuleId::new(1, 2)]);
    assert_eq!(bits(&params), bits(&full));

    // Only the head trainable: nothing of the shared layers is reported.
    net.freeze_pathway(&pathway).unwrap();
    let (full, params) = both(&net, &pathway, 0, &input);
    assert_eq!(
        params.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![net.head_id(0).unwrap()]
    );
    assert_eq!(bits(&params), bits(&full));

    // Nothing trainable at all.
    let (full, params) = both(&net, &pathway, 1, &input);
    assert!(full.is_empty() && params.is_empty());
}

#[test]
fn the_pathway_layer_skips_only_the_input_gradient() {
    let (mut net, dims) = linear_net();
    net.freeze(ModuleId::new(0, 2)).unwrap();
    let pathway = Pathway::new(vec![vec![2, 4], vec![0], vec![1, 3]], &dims).unwrap();
    let input = input_for(&net, 3, 2);
    let layer = net.pathway_layer(pathway, 0).unwrap();
    let Forward { output, cache } = layer.forward(input.view());
    let dy = output.mapv(|v| v.cos());
    let full = layer.backward(&cache, dy.view()).param_grads;
    let params = layer.backward_params(&cache, dy.view());
    // Frozen modules included: a layer knows nothing of freezing.
    assert_eq!(params.len(), 2 * (2 + 1 + 2 + 1));
    assert_eq!(params, full);
}

#[test]
fn a_mismatched_output_gradient_is_an_error() {
    let (net, dims) = linear_net();
    let pathway = Pathway::random(&dims, 3).unwrap();
    let fwd = net
        .forward(&pathway, 0, input_for(&net, 4, 3).view())
        .unwrap();
    let wrong = ArrayD::zeros(vec![4, 2]);
    assert!(matches!(
        net.backward_params(&fwd.cache, wrong.view()),
        Err(PathNetError::BatchShape { actual, .. }) if actual == vec![4, 2]
    ));
}

#[test]
fn training_matches_full_backward_plus_apply() {
    let (_, dims) = linear_net();
    let pathway = Pathway::new(vec![vec![3, 1], vec![0, 4, 2], vec![2]], &dims).unwrap();
    let frozen = ModuleId::new(1, 4);
    let sgd = || {
        ModuleOptimizers::cloning(
            Sgd::new(SgdConfig {
                lr: 0.1,
                momentum: 0.5,
            })
            .unwrap(),
        )
    };
    let (mut trained, mut manual) = (linear_net().0, linear_net().0);
    trained.freeze(frozen).unwrap();
    manual.freeze(frozen).unwrap();
    let (mut opt_trained, mut opt_manual) = (sgd(), sgd());
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for step in 0..3 {
        let x = input_for(&trained, 6, 10 + step);
        let labels: Vec<usize> = (0..6).map(|_| rng.random_range(0..3)).collect();
        let batch = Batch {
            inputs: x.view(),
            labels: &labels,
        };
        trained
            .train_pathway(&pathway, 0, [batch], &mut opt_trained)
            .unwrap();

        let fwd = manual.forward(&pathway, 0, x.view()).unwrap();
        let logits = fwd.output.view().into_dimensionality::<Ix2>().unwrap();
        let loss = cross_entropy(logits, &labels).unwrap();
        let grads = manual
            .backward(&fwd.cache, loss.grad.view().into_dyn())
            .unwrap();
        manual.apply_grads(&grads, &mut opt_manual).unwrap();
    }
    for id in trained.module_ids() {
        assert_eq!(trained.version(id), manual.version(id), "{id}");
        let (a, b) = (trained.params(id).unwrap(), manual.params(id).unwrap());
        let bits = |ps: &[ArrayViewD<'_, f64>]| -> Vec<u64> {
            ps.iter()
                .flat_map(|p| p.iter().map(|v| v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&a), bits(&b), "{id}");
    }
}

/// How often a module's two backward passes ran.
#[derive(Default)]
struct Calls {
    full: AtomicUsize,
    params_only: AtomicUsize,
}

/// A linear module that counts its backward passes.
struct Counted {
    inner: Linear<f64>,
    calls: Arc<Calls>,
}

impl Layer<f64> for Counted {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn forward(&self, input: ArrayViewD<'_, f64>) -> Forward<f64> {
        self.inner.forward(input)
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, f64>) -> Backward<f64> {
        self.calls.full.fetch_add(1, Ordering::Relaxed);
        self.inner.backward(cache, output_grad)
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, f64>) -> Vec<ArrayD<f64>> {
        self.calls.params_only.fetch_add(1, Ordering::Relaxed);
        self.inner.backward_params(cache, output_grad)
    }

    fn params(&self) -> Vec<ArrayViewD<'_, f64>> {
        self.inner.params()
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, f64>> {
        self.inner.params_mut()
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        self.inner.reinit(rng);
    }
}

#[test]
fn training_skips_work_no_update_depends_on() {
    let dims = PathNetDims::new(3, 3, 2).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut calls = Vec::new();
    let mut counted = |inputs, outputs, rng: &mut ChaCha8Rng| {
        let c = Arc::new(Calls::default());
        calls.push(c.clone());
        Box::new(Counted {
            inner: Linear::new(inputs, outputs, Init::HeUniform, rng),
            calls: c,
        }) as Box<dyn Layer<f64>>
    };
    let modules = (0..3)
        .map(|layer| {
            (0..3)
                .map(|_| counted(if layer == 0 { 5 } else { 4 }, 4, &mut rng))
                .collect()
        })
        .collect();
    let heads = vec![counted(4, 2, &mut rng)];
    let mut net = PathNet::from_parts(dims, vec![5], modules, heads).unwrap();
    // calls[3 * layer + index] for shared modules, calls[9] for the head.
    let count = |id: ModuleId| {
        let c = &calls[3 * id.layer + id.index];
        (
            c.full.load(Ordering::Relaxed),
            c.params_only.load(Ordering::Relaxed),
        )
    };
    let pathway = Pathway::new(vec![vec![0, 1], vec![2, 0], vec![1]], &dims).unwrap();
    let x = input_for(&net, 4, 6);
    let labels = [0, 1, 1, 0];
    let mut opt = ModuleOptimizers::cloning(
        Sgd::new(SgdConfig {
            lr: 0.1,
            momentum: 0.0,
        })
        .unwrap(),
    );
    let mut train = |net: &mut PathNet<f64>| {
        let batch = Batch {
            inputs: x.view(),
            labels: &labels,
        };
        net.train_pathway(&pathway, 0, [batch], &mut opt).unwrap();
    };

    // Nothing frozen: the first layer never computes its input gradient.
    train(&mut net);
    for id in pathway.module_ids() {
        let want = if id.layer == 0 { (0, 1) } else { (1, 0) };
        assert_eq!(count(id), want, "{id}");
    }
    assert_eq!(count(ModuleId::new(3, 0)), (1, 0));

    // The first layer frozen, and a module in each layer above: the frozen top module still
    // passes the gradient down, the middle layer is the lowest with anything to train, so it
    // needs no input gradient, its frozen module is skipped, and the first layer never runs.
    for id in [(0, 0), (0, 1), (1, 2), (2, 1)] {
        net.freeze(ModuleId::new(id.0, id.1)).unwrap();
    }
    train(&mut net);
    assert_eq!(count(ModuleId::new(0, 0)), (0, 1));
    assert_eq!(count(ModuleId::new(0, 1)), (0, 1));
    assert_eq!(count(ModuleId::new(1, 2)), (1, 0));
    assert_eq!(count(ModuleId::new(1, 0)), (1, 1));
    assert_eq!(count(ModuleId::new(2, 1)), (2, 0));
    assert_eq!(count(ModuleId::new(3, 0)), (2, 0));

    // Only the head trainable: it alone runs, without its input gradient.
    net.freeze_pathway(&pathway).unwrap();
    train(&mut net);
    assert_eq!(count(ModuleId::new(1, 0)), (1, 1));
    assert_eq!(count(ModuleId::new(2, 1)), (2, 0));
    assert_eq!(count(ModuleId::new(3, 0)), (2, 1));
}
