//! One session with a coordinator: join, stream leases into the workers, heartbeat, and on
//! the way out hand back whatever is unfinished.

use crate::config::AgentConfig;
use crate::context::{AgentStats, CACHE_GENOMES, Held, SessionContext};
use crate::worker;
use pathnet_proto::security::{AuthChannel, BearerAuth};
use pathnet_proto::v1::{
    self, agent_service_client::AgentServiceClient,
    parameter_service_client::ParameterServiceClient,
};
use pathnet_work::{Executor, TaskDataCache};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// How long a closing session waits for workers to finish what they are doing.
const WORKER_GRACE: Duration = Duration::from_secs(5);

/// How a session ended.
pub(crate) enum SessionEnd {
    /// Asked to stop; unfinished leases were handed back.
    Shutdown,
    /// The coordinator ended the lease stream: it is shutting down.
    Closed,
    /// Join failed: refused (a missing or wrong token) or the connection is not served
    /// (e.g. plain text against a TLS port).
    NotJoined(tonic::Status),
    /// The connection failed.
    Broken(tonic::Status),
}

pub(crate) async fn run(
    channel: Channel,
    config: &AgentConfig,
    data: &TaskDataCache,
    stats: &Arc<Mutex<AgentStats>>,
    stop: &mut watch::Receiver<bool>,
) -> SessionEnd {
    let channel: AuthChannel =
        InterceptedService::new(channel, BearerAuth::new(config.token.as_ref()));
    let mut agent = AgentServiceClient::new(channel.clone());
    let joined = match agent.join(join_request(config)).await {
        Ok(joined) => joined.into_inner(),
        Err(status) => return SessionEnd::NotJoined(status),
    };
    let limits = joined.limits.unwrap_or_default();
    let max = usize::try_from(limits.max_message_bytes)
        .unwrap_or(usize::MAX)
        .max(1024);
    tracing::info!(agent = %joined.agent_id, ?limits, "joined");
    let ctx = Arc::new(SessionContext {
        agent_id: joined.agent_id.clone(),
        agent: agent
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        parameters: ParameterServiceClient::new(channel)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        max_message_bytes: max,
        data: data.clone(),
        a3c: Default::default(),
        genomes: pathnet_evo::RebuildCache::new(CACHE_GENOMES),
        pathway_genomes: pathnet_evo::sm_pathnet::PathwayRebuildCache::new(CACHE_GENOMES)
            .with_examples(Arc::new(data.clone())),
        held: Held::new(Arc::clone(stats)),
        link_token: config.token.clone(),
        link_tls: crate::link::client_tls(&config.tls),
    });

    let (queue_tx, queue_rx) = mpsc::channel::<v1::WorkItem>(config.workers);
    let queue_rx = Arc::new(tokio::sync::Mutex::new(queue_rx));
    let mut workers: Vec<tokio::task::JoinHandle<()>> = (0..config.workers)
        .map(|_| {
            tokio::spawn(worker::run(
                Arc::clone(&ctx),
                Arc::clone(&queue_rx),
                Executor::new(data.clone()),
            ))
        })
        .collect();
    let interval = Duration::from_millis(limits.heartbeat_interval_ms.max(10));
    let heartbeats = tokio::spawn(heartbeat(Arc::clone(&ctx), interval));

    let request = v1::StreamLeasesRequest {
        agent_id: ctx.agent_id.clone(),
        max_in_flight: config.workers as u32,
    };
    let end = match ctx.agent.clone().stream_leases(request).await {
        Err(status) => SessionEnd::Broken(status),
        Ok(stream) => {
            let mut stream = stream.into_inner();
            loop {
                tokio::select! {
                    message = stream.message() => match message {
                        Ok(Some(item)) => {
                            ctx.held.hold(&item.work_id);
                            if queue_tx.send(item).await.is_err() {
                                break SessionEnd::Broken(tonic::Status::internal("workers stopped"));
                            }
                        }
                        Ok(None) => break SessionEnd::Closed,
                        Err(status) => break SessionEnd::Broken(status),
                    },
                    _ = stop.wait_for(|stop| *stop) => break SessionEnd::Shutdown,
                }
            }
        }
    };
    drop(queue_tx);
    if !matches!(end, SessionEnd::Shutdown) {
        // Let a result already on its way be answered, so it is counted once on both sides.
        let deadline = tokio::time::Instant::now() + WORKER_GRACE;
        for worker in &mut workers {
            tokio::select! {
                _ = tokio::time::timeout_at(deadline, worker) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
    }
    for worker in &workers {
        worker.abort();
    }
    heartbeats.abort();
    let unfinished = ctx.held.live();
    if !matches!(end, SessionEnd::Broken(_)) && !unfinished.is_empty() {
        tracing::info!(leases = unfinished.len(), "handing back unfinished leases");
        ctx.release_all(unfinished, v1::ReleaseReason::Shutdown, "agent stopping")
            .await;
    } else if matches!(end, SessionEnd::Shutdown) {
        // Even with nothing held, tell the coordinator this agent is gone.
        ctx.release_all(Vec::new(), v1::ReleaseReason::Shutdown, "agent stopping")
            .await;
    }
    end
}

async fn heartbeat(ctx: Arc<SessionContext>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let request = v1::HeartbeatRequest {
            agent_id: ctx.agent_id.clone(),
            work_ids: ctx.held.live(),
        };
        match ctx.agent.clone().heartbeat(request).await {
            Ok(answer) => {
                for lost in answer.into_inner().lost {
                    tracing::info!(work = %lost.work_id, reason = ?lost.reason(), "lease lost");
                    ctx.held.mark_lost(&lost.work_id);
                }
            }
            Err(status) => tracing::warn!(%status, "heartbeat failed"),
        }
    }
}

/// The CPU, then any CUDA devices (only in builds with the `cuda` feature).
fn advertised_devices() -> Vec<v1::Device> {
    let cpu = v1::Device {
        kind: v1::DeviceKind::Cpu.into(),
        name: std::env::consts::ARCH.to_owned(),
        memory_bytes: 0,
    };
    let gpus = pathnet_nn::cuda_device_descriptions()
        .into_iter()
        .map(|d| v1::Device {
            kind: v1::DeviceKind::Gpu.into(),
            name: format!("{} {}", d.device, d.name),
            memory_bytes: d.memory_bytes,
        });
    std::iter::once(cpu).chain(gpus).collect()
}

fn join_request(config: &AgentConfig) -> v1::JoinRequest {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    v1::JoinRequest {
        capabilities: Some(v1::AgentCapabilities {
            cpu_cores: cores,
            devices: advertised_devices(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            labels: config.labels.clone(),
            inline_parameters: true,
        }),
        stage_link_address: config.stage_advertise.clone().unwrap_or_default(),
    }
}
