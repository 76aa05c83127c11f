//! PathNet-A3C worker leases on the wire: what the coordinator sends decodes to the same
//! job, and whatever does not fit the table's super-network is refused, naming the field.

use pathnet_nn::pathnet::{ModuleId, Pathway};
use pathnet_proto::v1;
use pathnet_rl::pathnet_a3c::PathNetA3cConfig;
use pathnet_work::pathnet_a3c_wire::{pathway_from_wire, pathway_to_wire, worker_from_payload};
use pathnet_work::wire::{WireError, module_to_wire};

const TABLE: &str = r#"
tasks = [{ env = "CartPole-v1" }, { env = "Acrobot-v1" }]
layers = 2
modules = 4
max_active = 2
"#;

fn config() -> PathNetA3cConfig {
    toml::from_str(TABLE).unwrap()
}

fn item() -> v1::PathNetA3cWorker {
    let pathway = Pathway::new(vec![vec![0, 3], vec![1]], &config().dims()).unwrap();
    v1::PathNetA3cWorker {
        config_toml: toml::to_string(&config()).unwrap(),
        worker_index: 7,
        seed: 11,
        task: 1,
        phase: 2,
        pathway: Some(pathway_to_wire(&pathway)),
        frozen: vec![module_to_wire(ModuleId::new(1, 2), 2)],
    }
}

fn field_of(err: WireError) -> String {
    match err {
        WireError::Invalid { field, .. } => field.to_string(),
        WireError::Missing(field) => field.to_string(),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_worker_lease_decodes_to_what_was_sent() {
    let job = worker_from_payload(&item()).unwrap();
    assert_eq!(job.config, config());
    assert_eq!(
        (job.worker_index, job.seed, job.task, job.phase),
        (7, 11, 1, 2)
    );
    assert_eq!(job.pathway.layers(), [vec![0, 3], vec![1]]);
    assert_eq!(job.frozen, [ModuleId::new(1, 2)]);
}

#[test]
fn what_does_not_fit_the_super_network_is_refused() {
    let mut bad = item();
    bad.task = 2;
    assert_eq!(field_of(worker_from_payload(&bad).unwrap_err()), "task");

    let mut bad = item();
    bad.pathway.as_mut().unwrap().layers[0].module_indices = vec![0, 4];
    assert_eq!(field_of(worker_from_payload(&bad).unwrap_err()), "pathway");

    let mut bad = item();
    bad.pathway.as_mut().unwrap().layers[1].module_indices = vec![0, 1, 2];
    assert_eq!(field_of(worker_from_payload(&bad).unwrap_err()), "pathway");

    let mut bad = item();
    bad.pathway = None;
    assert_eq!(field_of(worker_from_payload(&bad).unwrap_err()), "pathway");

    let mut bad = item();
    bad.frozen = vec![module_to_wire(ModuleId::new(0, 9), 2)];
    assert_eq!(field_of(worker_from_payload(&bad).unwrap_err()), "frozen");

    let mut bad = item();
    bad.config_toml = "tasks = 3".into();
    assert_eq!(
        field_of(worker_from_payload(&bad).unwrap_err()),
        "config_toml"
    );

    let dims = config().dims();
    let three_layers = v1::Pathway {
        layers: vec![
            v1::PathwayLayer {
                module_indices: vec![0]
            };
            3
        ],
    };
    assert!(pathway_from_wire("pathway", &three_layers, &dims).is_err());
}
