//! `pathnet env ...`: drive an environment from the command line.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;

#[derive(Subcommand)]
pub(crate) enum EnvCommand {
    /// Set an environment's internal state, apply actions, and print one JSON object per
    /// step until the episode terminates or is truncated.
    Trace(TraceArgs),
}

#[derive(Args)]
pub(crate) struct TraceArgs {
    /// Registered environment id: CartPole-v1, Acrobot-v1, MountainCar-v0 or Pendulum-v1.
    #[arg(long)]
    env: String,
    /// The internal state, comma-separated: the numbers of Gymnasium's `env.unwrapped.state`.
    #[arg(long, allow_hyphen_values = true)]
    state: String,
    /// Comma-separated actions: integers for discrete environments, torques for Pendulum
    /// (clipped to [-2, 2] as Gymnasium does).
    #[arg(long, allow_hyphen_values = true)]
    actions: String,
}

pub(crate) fn run(command: EnvCommand) -> anyhow::Result<()> {
    match command {
        EnvCommand::Trace(args) => trace(&args),
    }
}

fn trace(args: &TraceArgs) -> anyhow::Result<()> {
    let steps = pathnet_envs::trace::trace_text(&args.env, &args.state, &args.actions)?;
    let mut out = std::io::stdout().lock();
    for step in &steps {
        let line = serde_json::to_string(step).context("serialising a step")?;
        writeln!(out, "{line}").context("writing to stdout")?;
    }
    Ok(())
}
