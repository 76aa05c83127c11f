//! An A3C run as a checkpoint holds it, and back: the parameter server's parameters, shared
//! RMSProp statistics, counters and episode window (the learning-rate schedule is a function
//! of its env steps), the run's counters, worker numbering (workers' environments are seeded
//! by the experiment seed and their number, so numbers go on rather than repeat) and clock.
//!
//! Every update counted as applied is in the saved parameters (see
//! [`ParameterServer::snapshot`]); updates applied after the last save are lost with the
//! coordinator and not counted. Worker leases out at the save ended with the coordinator
//! that held them: they are counted as re-queued, and new workers take their slots.

use super::A3cRun;
use super::workers::{Lifecycle, SavedLifecycle, WorkerLeases};
use crate::checkpoint::Tensors;
use crate::spec::A3cSpec;
use ndarray::ArrayD;
use pathnet_rl::{ParameterServer, ServerConfig, ServerCounters, ServerSnapshot, initial_policy};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The run's state but its tensors.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A3cState {
    life: SavedLifecycle,
    best_mean_return: Option<f64>,
    next_progress_at: u64,
    server: ServerCounters,
    /// Worker leases out when this was saved.
    workers_out: u64,
}

const PARAMETERS: &str = "a3c.parameters.";
const RMSPROP: &str = "a3c.rmsprop.";

/// Tensor `i` of a list, named so that names sort in list order.
pub(crate) fn name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:04}")
}

/// A parameter server's snapshot as a checkpoint holds it: its parameters named
/// `parameters` and its RMSProp statistics named `rmsprop` (each a prefix of [`name`]) go to
/// `tensors`; returns its counters, which go to the state. A3C and PathNet-A3C save their
/// servers alike.
pub(crate) fn save_server(
    snapshot: ServerSnapshot,
    (parameters, rmsprop): (&str, &str),
    tensors: &mut Tensors,
) -> ServerCounters {
    let ServerSnapshot {
        parameters: values,
        rmsprop_statistics,
        counters,
    } = snapshot;
    for (i, p) in values.into_iter().enumerate() {
        tensors.push((name(parameters, i), p));
    }
    for (i, s) in rmsprop_statistics.into_iter().enumerate() {
        tensors.push((name(rmsprop, i), s));
    }
    counters
}

/// The list of tensors a checkpoint saved under `prefix` (see [`name`]), taken out of
/// `tensors`, each of its shape in `shapes`; `of` names what the shapes are of in an error
/// (`the spec's policy`).
pub(crate) fn take_tensors(
    tensors: &mut HashMap<String, ArrayD<f32>>,
    prefix: &str,
    shapes: &[Vec<usize>],
    of: &str,
) -> Result<Vec<ArrayD<f32>>, String> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let key = name(prefix, i);
            let tensor = tensors
                .remove(&key)
                .ok_or_else(|| format!("tensor `{key}` is missing"))?;
            if tensor.shape() != shape.as_slice() {
                return Err(format!(
                    "tensor `{key}` has shape {:?}, {of} {:?}",
                    tensor.shape(),
                    shape
                ));
            }
            Ok(tensor)
        })
        .collect()
}

impl A3cRun {
    /// The run's state and tensors (parameters, then RMSProp statistics), for a checkpoint.
    pub fn snapshot(&self) -> (A3cState, Tensors) {
        let mut tensors = Tensors::new();
        let server = save_server(
            self.server().snapshot(),
            (PARAMETERS, RMSPROP),
            &mut tensors,
        );
        let state = A3cState {
            life: self.life.saved(),
            best_mean_return: self.best_mean_return,
            next_progress_at: self.workers.next_progress_at(),
            server,
            workers_out: self.workers.len() as u64,
        };
        (state, tensors)
    }

    /// The run a checkpoint of an experiment on `spec` saved, resumed; with how many worker
    /// leases it counts as re-queued (those out at the save).
    ///
    /// # Errors
    /// The tensors do not fit the spec's policy or themselves; the message names what.
    pub fn restore(
        experiment: String,
        spec: A3cSpec,
        saved: A3cState,
        tensors: Tensors,
    ) -> Result<(Self, usize), String> {
        let policy = initial_policy(&spec.a3c, spec.seed).map_err(|err| err.to_string())?;
        let shapes: Vec<Vec<usize>> = policy.params().iter().map(|p| p.shape().to_vec()).collect();
        let mut tensors: HashMap<String, ArrayD<f32>> = tensors.into_iter().collect();
        let of = "the spec's policy";
        let snapshot = ServerSnapshot {
            parameters: take_tensors(&mut tensors, PARAMETERS, &shapes, of)?,
            rmsprop_statistics: take_tensors(&mut tensors, RMSPROP, &shapes, of)?,
            counters: saved.server,
        };
        if let Some(extra) = tensors.keys().next() {
            return Err(format!("tensor `{extra}` is not the spec's policy's"));
        }
        let server = ParameterServer::restore(ServerConfig::from(&spec.a3c), &snapshot)
            .map_err(|err| format!("`experiment.run.server`: {err}"))?;
        let mut life = Lifecycle::resumed(saved.life);
        life.counters.evaluations_requeued += saved.workers_out;
        let mut run = A3cRun {
            experiment,
            config_toml: spec.config_toml(),
            workers: WorkerLeases::resumed(Arc::new(server), saved.next_progress_at),
            life,
            best_mean_return: saved.best_mean_return,
            spec,
        };
        // Saved after the stop rule held and before the last workers reported: done now.
        run.complete_when_drained();
        Ok((run, saved.workers_out as usize))
    }
}
