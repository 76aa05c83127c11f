//! An A3C worker lease: the reinforcement-learning crate's worker, acting on this agent,
//! with the coordinator as its shared parameters.
//!
//! Every push travels to the coordinator, whose optimiser applies it, and the answer's fresh
//! parameters land in one copy per experiment that all worker threads of this agent read and
//! overwrite without a lock (Hogwild): a worker always acts on the newest parameters any
//! worker of the agent has received, and fetching costs no round trip.

use super::session::SessionContext;
use super::worker::Failure;
use crate::wire;
use ndarray::{ArrayD, ArrayViewMutD};
use pathnet_nn::AtomicTensors;
use pathnet_proto::v1;
use pathnet_rl::{A3cConfig, GradientUpdate, PushOutcome, RlError, SharedParameters, Worker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;
use tokio::runtime::Handle;

/// The newest parameters this agent has of one experiment.
#[derive(Default)]
pub struct LatestParameters {
    /// The newest version any answer carried.
    version: AtomicU64,
    tensors: OnceLock<AtomicTensors<f32>>,
    /// The version each tensor was last stored at: answers may carry only some tensors.
    versions: OnceLock<Vec<AtomicU64>>,
}

impl LatestParameters {
    /// Keeps each tensor of `tensors` (position, values) unless a newer version of it is
    /// already held. The first answer must carry every tensor. Two workers storing at once
    /// may interleave elements, which Hogwild accepts.
    fn offer(&self, version: u64, tensors: &[(usize, ArrayD<f32>)]) -> Result<(), RlError> {
        let held = match self.tensors.get() {
            Some(held) => held,
            None => {
                if tensors.iter().enumerate().any(|(p, (i, _))| p != *i) {
                    return Err(remote_error(
                        "the coordinator's first answer lacks parameter tensors".into(),
                    ));
                }
                let views: Vec<_> = tensors.iter().map(|(_, t)| t.view()).collect();
                self.tensors
                    .get_or_init(|| AtomicTensors::from_views(&views))
            }
        };
        let versions = self
            .versions
            .get_or_init(|| (0..held.len()).map(|_| AtomicU64::new(version)).collect());
        for (index, tensor) in tensors {
            let Some(shape) = held.shapes().get(*index) else {
                return Err(remote_error(format!(
                    "parameters: tensor param{index} beyond the {} of the network",
                    held.len()
                )));
            };
            if tensor.shape() != shape.as_slice() {
                return Err(RlError::Shape {
                    what: "parameters from the coordinator",
                    index: *index,
                    expected: shape.clone(),
                    got: tensor.shape().to_vec(),
                });
            }
            if versions[*index].load(Relaxed) <= version {
                held.store_one(*index, tensor.view());
                versions[*index].fetch_max(version, Relaxed);
            }
        }
        self.version.fetch_max(version, Relaxed);
        Ok(())
    }
}

/// Per-experiment parameter copies of one agent session.
#[derive(Default)]
pub struct A3cCopies {
    by_experiment: Mutex<HashMap<String, Arc<LatestParameters>>>,
}

impl A3cCopies {
    /// The copy of `parameters` (an experiment, or one phase of it, whose parameters are
    /// unrelated to any other's).
    pub(super) fn of(&self, parameters: &str) -> Arc<LatestParameters> {
        let mut map = self
            .by_experiment
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // One experiment (phase) runs at a time; older copies are dead weight.
        map.retain(|id, _| id == parameters);
        Arc::clone(map.entry(parameters.to_owned()).or_default())
    }
}

/// Runs the worker of one A3C lease until the coordinator says training is over, then
/// reports the worker's episodes.
pub async fn run(
    ctx: &Arc<SessionContext>,
    work: &str,
    experiment: &str,
    item: &v1::A3cWorker,
) -> Result<(), Failure> {
    let started = Instant::now();
    let config: A3cConfig = toml::from_str(&item.config_toml)
        .map_err(|err| Failure::Unsupported(format!("`config_toml`: {err}")))?;
    let mut worker = Worker::new(&config, item.seed, u64::from(item.worker_index))
        .map_err(|err| Failure::Unsupported(err.to_string()))?;
    let remote = Remote::new(ctx, work, ctx.a3c.of(experiment));
    // Each worker acts on one observation at a time; the workers are the parallelism.
    pathnet_nn::set_threads(1);
    tracing::debug!(%work, worker = item.worker_index, env = %config.env, "A3C worker started");
    train_and_report(ctx, work, started, "A3C", move || {
        let cancel = AtomicBool::new(false);
        worker
            .run(&remote, &cancel)
            .map(|report| (report.episode_returns, report.env_steps))
    })
    .await
}

/// Runs `train` (a worker, until the coordinator says training is over) on a blocking
/// thread, then ends the lease with the returns and env steps it gives back.
pub(super) async fn train_and_report<E: std::fmt::Display + Send + 'static>(
    ctx: &SessionContext,
    work: &str,
    started: Instant,
    what: &str,
    train: impl FnOnce() -> Result<(Vec<f64>, u64), E> + Send + 'static,
) -> Result<(), Failure> {
    let trained = tokio::task::spawn_blocking(train)
        .await
        .map_err(|err| Failure::Failed(format!("{what} worker thread: {err}")))?;
    let (episode_returns, env_steps) = match trained {
        Ok(trained) => trained,
        Err(_) if ctx.held.is_lost(work) => return Err(Failure::Lost),
        Err(err) => return Err(Failure::Failed(err.to_string())),
    };
    report_episodes(ctx, work, started, &episode_returns, env_steps).await
}

/// Ends a worker lease with its result: fitness = the mean return of its finished episodes.
async fn report_episodes(
    ctx: &SessionContext,
    work: &str,
    started: Instant,
    episode_returns: &[f64],
    env_steps: u64,
) -> Result<(), Failure> {
    let episodes = episode_returns.len();
    let mean_return = (episodes > 0).then(|| episode_returns.iter().sum::<f64>() / episodes as f64);
    let request = v1::ReportResultRequest {
        agent_id: ctx.agent_id.clone(),
        work_id: work.to_owned(),
        fitness: mean_return.unwrap_or(0.0),
        training_accuracy: None,
        evaluation: Some(v1::EvaluationStats {
            episodes: Some(episodes as u64),
            mean_episode_return: mean_return,
            env_steps: Some(env_steps),
            ..Default::default()
        }),
        deltas: Vec::new(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let answer = ctx.agent.clone().report_result(request).await?;
    let disposition = answer.into_inner().disposition();
    tracing::debug!(%work, ?disposition, env_steps, "A3C worker reported");
    ctx.held
        .count_report(disposition == v1::ResultDisposition::Accepted);
    Ok(())
}

/// The coordinator as [`SharedParameters`], called from the worker's blocking thread.
pub(super) struct Remote {
    ctx: Arc<SessionContext>,
    handle: Handle,
    work: String,
    sequence: AtomicU64,
    latest: Arc<LatestParameters>,
}

impl Remote {
    /// The coordinator as seen by the worker of lease `work`, keeping the freshest
    /// parameters in `latest`. Call from within the tokio runtime.
    pub(super) fn new(
        ctx: &Arc<SessionContext>,
        work: &str,
        latest: Arc<LatestParameters>,
    ) -> Self {
        Remote {
            ctx: Arc::clone(ctx),
            handle: Handle::current(),
            work: work.to_owned(),
            sequence: AtomicU64::new(0),
            latest,
        }
    }

    /// One push: a gradient (`update`), a fitness report (`fitness`), or neither (a fetch).
    pub(super) fn exchange(
        &self,
        update: Option<GradientUpdate>,
        fitness: Option<f64>,
    ) -> Result<v1::GradientPushResponse, RlError> {
        if self.ctx.held.is_lost(&self.work) {
            return Err(remote_error(format!("lease {} was lost", self.work)));
        }
        let sequence = self.sequence.fetch_add(1, Relaxed) + 1;
        let mut request = v1::GradientPush {
            agent_id: self.ctx.agent_id.clone(),
            work_id: self.work.clone(),
            sequence,
            fitness,
            ..Default::default()
        };
        if let Some(update) = update {
            request.base_version = update.base_version;
            request.gradients = wire::indexed_tensors_to_chunks(
                sent_gradients(&update.grads),
                self.ctx.chunk_bytes(),
            )
            .map_err(|err| remote_error(err.to_string()))?;
            request.env_steps = update.env_steps;
            request.episode_returns = update.episode_returns;
        }
        let mut client = self.ctx.parameters.clone();
        let mut answer = self
            .handle
            .block_on(client.exchange_gradients(request))
            .map_err(|status| remote_error(format!("{}: {}", status.code(), status.message())))?
            .into_inner();
        let tensors = wire::indexed_tensors_from_chunks(std::mem::take(&mut answer.parameters))
            .map_err(|err| remote_error(format!("parameters: {err}")))?;
        self.latest.offer(answer.version, &tensors)?;
        Ok(answer)
    }
}

/// The gradient tensors a push carries: entirely zero ones (a PathNet-A3C worker's modules
/// off its pathway) are left out, and the coordinator reads them as zeros. At least one is
/// sent, since a push without gradients is a fetch.
fn sent_gradients(grads: &[ArrayD<f32>]) -> impl Iterator<Item = (usize, &ArrayD<f32>)> {
    let any = grads
        .iter()
        .position(|g| g.iter().any(|&v| v != 0.0))
        .unwrap_or(0);
    grads
        .iter()
        .enumerate()
        .filter(move |(i, g)| *i == any || g.iter().any(|&v| v != 0.0))
}

pub(super) fn remote_error(message: String) -> RlError {
    RlError::Remote(message.into())
}

impl SharedParameters for Remote {
    fn fetch(&self, into: &mut [ArrayViewMutD<'_, f32>]) -> Result<u64, RlError> {
        if self.latest.tensors.get().is_none() {
            self.exchange(None, None)?;
        }
        let held = self
            .latest
            .tensors
            .get()
            .ok_or_else(|| remote_error("the coordinator sent no parameters".into()))?;
        if held.len() != into.len() {
            return Err(RlError::TensorCount {
                what: "parameters from the coordinator",
                expected: into.len(),
                got: held.len(),
            });
        }
        if let Some(index) = into
            .iter()
            .zip(held.shapes())
            .position(|(t, s)| t.shape() != s.as_slice())
        {
            return Err(RlError::Shape {
                what: "parameters from the coordinator",
                index,
                expected: into[index].shape().to_vec(),
                got: held.shapes()[index].clone(),
            });
        }
        // Version first: the tensors may be newer than it says, never older.
        let version = self.latest.version.load(Relaxed);
        held.load_into(into);
        Ok(version)
    }

    fn push(&self, update: GradientUpdate) -> Result<PushOutcome, RlError> {
        let answer = self.exchange(Some(update), None)?;
        Ok(PushOutcome {
            applied: answer.disposition() == v1::GradientDisposition::Applied,
            stop: answer.stop,
            version: answer.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(shape: &[usize], value: f32) -> ArrayD<f32> {
        ArrayD::from_elem(shape, value)
    }

    fn held(latest: &LatestParameters) -> Vec<ArrayD<f32>> {
        latest.tensors.get().unwrap().to_arrays()
    }

    #[test]
    fn answers_update_only_the_tensors_they_carry_and_never_with_older_ones() {
        let latest = LatestParameters::default();
        let partial = [(1, filled(&[2], 1.0))];
        assert!(
            latest.offer(1, &partial).is_err(),
            "the first answer must be whole"
        );
        let whole = [(0, filled(&[3], 0.0)), (1, filled(&[2], 0.0))];
        latest.offer(1, &whole).unwrap();
        latest.offer(5, &[(1, filled(&[2], 5.0))]).unwrap();
        assert_eq!(held(&latest), [filled(&[3], 0.0), filled(&[2], 5.0)]);
        // Another worker's answer, older for tensor 1 but newer for tensor 0.
        latest
            .offer(3, &[(0, filled(&[3], 3.0)), (1, filled(&[2], 3.0))])
            .unwrap();
        assert_eq!(held(&latest), [filled(&[3], 3.0), filled(&[2], 5.0)]);
        assert_eq!(latest.version.load(Relaxed), 5);
        assert!(latest.offer(6, &[(2, filled(&[1], 0.0))]).is_err());
        assert!(latest.offer(6, &[(0, filled(&[2], 0.0))]).is_err());
    }

    #[test]
    fn zero_gradient_tensors_stay_home_but_a_push_always_carries_one() {
        let grads = [filled(&[2], 0.0), filled(&[3], 0.5), filled(&[1], 0.0)];
        let sent: Vec<usize> = sent_gradients(&grads).map(|(i, _)| i).collect();
        assert_eq!(sent, [1]);
        let zeros = [filled(&[2], 0.0), filled(&[1], 0.0)];
        let sent: Vec<usize> = sent_gradients(&zeros).map(|(i, _)| i).collect();
        assert_eq!(sent, [0]);
    }
}
