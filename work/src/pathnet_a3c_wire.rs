//! Conversions between PathNet-A3C worker leases and their `pathnet.v1` messages: the
//! `[pathnet_a3c]` table travels as TOML in the reinforcement-learning crate's own schema,
//! pathways and frozen modules as typed messages checked against the table's super-network.

use crate::wire::{WireError, module_from_wire, to_wire};
use pathnet_nn::pathnet::{ModuleId, PathNetDims, Pathway};
use pathnet_proto::v1;
use pathnet_rl::pathnet_a3c::PathNetA3cConfig;

/// One PathNet-A3C worker lease, decoded and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PathNetA3cWorkerJob {
    /// The experiment's `[pathnet_a3c]` table, validated.
    pub config: PathNetA3cConfig,
    /// Zero-based worker number, unique within the experiment; with `seed` and `task` it
    /// seeds the worker's environment and action sampling.
    pub worker_index: u32,
    /// The experiment's seed.
    pub seed: u64,
    /// Zero-based index into the config's tasks: the environment and head to train.
    pub task: usize,
    /// Zero-based training phase (each task in order, then the from-scratch control);
    /// parameters of different phases are unrelated and never mixed.
    pub phase: u32,
    /// The pathway the worker starts with, checked against the config's super-network.
    pub pathway: Pathway,
    /// Modules earlier tasks froze: never trained, their gradients pushed as zeros.
    pub frozen: Vec<ModuleId>,
}

/// A pathway as its active module indices per hidden layer.
pub fn pathway_to_wire(pathway: &Pathway) -> v1::Pathway {
    v1::Pathway {
        layers: pathway
            .layers()
            .iter()
            .map(|active| v1::PathwayLayer {
                module_indices: active
                    .iter()
                    .map(|&m| to_wire("pathway.module_indices", m))
                    .collect(),
            })
            .collect(),
    }
}

/// Decodes a pathway and checks it against the super-network `dims`.
pub fn pathway_from_wire(
    field: &'static str,
    pathway: &v1::Pathway,
    dims: &PathNetDims,
) -> Result<Pathway, WireError> {
    let layers: Vec<Vec<usize>> = pathway
        .layers
        .iter()
        .map(|l| l.module_indices.iter().map(|&m| m as usize).collect())
        .collect();
    Pathway::new(layers.clone(), dims)
        .map_err(|err| WireError::invalid(field, format!("{layers:?}"), err.to_string()))
}

/// Decodes a PathNet-A3C worker lease: the table must parse and validate, the task must be
/// one of its tasks, and the pathway and frozen modules must fit its super-network.
pub fn worker_from_payload(item: &v1::PathNetA3cWorker) -> Result<PathNetA3cWorkerJob, WireError> {
    let config: PathNetA3cConfig = toml::from_str(&item.config_toml)
        .map_err(|err| WireError::invalid("config_toml", "(TOML text)", err.to_string()))?;
    config
        .validate()
        .map_err(|err| WireError::invalid("config_toml", "(TOML text)", err.to_string()))?;
    let task = item.task as usize;
    if task >= config.tasks.len() {
        return Err(WireError::invalid(
            "task",
            item.task,
            format!("the config has {} tasks", config.tasks.len()),
        ));
    }
    let dims = config.dims();
    let pathway = item.pathway.as_ref().ok_or(WireError::Missing("pathway"))?;
    let pathway = pathway_from_wire("pathway", pathway, &dims)?;
    let frozen = item
        .frozen
        .iter()
        .map(|m| {
            let id = module_from_wire(Some(m), dims.layers)?;
            if id.layer >= dims.layers || id.index >= dims.modules {
                return Err(WireError::invalid(
                    "frozen",
                    format!("{id:?}"),
                    "not a module of the super-network's hidden layers",
                ));
            }
            Ok(id)
        })
        .collect::<Result<_, _>>()?;
    Ok(PathNetA3cWorkerJob {
        config,
        worker_index: item.worker_index,
        seed: item.seed,
        task,
        phase: item.phase,
        pathway,
        frozen,
    })
}
