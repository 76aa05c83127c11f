//! The agent: leases work from a coordinator and executes it with the model and
//! environment crates.
//!
//! The networked runtime lands with the coordinator/agent work; until then the
//! single-process run in `pathnet-coordinator` trains pathways in-process.
