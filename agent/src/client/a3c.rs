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
    version: AtomicU64,
    tensors: OnceLock<AtomicTensors<f32>>,
}

impl LatestParameters {
    /// Keeps `tensors` unless a newer version is already held. Two workers storing at once
    /// may interleave elements, which Hogwild accepts.
    fn offer(&self, version: u64, tensors: &[ArrayD<f32>]) {
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let mut fresh = false;
        let held = self.tensors.get_or_init(|| {
            fresh = true;
            AtomicTensors::from_views(&views)
        });
        if !fresh && self.version.load(Relaxed) <= version {
            held.store_from(&views);
        }
        self.version.fetch_max(version, Relaxed);
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
    let trained = tokio::task::spawn_blocking(move || {
        let cancel = AtomicBool::new(false);
        worker.run(&remote, &cancel)
    })
    .await
    .map_err(|err| Failure::Failed(format!("A3C worker thread: {err}")))?;
    let report = match trained {
        Ok(report) => report,
        Err(_) if ctx.held.is_lost(work) => return Err(Failure::Lost),
        Err(err) => return Err(Failure::Failed(err.to_string())),
    };
    report_episodes(
        ctx,
        work,
        started,
        &report.episode_returns,
        report.env_steps,
    )
    .await
}

/// Ends a worker lease with its result: fitness = the mean return of its finished episodes.
pub(super) async fn report_episodes(
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
            request.gradients = wire::tensors_to_chunks(&update.grads, self.ctx.chunk_bytes())
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
        let tensors = wire::tensors_from_chunks(std::mem::take(&mut answer.parameters))
            .map_err(|err| remote_error(format!("parameters: {err}")))?;
        self.latest.offer(answer.version, &tensors);
        Ok(answer)
    }
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
