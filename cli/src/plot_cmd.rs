//! `pathnet plot`: plot-ready JSON (curves, bars with intervals, PathNet's module grid) to an
//! SVG file. The formats are those of `pathnet_plot` (docs/plot.md).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct PlotArgs {
    /// The figure as JSON: a `"type"` of `curves`, `bars` or `grid` (or an object with
    /// `series`, `bars` or `paths`).
    #[arg(value_name = "JSON")]
    pub input: PathBuf,
    /// The SVG file to write; defaults to the input with the extension `.svg`.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub(crate) fn run(args: PlotArgs) -> anyhow::Result<()> {
    let json = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let svg = pathnet_plot::json_to_svg(&json)
        .with_context(|| format!("plotting {}", args.input.display()))?;
    let out = args.out.unwrap_or_else(|| args.input.with_extension("svg"));
    std::fs::write(&out, svg).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
