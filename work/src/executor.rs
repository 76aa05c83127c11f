//! Executes pathway jobs on a local replica of the super-network.
//!
//! The replica holds some modules at some versions; [`Executor::stale_modules`] says which
//! ones a job needs fresher, the caller loads them (from the network or straight from the
//! coordinator's store), and [`Executor::run`] trains the pathway and reports the change of
//! every trainable module as a delta. The replica is put back to the versions it trained
//! from afterwards, so it always mirrors some version the coordinator assigned. Once the
//! coordinator says which deltas it added to their own base version,
//! [`Executor::adopt`] moves those modules to the version that made, without a pull.

use crate::data::TaskDataCache;
use crate::job::{Architecture, JobOutcome, ModuleDelta, ModuleParams, PathwayJob};
use ndarray::ArrayD;
use pathnet_envs::data::DataError;
use pathnet_nn::pathnet::{Batch, ModuleId, ModuleOptimizers, PathNet, PathNetError, Pathway};
use pathnet_nn::{Sgd, SgdConfig};

/// Why a job could not run: each names the job field, module or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The task's dataset could not be read or the task not built from it.
    #[error("loading task data: {0}")]
    Data(#[from] DataError),
    /// The super-network refused the job's architecture, pathway or parameters.
    #[error("super-network: {0}")]
    PathNet(#[from] PathNetError),
    /// The job's learning rate is not one SGD accepts.
    #[error("learning_rate = {value}: {reason}")]
    LearningRate {
        /// The job's `learning_rate`.
        value: f32,
        /// What SGD requires of it.
        reason: String,
    },
    /// A job field out of range or inconsistent with the task's data.
    #[error("`{field}` = {value}: {reason}")]
    Invalid {
        /// The job field, as named in [`PathwayJob`].
        field: &'static str,
        /// Its value, as given.
        value: String,
        /// What it must be.
        reason: String,
    },
    /// The replica holds a module older than the job's version: the caller should have
    /// loaded what [`Executor::stale_modules`] named.
    #[error("module {module} is held at version {held}, the job needs at least {wanted}")]
    NotLoaded {
        /// The stale module.
        module: ModuleId,
        /// The version the replica holds.
        held: u64,
        /// The version the job trains from.
        wanted: u64,
    },
    /// Parameters were loaded for another experiment than the replica's (or before any
    /// job set up a replica).
    #[error("module {module}: parameters loaded for experiment `{loaded}`, not `{wanted}`")]
    WrongExperiment {
        /// The module whose parameters were offered.
        module: ModuleId,
        /// The replica's experiment; empty when there is no replica yet.
        loaded: String,
        /// The experiment the parameters are for.
        wanted: String,
    },
}

struct Replica {
    experiment: String,
    architecture: Architecture,
    net: PathNet<f32>,
}

/// Trains pathways of one experiment at a time; each concurrent worker owns one.
pub struct Executor {
    data: TaskDataCache,
    replica: Option<Replica>,
}

impl Executor {
    /// An executor with no replica yet, reading task data through `data` (shared by the
    /// process's executors, so each dataset is loaded once).
    pub fn new(data: TaskDataCache) -> Self {
        Executor {
            data,
            replica: None,
        }
    }

    /// The job's modules this replica does not hold at the job's version or newer. A job of
    /// another experiment or architecture than the replica's starts a fresh replica, whose
    /// modules are all stale (a version of 0 is never assigned).
    pub fn stale_modules(&mut self, job: &PathwayJob) -> Result<Vec<(ModuleId, u64)>, ExecError> {
        let replica = self.replica_for(job)?;
        let mut stale = Vec::new();
        for &(id, wanted) in &job.modules {
            if replica.net.version(id)? < wanted {
                stale.push((id, wanted));
            }
        }
        Ok(stale)
    }

    /// Adopts one module's parameters and version into the replica of `experiment`.
    pub fn load(&mut self, experiment: &str, params: &ModuleParams) -> Result<(), ExecError> {
        let replica = self.replica.as_mut().filter(|r| r.experiment == experiment);
        let Some(replica) = replica else {
            return Err(ExecError::WrongExperiment {
                module: params.id,
                loaded: self
                    .replica
                    .as_ref()
                    .map_or_else(String::new, |r| r.experiment.clone()),
                wanted: experiment.to_owned(),
            });
        };
        replica
            .net
            .load_params(params.id, &params.tensors, params.version)?;
        Ok(())
    }

    /// Moves each module in `updated` (id, version), as the coordinator names those whose
    /// delta it added to the delta's own base version, from that base to `version` by
    /// adding the delta: the same float32 sum the coordinator made, so the replica again
    /// mirrors a version the coordinator assigned. Modules the replica no longer holds at
    /// the delta's base, or with no delta in `deltas`, are left to be pulled. Returns how
    /// many modules moved.
    pub fn adopt(
        &mut self,
        experiment: &str,
        deltas: &[ModuleDelta],
        updated: &[(ModuleId, u64)],
    ) -> Result<usize, ExecError> {
        let Some(replica) = self.replica.as_mut().filter(|r| r.experiment == experiment) else {
            return Ok(0);
        };
        let mut adopted = 0;
        for &(id, version) in updated {
            let Some(delta) = deltas.iter().find(|d| d.id == id) else {
                continue;
            };
            if replica.net.version(id)? != delta.base_version || version <= delta.base_version {
                continue;
            }
            let params = replica.net.params(id)?;
            let fits = params.len() == delta.tensors.len()
                && params
                    .iter()
                    .zip(&delta.tensors)
                    .all(|(base, change)| base.shape() == change.shape());
            if !fits {
                continue;
            }
            let tensors: Vec<ArrayD<f32>> = params
                .iter()
                .zip(&delta.tensors)
                .map(|(base, change)| base + change)
                .collect();
            replica.net.load_params(id, &tensors, version)?;
            adopted += 1;
        }
        Ok(adopted)
    }

    /// Trains the job's pathway for `T` minibatches on its task and returns fitness,
    /// accuracy and the deltas of its trainable modules.
    pub fn run(&mut self, job: &PathwayJob) -> Result<JobOutcome, ExecError> {
        let outcome = self.train(job);
        if outcome.is_err() {
            // A failure part-way through training leaves modules changed under versions the
            // coordinator may later assign to other parameters: start over from scratch.
            self.replica = None;
        }
        outcome
    }

    fn train(&mut self, job: &PathwayJob) -> Result<JobOutcome, ExecError> {
        let sgd = Sgd::new(SgdConfig {
            lr: f64::from(job.learning_rate),
            momentum: 0.0,
        })
        .map_err(|err| ExecError::LearningRate {
            value: job.learning_rate,
            reason: err.to_string(),
        })?;
        if job.minibatches == 0 {
            return Err(ExecError::Invalid {
                field: "minibatches",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let data = self.data.train(&job.task)?;
        if data.features() != job.architecture.input_features {
            return Err(ExecError::Invalid {
                field: "input_features",
                value: job.architecture.input_features.to_string(),
                reason: format!(
                    "the task's data in {} has {} features per example",
                    self.data.dir_for(&job.task).display(),
                    data.features()
                ),
            });
        }
        let batches = data.minibatches(job.minibatches, job.batch_size, job.data_seed)?;
        let net = &mut self.replica_for(job)?.net;
        let pathway = Pathway::new(job.pathway.clone(), net.dims())?;

        let mut base: Vec<(ModuleId, u64, Vec<ArrayD<f32>>)> = Vec::new();
        for &(id, wanted) in &job.modules {
            let held = net.version(id)?;
            if held < wanted {
                return Err(ExecError::NotLoaded {
                    module: id,
                    held,
                    wanted,
                });
            }
            if job.frozen.contains(&id) {
                net.freeze(id)?;
            } else {
                net.unfreeze(id)?;
                let tensors = net.params(id)?.iter().map(|p| p.to_owned()).collect();
                base.push((id, held, tensors));
            }
        }
        let mut optimizers = ModuleOptimizers::cloning(sgd);
        let batches = batches.iter().map(|(inputs, labels)| Batch {
            inputs: inputs.view().into_dyn(),
            labels,
        });
        let report = net.train_pathway(&pathway, job.task_index, batches, &mut optimizers)?;

        let mut deltas = Vec::with_capacity(base.len());
        for (id, base_version, before) in base {
            let tensors = net
                .params(id)?
                .iter()
                .zip(&before)
                .map(|(after, before)| after - before)
                .collect();
            net.load_params(id, &before, base_version)?;
            deltas.push(ModuleDelta {
                id,
                base_version,
                tensors,
            });
        }
        // A run that diverged (a non-finite loss or parameter) earned nothing: it reports
        // the worst fitness and no deltas. Sending the deltas would only get the result
        // refused and the work re-queued, to diverge again, forever.
        let diverged = !report.mean_loss().is_finite()
            || deltas
                .iter()
                .flat_map(|delta| &delta.tensors)
                .any(|tensor| tensor.iter().any(|v| !v.is_finite()));
        if diverged {
            return Ok(JobOutcome {
                fitness: -1.0,
                training_accuracy: 0.0,
                mean_loss: report.mean_loss(),
                examples: report.examples as u64,
                deltas: Vec::new(),
            });
        }
        Ok(JobOutcome {
            fitness: report.fitness(),
            training_accuracy: 1.0 + report.fitness(),
            mean_loss: report.mean_loss(),
            examples: report.examples as u64,
            deltas,
        })
    }

    fn replica_for(&mut self, job: &PathwayJob) -> Result<&mut Replica, ExecError> {
        let reusable = self
            .replica
            .as_ref()
            .is_some_and(|r| r.experiment == job.experiment && r.architecture == job.architecture);
        if !reusable {
            let mut net = job.architecture.build(0)?;
            // Built parameters are placeholders: version 0 marks them as never pulled.
            for id in net.module_ids().collect::<Vec<_>>() {
                let tensors: Vec<ArrayD<f32>> =
                    net.params(id)?.iter().map(|p| p.to_owned()).collect();
                net.load_params(id, &tensors, 0)?;
            }
            self.replica = Some(Replica {
                experiment: job.experiment.clone(),
                architecture: job.architecture.clone(),
                net,
            });
        }
        Ok(self.replica.as_mut().expect("set just above"))
    }
}
