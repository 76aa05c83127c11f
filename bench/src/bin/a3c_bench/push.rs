//! Measurement 2: gradient pushes per second one coordinator sustains.
//!
//! Each measurement starts a fresh `pathnet coordinator` process with an A3C experiment
//! whose stop rule cannot trigger (no target return, an env-step budget of 1e18), then K
//! synthetic workers ([`crate::push_worker`]) in this process, each on its own channel with
//! its own lease. After their warm-up they start together and each makes a fixed number of
//! timed pushes. The coordinator's CPU time is read from `/proc/<pid>/stat` as they start and
//! as the last one finishes; this process's own CPU time (the workers) likewise.

use crate::machine::cpu_times;
use crate::push_worker::{self, WorkerFigures};
use crate::stats::Latency;
use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use pathnet_bench::coordinator::CoordinatorProcess;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// The policy networks whose gradients are pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Network {
    /// The CartPole example's MLP, one hidden layer of 128 (1,027 floats).
    CartpoleMlp128,
    /// CartPole with two hidden layers of 256 (67,843 floats).
    CartpoleMlp256x256,
    /// The MinAtar baseline on Breakout: 3x3 conv with 16 channels, then 128 (132,308 floats).
    BreakoutConv,
}

impl Network {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Network::CartpoleMlp128 => "CartPole MLP [128]",
            Network::CartpoleMlp256x256 => "CartPole MLP [256, 256]",
            Network::BreakoutConv => "MinAtar Breakout conv16 + [128]",
        }
    }

    /// Timed pushes per worker unless `--pushes` says otherwise: enough for a phase of a
    /// few seconds, far above the 10 ms resolution of the CPU times.
    pub(crate) fn default_pushes(self) -> usize {
        match self {
            Network::CartpoleMlp128 => 5000,
            Network::CartpoleMlp256x256 => 1000,
            Network::BreakoutConv => 500,
        }
    }

    fn a3c_keys(self) -> &'static str {
        match self {
            Network::CartpoleMlp128 => {
                "env = \"CartPole-v1\"\npolicy = { kind = \"mlp\", hidden = [128] }\n"
            }
            Network::CartpoleMlp256x256 => {
                "env = \"CartPole-v1\"\npolicy = { kind = \"mlp\", hidden = [256, 256] }\n"
            }
            Network::BreakoutConv => {
                "env = \"MinAtar/Breakout-v1\"\npolicy = { kind = \"conv\", hidden = [128] }\n"
            }
        }
    }

    /// An experiment that trains on forever: no target, a budget no run reaches.
    pub(crate) fn spec(self, workers: usize, seed: u64) -> String {
        format!(
            "kind = \"a3c\"\nname = \"push-bench\"\nseed = {seed}\nmax_workers = {workers}\n\n\
             [a3c]\n{}t_max = 20\nstop = {{ max_env_steps = 1000000000000000000 }}\n",
            self.a3c_keys()
        )
    }
}

/// Leases outlive any push phase, so the synthetic workers need no heartbeats.
const LEASE_MS: u64 = 3_600_000;

/// The fields of the coordinator's summary that this benchmark checks.
#[derive(Debug, Deserialize)]
struct Summary {
    updates_applied: u64,
    dropped_stale: u64,
}

pub(crate) struct Setup {
    pub pathnet: PathBuf,
    pub work_dir: PathBuf,
    /// Timed pushes per worker; `None` for each network's default.
    pub pushes: Option<usize>,
    pub warmup: usize,
    pub seed: u64,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PushMeasure {
    pub network: &'static str,
    /// Floats per gradient (and per parameter answer).
    pub parameters: usize,
    pub workers: usize,
    pub round: usize,
    pub timed_pushes: usize,
    /// Timed pushes answered other than `APPLIED` (too stale).
    pub not_applied: u64,
    pub wall_s: f64,
    pub pushes_per_s: f64,
    pub latency: Latency,
    /// Encoded protobuf bytes per push: the request, and the answer with the parameters.
    /// gRPC's 5-byte frame header and HTTP/2 framing come on top.
    pub request_bytes: f64,
    pub response_bytes: f64,
    pub coordinator_cpu_s: f64,
    /// Coordinator CPU seconds per wall second over the timed phase.
    pub coordinator_cores: f64,
    pub coordinator_cpu_us_per_push: f64,
    /// This process (all synthetic workers) over the timed phase.
    pub workers_cpu_s: f64,
}

pub(crate) fn measure(
    setup: &Setup,
    runtime: &tokio::runtime::Runtime,
    network: Network,
    workers: usize,
    round: usize,
) -> Result<PushMeasure> {
    let spec = setup.work_dir.join("push-spec.toml");
    std::fs::write(&spec, network.spec(workers, setup.seed))
        .with_context(|| format!("writing {}", spec.display()))?;
    let pushes = setup.pushes.unwrap_or(network.default_pushes());
    let lease = ["--lease-ms".to_owned(), LEASE_MS.to_string()];
    let coordinator = CoordinatorProcess::start(&setup.pathnet, &spec, &setup.work_dir, &lease)?;
    let phase = push_phase(setup, &coordinator, workers, pushes);
    let timed = runtime.block_on(async {
        let timed = tokio::time::timeout(setup.timeout, phase)
            .await
            .context("the push phase did not finish in time (see --timeout-s)")??;
        coordinator.request_stop().await?;
        anyhow::Ok(timed)
    })?;
    let (figures, wall_s, coordinator_cpu_s, workers_cpu_s) = timed;
    let summary: Summary = coordinator.finish(Duration::from_secs(30))?;
    let timed_pushes = workers * pushes;
    let expected = (workers * (pushes + setup.warmup)) as u64;
    // A worker descheduled for more than `max_staleness` updates has its push dropped: the
    // coordinator did the same work for it, so it counts, but nothing else may go missing.
    let not_applied: u64 = figures.iter().map(|f| f.not_applied).sum();
    if summary.updates_applied + summary.dropped_stale != expected
        || not_applied > summary.dropped_stale
    {
        bail!(
            "{} with {workers} workers: the coordinator applied {} of {expected} pushes \
             and dropped {} as stale; {not_applied} timed pushes were not applied",
            network.label(),
            summary.updates_applied,
            summary.dropped_stale
        );
    }
    let latencies: Vec<f64> = figures
        .iter()
        .flat_map(|f| f.latencies_us.iter().copied())
        .collect();
    let per_push = |total: u64| total as f64 / timed_pushes as f64;
    Ok(PushMeasure {
        network: network.label(),
        parameters: figures[0].parameters,
        workers,
        round,
        timed_pushes,
        not_applied,
        wall_s,
        pushes_per_s: timed_pushes as f64 / wall_s,
        latency: Latency::of(&latencies).context("no timed pushes")?,
        request_bytes: per_push(figures.iter().map(|f| f.request_bytes).sum()),
        response_bytes: per_push(figures.iter().map(|f| f.response_bytes).sum()),
        coordinator_cpu_s,
        coordinator_cores: coordinator_cpu_s / wall_s,
        coordinator_cpu_us_per_push: coordinator_cpu_s * 1e6 / timed_pushes as f64,
        workers_cpu_s,
    })
}

/// Runs the workers to their last push: their figures, the wall time from the common start
/// to the last finish, and the CPU seconds of the coordinator and of this process meanwhile.
async fn push_phase(
    setup: &Setup,
    coordinator: &CoordinatorProcess,
    workers: usize,
    pushes: usize,
) -> Result<(Vec<WorkerFigures>, f64, f64, f64)> {
    let start = Arc::new(Barrier::new(workers + 1));
    let tasks: Vec<_> = (0..workers as u64)
        .map(|index| {
            tokio::spawn(push_worker::run(
                coordinator.url(),
                index,
                setup.seed,
                setup.warmup,
                pushes,
                Arc::clone(&start),
            ))
        })
        .collect();
    // A worker that fails before the start would leave the others waiting at the barrier:
    // watch for that while waiting.
    let mut started = std::pin::pin!(start.wait());
    loop {
        tokio::select! {
            _ = &mut started => break,
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Some(i) = tasks.iter().position(|t| t.is_finished()) {
                    bail!("synthetic worker {i} ended before the timed pushes");
                }
            }
        }
    }
    let t0 = Instant::now();
    let coordinator_before = coordinator.cpu_s()?;
    let self_before = cpu_times(None)?.own_s;
    let mut figures = Vec::with_capacity(workers);
    for (i, task) in tasks.into_iter().enumerate() {
        let f = task
            .await
            .with_context(|| format!("synthetic worker {i} panicked"))?
            .with_context(|| format!("synthetic worker {i}"))?;
        figures.push(f);
    }
    let coordinator_cpu_s = coordinator.cpu_s()? - coordinator_before;
    let workers_cpu_s = cpu_times(None)?.own_s - self_before;
    let end = figures.iter().map(|f| f.finished).max().unwrap_or(t0);
    let wall_s = end.duration_since(t0).as_secs_f64();
    Ok((figures, wall_s, coordinator_cpu_s, workers_cpu_s))
}

pub(crate) fn print(measures: &[PushMeasure]) {
    println!("\nGradient pushes per second through one coordinator:\n");
    println!(
        "| network | floats | workers | pushes/s | mean ms | p50 ms | p99 ms | KiB up/push | \
         KiB down/push | coordinator cores | coordinator us/push | stale |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for m in measures {
        println!(
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.2} | {:.0} | {} |",
            m.network,
            m.parameters,
            m.workers,
            m.pushes_per_s,
            m.latency.mean_us / 1e3,
            m.latency.p50_us / 1e3,
            m.latency.p99_us / 1e3,
            m.request_bytes / 1024.0,
            m.response_bytes / 1024.0,
            m.coordinator_cores,
            m.coordinator_cpu_us_per_push,
            m.not_applied,
        );
    }
}

/// The measure of the round with the median pushes per second, per network and worker count.
pub(crate) fn median_rounds(measures: &[PushMeasure]) -> Vec<PushMeasure> {
    let mut out: Vec<PushMeasure> = Vec::new();
    for m in measures {
        if out
            .iter()
            .any(|o| o.network == m.network && o.workers == m.workers)
        {
            continue;
        }
        let mut same: Vec<&PushMeasure> = measures
            .iter()
            .filter(|o| o.network == m.network && o.workers == m.workers)
            .collect();
        same.sort_by(|a, b| a.pushes_per_s.total_cmp(&b.pushes_per_s));
        out.push(same[same.len() / 2].clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_never_stopping_a3c_experiments() {
        for network in Network::value_variants() {
            let spec = crate::hyper::Example::parse(&network.spec(8, 3));
            // No target return: the example loader refuses it, which is the point here.
            let err = format!("{:#}", spec.unwrap_err());
            assert!(err.contains("target_return"), "{err}");
            let table: toml::Table = toml::from_str(&network.spec(8, 3)).unwrap();
            let a3c: pathnet_rl::A3cConfig = table["a3c"].clone().try_into().unwrap();
            a3c.validate().unwrap();
            assert_eq!(a3c.stop.target_return, None);
            assert_eq!(a3c.stop.max_env_steps, 1_000_000_000_000_000_000);
            assert_eq!(table["max_workers"].as_integer(), Some(8));
        }
    }

    #[test]
    fn the_floats_in_the_labels_match_the_networks() {
        for (network, floats) in [
            (Network::CartpoleMlp128, 1_027),
            (Network::CartpoleMlp256x256, 67_843),
            (Network::BreakoutConv, 132_308),
        ] {
            let table: toml::Table = toml::from_str(&network.spec(1, 0)).unwrap();
            let a3c: pathnet_rl::A3cConfig = table["a3c"].clone().try_into().unwrap();
            let policy = pathnet_rl::initial_policy(&a3c, 0).unwrap();
            let n: usize = policy.params().iter().map(|p| p.len()).sum();
            assert_eq!(n, floats, "{network:?}");
        }
    }
}
