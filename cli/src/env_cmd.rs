//! `pathnet env ...`: drive an environment from the command line.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum EnvCommand {}

pub fn run(command: EnvCommand) -> anyhow::Result<()> {
    match command {}
}
