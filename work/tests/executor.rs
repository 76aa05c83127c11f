//! The executor on real Fashion-MNIST: it asks only for the modules it lacks, trains the
//! pathway, reports deltas for trainable modules only, and goes back to the versions it
//! trained from.

use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetDims};
use pathnet_work::{Architecture, Executor, PathwayJob, SupervisedTask, TaskDataCache};
use std::path::PathBuf;

fn fashion_dir() -> PathBuf {
    let dir = std::env::var_os("PATHNET_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    assert!(dir.is_dir(), "Fashion-MNIST not found at {}", dir.display());
    dir
}

fn architecture() -> Architecture {
    Architecture {
        dims: PathNetDims::new(2, 3, 2).unwrap(),
        module_units: 4,
        input_features: 784,
        head_classes: vec![2],
    }
}

fn job(master: &PathNet<f32>, frozen: Vec<ModuleId>) -> PathwayJob {
    let pathway = vec![vec![0, 2], vec![1]];
    let ids = [
        ModuleId::new(0, 0),
        ModuleId::new(0, 2),
        ModuleId::new(1, 1),
        ModuleId::new(2, 0),
    ];
    PathwayJob {
        experiment: "exp".into(),
        architecture: architecture(),
        task_index: 0,
        task: SupervisedTask {
            data_dir: fashion_dir(),
            classes: [5, 7],
            noise: 0.0,
            noise_seed: 1,
        },
        pathway,
        minibatches: 5,
        batch_size: 8,
        learning_rate: 0.05,
        data_seed: 42,
        modules: ids
            .iter()
            .map(|&id| (id, master.version(id).unwrap()))
            .collect(),
        frozen,
    }
}

/// A master copy at version 3 everywhere, as a coordinator would hold it.
fn master() -> PathNet<f32> {
    let mut net = architecture().build(11).unwrap();
    for id in net.module_ids().collect::<Vec<_>>() {
        let params: Vec<_> = net
            .params(id)
            .unwrap()
            .iter()
            .map(|p| p.to_owned())
            .collect();
        net.load_params(id, &params, 3).unwrap();
    }
    net
}

fn load_stale(executor: &mut Executor, master: &PathNet<f32>, job: &PathwayJob) -> usize {
    let stale = executor.stale_modules(job).unwrap();
    for &(id, _) in &stale {
        let params = pathnet_work::ModuleParams {
            id,
            version: master.version(id).unwrap(),
            tensors: master
                .params(id)
                .unwrap()
                .iter()
                .map(|p| p.to_owned())
                .collect(),
        };
        executor.load(&job.experiment, &params).unwrap();
    }
    stale.len()
}

#[test]
fn trains_only_unfrozen_modules_and_mirrors_the_master_afterwards() {
    let master = master();
    let frozen = ModuleId::new(0, 2);
    let job = job(&master, vec![frozen]);
    let mut executor = Executor::new(TaskDataCache::new(None));
    assert_eq!(load_stale(&mut executor, &master, &job), 4);
    let outcome = executor.run(&job).unwrap();
    assert_eq!(outcome.examples, 40);
    assert!((outcome.fitness + 1.0 - outcome.training_accuracy).abs() < 1e-12);
    let ids: Vec<ModuleId> = outcome.deltas.iter().map(|d| d.id).collect();
    assert_eq!(
        ids,
        [
            ModuleId::new(0, 0),
            ModuleId::new(1, 1),
            ModuleId::new(2, 0)
        ]
    );
    for delta in &outcome.deltas {
        assert_eq!(delta.base_version, 3);
        let shapes: Vec<&[usize]> = delta.tensors.iter().map(|t| t.shape()).collect();
        let expected: Vec<Vec<usize>> = master
            .params(delta.id)
            .unwrap()
            .iter()
            .map(|p| p.shape().to_vec())
            .collect();
        assert_eq!(shapes, expected);
        assert!(
            delta.tensors.iter().flatten().any(|v| *v != 0.0),
            "{}",
            delta.id
        );
    }
    // Back at the versions it trained from: nothing to pull for the same job.
    assert_eq!(executor.stale_modules(&job).unwrap(), []);
    // Same job, same replica contents: the same outcome.
    assert_eq!(executor.run(&job).unwrap(), outcome);
}

#[test]
fn another_experiment_starts_a_fresh_replica() {
    let master = master();
    let first = job(&master, Vec::new());
    let mut executor = Executor::new(TaskDataCache::new(None));
    load_stale(&mut executor, &master, &first);
    let mut second = first.clone();
    second.experiment = "other".into();
    assert_eq!(executor.stale_modules(&second).unwrap().len(), 4);
    let params = pathnet_work::ModuleParams {
        id: ModuleId::new(0, 0),
        version: 3,
        tensors: Vec::new(),
    };
    let err = executor.load("exp", &params).unwrap_err().to_string();
    assert!(err.contains("`other`"), "{err}");
    let err = executor.run(&second).unwrap_err().to_string();
    assert!(err.contains("version 0"), "{err}");
}

#[test]
fn a_missing_dataset_names_the_directory() {
    let master = master();
    let mut job = job(&master, Vec::new());
    job.task.data_dir = "/no/such/data".into();
    let mut executor = Executor::new(TaskDataCache::new(None));
    load_stale(&mut executor, &master, &job);
    let err = executor.run(&job).unwrap_err().to_string();
    assert!(err.contains("/no/such/data"), "{err}");
    // An override for this machine's copy of the data fixes it.
    let mut executor = Executor::new(TaskDataCache::new(Some(fashion_dir())));
    load_stale(&mut executor, &master, &job);
    assert!(executor.run(&job).is_ok());
}

#[test]
fn a_diverging_run_reports_the_worst_fitness_and_no_deltas() {
    let master = master();
    let mut job = job(&master, Vec::new());
    // Far past any stable step size: the loss overflows within a few minibatches.
    job.learning_rate = 1e30;
    let mut executor = Executor::new(TaskDataCache::new(None));
    load_stale(&mut executor, &master, &job);
    let outcome = executor.run(&job).unwrap();
    assert_eq!(outcome.fitness, -1.0);
    assert_eq!(outcome.training_accuracy, 0.0);
    assert!(outcome.deltas.is_empty());
    // The replica went back to the master's parameters, so a sane job still trains.
    assert_eq!(executor.stale_modules(&job).unwrap(), []);
    job.learning_rate = 0.05;
    let sane = executor.run(&job).unwrap();
    assert!(sane.fitness > -1.0 && !sane.deltas.is_empty());
}

/// After the coordinator added our deltas to their own base versions, the replica moves
/// those modules to the new versions itself, holding exactly what the master holds: the
/// next job pulls only what someone else changed, and trains as a fresh replica would.
#[test]
fn adopted_modules_equal_the_master_without_a_pull() {
    let mut master = master();
    let first = job(&master, Vec::new());
    let mut executor = Executor::new(TaskDataCache::new(None));
    load_stale(&mut executor, &master, &first);
    let outcome = executor.run(&first).unwrap();

    // The coordinator's side: each delta added to the master at version 3, making 4, except
    // one module another result changed first (its delta lands on 4, making 5).
    let contested = ModuleId::new(1, 1);
    let mut updated = Vec::new();
    for delta in &outcome.deltas {
        let mut base: Vec<_> = master
            .params(delta.id)
            .unwrap()
            .iter()
            .map(|p| p.to_owned())
            .collect();
        let mut version = 3;
        if delta.id == contested {
            base.iter_mut().for_each(|t| t.mapv_inplace(|v| v + 0.25));
            version += 1;
        }
        let summed: Vec<_> = base
            .iter()
            .zip(&delta.tensors)
            .map(|(b, d)| b + d)
            .collect();
        master.load_params(delta.id, &summed, version + 1).unwrap();
        if delta.id != contested {
            updated.push((delta.id, version + 1));
        }
    }
    // Names it cannot use are skipped: a version not past the base, a module it sent no
    // delta for.
    let mut told = updated.clone();
    told.push((ModuleId::new(0, 1), 4));
    told.push((contested, 3));
    assert_eq!(
        executor.adopt("exp", &outcome.deltas, &told).unwrap(),
        updated.len()
    );
    assert_eq!(updated.len(), 3);

    let next = job(&master, Vec::new());
    assert_eq!(
        executor.stale_modules(&next).unwrap(),
        [(contested, 5)],
        "only the module changed by someone else is pulled"
    );
    load_stale(&mut executor, &master, &next);
    let mut fresh = Executor::new(TaskDataCache::new(None));
    load_stale(&mut fresh, &master, &next);
    assert_eq!(
        executor.run(&next).unwrap(),
        fresh.run(&next).unwrap(),
        "the kept modules hold exactly the master's parameters"
    );
    // Another experiment's replica keeps nothing.
    assert_eq!(
        executor.adopt("other", &outcome.deltas, &updated).unwrap(),
        0
    );
}
