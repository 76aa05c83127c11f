//! One simulated agent: joined over a shared gRPC channel, its own lease stream with one
//! lease at a time, answering every leased pathway with a synthetic result at once.
//!
//! On the wire it is a real agent: it takes the modules sent with a lease, pulls those it
//! still holds at an older version than the lease names (as agents do, with
//! `accept_newer`), reports a fitness in [-1, 0], an
//! accuracy below the spec's threshold and a delta for every trainable module it read, named
//! by the version it pulled, keeps the versions the coordinator says it updated from base,
//! and heartbeats its lease at the interval the coordinator asked for. It trains nothing:
//! the deltas are fixed tiny values, so the coordinator's cost dominates. With a work time
//! (`--work-ms`) it waits that long per lease before reporting, as if it trained.

use crate::spec::MAX_SYNTHETIC_ACCURACY;
use anyhow::{Context, Result, bail};
use pathnet_proto::v1::{
    self, AgentCapabilities, JoinRequest, ModuleDelta, ModuleRef, ParameterChunk,
    PullParametersRequest, ReportResultRequest, ResultDisposition, StreamLeasesRequest,
    TensorChunk, WorkItem, agent_service_client::AgentServiceClient,
    parameter_service_client::ParameterServiceClient, work_item::Payload,
};
use pathnet_proto::{Tensor, assemble_tensors};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use tonic::Streaming;
use tonic::transport::Channel;

/// The phases of a measurement, shared by every agent of it.
pub(crate) const WARMING_UP: u8 = 0;
pub(crate) const TIMED: u8 = 1;
pub(crate) const DONE: u8 = 2;

/// Every delta value: small enough that parameters stay finite however many results land.
const DELTA_VALUE: f32 = 1e-7;

/// What one agent measured while the phase was [`TIMED`].
#[derive(Default)]
pub(crate) struct AgentFigures {
    /// Round trips of the reports answered during the timed phase, in microseconds.
    pub report_latencies_us: Vec<f64>,
    pub accepted: u64,
    /// Reports answered other than `ACCEPTED`.
    pub not_accepted: u64,
    pub pulls: u64,
    pub heartbeats: u64,
}

impl AgentFigures {
    fn count(&mut self, answered: &Answered) {
        self.report_latencies_us
            .push(answered.latency.as_secs_f64() * 1e6);
        if answered.accepted {
            self.accepted += 1;
        } else {
            self.not_accepted += 1;
        }
        self.pulls += u64::from(answered.pulled);
    }
}

/// One lease answered.
struct Answered {
    /// The report's round trip.
    latency: Duration,
    accepted: bool,
    /// Modules were pulled for it first.
    pulled: bool,
}

/// A module as this agent holds it: the version and, precomputed, its delta's chunks.
struct Held {
    version: u64,
    delta: Vec<TensorChunk>,
}

pub(crate) struct Agent {
    agents: AgentServiceClient<Channel>,
    params: ParameterServiceClient<Channel>,
    id: String,
    leases: Streaming<WorkItem>,
    heartbeat: Duration,
    chunk_bytes: usize,
    /// Modules by their encoded `ModuleId`.
    held: HashMap<Vec<u8>, Held>,
    rng: ChaCha8Rng,
    /// Pull only modules never held (their shapes), not newer versions.
    skip_pulls: bool,
    /// How long each lease's simulated work takes before its report: with a work time,
    /// the coordinator's cost shows apart from how fast agents can turn leases around.
    work: Duration,
}

impl Agent {
    /// Joins over `channel` and opens the lease stream for one lease at a time.
    pub(crate) async fn join(
        channel: Channel,
        seed: u64,
        index: u64,
        skip_pulls: bool,
        work: Duration,
    ) -> Result<Self> {
        let mut agents = AgentServiceClient::new(channel.clone());
        let joined = agents
            .join(JoinRequest {
                capabilities: Some(AgentCapabilities {
                    cpu_cores: 1,
                    devices: Vec::new(),
                    agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                    labels: [("role".to_owned(), "load_gen".to_owned())].into(),
                    inline_parameters: true,
                }),
                stage_link_address: String::new(),
            })
            .await
            .map_err(status)?
            .into_inner();
        let limits = joined.limits.context("the join answer has no limits")?;
        let max = usize::try_from(limits.max_message_bytes).unwrap_or(usize::MAX);
        let mut agents = agents
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let leases = agents
            .stream_leases(StreamLeasesRequest {
                agent_id: joined.agent_id.clone(),
                max_in_flight: 1,
            })
            .await
            .map_err(status)?
            .into_inner();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        Ok(Agent {
            params: ParameterServiceClient::new(channel)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            agents,
            id: joined.agent_id,
            leases,
            heartbeat: Duration::from_millis(limits.heartbeat_interval_ms.max(1)),
            chunk_bytes: pathnet_proto::chunk_data_bytes(max),
            held: HashMap::new(),
            rng,
            skip_pulls,
            work,
        })
    }

    /// Waits for the first lease, waits at `joined` with the other agents (so memory can be
    /// read with every agent holding a lease), then answers leases until `phase` is
    /// [`DONE`]. A report counts if its answer came while the phase was [`TIMED`].
    pub(crate) async fn run(
        mut self,
        joined: Arc<Barrier>,
        phase: Arc<AtomicU8>,
    ) -> Result<AgentFigures> {
        let mut item = self.next_lease().await?;
        joined.wait().await;
        let mut figures = AgentFigures::default();
        let mut beat = tokio::time::interval(self.heartbeat);
        beat.tick().await;
        loop {
            let answered = self.answer(&item).await?;
            match phase.load(Ordering::Acquire) {
                DONE => return Ok(figures),
                TIMED => figures.count(&answered),
                _ => {}
            }
            item = tokio::select! {
                item = self.next_lease() => item?,
                _ = beat.tick() => {
                    // It holds no lease between two: the heartbeat only says it is alive.
                    self.send_heartbeat().await?;
                    figures.heartbeats += 1;
                    self.next_lease().await?
                }
            };
        }
    }

    async fn next_lease(&mut self) -> Result<WorkItem> {
        self.leases
            .message()
            .await
            .map_err(status)?
            .context("the coordinator ended the lease stream")
    }

    async fn send_heartbeat(&mut self) -> Result<()> {
        self.agents
            .heartbeat(v1::HeartbeatRequest {
                agent_id: self.id.clone(),
                work_ids: Vec::new(),
            })
            .await
            .map_err(status)?;
        Ok(())
    }

    /// Pulls what the lease needs and reports a synthetic result.
    async fn answer(&mut self, item: &WorkItem) -> Result<Answered> {
        let Some(Payload::PathwayTraining(job)) = &item.payload else {
            bail!("lease {} is not a pathway training", item.work_id);
        };
        self.absorb(&item.parameters)?;
        let stale: Vec<ModuleRef> = job
            .modules
            .iter()
            .filter(|m| {
                let key = key(m);
                self.held
                    .get(&key)
                    .is_none_or(|h| !self.skip_pulls && h.version < m.version)
            })
            .cloned()
            .collect();
        let pulled = !stale.is_empty();
        if pulled {
            self.pull(stale).await?;
        }
        let frozen: Vec<Vec<u8>> = job.frozen.iter().map(|m| m.encode_to_vec()).collect();
        let deltas = job
            .modules
            .iter()
            .filter(|m| !frozen.contains(&key(m)))
            .map(|m| {
                let held = &self.held[&key(m)];
                ModuleDelta {
                    base: Some(ModuleRef {
                        module: m.module,
                        version: held.version,
                    }),
                    chunks: held.delta.clone(),
                    pushed: false,
                }
            })
            .collect();
        if !self.work.is_zero() {
            tokio::time::sleep(self.work).await;
        }
        let request = ReportResultRequest {
            agent_id: self.id.clone(),
            work_id: item.work_id.clone(),
            fitness: -self.rng.random_range(0.0..1.0),
            training_accuracy: Some(self.rng.random_range(0.0..MAX_SYNTHETIC_ACCURACY)),
            evaluation: None,
            deltas,
            elapsed_ms: 0,
            sideways: None,
        };
        let sent = Instant::now();
        let answer = self
            .agents
            .report_result(request)
            .await
            .map_err(status)?
            .into_inner();
        let latency = sent.elapsed();
        for updated in &answer.updated_from_base {
            if let Some(held) = self.held.get_mut(&key(updated)) {
                held.version = held.version.max(updated.version);
            }
        }
        Ok(Answered {
            latency,
            accepted: answer.disposition() == ResultDisposition::Accepted,
            pulled,
        })
    }

    /// Pulls `modules` (or newer), keeping their versions and a delta shaped like each.
    async fn pull(&mut self, modules: Vec<ModuleRef>) -> Result<()> {
        let mut stream = self
            .params
            .pull_parameters(PullParametersRequest {
                agent_id: self.id.clone(),
                modules,
                accept_newer: true,
            })
            .await
            .map_err(status)?
            .into_inner();
        let mut chunks = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(status)? {
            chunks.push(chunk);
        }
        self.absorb(&chunks)
    }

    /// Keeps the versions of the modules in `chunks` (pulled, or sent with a lease), and a
    /// delta shaped like each module it did not hold yet.
    fn absorb(&mut self, chunks: &[ParameterChunk]) -> Result<()> {
        let mut pulled: HashMap<Vec<u8>, (u64, Vec<TensorChunk>)> = HashMap::new();
        for chunk in chunks {
            let module = chunk.module.context("a parameter chunk names no module")?;
            let key = key(&module);
            let known = self.held.contains_key(&key);
            let entry = pulled.entry(key).or_default();
            entry.0 = module.version;
            if !known {
                entry.1.extend(chunk.chunk.clone());
            }
        }
        for (key, (version, chunks)) in pulled {
            match self.held.get_mut(&key) {
                Some(held) => held.version = version,
                None => {
                    let tensors = assemble_tensors(chunks).context("pulled parameters")?;
                    let delta = delta_like(&tensors, self.chunk_bytes)?;
                    self.held.insert(key, Held { version, delta });
                }
            }
        }
        Ok(())
    }
}

fn key(module: &ModuleRef) -> Vec<u8> {
    module
        .module
        .as_ref()
        .map(Message::encode_to_vec)
        .unwrap_or_default()
}

/// A delta of [`DELTA_VALUE`] everywhere, shaped like `params`, as chunks.
fn delta_like(params: &[Tensor], chunk_bytes: usize) -> Result<Vec<TensorChunk>> {
    let mut chunks = Vec::new();
    for p in params {
        let delta = Tensor {
            name: p.name.clone(),
            shape: p.shape.clone(),
            data: vec![DELTA_VALUE; p.data.len()],
        };
        chunks.extend(delta.split(chunk_bytes)?);
    }
    Ok(chunks)
}

fn status(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", s.code(), s.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_mirror_the_parameters() {
        let params = vec![
            Tensor {
                name: "param0".into(),
                shape: vec![2, 16],
                data: vec![0.5; 32],
            },
            Tensor {
                name: "param1".into(),
                shape: vec![2],
                data: vec![0.0; 2],
            },
        ];
        let back = assemble_tensors(delta_like(&params, 64).unwrap()).unwrap();
        for (d, p) in back.iter().zip(&params) {
            assert_eq!((&d.name, &d.shape), (&p.name, &p.shape));
            assert!(d.data.iter().all(|&x| x == DELTA_VALUE));
        }
    }
}
