//! A served PathNet-A3C run as a checkpoint holds it, and back: the phase, the run's
//! counters, worker numbering and clock, the tasks learnt so far, the super-network's frozen
//! modules, transfer generator and the pathway the next task freezes, and of the phase being
//! trained its parameter server (parameters, shared RMSProp statistics, version, env steps,
//! episode window) and population (pathways, latest fitnesses, tournament generator).
//!
//! As for A3C, every update counted as applied is in the saved parameters (the server's
//! snapshot reads its version first) and updates after the last save are lost and not
//! counted. Worker leases out at the save ended with the coordinator that held them: they
//! are counted as re-queued, and new workers take their slots (members of the population).

use super::{Current, PathNetA3cRun};
use crate::a3c::checkpoint::{name, save_server, take_tensors};
use crate::a3c::workers::{Lifecycle, SavedLifecycle, WorkerLeases};
use crate::checkpoint::Tensors;
use crate::pathnet_a3c::PathNetA3cTask;
use crate::spec::PathNetA3cSpec;
use ndarray::ArrayD;
use pathnet_rl::pathnet_a3c::{PathNetA3c, SavedEvolution, SavedNetwork};
use pathnet_rl::{ParameterServer, ServerConfig, ServerCounters, ServerSnapshot};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The run's state but its tensors.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathNetA3cState {
    life: SavedLifecycle,
    /// The phase being trained; the number of phases once the run is over.
    phase: usize,
    network: SavedNetwork,
    /// The phase being trained, `None` once the run is over.
    training: Option<SavedPhase>,
    tasks: Vec<PathNetA3cTask>,
    scratch: Option<PathNetA3cTask>,
    best_fitness: Option<f64>,
    error: Option<String>,
}

/// The phase being trained, but its tensors.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedPhase {
    server: ServerCounters,
    evolution: SavedEvolution,
    next_progress_at: u64,
    /// Seconds the phase had trained.
    seconds: f64,
    /// Worker leases out when this was saved.
    workers_out: u64,
}

/// The parameters: the phase's server's while one trains, the super-network's after.
const PARAMETERS: &str = "pathnet_a3c.parameters.";
/// The shared RMSProp statistics of the phase's server.
const RMSPROP: &str = "pathnet_a3c.rmsprop.";

impl PathNetA3cRun {
    /// The run's state and tensors, for a checkpoint.
    pub fn snapshot(&self) -> (PathNetA3cState, Tensors) {
        let mut tensors = Tensors::new();
        let training = match &self.current {
            Some(current) => {
                let server = save_server(
                    current.workers.server().snapshot(),
                    (PARAMETERS, RMSPROP),
                    &mut tensors,
                );
                Some(SavedPhase {
                    server,
                    evolution: current.evolution.save(),
                    next_progress_at: current.workers.next_progress_at(),
                    seconds: current.started.elapsed().as_secs_f64(),
                    workers_out: current.workers.len() as u64,
                })
            }
            None => {
                for (i, p) in self.network.network().params().into_iter().enumerate() {
                    tensors.push((name(PARAMETERS, i), p.to_owned()));
                }
                None
            }
        };
        let state = PathNetA3cState {
            life: self.life.saved(),
            phase: self.phase,
            network: self.network.save(),
            training,
            tasks: self.tasks.clone(),
            scratch: self.scratch.clone(),
            best_fitness: self.best_fitness,
            error: self.error.clone(),
        };
        (state, tensors)
    }

    /// The run a checkpoint of an experiment on `spec` saved, resumed; with how many worker
    /// leases it counts as re-queued (those out at the save).
    ///
    /// # Errors
    /// The state or tensors do not fit the spec or themselves; the message names what.
    pub fn restore(
        experiment: String,
        spec: PathNetA3cSpec,
        saved: PathNetA3cState,
        tensors: Tensors,
    ) -> Result<(Self, usize), String> {
        let mut run = PathNetA3cRun::new(experiment, spec).map_err(|err| err.to_string())?;
        let phases = run.phases.len();
        let over = saved.phase == phases && saved.training.is_none();
        if saved.phase >= phases && !over {
            return Err(format!(
                "`experiment.run.phase` = {}: the spec has {phases} phases",
                saved.phase
            ));
        }
        let task = run.phases[saved.phase.min(phases - 1)].task;
        let life = Lifecycle::resumed(saved.life);
        let shapes = run.network.network().param_shapes().to_vec();
        let mut tensors: HashMap<String, ArrayD<f32>> = tensors.into_iter().collect();
        let of = "the spec's network";
        let parameters = take_tensors(&mut tensors, PARAMETERS, &shapes, of)?;
        let config = &run.spec.pathnet_a3c;
        run.network = PathNetA3c::restore(config, run.spec.seed, task, saved.network, &parameters)
            .map_err(|err| format!("`experiment.run`: {err}"))?;
        let mut workers_out = 0;
        run.current = match saved.training {
            None => {
                if life.is_running() {
                    return Err(
                        "`experiment.run.training`: missing while the run is running".to_owned(),
                    );
                }
                None
            }
            Some(phase) => {
                let snapshot = ServerSnapshot {
                    parameters,
                    rmsprop_statistics: take_tensors(&mut tensors, RMSPROP, &shapes, of)?,
                    counters: phase.server,
                };
                let a3c = config.a3c(task).map_err(|err| err.to_string())?;
                let server = ParameterServer::restore(ServerConfig::from(&a3c), &snapshot)
                    .map_err(|err| format!("`experiment.run.training.server`: {err}"))?;
                let mut evolution = run.network.evolution().clone();
                evolution
                    .load(phase.evolution)
                    .map_err(|err| format!("`experiment.run.training`: {err}"))?;
                if evolution.task() != task {
                    return Err(format!(
                        "`experiment.run.training.evolution.task` = {}: phase {} learns task \
                         {task}",
                        evolution.task(),
                        saved.phase
                    ));
                }
                let seconds = Duration::try_from_secs_f64(phase.seconds).unwrap_or_default();
                workers_out = phase.workers_out;
                Some(Current {
                    workers: WorkerLeases::resumed(Arc::new(server), phase.next_progress_at),
                    free_slots: (0..evolution.workers()).collect(),
                    evolution,
                    frozen: run.network.network().frozen_ids(),
                    started: Instant::now()
                        .checked_sub(seconds)
                        .unwrap_or_else(Instant::now),
                })
            }
        };
        if let Some(extra) = tensors.keys().next() {
            return Err(format!("tensor `{extra}` is not the spec's network's"));
        }
        run.life = life;
        run.life.counters.evaluations_requeued += workers_out;
        run.phase = saved.phase;
        run.tasks = saved.tasks;
        run.scratch = saved.scratch;
        run.best_fitness = saved.best_fitness;
        run.error = saved.error;
        // Saved after the phase's stop rule held and before its last workers reported:
        // the phase ends now.
        run.end_phase_when_drained();
        Ok((run, workers_out as usize))
    }
}
