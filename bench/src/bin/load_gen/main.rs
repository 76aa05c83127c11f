//! Load generator: how many results one coordinator takes from N simulated agents.
//!
//! Each measurement starts a fresh `pathnet coordinator` process (so its CPU time and
//! memory come from its own `/proc` entries) serving a PathNet experiment on a tiny dataset,
//! then N simulated agents in this process ([`agent`]), each a real gRPC client with its
//! own lease stream, answering every lease at once with a synthetic result. Agents share
//! HTTP/2 connections, `--agents-per-connection` to each. Several coordinator binaries
//! (`--pathnet LABEL=PATH`) are measured alternately, round by round, for before/after
//! comparisons on a noisy machine. Prints a markdown table; `--json OUT` writes every
//! measurement.

mod agent;
mod measure;
mod spec;

use anyhow::{Context, Result, bail};
use clap::Parser;
use measure::{Coordinator, LoadMeasure, Setup};
use pathnet_bench::machine::Machine;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Results per second, CPU and memory of one coordinator under N simulated agents")]
struct Args {
    /// Simulated agent counts, each measured on a fresh coordinator.
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 256, 1024])]
    agents: Vec<usize>,
    /// Coordinator binaries as `LABEL=PATH` (or a path, labelled by itself), measured
    /// alternately.
    #[arg(long, value_delimiter = ',', default_value = "target/release/pathnet")]
    pathnet: Vec<String>,
    /// Rounds over every binary and agent count; the order of binaries alternates.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Simulated agents multiplexed over one HTTP/2 connection.
    #[arg(long, default_value_t = 16)]
    agents_per_connection: usize,
    /// Threads of this process's async runtime, which runs every simulated agent.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// PathNet population: at least the largest agent count, since at most as many
    /// evaluations as members are out at once.
    #[arg(long, default_value_t = 2048)]
    population: usize,
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Pull modules only to learn their shapes, never for a newer version (real agents
    /// pull every module a lease names at a newer version than they hold).
    #[arg(long)]
    skip_pulls: bool,
    /// Simulated work per lease, in milliseconds, before its report (0: report at once).
    /// With it, results/s is bounded by agents / work time, and the coordinator's CPU per
    /// result and report latency show at a set load rather than at saturation.
    #[arg(long, default_value_t = 0.0)]
    work_ms: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the spec, the dataset and the coordinator's logs go.
    #[arg(long, default_value = "target/load_gen")]
    work_dir: PathBuf,
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    #[arg(long)]
    json: Option<PathBuf>,
}

fn coordinators(specs: &[String]) -> Result<Vec<Coordinator>> {
    specs
        .iter()
        .map(|s| {
            let (label, path) = s.split_once('=').unwrap_or((s.as_str(), s.as_str()));
            let pathnet = PathBuf::from(path);
            if !pathnet.is_file() {
                bail!(
                    "`--pathnet` {s}: {} is not a file (build it with `cargo build --release -p pathnet`)",
                    pathnet.display()
                );
            }
            Ok(Coordinator {
                label: label.to_owned(),
                pathnet,
            })
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let coordinators = coordinators(&args.pathnet)?;
    if let Some(&most) = args.agents.iter().max()
        && most > args.population
    {
        bail!(
            "`--population` {} is below `--agents` {most}: some agents would wait for work",
            args.population
        );
    }
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let work_dir = args.work_dir.canonicalize()?;
    let data_dir = work_dir.join("data");
    spec::write_dataset(&data_dir)?;
    let setup = Setup {
        work_dir,
        data_dir,
        agents_per_connection: args.agents_per_connection,
        population: args.population,
        warmup: Duration::from_secs_f64(args.warmup_s),
        duration: Duration::from_secs_f64(args.duration_s),
        seed: args.seed,
        skip_pulls: args.skip_pulls,
        work: Duration::try_from_secs_f64(args.work_ms / 1e3).with_context(|| {
            format!(
                "`--work-ms` = {}: not a duration in milliseconds",
                args.work_ms
            )
        })?,
        timeout: Duration::from_secs(args.timeout_s),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let before = Machine::now();
    let mut measures = Vec::new();
    for round in 0..args.rounds {
        for &agents in &args.agents {
            let mut order: Vec<&Coordinator> = coordinators.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for coordinator in order {
                let m = measure::measure(&setup, &runtime, coordinator, agents, round)?;
                eprintln!(
                    "round {round}: {} x {agents} agents: {:.0} results/s, {:.0} us CPU/result, \
                     p99 {:.2} ms, load {:.1}",
                    m.coordinator,
                    m.results_per_s,
                    m.coordinator_cpu_us_per_result,
                    m.report_latency.p99_us / 1e3,
                    m.load_average[0]
                );
                measures.push(m);
            }
        }
    }
    let after = Machine::now();
    print(&measures);
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "benchmark": "load_gen",
            "machine_before": before,
            "machine_after": after,
            "agents_per_connection": args.agents_per_connection,
            "client_threads": args.client_threads,
            "population": args.population,
            "skip_pulls": args.skip_pulls,
            "work_ms": args.work_ms,
            "measures": measures,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print(measures: &[LoadMeasure]) {
    println!(
        "\n| coordinator | round | agents | connections | load avg | results/s | p50 ms | p99 ms \
         | coordinator us/result | coordinator cores | agents' CPU s | RSS MiB before / joined / end \
         | KiB per agent | pulls/result |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for m in measures {
        println!(
            "| {} | {} | {} | {} | {:.1}-{:.1} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.1} \
             | {:.1} / {:.1} / {:.1} | {:.1} | {:.2} |",
            m.coordinator,
            m.round,
            m.agents,
            m.connections,
            m.load_average[0],
            m.load_average[1],
            m.results_per_s,
            m.report_latency.p50_us / 1e3,
            m.report_latency.p99_us / 1e3,
            m.coordinator_cpu_us_per_result,
            m.coordinator_cores,
            m.agents_cpu_s,
            m.rss_before_mib,
            m.rss_joined_mib,
            m.rss_end_mib,
            m.rss_kib_per_agent,
            m.pulls as f64 / m.results.max(1) as f64,
        );
    }
}
