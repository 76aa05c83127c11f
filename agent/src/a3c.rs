//! An A3C worker lease: the reinforcement-learning crate's worker, acting on this agent,
//! with the coordinator as its shared parameters (see `remote`).

use crate::context::{Failure, SessionContext};
use crate::remote::{Remote, train_and_report};
use pathnet_proto::v1;
use pathnet_rl::{A3cConfig, Worker};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Runs the worker of one A3C lease until the coordinator says training is over, then
/// reports the worker's episodes.
pub(crate) async fn run(
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
