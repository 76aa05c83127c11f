//! `pathnet`: the one user-facing binary. A thin layer of argument parsing over the
//! library crates; every subcommand's logic lives in a library.

mod agent_cmd;
mod calibrate_cmd;
mod coordinator_cmd;
mod env_cmd;
mod experiment_cmd;
mod export_cmd;
mod operator;
mod plot_cmd;
mod progress;
mod run_cmd;
mod security_args;
mod signals;
mod watch_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Layers return fresh multi-hundred-kilobyte tensors every step; glibc's malloc gives such
// blocks back to the OS and page-faults them in again, which cost up to 40% of a conv-net
// step (docs/decisions/0001-tensor-layer.md). mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pathnet",
    version,
    about = "Evolution and reinforcement learning across a cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment from a TOML spec on this machine, in-process or with local agents.
    Run(run_cmd::RunArgs),
    /// Serve experiments to agents over gRPC.
    Coordinator(coordinator_cmd::CoordinatorArgs),
    /// Execute work for a coordinator.
    Agent(agent_cmd::AgentArgs),
    /// Start, stop and inspect experiments on a running coordinator (needs the admin token).
    #[command(subcommand)]
    Experiment(experiment_cmd::ExperimentCommand),
    /// Follow a coordinator's fitness events as they happen.
    Watch(watch_cmd::WatchArgs),
    /// Write a coordinator's saved weights (--state-dir) as safetensors for other tools.
    Export(export_cmd::ExportArgs),
    /// Draw plot-ready JSON (fitness curves, bars with intervals, PathNet's module grid) as SVG.
    Plot(plot_cmd::PlotArgs),
    /// Time a Sideways spec's network blocks on this machine and print the stage cut that
    /// balances them (`blocks = [...]`).
    Calibrate(calibrate_cmd::CalibrateArgs),
    /// Inspect and drive environments.
    #[command(subcommand)]
    Env(env_cmd::EnvCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(args),
        Command::Coordinator(args) => coordinator_cmd::run(args),
        Command::Agent(args) => agent_cmd::run(args),
        Command::Experiment(command) => experiment_cmd::run(command),
        Command::Watch(args) => watch_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Plot(args) => plot_cmd::run(args),
        Command::Calibrate(args) => calibrate_cmd::run(args),
        Command::Env(command) => env_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // 2 is the conventional "bad usage or input" status, which is what reaches
            // here: everything the user can get wrong is reported as an error.
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr, filtered by `PATHNET_LOG` (e.g. `info`, `pathnet_agent=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATHNET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
