//! Jobs, modules and tensors survive the trip through `pathnet.v1` messages, and malformed
//! messages are refused with the field named.

mod common;

use common::job;
use ndarray::{ArrayD, IxDyn};
use pathnet_nn::pathnet::ModuleId;
use pathnet_proto::v1::{self, work_item::Payload};
use pathnet_work::wire::{self, WireError};
use pathnet_work::{JobOutcome, ModuleDelta};

#[test]
fn a_job_round_trips_through_a_work_item() {
    let item = wire::job_to_work_item("w7", 1_000, &job());
    assert_eq!(item.work_id, "w7");
    assert_eq!(item.lease_deadline_unix_ms, 1_000);
    let Some(Payload::PathwayTraining(training)) = &item.payload else {
        panic!("no payload")
    };
    // The head is addressed as a head, not as a module of a third layer.
    let head = training.modules[3].module.as_ref().unwrap();
    assert!(matches!(
        head.address,
        Some(v1::module_id::Address::TaskHead(_))
    ));
    assert_eq!(wire::job_from_work_item(&item).unwrap(), job());
}

#[test]
fn malformed_work_items_name_the_problem() {
    let mut item = wire::job_to_work_item("w7", 1_000, &job());
    let Some(Payload::PathwayTraining(training)) = &mut item.payload else {
        unreachable!()
    };
    training.modules[0].version = 0;
    let err = wire::job_from_work_item(&item).unwrap_err().to_string();
    assert!(err.contains("module.version"), "{err}");

    let mut item = wire::job_to_work_item("w7", 1_000, &job());
    let Some(Payload::PathwayTraining(training)) = &mut item.payload else {
        unreachable!()
    };
    training.architecture = None;
    let err = wire::job_from_work_item(&item).unwrap_err();
    assert!(matches!(err, WireError::Missing("architecture")), "{err}");

    let empty = v1::WorkItem::default();
    assert!(wire::job_from_work_item(&empty).is_err());
}

#[test]
fn tensors_round_trip_through_small_chunks() {
    let tensors = vec![
        ArrayD::from_shape_vec(IxDyn(&[3, 5]), (0..15).map(|i| i as f32 * 0.5).collect()).unwrap(),
        ArrayD::from_shape_vec(IxDyn(&[5]), vec![1.0, -2.0, 3.5, 0.0, 7.25]).unwrap(),
    ];
    let chunks = wire::tensors_to_chunks(&tensors, 8).unwrap();
    assert!(chunks.len() > tensors.len(), "split into several chunks");
    let mut shuffled = chunks.clone();
    shuffled.reverse();
    assert_eq!(wire::tensors_from_chunks(shuffled).unwrap(), tensors);

    let mut renamed = chunks.clone();
    for chunk in renamed.iter_mut().filter(|c| c.tensor_name == "param1") {
        chunk.tensor_name = "param2".into();
    }
    let err = wire::tensors_from_chunks(renamed).unwrap_err().to_string();
    assert!(err.contains("param1 is missing"), "{err}");
}

#[test]
fn modules_round_trip_through_parameter_chunks_and_two_versions_of_one_are_refused() {
    let layers = 2;
    let module = |layer, index, version, value: f32| pathnet_work::ModuleParams {
        id: ModuleId::new(layer, index),
        version,
        tensors: vec![
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![value; 6]).unwrap(),
            ArrayD::from_shape_vec(IxDyn(&[3]), vec![-value; 3]).unwrap(),
        ],
    };
    let sent = [module(0, 1, 4, 0.5), module(2, 0, 9, 1.5)];
    let mut chunks: Vec<v1::ParameterChunk> = sent
        .iter()
        .flat_map(|m| wire::params_to_chunks(m, layers, 8).unwrap())
        .collect();
    chunks.reverse();
    let got = wire::params_from_chunks(chunks.clone(), layers).unwrap();
    assert_eq!(got.len(), 2);
    for (got, sent) in got.iter().zip(&sent) {
        assert_eq!((got.id, got.version), (sent.id, sent.version));
        assert_eq!(got.tensors, sent.tensors);
    }

    let older = wire::params_to_chunks(&module(0, 1, 3, 0.25), layers, 1 << 20).unwrap();
    chunks.extend(older);
    let err = wire::params_from_chunks(chunks, layers)
        .unwrap_err()
        .to_string();
    assert!(err.contains("came at two versions"), "{err}");
    let headless = v1::ParameterChunk {
        module: Some(wire::module_ref(ModuleId::new(0, 0), 1, layers)),
        chunk: None,
    };
    let err = wire::params_from_chunks([headless], layers).unwrap_err();
    assert!(err.to_string().contains("`chunk` is missing"), "{err}");
}

#[test]
fn a_report_round_trips_and_refuses_nan() {
    let outcome = JobOutcome {
        fitness: -0.25,
        training_accuracy: 0.75,
        mean_loss: 0.4,
        examples: 800,
        deltas: vec![ModuleDelta {
            id: ModuleId::new(2, 1),
            base_version: 4,
            tensors: vec![ArrayD::from_elem(IxDyn(&[3, 2]), 0.125)],
        }],
    };
    let report = wire::outcome_to_report("agent-1", "w7", &outcome, 2, 12, 1024).unwrap();
    let back = wire::outcome_from_report(&report, 2, |_, _| None).unwrap();
    assert_eq!(back, outcome);

    let mut poisoned = report.clone();
    poisoned.deltas[0].chunks[0].data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = wire::outcome_from_report(&poisoned, 2, |_, _| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a finite number"), "{err}");

    let mut pushed = report;
    pushed.deltas[0].chunks.clear();
    pushed.deltas[0].pushed = true;
    let err = wire::outcome_from_report(&pushed, 2, |_, _| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no complete push"), "{err}");
    let staged = outcome.deltas[0].tensors.clone();
    let back = wire::outcome_from_report(&pushed, 2, |_, _| Some(staged.clone())).unwrap();
    assert_eq!(back.deltas, outcome.deltas);
}
