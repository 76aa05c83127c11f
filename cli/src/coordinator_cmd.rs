//! `pathnet coordinator`: serve the gRPC services so agents, possibly on other machines,
//! can join; optionally start an experiment at boot and exit when it is done.

use crate::progress::{ProgressDisplay, print_summary};
use crate::run_cmd::write_summary;
use crate::security_args::ServerSecurityArgs;
use anyhow::{Context, bail};
use clap::Args;
use pathnet_coordinator::dashboard::DashboardConfig;
use pathnet_coordinator::metrics::MetricsAccess;
use pathnet_coordinator::server::{
    Coordinator, DEFAULT_MAX_FAILURES_PER_WORK, Limits, StateConfig,
};
use pathnet_coordinator::spec::{DEFAULT_MAX_EXPERIMENT_BYTES, Spec};
use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct CoordinatorArgs {
    /// Address to serve gRPC on; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "PATHNET_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    /// Experiment spec (TOML) to start at boot; otherwise start one over gRPC.
    #[arg(long, env = "PATHNET_SPEC", value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Exit once the --spec experiment has finished (and write its summary).
    #[arg(long, requires = "spec")]
    pub exit_when_done: bool,
    /// Write the --spec experiment's final summary as JSON to this file.
    #[arg(long, value_name = "FILE", requires = "spec")]
    pub summary_json: Option<PathBuf>,
    /// Serve Prometheus metrics (`/metrics`) and `/healthz` over HTTP on this address;
    /// off unless given. Port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "PATHNET_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the standard gRPC health protocol alone, in plain text and without tokens,
    /// on this address too; off unless given. For probes that cannot speak TLS or present
    /// a token (Kubernetes gRPC probes): it answers as the health service on `--listen`
    /// does, and serves nothing else. Port 0 picks a free port (the bound address is
    /// printed).
    #[arg(long, env = "PATHNET_HEALTH_LISTEN", value_name = "ADDR")]
    pub health_listen: Option<SocketAddr>,
    /// Keep the coordinator's state (the experiment, its parameters, populations and
    /// counters) in this directory, saved every --checkpoint-interval-ms and at each task's
    /// end; a coordinator started on a directory with a state resumes its experiment.
    /// Experiments of every kind are saved.
    #[arg(long, env = "PATHNET_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Time between two saves of the state while it changes, in milliseconds.
    #[arg(
        long,
        env = "PATHNET_CHECKPOINT_INTERVAL_MS",
        default_value_t = 5_000,
        requires = "state_dir"
    )]
    pub checkpoint_interval_ms: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub security: ServerSecurityArgs,
}

/// Lease timing and message limits, told to every agent at join.
#[derive(Args, Clone)]
pub(crate) struct LimitArgs {
    /// How long a lease lasts without a heartbeat, in milliseconds.
    #[arg(long, env = "PATHNET_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Heartbeat interval asked of agents, in milliseconds; default a third of the lease.
    #[arg(long, env = "PATHNET_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// Largest gRPC message accepted or sent, in bytes; tensors are chunked below it.
    #[arg(long, env = "PATHNET_MAX_MESSAGE_BYTES", default_value_t = 4 << 20)]
    pub max_message_bytes: usize,
    /// Ceiling on an experiment's estimated memory (its parameters times the copies kept),
    /// in bytes; a spec over it is refused when it starts.
    #[arg(
        long,
        env = "PATHNET_MAX_EXPERIMENT_BYTES",
        default_value_t = DEFAULT_MAX_EXPERIMENT_BYTES
    )]
    pub max_experiment_bytes: u64,
    /// Failures of the same work (handed back as failed by its agent, or its result
    /// refused) after which the experiment fails, naming the work and the last error.
    #[arg(
        long,
        env = "PATHNET_MAX_FAILURES_PER_WORK",
        default_value_t = DEFAULT_MAX_FAILURES_PER_WORK
    )]
    pub max_failures_per_work: u32,
}

impl LimitArgs {
    pub(crate) fn limits(&self) -> anyhow::Result<Limits> {
        if self.lease_ms < 10 {
            bail!("`--lease-ms` = {}: must be at least 10", self.lease_ms);
        }
        let heartbeat_ms = self.heartbeat_ms.unwrap_or(self.lease_ms / 3).max(1);
        if heartbeat_ms >= self.lease_ms {
            bail!(
                "`--heartbeat-ms` = {heartbeat_ms}: must be shorter than the lease ({} ms)",
                self.lease_ms
            );
        }
        if self.max_message_bytes < 1024 {
            bail!(
                "`--max-message-bytes` = {}: must be at least 1024",
                self.max_message_bytes
            );
        }
        Ok(Limits {
            max_message_bytes: self.max_message_bytes,
            lease_duration: Duration::from_millis(self.lease_ms),
            heartbeat_interval: Duration::from_millis(heartbeat_ms),
            max_experiment_bytes: self.max_experiment_bytes,
        })
    }

    /// `--max-failures-per-work`, checked.
    pub(crate) fn max_failures_per_work(&self) -> anyhow::Result<NonZeroU32> {
        NonZeroU32::new(self.max_failures_per_work)
            .context("`--max-failures-per-work` = 0: must be at least 1")
    }
}

pub(crate) fn run(args: CoordinatorArgs) -> anyhow::Result<()> {
    let limits = args.limits.limits()?;
    let max_failures = args.limits.max_failures_per_work()?;
    let spec = args.spec.as_deref().map(Spec::from_file).transpose()?;
    let security = args.security.security()?;
    let metrics = MetricsAccess {
        token: args.security.metrics_token(&security.tokens)?,
        tls: args.security.metrics_tls()?,
    };
    if metrics.token.is_some() && args.metrics_listen.is_none() {
        bail!("a metrics token was given but no `--metrics-listen` address to serve it on");
    }
    if metrics.tls.is_some() && args.metrics_listen.is_none() {
        bail!("`--metrics-tls-cert` was given but no `--metrics-listen` address to serve on");
    }
    if !security.tokens.enabled() && !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: no agent or admin token is set: anyone who can reach {} can join as an \
             agent or start and stop experiments (see docs/security.md)",
            args.listen
        );
    }
    if args.checkpoint_interval_ms == 0 {
        bail!("`--checkpoint-interval-ms` = 0: must be at least 1");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let (mut coordinator, resumed) = match &args.state_dir {
            None => Coordinator::bind_with(args.listen, limits, security, None)
                .await
                .with_context(|| format!("binding {}", args.listen))?,
            Some(dir) => {
                let state = StateConfig {
                    dir: dir.clone(),
                    interval: Duration::from_millis(args.checkpoint_interval_ms),
                };
                Coordinator::bind_with(args.listen, limits, security, Some(state))
                    .await
                    .with_context(|| format!("`--state-dir` = {}", dir.display()))?
            }
        };
        coordinator.set_max_failures_per_work(max_failures);
        println!("coordinator listening on {}", coordinator.local_addr());
        if let Some(addr) = args.health_listen {
            let bound = coordinator.serve_health(addr).await.with_context(|| {
                format!("`--health-listen` = {addr}: cannot serve gRPC health there")
            })?;
            println!("health listening on {bound} (gRPC health only, plain text)");
        }
        if let Some(addr) = args.metrics_listen {
            serve_metrics(&mut coordinator, addr, metrics).await?;
        }
        if let Some(resumed) = &resumed {
            println!(
                "experiment {} resumed ({}) at task {}, generation {}, {} results accepted; \
                 {} evaluations handed out before the restart re-queued (incarnation {})",
                resumed.experiment,
                resumed.state,
                resumed.task,
                resumed.generation,
                resumed.results_accepted,
                resumed.requeued,
                coordinator.incarnation()
            );
        }
        std::io::stdout().flush()?;
        match (spec, &resumed) {
            (Some(spec), Some(resumed)) => {
                // The spec names the experiment the state holds; starting it afresh would
                // throw the saved one away.
                resumed.check_same_spec(&spec).map_err(|err| {
                    anyhow::anyhow!(
                        "`--spec`: {err}; resume with the saved spec, or use another --state-dir"
                    )
                })?;
            }
            (Some(spec), None) => {
                let id = coordinator
                    .start_experiment(spec)
                    .await
                    .map_err(|status| anyhow::anyhow!("{}", status.message()))?;
                println!("experiment {id} started");
            }
            (None, _) => {}
        }
        let mut events = coordinator.subscribe();
        let mut display = ProgressDisplay::quiet();
        let finished = async {
            if !args.exit_when_done {
                return std::future::pending().await;
            }
            while coordinator.running() {
                match events.recv().await {
                    Ok((_, event)) => display.show(&event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
                // Whether the experiment still runs is asked once per batch of events, not
                // once per result: each question takes the lock every agent's call needs.
                while let Ok((_, event)) = events.try_recv() {
                    display.show(&event);
                }
            }
        };
        tokio::select! {
            () = finished => {}
            () = crate::signals::shutdown() => println!("signal received: shutting down"),
        }
        while let Ok((_, event)) = events.try_recv() {
            display.show(&event);
        }
        let summary = coordinator.summary();
        let error = coordinator.error();
        coordinator.shutdown().await?;
        if let Some(error) = error {
            bail!("{error}");
        }
        if let Some(summary) = summary
            && args.exit_when_done
        {
            print_summary(&summary.run);
            write_summary(&summary, args.summary_json.as_deref())?;
        }
        Ok(())
    })
}

/// Starts the metrics endpoint and prints where it is.
pub(crate) async fn serve_metrics(
    coordinator: &mut Coordinator,
    addr: SocketAddr,
    access: MetricsAccess,
) -> anyhow::Result<()> {
    let scheme = if access.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let bound = coordinator
        .serve_metrics_with(addr, DashboardConfig::default(), access)
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::InvalidInput => anyhow::anyhow!(
                "`--metrics-tls-cert`/`--metrics-tls-key`: cannot serve with them: {err}"
            ),
            _ => anyhow::anyhow!("`--metrics-listen` = {addr}: cannot serve metrics there: {err}"),
        })?;
    println!("metrics listening on {scheme}://{bound}/metrics");
    std::io::stdout().flush()?;
    Ok(())
}
