//! The runtime's side of checkpoints: its state as a manifest and tensors to save, and an
//! experiment resumed from a saved one. When and where to write is `server::persist`'s.

use super::Runtime;
use super::slot::Experiment;
use crate::checkpoint::{FORMAT, FORMAT_VERSION, Manifest, SavedExperiment, Tensors, WriteStats};
use crate::kind::Kind;
use crate::lease::LeaseCounters;
use crate::metrics::CheckpointMetrics;
use crate::run::{Counters, RunState};
use crate::server::kinds::{self, Built, Ready, SavedRun};

/// What the runtime knows of saving.
pub(super) struct Checkpoints {
    /// The coordinator keeps its state on disk.
    pub(super) enabled: bool,
    /// A phase ended, or an experiment started: save now rather than at the next interval.
    pub(super) due: bool,
    /// What the last save held, to skip saving what did not change.
    last: Option<Fingerprint>,
    /// Saves that reached the disk and saves that failed, for the metrics.
    pub(super) counters: CheckpointMetrics,
}

impl Checkpoints {
    pub(super) fn new(enabled: bool) -> Self {
        Checkpoints {
            enabled,
            due: false,
            last: None,
            counters: CheckpointMetrics::default(),
        }
    }
}

/// Enough of the state to tell that nothing changed: every change to a run's state moves
/// one of its counters or the lease table's.
#[derive(PartialEq)]
struct Fingerprint {
    experiment: Option<String>,
    counters: Counters,
    leases: LeaseCounters,
    state: RunState,
    failed: bool,
    next_experiment: u64,
}

/// Where a saved experiment stands, for the log line of a save.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SaveNote {
    pub experiment: Option<String>,
    pub task: usize,
    pub generation: u64,
    pub results_accepted: u64,
}

/// An experiment resumed from a saved state.
#[derive(Debug, Clone)]
pub struct Resumed {
    /// The experiment's id.
    pub experiment: String,
    /// Its kind.
    pub kind: Kind,
    /// Its spec, as saved (JSON).
    pub spec: serde_json::Value,
    /// Where the run stood when saved.
    pub state: RunState,
    /// The task (or phase) under way.
    pub task: usize,
    /// Generations (or updates) done on it.
    pub generation: u64,
    /// Results accepted before the restart.
    pub results_accepted: u64,
    /// Work handed out before the restart, back in the queue.
    pub requeued: usize,
}

impl Resumed {
    /// Whether `spec` is the spec this experiment was saved with; the error names the kind
    /// or the first field that differs, with both values.
    pub fn check_same_spec(&self, spec: &crate::spec::Spec) -> Result<(), String> {
        let id = &self.experiment;
        if spec.kind() != self.kind {
            return Err(format!(
                "the saved experiment `{id}` is of kind `{}`, the given spec of kind `{}`",
                self.kind,
                spec.kind()
            ));
        }
        let given = kinds::spec_json(spec)?;
        match crate::checkpoint::first_difference(&self.spec, &given) {
            None => Ok(()),
            Some((field, saved, given)) => Err(format!(
                "the given spec differs from the one experiment `{id}` was saved with: \
                 `{field}` is {given}, the saved spec has {saved}"
            )),
        }
    }
}

impl Runtime {
    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Whether a phase ended (or an experiment started) since the last call: save now.
    pub(crate) fn take_checkpoint_due(&mut self) -> bool {
        std::mem::take(&mut self.checkpoints.due)
    }

    /// The state to save, unless nothing changed since the last save (and not `force`d).
    /// Leases live now are saved as ended by a restart: on resuming from this state their
    /// work is back in the queue.
    ///
    /// # Errors
    /// The run could not be saved; the message names why.
    pub(crate) fn save(
        &mut self,
        force: bool,
    ) -> Result<Option<(Manifest, Tensors, SaveNote)>, String> {
        // Without an experiment only the lease counters and the numbering can change.
        let fingerprint = Some(match self.slot.current() {
            Some(exp) => Fingerprint {
                experiment: Some(exp.id.clone()),
                counters: exp.run.counters().clone(),
                leases: self.leases.counters().clone(),
                state: exp.run.state(),
                failed: exp.error.is_some(),
                next_experiment: self.slot.next_number(),
            },
            None => Fingerprint {
                experiment: None,
                counters: Counters::default(),
                leases: self.leases.counters().clone(),
                state: RunState::Completed,
                failed: false,
                next_experiment: self.slot.next_number(),
            },
        });
        // `last` is `None` before the first save and after a failed one: save then.
        if !force && fingerprint == self.checkpoints.last {
            return Ok(None);
        }
        let mut note = SaveNote {
            experiment: None,
            task: 0,
            generation: 0,
            results_accepted: 0,
        };
        let mut tensors = Tensors::new();
        let experiment = match self.slot.current() {
            None => None,
            Some(exp) => {
                // Read before the state: A3C applies pushes outside this lock, so a status read
                // after it could name an update the saved parameters do not hold yet. Read
                // first, the log line is a lower bound of what is on disk.
                let status = exp.run.status();
                let results_accepted = exp.run.counters().results_accepted;
                let SavedRun {
                    spec,
                    state,
                    tensors: saved,
                } = exp
                    .run
                    .save()
                    .unwrap_or_else(|| Err(kinds::not_checkpointable(exp.run.kind())))?;
                tensors = saved;
                note = SaveNote {
                    experiment: Some(exp.id.clone()),
                    task: status.task,
                    generation: status.generation,
                    results_accepted,
                };
                Some(SavedExperiment {
                    id: exp.id.clone(),
                    kind: exp.run.kind().as_str().to_owned(),
                    spec,
                    started_unix_ms: exp.started_unix_ms,
                    error: exp.error.clone(),
                    leases: self.leases.counters_after_restart(),
                    bytes_pulled: self.observed.bytes_pulled,
                    bytes_pushed: self.observed.bytes_pushed,
                    run: state,
                    tensors: String::new(),
                })
            }
        };
        self.checkpoints.last = fingerprint;
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            incarnation: self.incarnation,
            written_unix_ms: super::unix_now_ms(),
            next_experiment: self.slot.next_number(),
            experiment,
        };
        Ok(Some((manifest, tensors, note)))
    }

    /// Counts a save that reached the disk.
    pub(crate) fn checkpoint_written(&mut self, stats: &WriteStats) {
        let c = &mut self.checkpoints.counters;
        c.written += 1;
        c.last_written_unix_ms = super::unix_now_ms();
        c.last_bytes = stats.bytes;
        c.last_write_seconds = stats.seconds;
    }

    /// Counts a save that failed, and forgets what it held: the next interval saves again
    /// even if nothing changed, since the disk still has an older state.
    pub(crate) fn checkpoint_failed(&mut self) {
        self.checkpoints.counters.failed += 1;
        self.checkpoints.last = None;
    }

    /// How the saves went; `None` without a state directory.
    pub(crate) fn checkpoint_counters(&self) -> Option<CheckpointMetrics> {
        self.checkpoints
            .enabled
            .then_some(self.checkpoints.counters)
    }

    /// Carries on the numbering of experiments of the coordinator's earlier runs.
    pub(crate) fn resume_numbering(&mut self, next_experiment: u64) {
        self.slot.resume_numbering(next_experiment);
    }

    /// Puts the experiment a state saved back in the slot, as it was saved, with its work
    /// that was handed out back in the queue; `ready` is its spec with its files read.
    ///
    /// # Errors
    /// The saved run does not fit its spec or itself; the message names what.
    pub(crate) fn resume(
        &mut self,
        saved: SavedExperiment,
        tensors: Tensors,
        ready: Ready,
    ) -> Result<Resumed, String> {
        let kind = ready.spec().kind();
        let (built, requeued) = kinds::restore(ready, &saved.id, saved.run, tensors, &self.limits)?;
        let Built {
            run,
            parameter_bytes,
        } = built;
        self.leases.resume_counters(saved.leases);
        self.observed.bytes_pulled = saved.bytes_pulled;
        self.observed.bytes_pushed = saved.bytes_pushed;
        self.failures.follow(&saved.id);
        let status = run.status();
        let resumed = Resumed {
            experiment: saved.id.clone(),
            kind,
            spec: saved.spec,
            state: status.state,
            task: status.task,
            generation: status.generation,
            results_accepted: run.counters().results_accepted,
            requeued,
        };
        self.slot.start(Experiment {
            id: saved.id,
            run,
            parameter_bytes,
            started_unix_ms: saved.started_unix_ms,
            error: saved.error,
        });
        let now = self.now();
        self.observed.experiment_started(now);
        self.dirty = true;
        Ok(resumed)
    }
}
