//! `pathnet`: the one user-facing binary. A thin layer of argument parsing over the
//! library crates; every subcommand's logic lives in a library.

mod env_cmd;
mod run_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Run an experiment from a TOML spec on this machine.
    Run(run_cmd::RunArgs),
    /// Inspect and drive environments.
    #[command(subcommand)]
    Env(env_cmd::EnvCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(args),
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
