//! Gradient checks of the PathNet actor-critic: exact zeros outside the pathway, for frozen
//! modules and for other tasks' heads; finite differences inside.

use super::config::TaskShape;
use super::network::{PathNetActorCritic, split_outputs};
use crate::loss::{Actions, LossCoefs, Outputs, loss_with_advantages};
use ndarray::{Array1, Array2, ArrayD, Axis, Ix2, Slice};
use pathnet_nn::pathnet::{ModuleId, PathNetDims, Pathway};

fn tasks() -> Vec<TaskShape> {
    vec![
        TaskShape {
            env: "a".into(),
            obs_dim: 4,
            actions: 2,
        },
        TaskShape {
            env: "b".into(),
            obs_dim: 6,
            actions: 3,
        },
    ]
}

struct Segment {
    obs: Array2<f64>,
    actions: Vec<usize>,
    returns: Array1<f64>,
}

/// Five steps of task 0 (4 observed values, zero-padded to 6).
fn segment() -> Segment {
    let mut obs = Array2::zeros((5, 6));
    for t in 0..5 {
        for i in 0..4 {
            obs[[t, i]] = ((t * 4 + i) as f64 * 0.37).sin();
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
    let out = net
        .net()
        .forward(pathway, 0, seg.obs.view().into_dyn())
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

#[test]
fn gradients_reach_only_the_active_unfrozen_modules_and_match_finite_differences() {
    let dims = PathNetDims::new(2, 4, 2).unwrap();
    let mut net = PathNetActorCritic::<f64>::new(dims, 5, tasks(), 3).unwrap();
    let pathway = Pathway::new(vec![vec![1, 3], vec![0, 2]], &dims).unwrap();
    let frozen = ModuleId::new(1, 2);
    net.freeze(&[frozen]).unwrap();
    let seg = segment();
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
    // Task 0 pads two inputs with zeros: the first layer's weights from them get nothing.
    let first = &grads[net.tensors(ModuleId::new(0, 1)).start];
    assert!(
        first
            .slice_axis(Axis(0), Slice::from(4..))
            .iter()
            .all(|&v| v == 0.0)
    );

    let (_, advantages) = loss_at(&net, &pathway, &seg, None);
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
                    loss_at(&net, &pathway, &seg, Some(&advantages)).0
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
fn the_parameter_list_is_modules_then_heads() {
    let dims = PathNetDims::new(2, 3, 1).unwrap();
    let net = PathNetActorCritic::<f32>::new(dims, 4, tasks(), 1).unwrap();
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
