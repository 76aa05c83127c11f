//! Training pathways: what changes (active, unfrozen modules and the task's head) and what
//! must not (inactive and frozen modules, other tasks' heads), versions, transfer
//! re-initialisation, parameter upload, determinism, and learning a separable toy problem.

use ndarray::{Array2, ArrayD};
use pathnet_nn::pathnet::build::{self, LinearModules};
use pathnet_nn::pathnet::{
    Batch, ModuleId, ModuleOptimizers, PathNet, PathNetDims, PathNetError, Pathway, batches,
};
use pathnet_nn::{RmsProp, RmsPropConfig, Sgd, SgdConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUTS: usize = 6;

fn dims() -> PathNetDims {
    PathNetDims::new(3, 6, 2).unwrap()
}

fn net(seed: u64) -> PathNet<f32> {
    let modules = LinearModules {
        inputs: INPUTS,
        units: 8,
    };
    build::linear(dims(), modules, &[2, 3], seed).unwrap()
}

fn sgd(lr: f64) -> ModuleOptimizers<Sgd<f32>> {
    ModuleOptimizers::cloning(Sgd::new(SgdConfig { lr, momentum: 0.0 }).unwrap())
}

/// A linearly separable two-class problem: the label is the side of a fixed hyperplane.
fn toy_data(rows: usize, seed: u64) -> (ArrayD<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = [1.0f32, -2.0, 0.5, 1.5, -1.0, 0.8];
    let x = Array2::from_shape_simple_fn((rows, INPUTS), || rng.random_range(-1.0f32..1.0));
    let labels = x
        .rows()
        .into_iter()
        .map(|r| usize::from(r.iter().zip(&normal).map(|(a, b)| a * b).sum::<f32>() > 0.0))
        .collect();
    (x.into_dyn(), labels)
}

fn snapshot(net: &PathNet<f32>) -> Vec<(ModuleId, Vec<ArrayD<f32>>, u64)> {
    net.module_ids()
        .map(|id| {
            let params = net
                .params(id)
                .unwrap()
                .iter()
                .map(|p| p.to_owned())
                .collect();
            (id, params, net.version(id).unwrap())
        })
        .collect()
}

#[test]
fn training_touches_only_active_unfrozen_modules_and_the_task_head() {
    let mut net = net(1);
    let pathway = Pathway::new(vec![vec![0, 3], vec![5], vec![2, 1]], &dims()).unwrap();
    let frozen = [ModuleId::new(0, 3), ModuleId::new(2, 1)];
    for id in frozen {
        net.freeze(id).unwrap();
    }
    let before = snapshot(&net);
    let (x, y) = toy_data(64, 2);
    let report = net
        .train_pathway(
            &pathway,
            0,
            batches(x.view(), &y, 16).unwrap(),
            &mut sgd(0.1),
        )
        .unwrap();
    assert_eq!(report.losses.len(), 4);
    assert_eq!(report.examples, 64);

    let head = net.head_id(0).unwrap();
    for (id, params, version) in before {
        let now: Vec<ArrayD<f32>> = net
            .params(id)
            .unwrap()
            .iter()
            .map(|p| p.to_owned())
            .collect();
        let trained = (pathway.uses(id) || id == head) && !frozen.contains(&id);
        if trained {
            assert_ne!(now, params, "{id} should have been trained");
            assert_eq!(
                net.version(id).unwrap(),
                version + 4,
                "{id}: one bump per batch"
            );
        } else {
            // Bit-identical: compare the raw bits, not approximately.
            let bits = |ps: &[ArrayD<f32>]| -> Vec<u32> {
                ps.iter()
                    .flat_map(|p| p.iter().map(|v| v.to_bits()))
                    .collect()
            };
            assert_eq!(bits(&now), bits(&params), "{id} must be untouched");
            assert_eq!(net.version(id).unwrap(), version, "{id}");
        }
    }
    // The other task's head in particular.
    let other = net.head_id(1).unwrap();
    assert!(!pathway.uses(other));
    assert_eq!(net.version(other).unwrap(), 0);
}

#[test]
fn frozen_modules_still_shape_the_output() {
    let mut net = net(3);
    let pathway = Pathway::new(vec![vec![1], vec![2], vec![4]], &dims()).unwrap();
    let (x, _) = toy_data(8, 4);
    let out = net.forward(&pathway, 0, x.view()).unwrap().output;
    net.freeze_pathway(&pathway).unwrap();
    let mut zeroed = net
        .params(ModuleId::new(1, 2))
        .unwrap()
        .iter()
        .map(|p| p.to_owned())
        .collect::<Vec<_>>();
    zeroed.iter_mut().for_each(|p| p.fill(0.0));
    net.set_params(ModuleId::new(1, 2), &zeroed).unwrap();
    let after = net.forward(&pathway, 0, x.view()).unwrap().output;
    assert_ne!(
        out, after,
        "a frozen module is still part of the forward pass"
    );
}

#[test]
fn a_separable_toy_problem_is_learnt() {
    let mut net = net(5);
    let pathway = Pathway::random(&dims(), 5).unwrap();
    let (train_x, train_y) = toy_data(512, 6);
    let (test_x, test_y) = toy_data(256, 7);
    let test = || batches(test_x.view(), &test_y, 64).unwrap();
    let before = net.evaluate(&pathway, 0, test()).unwrap();
    let mut optimizers = sgd(0.1);
    let mut reports = Vec::new();
    for _ in 0..10 {
        let epoch = batches(train_x.view(), &train_y, 16).unwrap();
        reports.push(
            net.train_pathway(&pathway, 0, epoch, &mut optimizers)
                .unwrap(),
        );
    }
    let after = net.evaluate(&pathway, 0, test()).unwrap();
    assert!(
        after.mean_loss < 0.5 * before.mean_loss,
        "loss {} -> {}",
        before.mean_loss,
        after.mean_loss
    );
    assert!(after.accuracy() > 0.9, "accuracy {}", after.accuracy());
    let (first, last) = (&reports[0], &reports[9]);
    assert!(last.mean_loss() < first.mean_loss());
    assert!(
        last.fitness() > first.fitness(),
        "{} -> {}",
        first.fitness(),
        last.fitness()
    );
    assert!((-1.0..=0.0).contains(&last.fitness()));
    assert_eq!(
        last.fitness(),
        -(last.misclassified as f64) / last.examples as f64
    );
}

#[test]
fn same_seed_same_network_and_training() {
    let run = |seed| {
        let mut net = net(seed);
        let pathway = Pathway::random(&dims(), seed).unwrap();
        let (x, y) = toy_data(48, seed);
        let report = net
            .train_pathway(
                &pathway,
                1,
                batches(x.view(), &y.iter().map(|l| l % 3).collect::<Vec<_>>(), 16).unwrap(),
                &mut sgd(0.05),
            )
            .unwrap();
        (snapshot(&net), report)
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0);
}

#[test]
fn transfer_reinitialises_everything_but_the_frozen_pathway() {
    let mut net = net(11);
    let best = Pathway::new(vec![vec![0, 1], vec![2, 3], vec![4, 5]], &dims()).unwrap();
    net.freeze_pathway(&best).unwrap();
    let head_a = net.head_id(0).unwrap();
    net.freeze(head_a).unwrap();
    let before = snapshot(&net);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let reset = net.reinit_unfrozen(&mut rng);
    assert_eq!(reset.len(), 3 * 6 + 2 - 7);
    for (id, params, version) in before {
        let now: Vec<ArrayD<f32>> = net
            .params(id)
            .unwrap()
            .iter()
            .map(|p| p.to_owned())
            .collect();
        if best.uses(id) || id == head_a {
            assert!(net.is_frozen(id).unwrap());
            assert_eq!(now, params, "{id}");
            assert_eq!(net.version(id).unwrap(), version);
        } else {
            assert!(reset.contains(&id));
            assert_ne!(now, params, "{id}");
            assert_eq!(net.version(id).unwrap(), version + 1);
        }
    }
    let mut frozen = net.frozen_ids();
    frozen.sort();
    assert_eq!(frozen.len(), 7);
    net.unfreeze(head_a).unwrap();
    assert!(!net.is_frozen(head_a).unwrap());
}

#[test]
fn parameters_are_shipped_by_module_id() {
    let mut source = net(13);
    let mut replica = net(14);
    let id = ModuleId::new(1, 4);
    let params: Vec<ArrayD<f32>> = source
        .params(id)
        .unwrap()
        .iter()
        .map(|p| p.to_owned())
        .collect();
    assert_eq!(source.set_params(id, &params).unwrap(), 1);
    replica.load_params(id, &params, 7).unwrap();
    assert_eq!(replica.version(id).unwrap(), 7);
    let shipped: Vec<ArrayD<f32>> = replica
        .params(id)
        .unwrap()
        .iter()
        .map(|p| p.to_owned())
        .collect();
    assert_eq!(shipped, params);

    let bad_id = ModuleId::new(3, 2); // task 2 does not exist
    assert_eq!(
        replica.params(bad_id).unwrap_err(),
        PathNetError::UnknownModule { id: bad_id }
    );
    assert!(matches!(
        replica.set_params(id, &params[..1]),
        Err(PathNetError::ParamCount {
            expected: 2,
            actual: 1,
            ..
        })
    ));
    let wrong = vec![params[0].clone(), ArrayD::zeros(vec![3])];
    assert!(matches!(
        replica.set_params(id, &wrong),
        Err(PathNetError::ParamShape { param: 1, .. })
    ));
    let mut nan = params.clone();
    nan[0][[0, 0]] = f32::NAN;
    assert!(matches!(
        replica.set_params(id, &nan),
        Err(PathNetError::NonFinite { param: 0, .. })
    ));
    assert_eq!(
        replica.version(id).unwrap(),
        7,
        "rejected uploads change nothing"
    );
    assert_eq!(replica.module_ids().count(), 3 * 6 + 2);
}

#[test]
fn bad_batches_and_tasks_are_errors() {
    let mut net = net(15);
    let pathway = Pathway::random(&dims(), 15).unwrap();
    let (x, y) = toy_data(8, 16);
    let mut opt = sgd(0.1);
    let batch = |labels| Batch {
        inputs: x.view(),
        labels,
    };
    assert_eq!(
        net.train_pathway(&pathway, 2, [batch(&y)], &mut opt)
            .unwrap_err(),
        PathNetError::UnknownTask { task: 2, tasks: 2 }
    );
    let mut bad_labels = y.clone();
    bad_labels[3] = 2;
    assert!(matches!(
        net.train_pathway(&pathway, 0, [batch(&bad_labels)], &mut opt),
        Err(PathNetError::Loss { task: 0, .. })
    ));
    assert!(matches!(
        net.train_pathway(&pathway, 0, [batch(&y[..4])], &mut opt),
        Err(PathNetError::Loss { .. })
    ));
    let wide = ArrayD::<f32>::zeros(vec![8, INPUTS + 1]);
    assert!(matches!(
        net.evaluate(
            &pathway,
            0,
            [Batch {
                inputs: wide.view(),
                labels: &y
            }]
        ),
        Err(PathNetError::BatchShape { .. })
    ));
    assert!(matches!(
        net.train_pathway(&pathway, 0, Vec::new(), &mut opt),
        Err(PathNetError::NoData { .. })
    ));
    assert!(matches!(
        batches(x.view(), &y[..5], 4),
        Err(PathNetError::BatchShape { .. })
    ));
    assert!(matches!(
        batches(x.view(), &y, 0),
        Err(PathNetError::Dims {
            field: "batch_size",
            ..
        })
    ));
    let sizes: Vec<usize> = batches(x.view(), &y, 3)
        .unwrap()
        .iter()
        .map(|b| b.labels.len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 2]);
    let wider = PathNetDims::new(3, 7, 2).unwrap();
    let other = Pathway::new(vec![vec![0], vec![6], vec![1]], &wider).unwrap();
    assert!(matches!(
        net.forward(&other, 0, x.view()),
        Err(PathNetError::IndexOutOfRange {
            layer: 1,
            position: 0,
            value: 6,
            modules: 6
        })
    ));
    // The optimiser is only created for modules that were actually updated.
    assert_eq!(opt.modules().count(), 0);
}

#[test]
fn stateful_optimisers_get_one_instance_per_updated_module() {
    let mut net = net(17);
    let pathway = Pathway::new(vec![vec![0, 1], vec![2], vec![3]], &dims()).unwrap();
    net.freeze(ModuleId::new(1, 2)).unwrap();
    let config = RmsPropConfig::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut optimizers = ModuleOptimizers::new(move |id, shapes: &[Vec<usize>]| {
        tx.send((id, shapes.to_vec())).unwrap();
        RmsProp::<f32>::new(config, shapes).unwrap()
    });
    let (x, y) = toy_data(32, 18);
    for _ in 0..3 {
        net.train_pathway(
            &pathway,
            0,
            batches(x.view(), &y, 16).unwrap(),
            &mut optimizers,
        )
        .unwrap();
    }
    let created: Vec<(ModuleId, Vec<Vec<usize>>)> = rx.try_iter().collect();
    let ids: Vec<ModuleId> = created.iter().map(|(id, _)| *id).collect();
    let head = net.head_id(0).unwrap();
    assert_eq!(
        ids,
        vec![
            ModuleId::new(0, 0),
            ModuleId::new(0, 1),
            ModuleId::new(2, 3),
            head
        ],
        "created once each, on first update, never for the frozen module"
    );
    assert_eq!(created[3].1, vec![vec![8, 2], vec![2]]);
    assert_eq!(optimizers.modules().count(), 4);
    optimizers.reset(&[head]);
    assert_eq!(optimizers.modules().count(), 3);
}
