//! The fixture the wire tests share: a pathway job with every field set.

use pathnet_nn::pathnet::{ModuleId, PathNetDims};
use pathnet_work::{Architecture, PathwayJob, SupervisedTask};

/// A job on a 2-layer, 4-module network whose pathway, modules and frozen set all differ.
pub(crate) fn job() -> PathwayJob {
    PathwayJob {
        experiment: "exp-1".into(),
        architecture: Architecture {
            dims: PathNetDims::new(2, 4, 2).unwrap(),
            module_units: 3,
            input_features: 5,
            head_classes: vec![2, 2],
        },
        task_index: 1,
        task: SupervisedTask {
            data_dir: "/data/fashion".into(),
            classes: [5, 7],
            noise: 0.25,
            noise_seed: 99,
        },
        pathway: vec![vec![0, 3], vec![2]],
        minibatches: 50,
        batch_size: 16,
        learning_rate: 0.05,
        data_seed: 1234,
        modules: vec![
            (ModuleId::new(0, 0), 3),
            (ModuleId::new(0, 3), 1),
            (ModuleId::new(1, 2), 7),
            (ModuleId::new(2, 1), 2),
        ],
        frozen: vec![ModuleId::new(0, 3)],
    }
}
