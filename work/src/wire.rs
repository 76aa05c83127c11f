//! Conversions between the executor's types and the `pathnet.v1` wire messages.
//!
//! Everything decoded here comes from another machine, so nothing is trusted: a missing
//! field, an out-of-range number or a malformed tensor is an error naming the field.
//! Module tensors travel under the names `param0`, `param1`, ... in the module's
//! `params()` order.

use crate::job::{Architecture, JobOutcome, ModuleDelta, ModuleParams, PathwayJob, SupervisedTask};
use ndarray::{ArrayD, IxDyn};
use pathnet_nn::pathnet::{ModuleId, PathNetDims};
use pathnet_proto::v1::{self, TensorChunk, module_id::Address, work_item::Payload};
use pathnet_proto::{ChunkError, assemble_tensors, quote, quote_lines, split_tensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Why a message from a peer was refused: each names the message field at fault.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A required field (named by its path in the message) is absent.
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// A field is present with a value out of range or inconsistent with the rest.
    #[error("`{field}` = {value}: {reason}")]
    Invalid {
        /// The field's path in the message, e.g. `module.version`.
        field: &'static str,
        /// Its value, quoted and bounded in length (it came from a peer).
        value: String,
        /// What it must be, quoted and bounded likewise.
        reason: String,
    },
    /// Tensor chunks do not reassemble into whole tensors.
    #[error("tensor data: {0}")]
    Chunk(#[from] ChunkError),
}

impl WireError {
    /// `field` came with `value`, which is wrong for `reason`.
    /// The value and the reason are quoted bounded: both may carry what a peer sent.
    pub fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        WireError::Invalid {
            field,
            value: quote(&value.to_string()),
            reason: quote_lines(&reason.into()),
        }
    }
}

/// `value` as the wire's 32-bit `field`. Never truncated: a value that does not fit is a
/// bug, since the spec's bounds keep every size sent far below `u32::MAX`, and sending a
/// wrong number silently (T = 2^32 + 50 trained as 50) would be worse than stopping.
pub fn to_wire(field: &'static str, value: usize) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| {
        panic!("`{field}` = {value} does not fit the wire's 32 bits (the spec bounds it)")
    })
}

fn usize_of(field: &'static str, value: u64) -> Result<usize, WireError> {
    usize::try_from(value)
        .map_err(|_| WireError::invalid(field, value, "too large for this machine"))
}

/// The wire address of a module of a network with `layers` hidden layers (heads are the
/// layer after the last hidden one).
pub fn module_to_wire(id: ModuleId, layers: usize) -> v1::ModuleId {
    let address = if id.layer == layers {
        Address::TaskHead(v1::TaskHead {
            task_index: to_wire("module.task_head.task_index", id.index),
        })
    } else {
        Address::LayerModule(v1::LayerModule {
            layer: to_wire("module.layer_module.layer", id.layer),
            index: to_wire("module.layer_module.index", id.index),
        })
    };
    v1::ModuleId {
        address: Some(address),
    }
}

/// Decodes a module address; whether the module exists is for the receiver to check.
pub fn module_from_wire(id: Option<&v1::ModuleId>, layers: usize) -> Result<ModuleId, WireError> {
    match id.and_then(|m| m.address.as_ref()) {
        Some(Address::LayerModule(m)) if (m.layer as usize) < layers => {
            Ok(ModuleId::new(m.layer as usize, m.index as usize))
        }
        Some(Address::LayerModule(m)) => Err(WireError::invalid(
            "module.layer_module.layer",
            m.layer,
            format!("the network has {layers} hidden layers"),
        )),
        Some(Address::TaskHead(h)) => Ok(ModuleId::new(layers, h.task_index as usize)),
        None => Err(WireError::Missing("module")),
    }
}

/// A reference to module `id` at `version` in a network with `layers` hidden layers.
pub fn module_ref(id: ModuleId, version: u64, layers: usize) -> v1::ModuleRef {
    v1::ModuleRef {
        module: Some(module_to_wire(id, layers)),
        version,
    }
}

/// Decodes a module reference; version 0 is never assigned and so always an error.
pub fn module_ref_from_wire(
    r: Option<&v1::ModuleRef>,
    layers: usize,
) -> Result<(ModuleId, u64), WireError> {
    let r = r.ok_or(WireError::Missing("module"))?;
    if r.version == 0 {
        return Err(WireError::invalid(
            "module.version",
            0,
            "version 0 is never assigned",
        ));
    }
    Ok((module_from_wire(r.module.as_ref(), layers)?, r.version))
}

/// Splits a module's tensors into chunks of at most `max_chunk_bytes` of data each.
pub fn tensors_to_chunks(
    tensors: &[ArrayD<f32>],
    max_chunk_bytes: usize,
) -> Result<Vec<TensorChunk>, ChunkError> {
    indexed_tensors_to_chunks(tensors.iter().enumerate(), max_chunk_bytes)
}

/// Splits some tensors of a list into chunks named by their positions in the list
/// (`param<position>`), so that the receiver knows which ones came.
pub fn indexed_tensors_to_chunks<'a>(
    tensors: impl IntoIterator<Item = (usize, &'a ArrayD<f32>)>,
    max_chunk_bytes: usize,
) -> Result<Vec<TensorChunk>, ChunkError> {
    let mut chunks = Vec::new();
    for (i, tensor) in tensors {
        let shape: Vec<u64> = tensor.shape().iter().map(|&d| d as u64).collect();
        let standard = tensor.as_standard_layout();
        let data = standard.as_slice().expect("standard layout is contiguous");
        chunks.extend(split_tensor(
            &format!("param{i}"),
            &shape,
            data,
            max_chunk_bytes,
        )?);
    }
    Ok(chunks)
}

/// Reassembles a module's tensors from its chunks, in `param0, param1, ...` order.
pub fn tensors_from_chunks(
    chunks: impl IntoIterator<Item = TensorChunk>,
) -> Result<Vec<ArrayD<f32>>, WireError> {
    let named = indexed_tensors_from_chunks(chunks)?;
    if let Some((position, (index, _))) = named.iter().enumerate().find(|(p, (i, _))| p != i) {
        return Err(WireError::invalid(
            "tensor_name",
            format!("param{index}"),
            format!("tensor param{position} is missing"),
        ));
    }
    Ok(named.into_iter().map(|(_, t)| t).collect())
}

/// Reassembles tensors named `param<position>`, sorted by position; a position may come
/// at most once, and any may be absent.
pub fn indexed_tensors_from_chunks(
    chunks: impl IntoIterator<Item = TensorChunk>,
) -> Result<Vec<(usize, ArrayD<f32>)>, WireError> {
    let mut named: Vec<(usize, ArrayD<f32>)> = Vec::new();
    for tensor in assemble_tensors(chunks)? {
        let index = tensor
            .name
            .strip_prefix("param")
            .and_then(|i| i.parse::<usize>().ok())
            .ok_or_else(|| {
                WireError::invalid("tensor_name", &tensor.name, "expected `param<N>`")
            })?;
        let shape = tensor
            .shape
            .iter()
            .map(|&d| usize_of("shape", d))
            .collect::<Result<Vec<_>, _>>()?;
        let array = ArrayD::from_shape_vec(IxDyn(&shape), tensor.data)
            .map_err(|err| WireError::invalid("shape", format!("{shape:?}"), err.to_string()))?;
        named.push((index, array));
    }
    named.sort_by_key(|(i, _)| *i);
    if let Some(pair) = named.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(WireError::invalid(
            "tensor_name",
            format!("param{}", pair[0].0),
            "repeated",
        ));
    }
    Ok(named)
}

/// A module's parameters as the chunks of a pull stream.
pub fn params_to_chunks(
    params: &ModuleParams,
    layers: usize,
    max_chunk_bytes: usize,
) -> Result<Vec<v1::ParameterChunk>, ChunkError> {
    let module = module_ref(params.id, params.version, layers);
    Ok(tensors_to_chunks(&params.tensors, max_chunk_bytes)?
        .into_iter()
        .map(|chunk| v1::ParameterChunk {
            module: Some(module),
            chunk: Some(chunk),
        })
        .collect())
}

/// Reassembles whole modules from parameter chunks (a pull stream, or the parameters sent
/// with a lease), grouped by the module and version each chunk names.
pub fn params_from_chunks(
    chunks: impl IntoIterator<Item = v1::ParameterChunk>,
    layers: usize,
) -> Result<Vec<ModuleParams>, WireError> {
    let mut by_module: BTreeMap<(ModuleId, u64), Vec<TensorChunk>> = BTreeMap::new();
    for chunk in chunks {
        let module = module_ref_from_wire(chunk.module.as_ref(), layers)?;
        let data = chunk.chunk.ok_or(WireError::Missing("chunk"))?;
        by_module.entry(module).or_default().push(data);
    }
    let mut seen = BTreeSet::new();
    by_module
        .into_iter()
        .map(|((id, version), chunks)| {
            if !seen.insert(id) {
                return Err(WireError::invalid(
                    "module.version",
                    version,
                    format!("module {id} came at two versions"),
                ));
            }
            Ok(ModuleParams {
                id,
                version,
                tensors: tensors_from_chunks(chunks)?,
            })
        })
        .collect()
}

/// The work item leasing `job` under `work_id`.
pub fn job_to_work_item(work_id: &str, deadline_unix_ms: u64, job: &PathwayJob) -> v1::WorkItem {
    v1::WorkItem {
        work_id: work_id.to_owned(),
        experiment_id: job.experiment.clone(),
        lease_deadline_unix_ms: deadline_unix_ms,
        payload: Some(pathway_payload(job)),
        parameters: Vec::new(),
    }
}

/// The work item payload that asks an agent to train `job`'s pathway.
pub fn pathway_payload(job: &PathwayJob) -> Payload {
    let a = &job.architecture;
    let layers = a.dims.layers;
    let task = &job.task;
    let training = v1::PathwayTraining {
        task_index: to_wire("task_index", job.task_index),
        pathway: Some(v1::Pathway {
            layers: job
                .pathway
                .iter()
                .map(|active| v1::PathwayLayer {
                    module_indices: active
                        .iter()
                        .map(|&m| to_wire("pathway.module_indices", m))
                        .collect(),
                })
                .collect(),
        }),
        minibatches: to_wire("minibatches", job.minibatches),
        batch_size: to_wire("batch_size", job.batch_size),
        learning_rate: job.learning_rate,
        data_seed: job.data_seed,
        modules: job
            .modules
            .iter()
            .map(|&(id, version)| module_ref(id, version, layers))
            .collect(),
        architecture: Some(v1::PathNetArchitecture {
            layers: to_wire("architecture.layers", layers),
            modules_per_layer: to_wire("architecture.modules_per_layer", a.dims.modules),
            max_active: to_wire("architecture.max_active", a.dims.max_active),
            module_units: to_wire("architecture.module_units", a.module_units),
            input_features: to_wire("architecture.input_features", a.input_features),
            head_classes: a
                .head_classes
                .iter()
                .map(|&c| to_wire("architecture.head_classes", c))
                .collect(),
        }),
        task: Some(v1::SupervisedTask {
            data_dir: task.data_dir.to_string_lossy().into_owned(),
            negative_class: u32::from(task.classes[0]),
            positive_class: u32::from(task.classes[1]),
            noise: task.noise,
            noise_seed: task.noise_seed,
        }),
        frozen: job
            .frozen
            .iter()
            .map(|&id| module_to_wire(id, layers))
            .collect(),
    };
    Payload::PathwayTraining(training)
}

fn class(field: &'static str, value: u32) -> Result<u8, WireError> {
    u8::try_from(value).map_err(|_| WireError::invalid(field, value, "not a dataset class"))
}

/// Decodes a leased work item into a job.
pub fn job_from_work_item(item: &v1::WorkItem) -> Result<PathwayJob, WireError> {
    let Some(Payload::PathwayTraining(t)) = &item.payload else {
        return Err(WireError::Missing("payload.pathway_training"));
    };
    let a = t
        .architecture
        .as_ref()
        .ok_or(WireError::Missing("architecture"))?;
    let dims = PathNetDims::new(
        a.layers as usize,
        a.modules_per_layer as usize,
        a.max_active as usize,
    )
    .map_err(|err| WireError::invalid("architecture", format!("{a:?}"), err.to_string()))?;
    let layers = dims.layers;
    let task = t.task.as_ref().ok_or(WireError::Missing("task"))?;
    if !(0.0..=1.0).contains(&task.noise) {
        return Err(WireError::invalid(
            "task.noise",
            task.noise,
            "must be in [0, 1]",
        ));
    }
    let pathway = t.pathway.as_ref().ok_or(WireError::Missing("pathway"))?;
    Ok(PathwayJob {
        experiment: item.experiment_id.clone(),
        architecture: Architecture {
            dims,
            module_units: a.module_units as usize,
            input_features: a.input_features as usize,
            head_classes: a.head_classes.iter().map(|&c| c as usize).collect(),
        },
        task_index: t.task_index as usize,
        task: SupervisedTask {
            data_dir: PathBuf::from(&task.data_dir),
            classes: [
                class("task.negative_class", task.negative_class)?,
                class("task.positive_class", task.positive_class)?,
            ],
            noise: task.noise,
            noise_seed: task.noise_seed,
        },
        pathway: pathway
            .layers
            .iter()
            .map(|l| l.module_indices.iter().map(|&m| m as usize).collect())
            .collect(),
        minibatches: t.minibatches as usize,
        batch_size: t.batch_size as usize,
        learning_rate: t.learning_rate,
        data_seed: t.data_seed,
        modules: t
            .modules
            .iter()
            .map(|m| module_ref_from_wire(Some(m), layers))
            .collect::<Result<_, _>>()?,
        frozen: t
            .frozen
            .iter()
            .map(|m| module_from_wire(Some(m), layers))
            .collect::<Result<_, _>>()?,
    })
}

/// A result report carrying every delta inline.
pub fn outcome_to_report(
    agent_id: &str,
    work_id: &str,
    outcome: &JobOutcome,
    layers: usize,
    elapsed_ms: u64,
    max_chunk_bytes: usize,
) -> Result<v1::ReportResultRequest, ChunkError> {
    let deltas = outcome
        .deltas
        .iter()
        .map(|d| {
            Ok(v1::ModuleDelta {
                base: Some(module_ref(d.id, d.base_version, layers)),
                chunks: tensors_to_chunks(&d.tensors, max_chunk_bytes)?,
                pushed: false,
            })
        })
        .collect::<Result<_, ChunkError>>()?;
    Ok(v1::ReportResultRequest {
        agent_id: agent_id.to_owned(),
        work_id: work_id.to_owned(),
        fitness: outcome.fitness,
        training_accuracy: Some(outcome.training_accuracy),
        evaluation: Some(v1::EvaluationStats {
            samples: Some(outcome.examples),
            accuracy: Some(outcome.training_accuracy),
            mean_loss: Some(outcome.mean_loss),
            ..Default::default()
        }),
        deltas,
        elapsed_ms,
        sideways: None,
    })
}

/// Decodes a result report. Deltas marked `pushed` are taken from `pushed(module, base)`,
/// which returns the tensors received earlier with PushParameters, if any.
pub fn outcome_from_report(
    report: &v1::ReportResultRequest,
    layers: usize,
    mut pushed: impl FnMut(ModuleId, u64) -> Option<Vec<ArrayD<f32>>>,
) -> Result<JobOutcome, WireError> {
    let training_accuracy = report
        .training_accuracy
        .ok_or(WireError::Missing("training_accuracy"))?;
    let evaluation = report.evaluation.unwrap_or_default();
    let deltas = report
        .deltas
        .iter()
        .map(|d| {
            let (id, base_version) = module_ref_from_wire(d.base.as_ref(), layers)?;
            let tensors = if d.pushed {
                pushed(id, base_version).ok_or_else(|| {
                    WireError::invalid(
                        "deltas.pushed",
                        true,
                        format!("no complete push for module {id} at version {base_version}"),
                    )
                })?
            } else {
                tensors_from_chunks(d.chunks.iter().cloned())?
            };
            Ok(ModuleDelta {
                id,
                base_version,
                tensors,
            })
        })
        .collect::<Result<_, WireError>>()?;
    Ok(JobOutcome {
        fitness: report.fitness,
        training_accuracy,
        mean_loss: evaluation.mean_loss.unwrap_or(f64::NAN),
        examples: evaluation.samples.unwrap_or(0),
        deltas,
    })
}
