//! The coordinator's gRPC server: `AgentService`, `ParameterService` and
//! `ExperimentService` of `pathnet.v1`, plus the standard health service.
//!
//! [`Coordinator::bind`] starts serving on a socket and a background task that expires
//! overdue leases; the experiment can be started over gRPC or in-process with
//! [`Coordinator::start_experiment`], and progress is available to in-process watchers
//! through [`Coordinator::subscribe`] and to remote ones through `WatchFitness`.
//! [`Coordinator::serve_metrics`] adds the Prometheus endpoint and the live dashboard on a
//! socket of their own. [`Security`] adds TLS (optionally mutual) and bearer tokens
//! checked by the [`auth`] layer before any service sees a call.
//! [`Coordinator::serve_health`] serves the health service alone, in plain text, on a
//! socket of its own, for probes that can speak neither TLS nor tokens.

pub mod auth;
mod kinds;
mod limits;
mod persist;
mod runtime;
mod services;
mod shared;
mod summary;
mod watch;

pub use limits::Limits;
pub use persist::StateConfig;
pub use runtime::{DEFAULT_MAX_FAILURES_PER_WORK, RefusalReason, Resumed};
pub use summary::{CoordinatorSummary, ParameterBytes};

use auth::{AuthLayer, RefusedCounts, Tokens};

use crate::checkpoint::{CheckpointError, StateDir};
use crate::dashboard::{Dashboard, DashboardConfig};
use crate::metrics::{MetricsAccess, MetricsServer};
use crate::run::Progress;
use crate::spec::Spec;
use pathnet_proto::v1::{
    agent_service_server::AgentServiceServer, experiment_service_server::ExperimentServiceServer,
    parameter_service_server::ParameterServiceServer,
};
use persist::Persistence;
use runtime::Runtime;
use services::CoordinatorService;
use shared::Shared;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Status;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

/// Accepted connections with Nagle's algorithm off: the protocol is many small
/// request/response pairs, which Nagle plus delayed acknowledgements would stall.
fn incoming(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// How long a connection may take to complete its TLS handshake: a peer that connects and
/// says nothing (or speaks plain HTTP/2) is dropped instead of holding a connection.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The coordinator's TLS certificate and key (PEM), and the authority whose client
/// certificates it requires (mutual TLS) when given.
#[derive(Clone)]
pub struct ServerTls {
    /// The coordinator's certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM.
    pub key_pem: Vec<u8>,
    /// The authority client certificates must chain to; `None` asks for none.
    pub client_ca_pem: Option<Vec<u8>>,
}

/// Who may reach the coordinator: TLS (off when `None`) and the tokens required.
#[derive(Clone, Default)]
pub struct Security {
    /// TLS on every connection; `None` serves plain HTTP/2.
    pub tls: Option<ServerTls>,
    /// The bearer tokens calls must carry; none configured lets every call through.
    pub tokens: Tokens,
}

/// A running coordinator server.
pub struct Coordinator {
    shared: Arc<Shared>,
    auth_refused: Arc<RefusedCounts>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    ticker: JoinHandle<()>,
    metrics: Option<(MetricsServer, Dashboard)>,
    health: HealthReporter,
    health_listener: Option<HealthListener>,
    persistence: Option<Persistence>,
}

/// The plain-text health-only server of [`Coordinator::serve_health`].
struct HealthListener {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Why a coordinator with a state directory did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory could not be opened or read.
    #[error(transparent)]
    State(#[from] CheckpointError),
    /// The saved experiment could not be rebuilt from its spec and state.
    #[error("state {dir}: resuming experiment `{experiment}`: {message}")]
    Resume {
        /// The state directory.
        dir: String,
        /// The saved experiment's id.
        experiment: String,
        /// What does not fit.
        message: String,
    },
    /// The save made at start (which puts this run's incarnation on disk before any id
    /// made with it leaves the process) failed, or its task did.
    #[error("state {dir}: {message}")]
    Save {
        /// The state directory.
        dir: String,
        /// Why the save failed.
        message: String,
    },
    /// The listening address could not be bound.
    #[error(transparent)]
    Bind(#[from] std::io::Error),
}

impl Coordinator {
    /// Binds `addr` (port 0 picks a free port) and starts serving. Must run inside a Tokio
    /// runtime.
    pub async fn bind(addr: SocketAddr, limits: Limits) -> std::io::Result<Coordinator> {
        Self::serve(addr, Runtime::new(limits), &Security::default()).await
    }

    /// [`bind`](Self::bind) or, with `state`, [`bind_with_state`](Self::bind_with_state),
    /// serving with `security`'s TLS and tokens.
    pub async fn bind_with(
        addr: SocketAddr,
        limits: Limits,
        security: Security,
        state: Option<StateConfig>,
    ) -> Result<(Coordinator, Option<Resumed>), StartError> {
        match state {
            None => Ok((
                Self::serve(addr, Runtime::new(limits), &security).await?,
                None,
            )),
            Some(state) => Self::bind_with_state_secured(addr, limits, state, &security).await,
        }
    }

    /// [`bind`](Self::bind) for a coordinator that keeps its state in `state.dir`: the
    /// experiment saved there (if any) is resumed before anything is served, the state is
    /// saved at once (with this run's incarnation) and then every `state.interval` and at
    /// each phase's end. Returns the resumed experiment too.
    ///
    /// # Errors
    /// The directory cannot be read or written, holds a state of another format version,
    /// or a saved experiment that cannot be resumed; each names the file and the field.
    pub async fn bind_with_state(
        addr: SocketAddr,
        limits: Limits,
        state: StateConfig,
    ) -> Result<(Coordinator, Option<Resumed>), StartError> {
        Self::bind_with_state_secured(addr, limits, state, &Security::default()).await
    }

    async fn bind_with_state_secured(
        addr: SocketAddr,
        limits: Limits,
        state: StateConfig,
        security: &Security,
    ) -> Result<(Coordinator, Option<Resumed>), StartError> {
        let shown = state.dir.display().to_string();
        let dir_path = state.dir.clone();
        let (dir, saved) = tokio::task::spawn_blocking(move || StateDir::open(&dir_path))
            .await
            .map_err(|err| StartError::Save {
                dir: shown.clone(),
                message: err.to_string(),
            })??;
        let incarnation = saved.as_ref().map_or(0, |s| s.manifest.incarnation) + 1;
        let mut runtime = Runtime::with_incarnation(limits, incarnation, true);
        let mut resumed = None;
        if let Some(saved) = saved {
            runtime.resume_numbering(saved.manifest.next_experiment);
            if let Some(experiment) = saved.manifest.experiment {
                let id = experiment.id.clone();
                let fail = |message: String| StartError::Resume {
                    dir: shown.clone(),
                    experiment: id.clone(),
                    message,
                };
                let spec =
                    kinds::saved_spec(&experiment.kind, experiment.spec.clone()).map_err(fail)?;
                let ready = tokio::task::spawn_blocking(move || kinds::Ready::load(spec))
                    .await
                    .map_err(|err| fail(err.to_string()))?
                    .map_err(|status| fail(status.message().to_owned()))?;
                resumed = Some(
                    runtime
                        .resume(experiment, saved.tensors, ready)
                        .map_err(fail)?,
                );
            }
        }
        let mut coordinator = Self::serve(addr, runtime, security).await?;
        let dir = Arc::new(tokio::sync::Mutex::new(dir));
        // This run's incarnation is on disk before any id made with it leaves the process.
        persist::save(&coordinator.shared, &dir, true)
            .await
            .map_err(|message| StartError::Save {
                dir: shown.clone(),
                message,
            })?;
        let dir = Arc::try_unwrap(dir)
            .map_err(|_| StartError::Save {
                dir: shown,
                message: "the state directory is still being written".into(),
            })?
            .into_inner();
        coordinator.persistence = Some(Persistence::start(
            Arc::clone(&coordinator.shared),
            dir,
            state.interval,
        ));
        Ok((coordinator, resumed))
    }

    async fn serve(
        addr: SocketAddr,
        runtime: Runtime,
        security: &Security,
    ) -> std::io::Result<Coordinator> {
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &security.tls {
            let mut config = tonic::transport::ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(
                    &tls.cert_pem,
                    &tls.key_pem,
                ))
                .timeout(TLS_HANDSHAKE_TIMEOUT);
            if let Some(ca) = &tls.client_ca_pem {
                config = config.client_ca_root(tonic::transport::Certificate::from_pem(ca));
            }
            builder = builder.tls_config(config).map_err(|err| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("TLS certificate, key or client CA: {}", source_chain(&err)),
                )
            })?;
        }
        let auth_refused = Arc::new(RefusedCounts::default());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let limits = runtime.limits().clone();
        let tick = (limits.lease_duration / 4).max(Duration::from_millis(10));
        let max = limits.max_message_bytes;
        let shared = Shared::new(runtime);
        let service = CoordinatorService {
            shared: Arc::clone(&shared),
        };
        let health = HealthReporter::new();
        let health_service = HealthServer::new(HealthService::from_health_reporter(health.clone()));
        health
            .set_serving::<AgentServiceServer<CoordinatorService>>()
            .await;
        health
            .set_serving::<ParameterServiceServer<CoordinatorService>>()
            .await;
        health
            .set_serving::<ExperimentServiceServer<CoordinatorService>>()
            .await;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = builder
            .layer(AuthLayer::new(
                security.tokens.clone(),
                Arc::clone(&auth_refused),
            ))
            .add_service(health_service)
            .add_service(
                AgentServiceServer::new(service.clone())
                    .max_decoding_message_size(max)
                    .max_encoding_message_size(max),
            )
            .add_service(
                ParameterServiceServer::new(service.clone())
                    .max_decoding_message_size(max)
                    .max_encoding_message_size(max),
            )
            .add_service(
                ExperimentServiceServer::new(service)
                    .max_decoding_message_size(max)
                    .max_encoding_message_size(max),
            )
            .serve_with_incoming_shutdown(incoming(listener), async {
                let _ = stopped.await;
            });
        // Once the gRPC server has stopped, for whatever reason, the server as a whole is
        // no longer serving: a health listener of its own (`serve_health`) must say so
        // rather than go on answering SERVING for a coordinator no agent can reach.
        let ended = health.clone();
        let server = tokio::spawn(async move {
            let served = server.await;
            ended
                .set_service_status("", ServingStatus::NotServing)
                .await;
            served
        });
        let ticker_shared = Arc::clone(&shared);
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticker_shared.with(Runtime::tick);
            }
        });
        Ok(Coordinator {
            shared,
            auth_refused,
            addr,
            stop: Some(stop),
            server,
            ticker,
            metrics: None,
            health,
            health_listener: None,
            persistence: None,
        })
    }

    /// Serves the standard gRPC health service (`grpc.health.v1.Health`) alone on `addr`
    /// (port 0 picks a free port), in plain text and without tokens, whatever TLS and
    /// tokens the gRPC address has; returns the address bound.
    ///
    /// For probes that can speak neither TLS nor tokens, such as the kubelet's gRPC
    /// probes: they ask this address, which answers with the same statuses as the gRPC
    /// address's own health service, NOT_SERVING once the gRPC server has stopped. Nothing
    /// else is served here, so the plain-text port gives away no more than "serving" or
    /// "not serving".
    pub async fn serve_health(&mut self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        if let Some(listener) = &self.health_listener {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("health is already served on {}", listener.addr),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let service = HealthServer::new(HealthService::from_health_reporter(self.health.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming(listener), async {
                let _ = stopped.await;
            });
        self.health_listener = Some(HealthListener {
            addr,
            stop,
            server: tokio::spawn(server),
        });
        Ok(addr)
    }

    /// Serves `GET /metrics` (Prometheus text format), `GET /healthz` and the dashboard
    /// (`GET /`, `GET /events`) on `addr` (port 0 picks a free port) until shutdown;
    /// returns the address bound.
    pub async fn serve_metrics(&mut self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        self.serve_metrics_with(addr, DashboardConfig::default(), MetricsAccess::default())
            .await
    }

    /// [`serve_metrics`](Self::serve_metrics) with the dashboard's limits given and
    /// `access`: with its token every route but `/healthz` is closed to callers not
    /// presenting it, with its certificate the listener speaks HTTPS only.
    pub async fn serve_metrics_with(
        &mut self,
        addr: SocketAddr,
        dashboard: DashboardConfig,
        access: MetricsAccess,
    ) -> std::io::Result<SocketAddr> {
        if let Some((metrics, _)) = &self.metrics {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("metrics are already served on {}", metrics.local_addr()),
            ));
        }
        let status = Arc::clone(&self.shared);
        let dashboard = Dashboard::spawn(
            self.shared.subscribe(),
            move || status.with(Runtime::dashboard_status),
            dashboard,
        );
        let shared = Arc::clone(&self.shared);
        let auth_refused = Arc::clone(&self.auth_refused);
        let server = MetricsServer::bind(
            addr,
            move || {
                let mut snapshot = shared.with(Runtime::metrics_snapshot);
                snapshot.auth_refused = auth_refused.snapshot();
                snapshot
            },
            dashboard.router(),
            access,
        )
        .await?;
        let bound = server.local_addr();
        self.metrics = Some((server, dashboard));
        Ok(bound)
    }

    /// How many times the same work may fail (handed back as failed by its agent, or its
    /// result refused) before its experiment fails naming it;
    /// [`DEFAULT_MAX_FAILURES_PER_WORK`] unless set.
    pub fn set_max_failures_per_work(&self, max: NonZeroU32) {
        self.shared.with(|rt| rt.set_max_failures_per_work(max));
    }

    /// Which run of the coordinator this is (see `CoordinatorSummary::incarnation`).
    pub fn incarnation(&self) -> u64 {
        self.shared.with(|rt| rt.incarnation())
    }

    /// Calls refused by the token check so far, as `(reason, count)` for every reason.
    pub fn auth_refused(&self) -> Vec<(&'static str, u64)> {
        self.auth_refused.snapshot()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Validates the spec's data and starts the experiment; returns its id.
    pub async fn start_experiment(&self, spec: impl Into<Spec>) -> Result<String, Status> {
        let spec = spec.into();
        services::start(&self.shared, spec).await
    }

    /// Progress of every experiment from now on, tagged with the experiment id.
    pub fn subscribe(&self) -> broadcast::Receiver<(String, Progress)> {
        self.shared.subscribe()
    }

    /// Whether the current experiment (if any) is still running.
    pub fn running(&self) -> bool {
        self.shared.with(|rt| rt.current_running())
    }

    /// The experiment's error, if it failed.
    pub fn error(&self) -> Option<String> {
        self.shared.with(|rt| rt.current_error())
    }

    /// Waits until the current experiment is no longer running.
    pub async fn wait_until_finished(&self) {
        let mut events = self.subscribe();
        while self.running() {
            if let Err(broadcast::error::RecvError::Closed) = events.recv().await {
                return;
            }
            // Asked once per batch of events rather than once per result (see `running`'s
            // lock).
            while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
        }
    }

    /// The current experiment's summary, the lease counters and the parameter traffic.
    pub fn summary(&self) -> Option<CoordinatorSummary> {
        self.shared.with(|rt| rt.summary())
    }

    /// Ends every lease stream and fitness watch, stops serving and waits for the servers
    /// to finish.
    pub async fn shutdown(mut self) -> Result<(), tonic::transport::Error> {
        self.shared.close();
        if let Some(persistence) = self.persistence.take()
            && let Err(err) = persistence.finish(&self.shared).await
        {
            // The last good state stays on disk; what changed since is redone on resuming.
            tracing::error!(%err, "the final state could not be saved");
        }
        self.ticker.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = match (&mut self.server).await {
            Ok(result) => result,
            // The server task only ends by returning; a panic inside it is a bug.
            Err(join) => panic!("the gRPC server task failed: {join}"),
        };
        if let Some(health) = self.health_listener.take() {
            let _ = health.stop.send(());
            match health.server.await {
                // Probes retry; only the gRPC outcome is the coordinator's.
                Ok(Err(err)) => tracing::warn!("the health listener ended with an error: {err}"),
                Ok(Ok(())) => {}
                Err(join) => tracing::warn!("the health listener task failed: {join}"),
            }
        }
        if let Some((metrics, dashboard)) = self.metrics.take()
            && let Err(err) = {
                // Open event streams would hold the server's graceful shutdown up forever.
                dashboard.shutdown().await;
                metrics.shutdown().await
            }
        {
            // Nothing is lost with the metrics endpoint; the gRPC outcome is what matters.
            tracing::warn!("the metrics endpoint ended with an error: {err}");
        }
        served
    }
}

/// An error and its causes on one line: the TLS library's reason is in the causes.
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
