//! The live dashboard on the metrics address: one page (`GET /`, HTML, script and styles in
//! one file built into the binary: nothing is fetched from outside the cluster) and a
//! Server-Sent Events stream (`GET /events`) it draws from.
//!
//! The stream is fed from the progress broadcast that `pathnet watch` reads, so the page and
//! the terminal cannot disagree, plus a status sample (agents, leases, rates, the population's
//! pathways) taken under the coordinator's lock about once a second while anyone watches.
//! A page opened mid-run first gets a snapshot of the history so far; the history is kept
//! coarser as it grows (`history`), so memory stays bounded however long the run. Each
//! client has a bounded queue: one that falls behind is disconnected rather than buffered
//! without end or allowed to slow the coordinator, and its browser reconnects to a fresh
//! snapshot. The event format is in `docs/monitoring.md`.

mod history;
mod hub;
mod status;

pub use history::{Point, Series};
pub use hub::{Dashboard, DashboardConfig};
pub use status::{AgentView, ExperimentView, Status};
