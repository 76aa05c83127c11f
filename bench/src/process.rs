//! Child processes with a deadline: waiting, killing on overrun, and what a failed child said.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How often a running child is checked for exit; a measured wall time is late by at most this.
const POLL: Duration = Duration::from_millis(5);

/// Waits for `child` to exit, killing it at `deadline`.
pub fn wait_until(child: &mut Child, deadline: Instant, what: &str) -> Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish in time (see --timeout-s)");
        }
        std::thread::sleep(POLL);
    }
}

/// The last lines of a log a child wrote, to explain its failure.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// An error, with the end of the child's stderr `log`, unless `what` exited successfully.
pub fn check_exit(what: &str, status: ExitStatus, log: &Path) -> Result<()> {
    if !status.success() {
        bail!("{what} failed ({status}); its stderr ends:\n{}", tail(log));
    }
    Ok(())
}
