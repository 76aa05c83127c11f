//! One measurement: a fresh `pathnet coordinator` process, N simulated agents joined over
//! a few shared channels, a warm-up, a timed phase, and the coordinator's CPU and memory
//! read from `/proc` around them.

use crate::agent::{Agent, AgentFigures, DONE, TIMED};
use crate::spec::spec_toml;
use anyhow::{Context, Result, bail};
use pathnet_bench::coordinator::CoordinatorProcess;
use pathnet_bench::machine::load_average;
use pathnet_bench::stats::Latency;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

pub(crate) struct Setup {
    pub work_dir: PathBuf,
    pub data_dir: PathBuf,
    pub agents_per_connection: usize,
    pub population: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
    pub skip_pulls: bool,
    /// Simulated work time per lease, before the report.
    pub work: Duration,
    pub timeout: Duration,
}

/// A coordinator binary under test, by the label the tables show.
#[derive(Debug, Clone)]
pub(crate) struct Coordinator {
    pub label: String,
    pub pathnet: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadMeasure {
    pub coordinator: String,
    pub agents: usize,
    pub connections: usize,
    pub round: usize,
    /// 1-minute load average as the timed phase started and ended.
    pub load_average: [f64; 2],
    pub timed_s: f64,
    pub results: u64,
    pub not_accepted: u64,
    pub pulls: u64,
    pub heartbeats: u64,
    pub results_per_s: f64,
    /// Client-side ReportResult round trips.
    pub report_latency: Latency,
    pub coordinator_cpu_s: f64,
    pub coordinator_cores: f64,
    pub coordinator_cpu_us_per_result: f64,
    /// This process (every simulated agent) over the timed phase.
    pub agents_cpu_s: f64,
    /// Coordinator resident memory before any agent joined, with every agent joined and
    /// holding a lease, and at the end of the timed phase.
    pub rss_before_mib: f64,
    pub rss_joined_mib: f64,
    pub rss_end_mib: f64,
    pub rss_kib_per_agent: f64,
}

/// The counters of the coordinator's summary this benchmark checks.
#[derive(Debug, Deserialize)]
struct Summary {
    counters: Counters,
}

#[derive(Debug, Deserialize)]
struct Counters {
    results_accepted: u64,
    results_refused: u64,
}

pub(crate) fn measure(
    setup: &Setup,
    runtime: &tokio::runtime::Runtime,
    coordinator: &Coordinator,
    agents: usize,
    round: usize,
) -> Result<LoadMeasure> {
    let spec = setup.work_dir.join("load-spec.toml");
    std::fs::write(
        &spec,
        spec_toml(&setup.data_dir, setup.population, setup.seed),
    )
    .with_context(|| format!("writing {}", spec.display()))?;
    let process = CoordinatorProcess::start(&coordinator.pathnet, &spec, &setup.work_dir, &[])?;
    let measured = runtime.block_on(async {
        let measured = tokio::time::timeout(setup.timeout, phases(setup, &process, agents))
            .await
            .context("the measurement did not finish in time (see --timeout-s)")??;
        process.request_stop().await?;
        anyhow::Ok(measured)
    })?;
    let summary: Summary = process.finish(Duration::from_secs(30))?;
    let Measured {
        figures,
        connections,
        timed_s,
        cpu_s,
        agents_cpu_s,
        rss,
        load,
    } = measured;
    let results: u64 = figures.iter().map(|f| f.accepted).sum();
    let not_accepted: u64 = figures.iter().map(|f| f.not_accepted).sum();
    if summary.counters.results_refused != 0 || not_accepted != 0 {
        bail!(
            "{} with {agents} agents: {} results refused, {not_accepted} not accepted",
            coordinator.label,
            summary.counters.results_refused
        );
    }
    if results > summary.counters.results_accepted {
        bail!(
            "the agents counted {results} accepted results, the coordinator {}",
            summary.counters.results_accepted
        );
    }
    let latencies: Vec<f64> = figures
        .iter()
        .flat_map(|f| f.report_latencies_us.iter().copied())
        .collect();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    Ok(LoadMeasure {
        coordinator: coordinator.label.clone(),
        agents,
        connections,
        round,
        load_average: load,
        timed_s,
        results,
        not_accepted,
        pulls: figures.iter().map(|f| f.pulls).sum(),
        heartbeats: figures.iter().map(|f| f.heartbeats).sum(),
        results_per_s: results as f64 / timed_s,
        report_latency: Latency::of(&latencies).context("no report in the timed phase")?,
        coordinator_cpu_s: cpu_s,
        coordinator_cores: cpu_s / timed_s,
        coordinator_cpu_us_per_result: cpu_s * 1e6 / results.max(1) as f64,
        agents_cpu_s,
        rss_before_mib: mib(rss[0]),
        rss_joined_mib: mib(rss[1]),
        rss_end_mib: mib(rss[2]),
        rss_kib_per_agent: (rss[1] as f64 - rss[0] as f64) / 1024.0 / agents as f64,
    })
}

struct Measured {
    figures: Vec<AgentFigures>,
    connections: usize,
    timed_s: f64,
    cpu_s: f64,
    agents_cpu_s: f64,
    /// Before joining, joined, end.
    rss: [u64; 3],
    load: [f64; 2],
}

async fn phases(setup: &Setup, process: &CoordinatorProcess, agents: usize) -> Result<Measured> {
    let rss_before = process.resident_bytes()?;
    let connections = agents.div_ceil(setup.agents_per_connection.max(1));
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(connect(&process.url()).await?);
    }
    let joined = Arc::new(Barrier::new(agents + 1));
    let phase = Arc::new(AtomicU8::new(crate::agent::WARMING_UP));
    let tasks: Vec<JoinHandle<Result<AgentFigures>>> = (0..agents)
        .map(|index| {
            let channel = channels[index % connections].clone();
            let (joined, phase) = (Arc::clone(&joined), Arc::clone(&phase));
            let (seed, skip_pulls, work) = (setup.seed, setup.skip_pulls, setup.work);
            tokio::spawn(async move {
                let agent = Agent::join(channel, seed, index as u64, skip_pulls, work).await?;
                agent.run(joined, phase).await
            })
        })
        .collect();
    wait_watching(&joined, &tasks).await?;
    let rss_joined = process.resident_bytes()?;
    tokio::time::sleep(setup.warmup).await;

    let load_start = one_minute_load();
    let cpu_before = process.cpu_s()?;
    let self_before = pathnet_bench::machine::cpu_times(None)?.own_s;
    let t0 = Instant::now();
    phase.store(TIMED, Ordering::Release);
    tokio::time::sleep(setup.duration).await;
    phase.store(DONE, Ordering::Release);
    let timed_s = t0.elapsed().as_secs_f64();
    let cpu_s = process.cpu_s()? - cpu_before;
    let agents_cpu_s = pathnet_bench::machine::cpu_times(None)?.own_s - self_before;
    let rss_end = process.resident_bytes()?;
    let load = [load_start, one_minute_load()];

    let mut figures = Vec::with_capacity(agents);
    for (i, task) in tasks.into_iter().enumerate() {
        let f = task
            .await
            .with_context(|| format!("simulated agent {i} panicked"))?
            .with_context(|| format!("simulated agent {i}"))?;
        figures.push(f);
    }
    Ok(Measured {
        figures,
        connections,
        timed_s,
        cpu_s,
        agents_cpu_s,
        rss: [rss_before, rss_joined, rss_end],
        load,
    })
}

async fn connect(url: &str) -> Result<Channel> {
    Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .context("connecting to the coordinator")
}

/// Waits at `barrier` for every agent, failing if one ended before it got there (it would
/// leave the others waiting).
async fn wait_watching<T>(barrier: &Barrier, tasks: &[JoinHandle<T>]) -> Result<()> {
    let mut joined = std::pin::pin!(barrier.wait());
    loop {
        tokio::select! {
            _ = &mut joined => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Some(i) = tasks.iter().position(|t| t.is_finished()) {
                    bail!("simulated agent {i} ended before every agent held a lease");
                }
            }
        }
    }
}

fn one_minute_load() -> f64 {
    load_average().map_or(f64::NAN, |l| l[0])
}
