//! Gradient checks of the PathNet actor-critic, with linear and with conv modules: exact
//! zeros outside the pathway, for frozen modules, for other tasks' heads and for the padded
//! inputs; finite differences inside.

use super::config::TaskShape;
use super::network::{ConvSpec, ModuleSpec, PathNetActorCritic, split_outputs};
use crate::loss::{Actions, LossCoefs, Outputs, loss_with_advantages};
use ndarray::{Array1, Array2, ArrayD, Axis, Ix2, Slice};
use pathnet_nn::pathnet::{ModuleId, PathNetDims, Pathway};

/// Two tasks observing `narrow` and `wide` values.
fn tasks(narrow: usize, wide: usize) -> Vec<TaskShape> {
    vec![
        TaskShape {
            env: "a".into(),
            obs_dim: narrow,
            actions: 2,
        },
        TaskShape {
            env: "b".into(),
            obs_dim: wide,
            actions: 3,
        },
    ]
}

struct Segment {
    obs: Array2<f64>,
    actions: Vec<usize>,
    returns: Array1<f64>,
}

/// Five steps of a task observing `observed` values, zero-padded to `width`.
fn segment(observed: usize, width: usize) -> Segment {
    let mut obs = Array2::zeros((5, width));
    for t in 0..5 {
        for i in 0..observed {
            obs[[t, i]] = ((t * observed + i) as f64 * 0.37).sin();
        }
    }
    Segment {
        obs,
        actions: vec![0, 1, 1, 0, 1],
        returns: Array1::from(vec![1.5, -0.3, 0.8, 2.0, 0.1]),
    }
}

const COEFS: LossCoefs = LossCoefs {
    value_coef: 0.5,
    entropy_beta: 0.01,
};

/// The loss with the advantages held at `advantages`: what the gradients are gradients of.
fn loss_at(
    net: &PathNetActorCritic<f64>,
    pathway: &Pathway,
    seg: &Segment,
    advantages: Option<&[f64]>,
) -> (f64, Vec<f64>) {
    let mut shape = vec![seg.obs.nrows()];
    shape.extend_from_slice(net.net().input_shape());
    let input = seg.obs.to_shape(shape).unwrap();
    let out = net
        .net()
        .forward(pathway, 0, input.view())
        .unwrap()
        .output
        .into_dimensionality::<Ix2>()
        .unwrap();
    let (head, values) = split_outputs(out.view());
    let own: Vec<f64> = seg.returns.iter().zip(values).map(|(r, v)| r - v).collect();
    let outputs = Outputs {
        head,
        log_std: None,
        values,
    };
    let adv = advantages.unwrap_or(&own);
    let (parts, _) = loss_with_advantages(
        outputs,
        Actions::Discrete(&seg.actions),
        seg.returns.view(),
        adv,
        COEFS,
    );
    (parts.total(), own)
}

/// Checks the gradients of task 0 on `net` along `[[1, 3], [0, 2]]` with module (1, 2)
/// frozen. `padded(weight)` is the part of a first-layer weight that reads padding.
fn check_gradients(
    mut net: PathNetActorCritic<f64>,
    seg: &Segment,
    padded: impl Fn(&ArrayD<f64>) -> Vec<f64>,
) {
    let dims = *net.dims();
    let pathway = Pathway::new(vec![vec![1, 3], vec![0, 2]], &dims).unwrap();
    let frozen = ModuleId::new(1, 2);
    net.freeze(&[frozen]).unwrap();
    let (_, grads) = net
        .loss_and_grads(
            &pathway,
            0,
            seg.obs.view(),
            &seg.actions,
            seg.returns.view(),
            COEFS,
        )
        .unwrap();
    assert_eq!(grads.len(), net.param_shapes().len());

    let trained: Vec<ModuleId> = [(0, 1), (0, 3), (1, 0)]
        .map(|(l, m)| ModuleId::new(l, m))
        .into_iter()
        .chain([net.net().head_id(0).unwrap()])
        .collect();
    let ids: Vec<ModuleId> = net.net().module_ids().collect();
    for &id in &ids {
        let range = net.tensors(id);
        let nonzero = grads[range]
            .iter()
            .flat_map(|g| g.iter())
            .filter(|&&v| v != 0.0)
            .count();
        if trained.contains(&id) {
            assert!(nonzero > 0, "{id} should be trained");
        } else {
            assert_eq!(nonzero, 0, "{id} must get exactly zero gradient");
        }
    }
    // Task 0's padding gives the first layer's weights that read it nothing.
    let first = &grads[net.tensors(ModuleId::new(0, 1)).start];
    let from_padding = padded(first);
    assert!(!from_padding.is_empty());
    assert!(from_padding.iter().all(|&v| v == 0.0));

    let (_, advantages) = loss_at(&net, &pathway, seg, None);
    let h = 1e-6;
    let base: Vec<ArrayD<f64>> = net.params().iter().map(|p| p.to_owned()).collect();
    for &id in &trained {
        let range = net.tensors(id);
        for (k, index) in range.clone().enumerate() {
            // A few entries of each tensor: first, middle, last.
            let len = base[index].len();
            for flat in [0, len / 2, len - 1] {
                let mut probe = |delta: f64| {
                    let mut params = base.clone();
                    let slot = params[index].iter_mut().nth(flat).unwrap();
                    *slot += delta;
                    net.load(&params, [id]).unwrap();
                    loss_at(&net, &pathway, seg, Some(&advantages)).0
                };
                let numeric = (probe(h) - probe(-h)) / (2.0 * h);
                let analytic = *grads[index].iter().nth(flat).unwrap();
                assert!(
                    (numeric - analytic).abs() <= 1e-5 * (1.0 + analytic.abs()),
                    "{id} tensor {k} entry {flat}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
        net.load(&base, [id]).unwrap();
    }
}

#[test]
fn linear_gradients_reach_only_the_active_unfrozen_modules_and_match_finite_differences() {
    let dims = PathNetDims::new(2, 4, 2).unwrap();
    let units = ModuleSpec::Linear { units: 5 };
    let net = PathNetActorCritic::<f64>::new(dims, units, tasks(4, 6), 3).unwrap();
    // Weights are `[inputs, units]`: rows 4 and 5 read the padding.
    check_gradients(net, &segment(4, 6), |w| {
        w.slice_axis(Axis(0), Slice::from(4..))
            .iter()
            .copied()
            .collect()
    });
}

#[test]
fn conv_gradients_reach_only_the_active_unfrozen_modules_and_match_finite_differences() {
    let dims = PathNetDims::new(2, 4, 2).unwrap();
    let conv = ModuleSpec::Conv(ConvSpec {
        filters: 2,
        kernel: 3,
        stride: 1,
        padding: 1,
    });
    // Task 0 has 2 channels of 10x10, task 1 has 3.
    let net = PathNetActorCritic::<f64>::new(dims, conv, tasks(200, 300), 5).unwrap();
    assert_eq!(net.net().input_shape(), [3, 10, 10]);
    assert_eq!(net.input_dim(), 300);
    // Weights are `[filters, channels, k, k]`: channel 2 is padding for task 0.
    check_gradients(net, &segment(200, 300), |w| {
        w.slice_axis(Axis(1), Slice::from(2..))
            .iter()
            .copied()
            .collect()
    });
}

#[test]
fn the_parameter_list_is_modules_then_heads() {
    let dims = PathNetDims::new(2, 3, 1).unwrap();
    let net = PathNetActorCritic::<f32>::new(dims, ModuleSpec::Linear { units: 4 }, tasks(4, 6), 1)
        .unwrap();
    let names = net.param_names();
    assert_eq!(names.len(), 2 * (2 * 3 + 2));
    assert_eq!(names[0], "layer0.module0.weight");
    assert_eq!(names[11], "layer1.module2.bias");
    assert_eq!(names[12], "head0.weight");
    assert_eq!(names[15], "head1.bias");
    let shapes = net.param_shapes();
    assert_eq!(shapes[0], vec![6, 4], "first layer sees the padded width");
    assert_eq!(shapes[6], vec![4, 4]);
    assert_eq!(shapes[12], vec![4, 3], "task 0: 2 logits and the value");
    assert_eq!(shapes[14], vec![4, 4], "task 1: 3 logits and the value");
    assert_eq!(net.tensors(net.net().head_id(1).unwrap()), 14..16);
    // The logits start small, the value column does not.
    let head = &net.params()[12];
    let largest = |from: usize, to: usize| {
        head.slice_axis(Axis(1), Slice::from(from..to))
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()))
    };
    let (logit, value) = (largest(0, 2), largest(2, 3));
    assert!(
        logit < 0.02 && value > 0.05,
        "logits {logit}, value {value}"
    );
}

#[test]
fn conv_modules_keep_one_parameter_list_of_modules_then_heads() {
    let dims = PathNetDims::new(3, 2, 1).unwrap();
    let conv = ModuleSpec::Conv(ConvSpec {
        filters: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
    });
    let net = PathNetActorCritic::<f32>::new(dims, conv, tasks(400, 700), 1).unwrap();
    let names = net.param_names();
    assert_eq!(names.len(), 2 * (3 * 2 + 2));
    assert_eq!(names[0], "layer0.module0.weight");
    assert_eq!(names[12], "head0.weight");
    assert_eq!(names[15], "head1.bias");
    let shapes = net.param_shapes();
    assert_eq!(
        shapes[0],
        vec![4, 7, 3, 3],
        "the first layer reads every channel"
    );
    assert_eq!(shapes[1], vec![4]);
    assert_eq!(shapes[4], vec![4, 4, 3, 3]);
    // 10x10 -> 8x8 -> 6x6 -> 4x4 maps of 4 filters, flattened.
    assert_eq!(
        shapes[12],
        vec![4 * 4 * 4, 3],
        "task 0: 2 logits and the value"
    );
    assert_eq!(
        shapes[14],
        vec![4 * 4 * 4, 4],
        "task 1: 3 logits and the value"
    );
    let params = net.params();
    assert_eq!(params.len(), shapes.len());
    for (p, s) in params.iter().zip(shapes) {
        assert_eq!(p.shape(), s.as_slice());
    }

    let pathway = Pathway::new(vec![vec![0], vec![1], vec![0]], &dims).unwrap();
    let obs: Vec<f32> = (0..700).map(|i| (i % 3) as f32).collect();
    let (logits, value) = net.act(&pathway, 1, &obs).unwrap();
    assert_eq!(logits.len(), 3);
    assert!(value.is_finite() && logits.iter().all(|l| l.is_finite()));
    let e = net.act(&pathway, 1, &obs[..400]).unwrap_err().to_string();
    assert!(e.contains("400"), "{e}");
}

#[test]
fn conv_modules_need_grid_observations() {
    let dims = PathNetDims::new(2, 2, 1).unwrap();
    let conv = ModuleSpec::Conv(ConvSpec {
        filters: 2,
        kernel: 3,
        stride: 1,
        padding: 0,
    });
    let e = PathNetActorCritic::<f32>::new(dims, conv, tasks(400, 6), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("`tasks[1].env`") && e.contains("6 values"),
        "{e}"
    );
}
