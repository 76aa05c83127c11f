//! Property tests of every wire decoder: work items of the three payload kinds and result
//! reports, as random bytes, as valid messages with bytes flipped, and as valid messages with
//! numbers replaced by any value (huge sizes, NaN and infinities). Decoding never panics, and
//! every error names the field (in backticks) or the tensor, in a message a reply can carry.
//!
//! `PROPTEST_CASES` sets the cases per property (proptest's default, 256, takes about a
//! second); a failing case is saved under `proptest-regressions/` to be replayed first.

mod common;

use common::job;
use ndarray::{ArrayD, IxDyn};
use pathnet_evo::config::TaskKind;
use pathnet_evo::{Genome, Job, Mutation, Operator, SafeMutationConfig};
use pathnet_nn::pathnet::{ModuleId, Pathway};
use pathnet_proto::v1::{self, work_item::Payload};
use pathnet_rl::pathnet_a3c::PathNetA3cConfig;
use pathnet_work::wire::{self, WireError};
use pathnet_work::{JobOutcome, ModuleDelta, genome_wire, pathnet_a3c_wire};
use proptest::prelude::*;
use prost::Message;

const MAX_ERROR_BYTES: usize = 4096;

fn genome_item() -> v1::WorkItem {
    let config = SafeMutationConfig::new(TaskKind::Parity, Operator::SmGSum, 0.01);
    let parent = Genome::fresh(7);
    let job = Job {
        problem: config.problem(),
        parent,
        mutation: Some(Mutation {
            seed: 3,
            magnitude: 0.1,
            operator: Operator::SmR,
        }),
    };
    v1::WorkItem {
        work_id: "w1".into(),
        experiment_id: "e".into(),
        lease_deadline_unix_ms: 1,
        payload: Some(genome_wire::job_payload(&job)),
        parameters: Vec::new(),
    }
}

fn pathnet_a3c_item() -> v1::WorkItem {
    let config: PathNetA3cConfig = toml::from_str(
        "tasks = [{ env = \"CartPole-v1\" }]\nlayers = 2\nmodules = 4\nmax_active = 2\n",
    )
    .unwrap();
    let pathway = Pathway::new(vec![vec![0, 3], vec![1]], &config.dims()).unwrap();
    v1::WorkItem {
        work_id: "w2".into(),
        experiment_id: "e".into(),
        lease_deadline_unix_ms: 1,
        payload: Some(Payload::PathnetA3cWorker(v1::PathNetA3cWorker {
            config_toml: toml::to_string(&config).unwrap(),
            worker_index: 1,
            seed: 2,
            task: 0,
            phase: 0,
            pathway: Some(pathnet_a3c_wire::pathway_to_wire(&pathway)),
            frozen: vec![wire::module_to_wire(ModuleId::new(1, 2), 2)],
        })),
        parameters: Vec::new(),
    }
}

fn report() -> v1::ReportResultRequest {
    let outcome = JobOutcome {
        fitness: 0.5,
        training_accuracy: 0.75,
        mean_loss: 0.3,
        examples: 800,
        deltas: vec![ModuleDelta {
            id: ModuleId::new(0, 0),
            base_version: 3,
            tensors: vec![
                ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.5; 6]).unwrap(),
                ArrayD::from_shape_vec(IxDyn(&[3]), vec![-1.0; 3]).unwrap(),
            ],
        }],
    };
    wire::outcome_to_report("a", "w", &outcome, 2, 7, 8).unwrap()
}

/// The error is short and names what was wrong.
fn check_error(err: &WireError) -> Result<(), TestCaseError> {
    let message = err.to_string();
    prop_assert!(message.len() <= MAX_ERROR_BYTES, "{} bytes", message.len());
    prop_assert!(
        message.contains('`') || message.starts_with("tensor data"),
        "names no field: {}",
        message
    );
    Ok(())
}

/// Every decoder that could be handed `item`, run; errors checked.
fn decode_item(item: &v1::WorkItem) -> Result<(), TestCaseError> {
    match &item.payload {
        Some(Payload::GenomeEvaluation(e)) => {
            if let Err(err) = genome_wire::job_from_payload(e) {
                check_error(&err)?;
            }
        }
        Some(Payload::PathnetA3cWorker(w)) => {
            if let Err(err) = pathnet_a3c_wire::worker_from_payload(w) {
                check_error(&err)?;
            }
        }
        _ => {
            if let Err(err) = wire::job_from_work_item(item) {
                check_error(&err)?;
            }
        }
    }
    Ok(())
}

fn decode_report(report: &v1::ReportResultRequest) -> Result<(), TestCaseError> {
    if let Err(err) = wire::outcome_from_report(report, 2, |_, _| None) {
        check_error(&err)?;
    }
    if let Err(err) = genome_wire::outcome_from_report(report) {
        check_error(&err)?;
    }
    Ok(())
}

fn valid_messages() -> Vec<Vec<u8>> {
    vec![
        wire::job_to_work_item("w7", 1_000, &job()).encode_to_vec(),
        genome_item().encode_to_vec(),
        pathnet_a3c_item().encode_to_vec(),
    ]
}

fn special_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        any::<f64>(),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic_a_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Ok(item) = v1::WorkItem::decode(bytes.as_slice()) {
            decode_item(&item)?;
        }
        if let Ok(report) = v1::ReportResultRequest::decode(bytes.as_slice()) {
            decode_report(&report)?;
        }
    }

    #[test]
    fn valid_messages_with_bytes_flipped_never_panic_a_decoder(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = valid_messages().swap_remove(which);
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        if let Ok(item) = v1::WorkItem::decode(bytes.as_slice()) {
            decode_item(&item)?;
        }
    }

    #[test]
    fn any_numbers_in_a_pathway_job_are_decoded_or_refused_by_name(
        sizes in proptest::collection::vec(any::<u32>(), 6),
        indices in proptest::collection::vec(any::<u32>(), 0..6),
        noise in special_f64(),
        version in any::<u64>(),
    ) {
        let mut item = wire::job_to_work_item("w7", 1_000, &job());
        let Some(Payload::PathwayTraining(t)) = &mut item.payload else { unreachable!() };
        let a = t.architecture.as_mut().unwrap();
        a.layers = sizes[0];
        a.modules_per_layer = sizes[1];
        a.max_active = sizes[2];
        a.module_units = sizes[3];
        t.minibatches = sizes[4];
        t.task_index = sizes[5];
        t.pathway.as_mut().unwrap().layers[0].module_indices = indices.clone();
        t.task.as_mut().unwrap().noise = noise as f32;
        t.modules[0].version = version;
        t.modules[1].module = Some(v1::ModuleId {
            address: Some(v1::module_id::Address::LayerModule(v1::LayerModule {
                layer: indices.first().copied().unwrap_or(0),
                index: indices.last().copied().unwrap_or(0),
            })),
        });
        decode_item(&item)?;
    }

    #[test]
    fn any_mutation_in_a_genome_is_decoded_or_refused_by_name(
        sigma in special_f64(),
        operator in any::<i32>(),
        toml_cut in any::<usize>(),
    ) {
        let mut item = genome_item();
        let Some(Payload::GenomeEvaluation(e)) = &mut item.payload else { unreachable!() };
        let genome = e.genome.as_mut().unwrap();
        genome.mutations[0].sigma = sigma;
        genome.mutations[0].operator = operator;
        if toml_cut % 3 == 0 {
            let cut = toml_cut % e.config_toml.len();
            e.config_toml.truncate(cut); // the TOML is ASCII
        }
        decode_item(&item)?;
    }

    #[test]
    fn any_pathway_in_a_pathnet_a3c_lease_is_decoded_or_refused_by_name(
        layers in proptest::collection::vec(proptest::collection::vec(any::<u32>(), 0..4), 0..4),
        task in any::<u32>(),
        frozen_layer in any::<u32>(),
    ) {
        let mut item = pathnet_a3c_item();
        let Some(Payload::PathnetA3cWorker(w)) = &mut item.payload else { unreachable!() };
        w.pathway = Some(v1::Pathway {
            layers: layers
                .into_iter()
                .map(|module_indices| v1::PathwayLayer { module_indices })
                .collect(),
        });
        w.task = task;
        w.frozen.push(v1::ModuleId {
            address: Some(v1::module_id::Address::LayerModule(v1::LayerModule {
                layer: frozen_layer,
                index: frozen_layer,
            })),
        });
        decode_item(&item)?;
    }

    #[test]
    fn any_numbers_in_a_report_are_decoded_or_refused_by_name(
        fitness in special_f64(),
        value in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), any::<f32>()],
        shape in proptest::collection::vec(any::<u64>(), 0..4),
        offset in prop_oneof![0u64..8, any::<u64>()],
        version in any::<u64>(),
        pushed in any::<bool>(),
    ) {
        let mut report = report();
        report.fitness = fitness;
        let delta = &mut report.deltas[0];
        delta.pushed = pushed;
        if let Some(base) = delta.base.as_mut() {
            base.version = version;
        }
        let chunk = &mut delta.chunks[0];
        chunk.data[..4].copy_from_slice(&value.to_le_bytes());
        chunk.offset = offset;
        delta.chunks[1].shape = shape;
        decode_report(&report)?;
    }
}

#[test]
fn a_report_with_a_non_finite_fitness_names_the_field() {
    let mut report = report();
    report.evaluation = Some(v1::EvaluationStats {
        solved: Some(false),
        ..Default::default()
    });
    for fitness in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        report.fitness = fitness;
        let err = genome_wire::outcome_from_report(&report).unwrap_err();
        assert!(err.to_string().contains("`fitness`"), "{err}");
    }
}

#[test]
fn errors_quote_a_bounded_part_of_long_values() {
    let mut item = wire::job_to_work_item("w7", 1_000, &job());
    let Some(Payload::PathwayTraining(t)) = &mut item.payload else {
        unreachable!()
    };
    t.architecture.as_mut().unwrap().head_classes = vec![2; 100_000];
    t.architecture.as_mut().unwrap().max_active = 99;
    let err = wire::job_from_work_item(&item).unwrap_err().to_string();
    assert!(err.len() < 1000 && err.contains("`architecture`"), "{err}");
}
