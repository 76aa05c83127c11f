//! The embedded descriptor set describes the contract other crates rely on.

use pathnet_proto::{FILE_DESCRIPTOR_SET, PACKAGE};
use prost::Message;
use prost_types::{FileDescriptorSet, ServiceDescriptorProto};

fn services() -> Vec<ServiceDescriptorProto> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    set.file
        .into_iter()
        .filter(|f| f.package() == PACKAGE)
        .flat_map(|f| f.service)
        .collect()
}

/// (method, client streams, server streams) of a service, in declaration order.
fn methods(name: &str) -> Vec<(String, bool, bool)> {
    let service = services()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("service {name} missing"));
    service
        .method
        .iter()
        .map(|m| {
            (
                m.name().to_owned(),
                m.client_streaming(),
                m.server_streaming(),
            )
        })
        .collect()
}

fn expect(list: &[(&str, bool, bool)]) -> Vec<(String, bool, bool)> {
    list.iter().map(|&(n, c, s)| (n.to_owned(), c, s)).collect()
}

#[test]
fn package_has_exactly_the_expected_services() {
    let mut names: Vec<String> = services().iter().map(|s| s.name().to_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "AgentService",
            "ExperimentService",
            "ParameterService",
            "StageLinkService"
        ]
    );
}

#[test]
fn stage_link_service_is_one_bidirectional_stream() {
    assert_eq!(methods("StageLinkService"), expect(&[("Link", true, true)]));
}

#[test]
fn agent_service_methods_and_streaming() {
    assert_eq!(
        methods("AgentService"),
        expect(&[
            ("Join", false, false),
            ("StreamLeases", false, true),
            ("Heartbeat", false, false),
            ("ReportResult", false, false),
            ("ReleaseLeases", false, false),
        ])
    );
}

#[test]
fn parameter_service_methods_and_streaming() {
    assert_eq!(
        methods("ParameterService"),
        expect(&[
            ("PullParameters", false, true),
            ("PushParameters", true, false),
            ("ExchangeGradients", false, false),
        ])
    );
}

#[test]
fn experiment_service_methods_and_streaming() {
    assert_eq!(
        methods("ExperimentService"),
        expect(&[
            ("StartExperiment", false, false),
            ("GetExperimentStatus", false, false),
            ("StopExperiment", false, false),
            ("WatchFitness", false, true),
            ("ListExperiments", false, false),
        ])
    );
}

#[test]
fn work_items_carry_one_payload_per_kind_of_work() {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let work_item = set
        .file
        .iter()
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == "WorkItem")
        .expect("WorkItem message");
    // Descriptor ranges are end-exclusive.
    let reserved: Vec<i32> = work_item
        .reserved_range
        .iter()
        .flat_map(|r| r.start()..r.end())
        .collect();
    assert_eq!(reserved, [] as [i32; 0]);
    assert!(work_item.reserved_name.is_empty());
    assert_eq!(work_item.oneof_decl.len(), 1);
    assert_eq!(work_item.oneof_decl[0].name(), "payload");
    let payloads: Vec<(&str, i32)> = work_item
        .field
        .iter()
        .filter(|f| f.oneof_index == Some(0))
        .map(|f| (f.name(), f.number()))
        .collect();
    assert_eq!(
        payloads,
        [
            ("pathway_training", 10),
            ("a3c_worker", 11),
            ("genome_evaluation", 12),
            ("pathnet_a3c_worker", 14),
            ("sideways_segment", 13),
            ("pathway_genome_evaluation", 16)
        ]
    );
}

#[test]
fn every_field_and_enum_value_is_documented() {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    for file in set.file.iter().filter(|f| f.package() == PACKAGE) {
        let info = file.source_code_info.as_ref().expect("source info kept");
        let documented: std::collections::HashSet<&[i32]> = info
            .location
            .iter()
            .filter(|l| l.leading_comments().trim().len() > 3)
            .map(|l| l.path.as_slice())
            .collect();
        // Paths per descriptor.proto: 4 = message_type, 2 = field, 5 = enum_type, 2 = value.
        for (mi, message) in file.message_type.iter().enumerate() {
            let m = mi as i32;
            assert!(
                documented.contains(&[4, m][..]),
                "{} undocumented",
                message.name()
            );
            for (fi, field) in message.field.iter().enumerate() {
                let path = [4, m, 2, fi as i32];
                assert!(
                    documented.contains(&path[..]),
                    "{}.{} undocumented",
                    message.name(),
                    field.name()
                );
            }
        }
        for (ei, enumeration) in file.enum_type.iter().enumerate() {
            let e = ei as i32;
            assert_eq!(enumeration.value[0].number(), 0);
            assert!(enumeration.value[0].name().ends_with("_UNSPECIFIED"));
            for (vi, value) in enumeration.value.iter().enumerate() {
                let path = [5, e, 2, vi as i32];
                assert!(
                    documented.contains(&path[..]),
                    "{} undocumented",
                    value.name()
                );
            }
        }
    }
}

#[test]
fn pathway_training_field_numbers_are_stable() {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let training = set
        .file
        .iter()
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == "PathwayTraining")
        .expect("PathwayTraining message");
    let fields: Vec<(i32, &str)> = training
        .field
        .iter()
        .map(|f| (f.number(), f.name()))
        .collect();
    assert_eq!(
        fields,
        [
            (1, "task_index"),
            (2, "pathway"),
            (3, "minibatches"),
            (4, "batch_size"),
            (5, "learning_rate"),
            (6, "data_seed"),
            (7, "modules"),
            (8, "architecture"),
            (9, "task"),
            (10, "frozen"),
        ]
    );
}
