//! What the two A3C kinds' leases share: the coordinator as the worker's
//! [`SharedParameters`], called from the worker's blocking thread, and the end of the lease.
//!
//! Every push travels to the coordinator, whose optimiser applies it, and the answer's fresh
//! parameters land in the agent's copy for the experiment, so fetching costs no round trip.

use crate::context::{Failure, SessionContext};
use crate::copies::LatestParameters;
use ndarray::{ArrayD, ArrayViewMutD};
use pathnet_proto::v1;
use pathnet_rl::{GradientUpdate, PushOutcome, RlError, SharedParameters};
use pathnet_work::wire;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;
use tokio::runtime::Handle;

/// Runs `train` (a worker, until the coordinator says training is over) on a blocking
/// thread, then ends the lease with the returns and env steps it gives back.
pub(crate) async fn train_and_report<E: std::fmt::Display + Send + 'static>(
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
        sideways: None,
    };
    let answer = ctx.agent.clone().report_result(request).await?;
    let disposition = answer.into_inner().disposition();
    tracing::debug!(%work, ?disposition, env_steps, "A3C worker reported");
    ctx.held
        .count_report(disposition == v1::ResultDisposition::Accepted);
    Ok(())
}

/// The coordinator as [`SharedParameters`], called from the worker's blocking thread.
pub(crate) struct Remote {
    ctx: Arc<SessionContext>,
    handle: Handle,
    work: String,
    sequence: AtomicU64,
    latest: Arc<LatestParameters>,
}

impl Remote {
    /// The coordinator as seen by the worker of lease `work`, keeping the freshest
    /// parameters in `latest`. Call from within the tokio runtime.
    pub(crate) fn new(
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
    pub(crate) fn exchange(
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

pub(crate) fn remote_error(message: String) -> RlError {
    RlError::Remote(message.into())
}

impl SharedParameters for Remote {
    fn fetch(&self, into: &mut [ArrayViewMutD<'_, f32>]) -> Result<u64, RlError> {
        if self.latest.tensors().is_none() {
            self.exchange(None, None)?;
        }
        let held = self
            .latest
            .tensors()
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
        let version = self.latest.version();
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
