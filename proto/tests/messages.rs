//! Encode/decode round trips of representative messages through prost.

use std::collections::BTreeMap;

use pathnet_proto::split_tensor;
use pathnet_proto::v1::{
    AgentCapabilities, Device, DeviceKind, EvaluationStats, JoinRequest, LayerModule, ModuleDelta,
    ModuleId, ModuleRef, ParameterChunk, PathNetArchitecture, Pathway, PathwayLayer,
    PathwayTraining, ReportResultRequest, SupervisedTask, TaskHead, WorkItem, module_id, work_item,
};
use prost::Message;

fn layer_module(layer: u32, index: u32, version: u64) -> ModuleRef {
    ModuleRef {
        module: Some(ModuleId {
            address: Some(module_id::Address::LayerModule(LayerModule {
                layer,
                index,
            })),
        }),
        version,
    }
}

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M) {
    let bytes = message.encode_to_vec();
    assert!(!bytes.is_empty());
    assert_eq!(&M::decode(bytes.as_slice()).unwrap(), message);
}

#[test]
fn join_request_round_trips_with_deterministic_bytes() {
    let request = JoinRequest {
        capabilities: Some(AgentCapabilities {
            cpu_cores: 16,
            devices: vec![Device {
                kind: DeviceKind::Gpu.into(),
                name: "accelerator".to_owned(),
                memory_bytes: 80 << 30,
            }],
            agent_version: "0.1.0".to_owned(),
            labels: BTreeMap::from([
                ("zone".to_owned(), "rack-3".to_owned()),
                ("pool".to_owned(), "spot".to_owned()),
            ]),
            inline_parameters: true,
        }),
        stage_link_address: "10.0.0.7:7100".to_owned(),
    };
    round_trip(&request);
    // Maps are ordered, so the same labels encode to the same bytes whatever
    // order they were inserted in.
    let mut reordered = request.clone();
    let labels = &mut reordered.capabilities.as_mut().unwrap().labels;
    *labels = labels.clone().into_iter().rev().collect();
    assert_eq!(request.encode_to_vec(), reordered.encode_to_vec());
}

#[test]
fn work_item_round_trips_with_payload() {
    let item = WorkItem {
        work_id: "w-42".to_owned(),
        experiment_id: "exp-1".to_owned(),
        lease_deadline_unix_ms: 1_700_000_000_000,
        payload: Some(work_item::Payload::PathwayTraining(PathwayTraining {
            task_index: 1,
            pathway: Some(Pathway {
                layers: vec![
                    PathwayLayer {
                        module_indices: vec![0, 3, 7],
                    },
                    PathwayLayer {
                        module_indices: vec![2],
                    },
                ],
            }),
            minibatches: 50,
            batch_size: 16,
            learning_rate: 1e-4,
            data_seed: 0xDEAD_BEEF,
            modules: vec![
                layer_module(0, 3, 5),
                ModuleRef {
                    module: Some(ModuleId {
                        address: Some(module_id::Address::TaskHead(TaskHead { task_index: 1 })),
                    }),
                    version: 2,
                },
            ],
            architecture: Some(PathNetArchitecture {
                layers: 2,
                modules_per_layer: 8,
                max_active: 3,
                module_units: 20,
                input_features: 784,
                head_classes: vec![2, 2],
            }),
            task: Some(SupervisedTask {
                data_dir: "/data/fashion".to_owned(),
                negative_class: 5,
                positive_class: 7,
                noise: 0.1,
                noise_seed: 11,
            }),
            frozen: vec![ModuleId {
                address: Some(module_id::Address::LayerModule(LayerModule {
                    layer: 0,
                    index: 3,
                })),
            }],
        })),
        parameters: split_tensor("param0", &[2], &[0.5, -0.5], 4)
            .unwrap()
            .into_iter()
            .map(|chunk| ParameterChunk {
                module: Some(layer_module(0, 3, 6)),
                chunk: Some(chunk),
            })
            .collect(),
    };
    assert_eq!(item.parameters.len(), 2, "one chunk per value");
    round_trip(&item);
    let decoded = WorkItem::decode(item.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.parameters, item.parameters);
    let Some(work_item::Payload::PathwayTraining(training)) = decoded.payload else {
        panic!("payload lost: {decoded:?}");
    };
    assert_eq!(
        training.pathway.unwrap().layers[0].module_indices,
        [0, 3, 7]
    );
}

#[test]
fn report_with_inline_delta_round_trips() {
    let report = ReportResultRequest {
        agent_id: "agent-7".to_owned(),
        work_id: "w-42".to_owned(),
        fitness: -0.125,
        training_accuracy: Some(0.875),
        evaluation: Some(EvaluationStats {
            samples: Some(1000),
            accuracy: Some(0.9),
            mean_loss: Some(0.31),
            episodes: None,
            mean_episode_return: None,
            solved: None,
            env_steps: None,
        }),
        deltas: vec![ModuleDelta {
            base: Some(layer_module(1, 2, 9)),
            chunks: split_tensor("weight", &[2, 2], &[0.5, -0.5, 0.25, 0.0], 8).unwrap(),
            pushed: false,
        }],
        elapsed_ms: 1234,
        sideways: None,
    };
    round_trip(&report);
    let decoded = ReportResultRequest::decode(report.encode_to_vec().as_slice()).unwrap();
    // Unset optional statistics stay distinguishable from zero.
    assert_eq!(decoded.evaluation.unwrap().episodes, None);
    assert_eq!(
        pathnet_proto::assemble_tensors(decoded.deltas[0].chunks.clone()).unwrap()[0].data,
        [0.5, -0.5, 0.25, 0.0]
    );
}

#[test]
fn unknown_enum_values_survive_decoding() {
    // A newer peer may send an enum value this build does not know; it must decode,
    // not fail, so the receiver can reject it with a clear message.
    let device = Device {
        kind: 42,
        name: String::new(),
        memory_bytes: 0,
    };
    let decoded = Device::decode(device.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.kind, 42);
    assert!(DeviceKind::try_from(decoded.kind).is_err());
}
