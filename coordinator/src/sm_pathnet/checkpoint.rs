//! A safe-mutation PathNet run as a checkpoint holds it, and back: the current task, each of
//! its arms' tournament engine (population genomes as seed lists with their fitness, the
//! evaluations out and waiting, counters, best genome, random generator), the transfer
//! chain (the best genome of every task before, written into the super-network with its
//! pathway frozen), the summaries of the arms that ended, the run-wide evaluation ids, the
//! counters, what genomes cost on the wire so far and the clock. No tensors: the
//! super-network's base weights are the spec's seed and the frozen modules' weights are the
//! transfer chain's genomes, which the agents rebuild and so does a resumed run.
//!
//! Evaluations out with agents when the state was saved are re-queued on restoring, under
//! their ids: whoever held them is gone with the coordinator that leased them, so each is
//! evaluated again and its result counted once.

use super::{Arm, ArmSummary, Running, SmPathNetRun};
use crate::run::{Counters, Progress};
use crate::spec::SmPathNetSpec;
use pathnet_evo::sm_pathnet::{SavedTournament, TournamentEngine, Transfer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The run's state (it has no tensors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmPathNetRunState {
    /// The task being evolved (the number of tasks once all ended).
    task: usize,
    /// The current task's arms: the transfer arm, then the scratch arm if it has one.
    arms: Vec<SavedArm>,
    transfers: Vec<Transfer>,
    /// The arms that ended, in the order they did.
    done: Vec<ArmSummary>,
    /// Run-wide evaluation ids of the current task, by id.
    ids: Vec<SavedId>,
    next_id: u64,
    /// The arm whose turn it is to hand out work.
    turn: usize,
    stopped: bool,
    counters: Counters,
    wire: SavedWire,
    /// Seconds the run had been going when saved.
    seconds: f64,
    /// Whether it had finished (every task ended, or stopped).
    finished: bool,
}

/// One arm of the current task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedArm {
    arm: Arm,
    engine: SavedTournament,
}

/// A run-wide evaluation id and the arm's engine's own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedId {
    id: u64,
    arm: usize,
    local: u64,
}

/// What the genomes sent so far cost on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedWire {
    genome_bytes_sum: u64,
    genome_bytes_max: u64,
    payload_bytes_sum: u64,
    sent: u64,
}

impl SmPathNetRun {
    /// The run's state, for a checkpoint.
    pub fn snapshot(&self) -> SmPathNetRunState {
        let mut ids: Vec<SavedId> = self
            .ids
            .iter()
            .map(|(&id, &(arm, local))| SavedId { id, arm, local })
            .collect();
        ids.sort_by_key(|saved| saved.id);
        let (genome_bytes_sum, genome_bytes_max, payload_bytes_sum, sent) = self.bytes;
        SmPathNetRunState {
            task: self.task,
            arms: self
                .arms
                .iter()
                .map(|a| SavedArm {
                    arm: a.arm,
                    engine: a.engine.save(),
                })
                .collect(),
            transfers: self.transfers.clone(),
            done: self.done.clone(),
            ids,
            next_id: self.next_id,
            turn: self.turn,
            stopped: self.stopped,
            counters: self.counters.clone(),
            wire: SavedWire {
                genome_bytes_sum,
                genome_bytes_max,
                payload_bytes_sum,
                sent,
            },
            seconds: self
                .seconds
                .unwrap_or_else(|| self.clock.elapsed().as_secs_f64()),
            finished: self.seconds.is_some(),
        }
    }

    /// The run a checkpoint of an experiment on `spec` saved, resumed; with how many
    /// evaluations that were out went back to the queue (counted in
    /// `evaluations_requeued`).
    ///
    /// # Errors
    /// The state does not fit the spec or itself; the message names the field.
    pub fn restore(
        experiment: String,
        spec: SmPathNetSpec,
        saved: SmPathNetRunState,
    ) -> Result<(Self, usize), String> {
        let mut run = SmPathNetRun::new(experiment, spec).map_err(|err| err.to_string())?;
        let tasks = run.problem.tasks.len();
        let field = |name: &str| format!("`experiment.run.{name}`");
        if saved.task > tasks || (!saved.finished && saved.task >= tasks) {
            return Err(format!(
                "{} = {}: the spec has {tasks} tasks",
                field("task"),
                saved.task
            ));
        }
        if !saved.seconds.is_finite() || saved.seconds < 0.0 {
            return Err(format!(
                "{} = {}: not a duration",
                field("seconds"),
                saved.seconds
            ));
        }
        if saved.stopped && !saved.finished {
            return Err(format!(
                "{} = true: a stopped run is finished",
                field("stopped")
            ));
        }
        // The transfer chain holds one best genome per task before the current one (the
        // last task's is not written anywhere).
        let chain_fits = saved.transfers.len() <= saved.task
            && (saved.finished || saved.transfers.len() == saved.task)
            && saved.transfers.iter().enumerate().all(|(i, t)| t.task == i);
        if !chain_fits {
            return Err(format!(
                "{}: {} transfers at task {}: one per earlier task, in order",
                field("transfers"),
                saved.transfers.len(),
                saved.task
            ));
        }
        let mut expected = vec![Arm::Transfer];
        if saved.task > 0 && run.spec.sm_pathnet.scratch_control {
            expected.push(Arm::Scratch);
        }
        let arms: Vec<Arm> = saved.arms.iter().map(|a| a.arm).collect();
        if arms != expected && !(saved.finished && arms.is_empty()) {
            return Err(format!(
                "{} = {arms:?}: task {} runs the arms {expected:?}",
                field("arms"),
                saved.task
            ));
        }
        // Once every task ended no arm takes a turn, and the last one's stays as it was.
        if !arms.is_empty() && saved.turn >= arms.len() {
            return Err(format!(
                "{} = {}: the task has {} arms",
                field("turn"),
                saved.turn,
                arms.len()
            ));
        }
        let mut ids = HashMap::new();
        for s in &saved.ids {
            if s.arm >= arms.len() || s.id >= saved.next_id {
                return Err(format!(
                    "{} = {}: arm {} of {}, or not issued yet (next_id is {})",
                    field("ids.id"),
                    s.id,
                    s.arm,
                    arms.len(),
                    saved.next_id
                ));
            }
            if ids.insert(s.id, (s.arm, s.local)).is_some() {
                return Err(format!("{} = {}: listed twice", field("ids.id"), s.id));
            }
        }

        run.events.clear();
        let labels = run.labels();
        let mut running = Vec::with_capacity(saved.arms.len());
        let mut requeued = 0;
        for (i, a) in saved.arms.into_iter().enumerate() {
            let config = run
                .spec
                .tournament_arm(saved.task, u64::from(a.arm == Arm::Scratch));
            let transfers = match a.arm {
                Arm::Transfer => saved.transfers.clone(),
                Arm::Scratch => Vec::new(),
            };
            let max_generations = (config.max_evaluations / config.population as u64) as usize;
            let (engine, out) = TournamentEngine::restore(
                run.problem.clone(),
                saved.task,
                transfers,
                config,
                a.engine,
            )
            .map_err(|err| format!("{}: {err}", field(&format!("arms[{i}].engine"))))?;
            requeued += out;
            let label = run.label_index(saved.task, a.arm);
            if !saved.finished {
                run.events.push(Progress::TaskStarted {
                    task: label,
                    name: labels[label].clone(),
                    max_generations,
                });
            }
            running.push(Running {
                arm: a.arm,
                label,
                engine,
            });
        }
        let seconds = Duration::from_secs_f64(saved.seconds);
        run.task = saved.task;
        run.arms = running;
        run.transfers = saved.transfers;
        run.done = saved.done;
        run.ids = ids;
        run.next_id = saved.next_id;
        run.turn = saved.turn;
        run.stopped = saved.stopped;
        run.counters = saved.counters;
        run.counters.evaluations_requeued += requeued as u64;
        let w = saved.wire;
        run.bytes = (
            w.genome_bytes_sum,
            w.genome_bytes_max,
            w.payload_bytes_sum,
            w.sent,
        );
        run.clock = Instant::now()
            .checked_sub(seconds)
            .unwrap_or_else(Instant::now);
        run.seconds = saved.finished.then_some(saved.seconds);
        if saved.finished {
            // The dashboard's history of a finished run ends with its end.
            run.events.push(Progress::Finished);
        }
        Ok((run, requeued))
    }
}
