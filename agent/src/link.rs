//! Stage links: a Sideways pipeline's stages on several agents.
//!
//! The agent holding a segment's lease drives it (host 0): it opens one `StageLinkService`
//! stream to each other host the work item names, hands each its stages' state, and then
//! carries the pipeline's messages ([`NetCarrier`]). An agent started with a stage-link
//! address serves those streams ([`StageLinkHost`]): it runs the stages it is given on
//! threads, exactly as the driver would, and at the end sends them back. Messages between
//! two hosts that are not the driver go through the driver (a star): simple, and the
//! placements tested here put at most two hosts on a chain.
//!
//! Every host checks what arrives against the network's wiring before a layer sees it; a
//! broken link abandons the segment on every host, and the driver hands the lease back as
//! "peer lost", so the coordinator re-issues the segment from its snapshot.

use crate::config::StageTls;
use pathnet_nn::sideways::{LinkEnds, LinkMsg, Placement, Routed, Topology};
use pathnet_proto::security::{
    BearerAuth, ClientTlsFiles, SecurityError, Token, presented_token, read_pem,
};
use pathnet_proto::v1::{self, stage_link_service_client::StageLinkServiceClient};
use pathnet_work::sideways::net::video_net;
use pathnet_work::sideways::placed::link_error;
use pathnet_work::sideways::{
    CarriedBack, Carrier, HostedStages, SegmentJob, SidewaysJobError, StagePlacement,
};
use pathnet_work::sideways_wire::{self, LinkFrameIn};
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

/// Largest message on a stage link: activations of a batch and a host's stage state.
pub(crate) const LINK_MESSAGE_BYTES: usize = 256 << 20;
/// Tensor data per chunk on a link.
const LINK_CHUNK_BYTES: usize = 4 << 20;
/// How long the driver waits to reach a host, and for a host's stages after the segment.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESULT_TIMEOUT: Duration = Duration::from_secs(120);

type Delivery = std_mpsc::Sender<Result<LinkMsg<f32>, String>>;
/// A host's stages after the segment and the bytes it sent, or why they did not come.
type HostResult = (
    usize,
    Result<(pathnet_work::sideways::Snapshot, u64), String>,
);

/// One link from the driver to a host.
struct Peer {
    address: String,
    tx: mpsc::UnboundedSender<v1::LinkFrame>,
}

/// The driver's side of a placed segment's links.
pub(crate) struct NetCarrier {
    peers: Vec<Peer>,
    placement: Placement,
    topology: Topology,
    /// Readers hand pipeline messages to the delivery thread here.
    delivery_tx: Option<Delivery>,
    delivery_rx: Option<std_mpsc::Receiver<Result<LinkMsg<f32>, String>>>,
    results: std_mpsc::Receiver<HostResult>,
    forwarder: Option<std::thread::JoinHandle<()>>,
    delivery: Option<std::thread::JoinHandle<()>>,
    /// Bytes the driver sent (its own messages and those it relayed).
    sent: Arc<AtomicU64>,
}

impl NetCarrier {
    /// Opens a link to every host of `placement` but the driver, each told its stages.
    /// Each link presents `token`, the agent token, which a host serving links with a token
    /// requires.
    pub(crate) async fn connect(
        job: &SegmentJob,
        placement: &StagePlacement,
        token: Option<&Token>,
        tls: &ClientTlsFiles,
    ) -> Result<Self, String> {
        let net = video_net(&job.task.net_spec(), job.seed).map_err(|e| e.to_string())?;
        let topology = net.topology().clone();
        let seen = placement.as_seen_by(0);
        let (delivery_tx, delivery_rx) = std_mpsc::channel();
        let (results_tx, results) = std_mpsc::channel();
        let sent = Arc::new(AtomicU64::new(0));
        let mut peers = Vec::new();
        let mut streams = Vec::new();
        for (i, address) in placement.addresses.iter().enumerate() {
            let host = i + 1;
            let open = sideways_wire::link_open(job, placement, host, LINK_CHUNK_BYTES)
                .map_err(|e| format!("encoding the stages for host {host}: {e}"))?;
            let (tx, rx) = mpsc::unbounded_channel();
            sent.fetch_add(open.encoded_len() as u64, Ordering::Relaxed);
            tx.send(open).expect("receiver alive");
            // The host says how to reach it: `https://` when it serves links over TLS.
            let endpoint = if address.starts_with("https://") {
                pathnet_proto::security::endpoint(address, tls)
                    .map_err(|e| format!("stage host {address}: {e}"))?
            } else {
                tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                    .map_err(|e| format!("stage host {address}: {e}"))?
            }
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
            let channel = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect())
                .await
                .map_err(|_| {
                    format!("stage host {address}: no connection within {CONNECT_TIMEOUT:?}")
                })?
                .map_err(|e| format!("stage host {address}: {e}"))?;
            let mut client =
                StageLinkServiceClient::with_interceptor(channel, BearerAuth::new(token))
                    .max_decoding_message_size(LINK_MESSAGE_BYTES)
                    .max_encoding_message_size(LINK_MESSAGE_BYTES);
            let incoming = tokio::time::timeout(
                CONNECT_TIMEOUT,
                client.link(UnboundedReceiverStream::new(rx)),
            )
            .await
            .map_err(|_| format!("stage host {address}: no answer within {CONNECT_TIMEOUT:?}"))?
            .map_err(|s| format!("stage host {address}: {}", s.message()))?
            .into_inner();
            peers.push(Peer {
                address: address.clone(),
                tx,
            });
            streams.push(incoming);
        }
        let relays: Vec<_> = peers.iter().map(|p| p.tx.clone()).collect();
        for (i, incoming) in streams.into_iter().enumerate() {
            tokio::spawn(read_host(
                i + 1,
                peers[i].address.clone(),
                incoming,
                delivery_tx.clone(),
                results_tx.clone(),
                relays.clone(),
                seen.clone(),
                topology.clone(),
                Arc::clone(&sent),
            ));
        }
        Ok(NetCarrier {
            peers,
            placement: seen,
            topology,
            delivery_tx: Some(delivery_tx),
            delivery_rx: Some(delivery_rx),
            results,
            forwarder: None,
            delivery: None,
            sent,
        })
    }
}

/// Reads one host's frames: pipeline messages for the driver go to the delivery thread,
/// those for another host are relayed, the last one (the host's stages) to `results`.
#[allow(clippy::too_many_arguments)]
async fn read_host(
    host: usize,
    address: String,
    mut incoming: Streaming<v1::LinkFrame>,
    delivery: Delivery,
    results: std_mpsc::Sender<HostResult>,
    relays: Vec<mpsc::UnboundedSender<v1::LinkFrame>>,
    placement: Placement,
    topology: Topology,
    sent: Arc<AtomicU64>,
) {
    let lost = |reason: String| format!("stage host {host} ({address}): {reason}");
    loop {
        let frame = match incoming.message().await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                let reason = lost("closed the link".into());
                let _ = delivery.send(Err(reason.clone()));
                let _ = results.send((host, Err(reason)));
                return;
            }
            Err(status) => {
                let reason = lost(status.message().to_owned());
                let _ = delivery.send(Err(reason.clone()));
                let _ = results.send((host, Err(reason)));
                return;
            }
        };
        match sideways_wire::link_frame_in(frame) {
            Ok(LinkFrameIn::Msg(msg)) => match placement.destination(&topology, &msg) {
                Some(0) => {
                    let _ = delivery.send(Ok(msg));
                }
                Some(to) if to != host && to <= relays.len() => {
                    match sideways_wire::link_msg_to_frame(msg, &topology, LINK_CHUNK_BYTES) {
                        Ok(frame) => {
                            sent.fetch_add(frame.encoded_len() as u64, Ordering::Relaxed);
                            let _ = relays[to - 1].send(frame);
                        }
                        Err(err) => {
                            let _ = delivery.send(Err(lost(err.to_string())));
                            return;
                        }
                    }
                }
                _ => {
                    let _ = delivery.send(Err(lost("a message for no host it may reach".into())));
                    return;
                }
            },
            Ok(LinkFrameIn::Result {
                snapshot,
                bytes_sent,
            }) => {
                let _ = results.send((host, Ok((snapshot, bytes_sent))));
                return;
            }
            Ok(_) => {
                let _ = delivery.send(Err(lost("a frame only the driver sends".into())));
                return;
            }
            Err(err) => {
                let _ = delivery.send(Err(lost(err.to_string())));
                return;
            }
        }
    }
}

impl Carrier for NetCarrier {
    fn start(&mut self, ends: LinkEnds<f32>) -> Result<(), SidewaysJobError> {
        let LinkEnds { outbound, inbound } = ends;
        let rx = self.delivery_rx.take().expect("started once");
        self.delivery = Some(
            std::thread::Builder::new()
                .name("stage-link-in".into())
                .spawn(move || deliver(inbound, rx))
                .map_err(|e| link_error(format!("cannot start the link's thread: {e}")))?,
        );
        let peers: Vec<_> = self.peers.iter().map(|p| p.tx.clone()).collect();
        let topology = self.topology.clone();
        let sent = Arc::clone(&self.sent);
        let delivery = self.delivery_tx.clone().expect("started once");
        self.forwarder = Some(
            std::thread::Builder::new()
                .name("stage-link-out".into())
                .spawn(move || {
                    while let Ok(Routed { host, msg }) = outbound.recv() {
                        let frame = match sideways_wire::link_msg_to_frame(
                            msg,
                            &topology,
                            LINK_CHUNK_BYTES,
                        ) {
                            Ok(frame) => frame,
                            Err(err) => {
                                let _ = delivery.send(Err(err.to_string()));
                                return;
                            }
                        };
                        sent.fetch_add(frame.encoded_len() as u64, Ordering::Relaxed);
                        // A closed link shows on its reader, which tells the driver.
                        if let Some(tx) = host.checked_sub(1).and_then(|h| peers.get(h)) {
                            let _ = tx.send(frame);
                        }
                    }
                })
                .map_err(|e| link_error(format!("cannot start the link's thread: {e}")))?,
        );
        Ok(())
    }

    fn finish(&mut self) -> Result<CarriedBack, SidewaysJobError> {
        if let Some(forwarder) = self.forwarder.take() {
            let _ = forwarder.join();
        }
        for peer in &self.peers {
            self.sent.fetch_add(
                sideways_wire::link_finish().encoded_len() as u64,
                Ordering::Relaxed,
            );
            peer.tx
                .send(sideways_wire::link_finish())
                .map_err(|_| link_error(format!("stage host {}: link closed", peer.address)))?;
        }
        let mut stages = Vec::new();
        let mut bytes = 0;
        for _ in &self.peers {
            let (host, result) = self
                .results
                .recv_timeout(RESULT_TIMEOUT)
                .map_err(|_| link_error(format!("no stages back within {RESULT_TIMEOUT:?}")))?;
            let (snapshot, sent) = result.map_err(link_error)?;
            bytes += sent;
            for (i, state) in snapshot.stages.into_iter().enumerate() {
                if self.placement.host_of.get(i) == Some(&host) {
                    stages.push((i, state));
                }
            }
        }
        self.abort();
        Ok(CarriedBack {
            stages,
            bytes: bytes + self.sent.load(Ordering::Relaxed),
        })
    }

    fn links(&self) -> usize {
        self.peers.len()
    }

    fn abort(&mut self) {
        if let Some(tx) = self.delivery_tx.take() {
            let _ = tx.send(Err("the segment ended here".into()));
        }
        self.peers.clear();
    }
}

impl Drop for NetCarrier {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Hands what other hosts sent to this host's pipeline until a link fails or every
/// sender is gone; a failure tells the driver, and dropping the inbound side stops the
/// stages here that wait on it.
fn deliver(
    mut inbound: pathnet_nn::sideways::Inbound<f32>,
    rx: std_mpsc::Receiver<Result<LinkMsg<f32>, String>>,
) {
    while let Ok(next) = rx.recv() {
        let failure = match next {
            Ok(msg) => match inbound.deliver(msg) {
                Ok(()) => continue,
                Err(err) => err.to_string(),
            },
            Err(reason) => reason,
        };
        inbound.fail(failure);
        return;
    }
}

/// Serves stage links: runs the stages a driver places on this agent.
#[derive(Clone, Default)]
pub(crate) struct StageLinkHost;

#[tonic::async_trait]
impl v1::stage_link_service_server::StageLinkService for StageLinkHost {
    type LinkStream = ReceiverStream<Result<v1::LinkFrame, Status>>;

    async fn link(
        &self,
        request: Request<Streaming<v1::LinkFrame>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the link closed before `open`"))?;
        let open = match sideways_wire::link_frame_in(first) {
            Ok(LinkFrameIn::Open(open)) => open,
            Ok(_) => return Err(Status::invalid_argument("the first frame must be `open`")),
            Err(err) => return Err(Status::invalid_argument(err.to_string())),
        };
        tracing::info!(
            segment = open.segment,
            host = open.host,
            placement = ?open.placement.host_of,
            "hosting stages"
        );
        // Build the stages before answering, so that a bad opening is refused at once.
        let started = tokio::task::spawn_blocking(move || {
            pathnet_nn::set_threads(1);
            let (hosted, ends) = HostedStages::start(
                &open.task,
                open.seed,
                &open.snapshot,
                &open.placement,
                open.host,
            )?;
            let topology = video_net(&open.task.net_spec(), open.seed)?
                .topology()
                .clone();
            Ok::<_, SidewaysJobError>((hosted, ends, topology))
        })
        .await
        .map_err(|e| Status::internal(format!("starting the stages: {e}")))?
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (hosted, ends, topology) = started;
        let (tx, rx) = mpsc::channel(64);
        let (msgs_tx, msgs_rx) = std_mpsc::channel::<Option<LinkMsg<f32>>>();
        tokio::spawn(async move {
            loop {
                match incoming.message().await {
                    Ok(Some(frame)) => match sideways_wire::link_frame_in(frame) {
                        Ok(LinkFrameIn::Msg(msg)) => {
                            if msgs_tx.send(Some(msg)).is_err() {
                                return;
                            }
                        }
                        Ok(LinkFrameIn::Finish) => {
                            let _ = msgs_tx.send(None);
                            return;
                        }
                        Ok(_) => {
                            tracing::warn!("stage link: a frame only a host sends; abandoning");
                            return;
                        }
                        Err(err) => {
                            tracing::warn!(%err, "stage link: a bad frame; abandoning");
                            return;
                        }
                    },
                    // The driver went away: dropping the sender abandons the stages.
                    Ok(None) | Err(_) => return,
                }
            }
        });
        std::thread::Builder::new()
            .name("stage-host".into())
            .spawn(move || host_stages(hosted, ends, topology, msgs_rx, tx))
            .map_err(|e| Status::internal(format!("starting the stages: {e}")))?;
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A host's stages for one segment: its messages out, the driver's in, until the driver
/// finishes (then the stages go back) or the link breaks (then they are dropped).
fn host_stages(
    hosted: HostedStages,
    ends: LinkEnds<f32>,
    topology: Topology,
    msgs: std_mpsc::Receiver<Option<LinkMsg<f32>>>,
    tx: mpsc::Sender<Result<v1::LinkFrame, Status>>,
) {
    let LinkEnds {
        outbound,
        mut inbound,
    } = ends;
    let out = tx.clone();
    let forwarder = std::thread::Builder::new()
        .name("stage-host-out".into())
        .spawn(move || {
            let mut bytes = 0u64;
            while let Ok(Routed { msg, .. }) = outbound.recv() {
                // Every message of a host goes to the driver, which relays.
                let Ok(frame) = sideways_wire::link_msg_to_frame(msg, &topology, LINK_CHUNK_BYTES)
                else {
                    return bytes;
                };
                bytes += frame.encoded_len() as u64;
                if out.blocking_send(Ok(frame)).is_err() {
                    return bytes;
                }
            }
            bytes
        });
    let Ok(forwarder) = forwarder else {
        return;
    };
    let finished = loop {
        match msgs.recv() {
            Ok(Some(msg)) => {
                if let Err(err) = inbound.deliver(msg) {
                    tracing::warn!(%err, "stage link: refused a message; abandoning");
                    let _ = tx.blocking_send(Err(Status::invalid_argument(err.to_string())));
                    break false;
                }
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    // No more clips can start: the stages stop at their next wait.
    drop(inbound);
    let state = hosted.finish();
    let bytes = forwarder.join().unwrap_or(0);
    if !finished {
        tracing::info!("stage link closed; stages dropped");
        return;
    }
    let frame = state.map_err(|e| e.to_string()).and_then(|snapshot| {
        sideways_wire::link_result(&snapshot, bytes, LINK_CHUNK_BYTES).map_err(|e| e.to_string())
    });
    let _ = match frame {
        Ok(frame) => tx.blocking_send(Ok(frame)),
        Err(err) => tx.blocking_send(Err(Status::internal(err))),
    };
}

/// The error a driver reports when a link fails, for the lease's release.
pub(crate) fn is_peer_lost(err: &SidewaysJobError) -> bool {
    pathnet_work::sideways::placed::is_link_error(err)
}

/// Refuses a link that does not present `token` (when there is one) before the link's
/// handler runs, so a stranger's stream changes nothing: no stages are built, nothing is
/// read past its headers.
#[derive(Clone)]
struct LinkAuth {
    token: Option<Token>,
}

impl tonic::service::Interceptor for LinkAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else {
            return Ok(request);
        };
        // `matches` compares in constant time; a missing token is compared as empty.
        let presented = presented_token(request.metadata()).unwrap_or_default();
        if token.matches(presented) {
            Ok(request)
        } else {
            tracing::warn!(
                peer = ?request.remote_addr(),
                "stage link refused: a missing or wrong agent token"
            );
            Err(Status::unauthenticated(
                "stage link: a missing or wrong agent token (links present the agent token \
                 of the agents serving them: --agent-token-file or PATHNET_AGENT_TOKEN)",
            ))
        }
    }
}

/// The settings a lease holder dials `https://` stage links with: the authority it trusts
/// for the coordinator and its client certificate, but not the coordinator's server name,
/// since each host's certificate names that host. With no TLS setting at all, `https://`
/// hosts are refused (no authority to verify them with) and plain ones dialled as before.
pub(crate) fn client_tls(coordinator: &ClientTlsFiles) -> ClientTlsFiles {
    ClientTlsFiles {
        server_name: None,
        ..coordinator.clone()
    }
}

/// The address to advertise for stage links: `https://` in front when they are served over
/// TLS (unless the operator wrote it), nothing otherwise.
pub(crate) fn advertised(address: &str, tls: bool) -> String {
    if tls && !address.starts_with("https://") {
        format!("https://{address}")
    } else {
        address.to_owned()
    }
}

/// Binds `addr` and serves stage links there; returns the bound address. With `token`, only
/// links presenting it are served (refused with UNAUTHENTICATED otherwise); with `tls`, only
/// over TLS with that certificate.
pub(crate) async fn serve(
    addr: std::net::SocketAddr,
    token: Option<Token>,
    tls: Option<&StageTls>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), crate::AgentError> {
    let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
    if let Some(tls) = tls {
        let identity = tonic::transport::Identity::from_pem(
            read_pem(&tls.cert, "`--stage-tls-cert`")?,
            read_pem(&tls.key, "`--stage-tls-key`")?,
        );
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| {
                SecurityError::Tls(format!(
                    "`--stage-tls-cert` {} / `--stage-tls-key` {}: {e}",
                    tls.cert.display(),
                    tls.key.display()
                ))
            })?;
    }
    let listener =
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| crate::AgentError::StageListen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
    let bound = listener
        .local_addr()
        .map_err(|e| crate::AgentError::StageListen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let service = v1::stage_link_service_server::StageLinkServiceServer::new(StageLinkHost)
        .max_decoding_message_size(LINK_MESSAGE_BYTES)
        .max_encoding_message_size(LINK_MESSAGE_BYTES);
    let service = tonic::service::interceptor::InterceptedService::new(service, LinkAuth { token });
    let server = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        if let Err(err) = builder
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!(%err, "the stage-link server stopped");
        }
    });
    Ok((bound, server))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathnet_work::sideways::segment::{self, VideoImages};
    use pathnet_work::sideways::{Method, SidewaysTask};

    fn task(stages: usize, method: Method) -> SidewaysTask {
        let data_dir = std::env::var_os("PATHNET_FASHION_MNIST")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/usr/share/datasets/fashion-mnist".into());
        let mut task = SidewaysTask {
            data_dir,
            stages,
            method,
            batch: 2,
            batches: 2,
            test_videos: 4,
            ..SidewaysTask::default()
        };
        task.video.frames = 4;
        task
    }

    /// Segment 0 of `task` from its initial snapshot (seed 3), `batches` long.
    fn job(task: SidewaysTask, batches: u64, evaluate: bool) -> SegmentJob {
        SegmentJob {
            snapshot: task.initial_snapshot(3).unwrap(),
            task,
            seed: 3,
            segment: 0,
            first_batch: 0,
            batches,
            evaluate,
        }
    }

    /// Two stages, the second on the link server at `address`.
    fn second_stage_at(address: String) -> StagePlacement {
        StagePlacement {
            host_of: vec![0, 1],
            addresses: vec![address],
        }
    }

    /// A segment whose stages run on other agents' link servers over loopback ends in the
    /// state the segment reaches on one host, bit for bit; the relayed placement (two
    /// hosts besides the driver, a chain across them) too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_segment_over_loopback_links_equals_the_one_host_segment() {
        for (task, host_of) in [
            (task(2, Method::Sideways), vec![0, 1]),
            (task(4, Method::SkipSideways), vec![0, 1, 2, 1]),
        ] {
            let hosts = host_of.iter().max().copied().unwrap();
            let mut addresses = Vec::new();
            let mut servers = Vec::new();
            for _ in 0..hosts {
                let (bound, server) = serve("127.0.0.1:0".parse().unwrap(), None, None)
                    .await
                    .unwrap();
                addresses.push(bound.to_string());
                servers.push(server);
            }
            let job = job(task, 2, true);
            let placement = StagePlacement { host_of, addresses };
            let mut carrier =
                NetCarrier::connect(&job, &placement, None, &ClientTlsFiles::default())
                    .await
                    .unwrap();
            let (placed, alone) = tokio::task::spawn_blocking(move || {
                pathnet_nn::set_threads(1);
                let images = VideoImages::shared();
                let placed = segment::execute_placed(&job, &images, &placement, Some(&mut carrier));
                (placed, segment::execute(&job, &images))
            })
            .await
            .unwrap();
            let (placed, alone) = (placed.unwrap(), alone.unwrap());
            assert_eq!(placed.snapshot, alone.snapshot);
            assert_eq!(placed.metrics.mean_loss, alone.metrics.mean_loss);
            assert_eq!(placed.metrics.test_accuracy, alone.metrics.test_accuracy);
            assert_eq!(placed.metrics.links, hosts);
            assert!(placed.metrics.link_bytes > 0 && placed.metrics.ticks > 0);
            for server in servers {
                server.abort();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_host_is_a_lost_peer() {
        // Bind then drop: nothing listens there any more.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let job = job(task(2, Method::Sideways), 1, false);
        let placement = second_stage_at(address.clone());
        let err = NetCarrier::connect(&job, &placement, None, &ClientTlsFiles::default())
            .await
            .err()
            .unwrap();
        assert!(err.contains(&address), "{err}");
    }

    /// A host serving links with a token refuses a link presenting none or another one with
    /// UNAUTHENTICATED before building anything, and still serves the right token after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_without_the_agent_token_is_refused() {
        let token = |text: &str| Token::parse(text, "test", "test").unwrap();
        let (bound, server) = serve(
            "127.0.0.1:0".parse().unwrap(),
            Some(token("s3cret-link")),
            None,
        )
        .await
        .unwrap();
        let job = job(task(2, Method::Sideways), 1, false);
        let placement = second_stage_at(bound.to_string());
        for presented in [None, Some(token("s3cret-linx")), Some(token("s3cret"))] {
            let err = NetCarrier::connect(
                &job,
                &placement,
                presented.as_ref(),
                &ClientTlsFiles::default(),
            )
            .await
            .err()
            .expect("refused");
            assert!(err.contains("missing or wrong agent token"), "{err}");
        }
        let carrier = NetCarrier::connect(
            &job,
            &placement,
            Some(&token("s3cret-link")),
            &ClientTlsFiles::default(),
        )
        .await;
        assert!(carrier.is_ok(), "{:?}", carrier.err());
        drop(carrier);
        // A host without a token takes links that present one.
        let (open, open_server) = serve("127.0.0.1:0".parse().unwrap(), None, None)
            .await
            .unwrap();
        let placement = second_stage_at(open.to_string());
        let carrier = NetCarrier::connect(
            &job,
            &placement,
            Some(&token("any")),
            &ClientTlsFiles::default(),
        )
        .await;
        assert!(carrier.is_ok(), "{:?}", carrier.err());
        server.abort();
        open_server.abort();
    }

    /// An authority and a stage host's certificate for 127.0.0.1, as PEM files in `dir`:
    /// `(ca, cert, key)`.
    fn stage_certs(dir: &std::path::Path) -> (std::path::PathBuf, StageTls) {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "stage link test authority");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        (
            write("ca.pem", ca.pem()),
            StageTls {
                cert: write("stage.pem", cert.pem()),
                key: write("stage.key", key.serialize_pem()),
            },
        )
    }

    /// A host serving links over TLS is dialled over TLS and verified with the authority;
    /// plain text to it, or TLS without an authority, fails with an error naming the host.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_over_tls_works_and_plain_text_to_it_fails() {
        let dir = std::env::temp_dir().join(format!("pathnet-stage-tls-{}", std::process::id()));
        let (ca, stage_tls) = stage_certs(&dir);
        let (bound, server) = serve("127.0.0.1:0".parse().unwrap(), None, Some(&stage_tls))
            .await
            .unwrap();
        let job = job(task(2, Method::Sideways), 1, false);
        let https = advertised(&bound.to_string(), true);
        assert_eq!(https, format!("https://{bound}"));
        let trusted = client_tls(&ClientTlsFiles {
            ca: Some(ca),
            server_name: Some("the-coordinator".into()),
            ..ClientTlsFiles::default()
        });
        let carrier =
            NetCarrier::connect(&job, &second_stage_at(https.clone()), None, &trusted).await;
        assert!(carrier.is_ok(), "{:?}", carrier.err());
        drop(carrier);
        let plain =
            NetCarrier::connect(&job, &second_stage_at(bound.to_string()), None, &trusted).await;
        let err = plain.err().expect("plain text to a TLS host");
        assert!(err.contains(&bound.to_string()), "{err}");
        let untrusted = NetCarrier::connect(
            &job,
            &second_stage_at(https),
            None,
            &ClientTlsFiles::default(),
        )
        .await;
        let err = untrusted.err().expect("TLS without an authority");
        assert!(err.contains("--tls-ca"), "{err}");
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Bytes per tick per link of the example (`examples/sideways_moving_fashion.toml`,
    /// stages on 2 hosts), one batch: `cargo test -p pathnet-agent --lib link_bytes --
    /// --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a figure, not a check"]
    async fn link_bytes_per_tick_of_the_example() {
        let spec: toml::Table =
            toml::from_str(include_str!("../../examples/sideways_moving_fashion.toml")).unwrap();
        let task: SidewaysTask = spec["sideways"].clone().try_into().unwrap();
        let (bound, server) = serve("127.0.0.1:0".parse().unwrap(), None, None)
            .await
            .unwrap();
        let mut runs = Vec::new();
        // Two segment lengths: the difference is the ticks' traffic alone, without the
        // stage state sent at the link's opening and end (the same size in both).
        for batches in [1, 3] {
            let job = SegmentJob {
                snapshot: task.initial_snapshot(1).unwrap(),
                task: task.clone(),
                seed: 1,
                segment: 0,
                first_batch: 0,
                batches,
                evaluate: false,
            };
            let placement = second_stage_at(bound.to_string());
            let mut carrier =
                NetCarrier::connect(&job, &placement, None, &ClientTlsFiles::default())
                    .await
                    .unwrap();
            let outcome = tokio::task::spawn_blocking(move || {
                pathnet_nn::set_threads(1);
                segment::execute_placed(
                    &job,
                    &VideoImages::shared(),
                    &placement,
                    Some(&mut carrier),
                )
            })
            .await
            .unwrap()
            .unwrap();
            runs.push((outcome.metrics.link_bytes, outcome.metrics.ticks));
        }
        let ((b1, t1), (b3, t3)) = (runs[0], runs[1]);
        println!(
            "1 batch: {b1} bytes over {t1} ticks; 3 batches: {b3} bytes over {t3} ticks; \
             {:.0} bytes per tick on the one link, {} bytes of stage state",
            (b3 - b1) as f64 / (t3 - t1) as f64,
            b1 - (b3 - b1) / 2
        );
        server.abort();
    }
}
