//! `pathnet export`: a coordinator's saved state (--state-dir) as one safetensors file of
//! weights with metadata, for users' own tools (numpy, PyTorch).

use anyhow::Context;
use clap::Args;
use pathnet_coordinator::checkpoint;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The coordinator's state directory (its --state-dir); only read, so a running
    /// coordinator may keep writing it.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// The safetensors file to write (replaced atomically if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Every module of the super-network and every task head, not only the best pathway's
    /// modules and the heads (PathNet; an A3C state's export is always its whole policy).
    #[arg(long)]
    pub all_modules: bool,
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<()> {
    let exported = checkpoint::export(&args.state_dir, args.all_modules)?;
    checkpoint::write_export(&args.out, &exported)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let meta = &exported.metadata;
    let what = match (meta.get("task_name"), meta.get("pathway"), meta.get("env")) {
        (Some(task), Some(pathway), _) => format!(
            "task `{task}` ({}), best pathway {pathway}",
            meta.get("arm").map_or("", String::as_str)
        ),
        (_, _, Some(env)) => format!(
            "{env} policy after {} updates",
            meta.get("updates_applied").map_or("", String::as_str)
        ),
        _ => "no best pathway yet".to_owned(),
    };
    println!(
        "exported {} tensors ({} values) of experiment `{}` to {}: {what}",
        exported.tensors,
        exported.values,
        meta.get("experiment").map_or("", String::as_str),
        args.out.display()
    );
    Ok(())
}
