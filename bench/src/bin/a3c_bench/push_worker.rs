//! One synthetic A3C worker: a gRPC channel of its own, joined as an agent, holding an A3C
//! worker lease from `StreamLeases`, pushing one precomputed gradient over and over with
//! `ExchangeGradients` as fast as the answers come back.
//!
//! It does what a real worker does on the wire (fetch-only first push, rising sequence
//! numbers, `base_version` from the previous answer, 20 env steps per push, tensors chunked
//! at half the coordinator's message limit as agents chunk them) and nothing else: no
//! environment, no network, and the answer's parameters are not unpacked, so the client costs
//! little next to the coordinator.

use anyhow::{Context, Result, bail};
use pathnet_proto::v1::{
    AgentCapabilities, GradientDisposition, GradientPush, JoinRequest, StreamLeasesRequest,
    TensorChunk, WorkItem, agent_service_client::AgentServiceClient,
    parameter_service_client::ParameterServiceClient, work_item::Payload,
};
use pathnet_proto::{Tensor, assemble_tensors};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use tonic::Streaming;
use tonic::transport::{Channel, Endpoint};

/// Env steps each push reports, the example's `t_max`.
const STEPS_PER_PUSH: u64 = 20;

/// What one worker measured over its timed pushes.
pub(crate) struct WorkerFigures {
    pub latencies_us: Vec<f64>,
    /// Encoded protobuf bytes of the timed requests and of their answers.
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Timed pushes not answered `APPLIED`.
    pub not_applied: u64,
    pub finished: Instant,
    /// The lease stream, kept open until every worker is done so that no lease ends early.
    pub _lease_stream: Streaming<WorkItem>,
    /// Floats per gradient.
    pub parameters: usize,
}

/// Connects, joins, takes a lease, fetches the parameters and pushes `warmup` untimed
/// gradients; waits at `start` with the other workers; then pushes `pushes` timed ones.
pub(crate) async fn run(
    url: String,
    index: u64,
    seed: u64,
    warmup: usize,
    pushes: usize,
    start: Arc<Barrier>,
) -> Result<WorkerFigures> {
    let channel = Endpoint::from_shared(url)?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .context("connecting to the coordinator")?;
    let (agent_id, max, mut leases) = join(channel.clone()).await?;
    let item = leases
        .message()
        .await
        .map_err(status)?
        .context("the coordinator closed the lease stream before leasing anything")?;
    if !matches!(item.payload, Some(Payload::A3cWorker(_))) {
        bail!("lease {} is not an A3C worker", item.work_id);
    }
    let mut client = ParameterServiceClient::new(channel)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let mut request = GradientPush {
        agent_id,
        work_id: item.work_id,
        sequence: 1,
        ..Default::default()
    };
    let fetched = client
        .exchange_gradients(request.clone())
        .await
        .map_err(status)?
        .into_inner();
    let shapes = assemble_tensors(fetched.parameters).context("the fetched parameters")?;
    let parameters = shapes.iter().map(|t| t.data.len()).sum();
    request.gradients = gradient(&shapes, seed, index, (max / 2).max(4))?;
    request.env_steps = STEPS_PER_PUSH;
    request.base_version = fetched.version;

    let mut figures = WorkerFigures {
        latencies_us: Vec::with_capacity(pushes),
        request_bytes: 0,
        response_bytes: 0,
        not_applied: 0,
        finished: Instant::now(),
        _lease_stream: leases,
        parameters,
    };
    for i in 0..warmup + pushes {
        if i == warmup {
            start.wait().await;
        }
        request.sequence += 1;
        let sent = Instant::now();
        let answer = client
            .exchange_gradients(request.clone())
            .await
            .map_err(status)?
            .into_inner();
        let latency = sent.elapsed();
        request.base_version = answer.version;
        if i >= warmup {
            figures.latencies_us.push(latency.as_secs_f64() * 1e6);
            figures.request_bytes += request.encoded_len() as u64;
            figures.response_bytes += answer.encoded_len() as u64;
            if answer.disposition() != GradientDisposition::Applied {
                figures.not_applied += 1;
            }
        }
    }
    figures.finished = Instant::now();
    Ok(figures)
}

/// Joins as an agent that holds one lease at a time; returns its id, the message limit and
/// the lease stream.
async fn join(channel: Channel) -> Result<(String, usize, Streaming<WorkItem>)> {
    let mut agent = AgentServiceClient::new(channel);
    let joined = agent
        .join(JoinRequest {
            capabilities: Some(AgentCapabilities {
                cpu_cores: 1,
                devices: Vec::new(),
                agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                labels: [("role".to_owned(), "a3c_bench".to_owned())].into(),
                inline_parameters: false,
            }),
            stage_link_address: String::new(),
        })
        .await
        .map_err(status)?
        .into_inner();
    let max = joined.limits.map_or(4 << 20, |l| {
        usize::try_from(l.max_message_bytes).unwrap_or(usize::MAX)
    });
    let mut agent = agent
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let leases = agent
        .stream_leases(StreamLeasesRequest {
            agent_id: joined.agent_id.clone(),
            max_in_flight: 1,
        })
        .await
        .map_err(status)?
        .into_inner();
    Ok((joined.agent_id, max, leases))
}

/// A finite gradient shaped like `params`, small enough that RMSProp moves nothing far,
/// drawn from stream `index` of `seed`.
fn gradient(
    params: &[Tensor],
    seed: u64,
    index: u64,
    chunk_bytes: usize,
) -> Result<Vec<TensorChunk>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let mut chunks = Vec::new();
    for p in params {
        let tensor = Tensor {
            name: p.name.clone(),
            shape: p.shape.clone(),
            data: p
                .data
                .iter()
                .map(|_| rng.random_range(-1e-3..1e-3))
                .collect(),
        };
        chunks.extend(tensor.split(chunk_bytes)?);
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
    fn gradients_mirror_the_parameters_and_follow_the_seed() {
        let params = vec![
            Tensor {
                name: "param0".into(),
                shape: vec![3, 5],
                data: vec![0.5; 15],
            },
            Tensor {
                name: "param1".into(),
                shape: vec![5],
                data: vec![0.0; 5],
            },
        ];
        let a = gradient(&params, 1, 0, 16).unwrap();
        let back = assemble_tensors(a.clone()).unwrap();
        assert_eq!(back.len(), 2);
        for (g, p) in back.iter().zip(&params) {
            assert_eq!((&g.name, &g.shape), (&p.name, &p.shape));
            assert!(g.data.iter().all(|x| x.is_finite() && x.abs() < 1e-3));
        }
        // 16-byte chunks: 4 floats each.
        assert_eq!(a.len(), 4 + 2);
        assert_eq!(a, gradient(&params, 1, 0, 16).unwrap());
        assert_ne!(a, gradient(&params, 1, 1, 16).unwrap());
        assert_ne!(a, gradient(&params, 2, 0, 16).unwrap());
    }
}
