//! `pathnet run SPEC`: run an experiment on this machine.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Experiment spec (TOML).
    pub spec: PathBuf,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("running {} is not available yet", args.spec.display())
}
