//! `pathnet run SPEC`: run an experiment on this machine, with a progress bar and a summary,
//! either in this process (`--agents 0`) or on a loopback coordinator with N agent processes.

use crate::coordinator_cmd::LimitArgs;
use crate::progress::{ProgressDisplay, print_summary};
use anyhow::{Context, bail};
use clap::Args;
use pathnet_coordinator::local;
use pathnet_coordinator::server::Coordinator;
use pathnet_coordinator::spec::Spec;
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Experiment spec (TOML), e.g. examples/pathnet_fashion.toml.
    pub spec: PathBuf,
    /// Also write the final summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Override the spec's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Agent processes to start on a loopback coordinator; 0 runs everything in this
    /// process (one evaluation at a time, reproducible bit for bit). A Sideways spec that
    /// leaves placement open gets its stages spread over up to N of them (stage links).
    #[arg(long, env = "PATHNET_AGENTS", default_value_t = 0)]
    pub agents: usize,
    /// With agents: serve Prometheus metrics (`/metrics`) and `/healthz` over HTTP here.
    #[arg(
        long,
        env = "PATHNET_METRICS_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:0"
    )]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut spec = Spec::from_file(&args.spec)?;
    if let Some(seed) = args.seed {
        spec.set_seed(seed);
    }
    if args.agents == 0 {
        let mut display = ProgressDisplay::default();
        let summary = local::run(&spec, &mut |event| display.show(event))?;
        print_summary(&summary);
        return write_summary(&summary, args.summary_json.as_deref());
    }
    let agent_workers = agent_workers(&spec, args.agents);
    let open = spec.stage_hosts().0 == 1;
    let spread = spec.spread_stages(args.agents);
    if open && spread > 1 {
        println!("stages spread over {spread} agents, joined by stage links");
    }
    let (stage_hosts, by_label) = spec.stage_hosts();
    if stage_hosts > args.agents {
        bail!(
            "the spec's `stage_hosts` = {stage_hosts} spreads each segment over {stage_hosts} \
             agents, but --agents {} starts fewer",
            args.agents
        );
    }
    if by_label {
        bail!(
            "the spec's `place` asks for agents by label, and the agents `pathnet run` starts \
             carry none: start a coordinator and agents with `--label` instead"
        );
    }
    let limits = args.limits.limits()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut coordinator = Coordinator::bind(addr, limits).await?;
        coordinator.set_max_failures_per_work(args.limits.max_failures_per_work()?);
        let url = format!("http://{}", coordinator.local_addr());
        println!("coordinator listening on {}", coordinator.local_addr());
        crate::coordinator_cmd::serve_metrics(
            &mut coordinator,
            args.metrics_listen,
            Default::default(),
        )
        .await?;
        let mut events = coordinator.subscribe();
        coordinator
            .start_experiment(spec)
            .await
            .map_err(|status| anyhow::anyhow!("{}", status.message()))?;
        let mut agents = Agents::spawn(args.agents, &url, agent_workers, stage_hosts > 1)?;
        let mut display = ProgressDisplay::default();
        let mut check = tokio::time::interval(Duration::from_millis(500));
        let outcome = loop {
            if !coordinator.running() {
                break Ok(());
            }
            tokio::select! {
                event = events.recv() => match event {
                    Ok((_, event)) => display.show(&event),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break Ok(()),
                },
                _ = check.tick() => {
                    if let Err(err) = agents.check_alive() {
                        break Err(err);
                    }
                }
                () = crate::signals::shutdown() => break Err(anyhow::anyhow!("interrupted")),
            }
        };
        while let Ok((_, event)) = events.try_recv() {
            display.show(&event);
        }
        let summary = coordinator.summary();
        let error = coordinator.error();
        coordinator.shutdown().await?;
        agents.wait(Duration::from_secs(10));
        outcome?;
        if let Some(error) = error {
            bail!("{error}");
        }
        summary.context("the coordinator has no experiment")
    })?;
    print_summary(&summary.run);
    write_summary(&summary, args.summary_json.as_deref())
}

/// Worker slots per agent: a PathNet-A3C population trains one worker lease per genotype,
/// so the agents together get enough for all of it; other kinds keep the agent's default
/// (one, or `PATHNET_WORKERS`). An explicit `PATHNET_WORKERS` always wins.
fn agent_workers(spec: &Spec, agents: usize) -> Option<usize> {
    if std::env::var_os("PATHNET_WORKERS").is_some() || agents == 0 {
        return None;
    }
    spec.worker_leases().map(|workers| workers.div_ceil(agents))
}

/// Agent processes started by `run`, stopped with it.
struct Agents {
    children: Vec<Child>,
}

/// Environment variables that would make an agent use TLS or present a token.
const CLIENT_SECURITY_ENV: [&str; 6] = [
    "PATHNET_TLS_CA",
    "PATHNET_TLS_CERT",
    "PATHNET_TLS_KEY",
    "PATHNET_TLS_SERVER_NAME",
    "PATHNET_AGENT_TOKEN",
    "PATHNET_AGENT_TOKEN_FILE",
];

impl Agents {
    /// `count` agents, each running `workers` items at once (the agent's own default, or
    /// `PATHNET_WORKERS`, when `None`), each serving stage links on a free loopback port if
    /// `stage_links`.
    fn spawn(
        count: usize,
        url: &str,
        workers: Option<usize>,
        stage_links: bool,
    ) -> anyhow::Result<Agents> {
        let exe = std::env::current_exe().context("locating the pathnet binary")?;
        let children = (0..count)
            .map(|i| {
                let mut command = Command::new(&exe);
                command.args(["agent", "--coordinator", url, "--leave-with-coordinator"]);
                if let Some(workers) = workers {
                    command.args(["--workers", &workers.to_string()]);
                }
                if stage_links {
                    command.args(["--stage-listen", "127.0.0.1:0"]);
                }
                // The loopback coordinator of `pathnet run` has neither TLS nor tokens; the
                // caller's settings for a remote one must not reach these agents.
                for var in CLIENT_SECURITY_ENV {
                    command.env_remove(var);
                }
                command
                    .env(
                        "PATHNET_LOG",
                        std::env::var("PATHNET_LOG").unwrap_or("warn".into()),
                    )
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting agent {i} ({})", exe.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Agents { children })
    }

    /// Fails once every agent has exited: nothing could make progress any more.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        let mut exits = Vec::new();
        for child in &mut self.children {
            match child.try_wait()? {
                Some(status) => exits.push(status),
                None => return Ok(()),
            }
        }
        bail!("every agent exited before the experiment finished: {exits:?}")
    }

    /// Gives the agents `grace` to leave after the coordinator closed, then kills the rest.
    fn wait(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        for child in &mut self.children {
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    // Polling a child process has no event to wait on with a deadline.
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub(crate) fn write_summary(summary: &impl Serialize, path: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(summary)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    Ok(())
}
