//! `pathnet agent`: join a coordinator and execute its work until stopped.

use crate::security_args::{ClientTlsArgs, agent_token};
use anyhow::{Context, bail};
use clap::Args;
use pathnet_agent::{AgentConfig, Backoff, StageTls};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The coordinator's URL.
    #[arg(long, env = "PATHNET_COORDINATOR", value_name = "URL")]
    pub coordinator: String,
    /// Work items to run at once (one per core is sensible).
    #[arg(long, env = "PATHNET_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Read datasets from this directory instead of the one each experiment names.
    #[arg(long, env = "PATHNET_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Exit when the coordinator shuts down instead of waiting for it to come back.
    #[arg(long, env = "PATHNET_LEAVE_WITH_COORDINATOR")]
    pub leave_with_coordinator: bool,
    /// Give up after this many failed connection attempts (default: never).
    #[arg(long, env = "PATHNET_CONNECT_ATTEMPTS")]
    pub connect_attempts: Option<u32>,
    /// Longest wait between connection attempts, in milliseconds.
    #[arg(long, env = "PATHNET_MAX_BACKOFF_MS", default_value_t = 5000)]
    pub max_backoff_ms: u64,
    /// Operator label reported to the coordinator, as KEY=VALUE; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// File holding the agent token to present, for coordinators that require one; else
    /// the environment variable PATHNET_AGENT_TOKEN.
    #[arg(long, env = "PATHNET_AGENT_TOKEN_FILE", value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,
    /// Host Sideways pipeline stages for other agents: serve stage links on this address
    /// (e.g. 0.0.0.0:7100; port 0 picks a free one) and advertise it at join.
    #[arg(long, env = "PATHNET_STAGE_LISTEN", value_name = "ADDR")]
    pub stage_listen: Option<std::net::SocketAddr>,
    /// The stage-link address other agents dial (default: the bound address).
    #[arg(long, env = "PATHNET_STAGE_ADVERTISE", value_name = "HOST:PORT")]
    pub stage_advertise: Option<String>,
    /// Serve stage links over TLS with this PEM certificate (naming the advertised host);
    /// needs `--stage-tls-key`. Lease holders verify it with their `--tls-ca`.
    #[arg(
        long,
        env = "PATHNET_STAGE_TLS_CERT",
        value_name = "FILE",
        requires = "stage_tls_key"
    )]
    pub stage_tls_cert: Option<PathBuf>,
    /// The PEM private key of `--stage-tls-cert`.
    #[arg(
        long,
        env = "PATHNET_STAGE_TLS_KEY",
        value_name = "FILE",
        requires = "stage_tls_cert"
    )]
    pub stage_tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<()> {
    if args.workers == 0 {
        bail!("`--workers` = 0: an agent needs at least one worker");
    }
    let labels = args
        .labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("`--label` = {label}: expected KEY=VALUE"),
        })
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    if args.stage_tls_cert.is_some() && args.stage_listen.is_none() {
        bail!(
            "`--stage-tls-cert` needs `--stage-listen`: it is the certificate stage links are served with"
        );
    }
    let token = agent_token(args.agent_token_file.as_deref())?;
    let tls = args.tls.files();
    // Unreadable certificates or a URL that does not fit the TLS flags end the agent now,
    // not after its first connection attempt.
    pathnet_proto::security::endpoint(&args.coordinator, &tls)?;
    let config = AgentConfig {
        coordinator: args.coordinator,
        workers: args.workers,
        data_dir: args.data_dir,
        leave_with_coordinator: args.leave_with_coordinator,
        backoff: Backoff {
            max: Duration::from_millis(args.max_backoff_ms.max(1)),
            attempts: args.connect_attempts,
            ..Backoff::default()
        },
        labels,
        tls,
        token,
        stage_listen: args.stage_listen,
        stage_advertise: args.stage_advertise,
        stage_tls: args
            .stage_tls_cert
            .zip(args.stage_tls_key)
            .map(|(cert, key)| StageTls { cert, key }),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let stats = runtime.block_on(pathnet_agent::run(config, crate::signals::shutdown()));
    // Training threads still running for abandoned leases must not hold up the exit.
    runtime.shutdown_background();
    let stats = stats?;
    tracing::info!(?stats, "agent stopped");
    Ok(())
}
