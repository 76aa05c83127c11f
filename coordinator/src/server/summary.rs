//! What a run on a coordinator reports when it ends: its experiment's summary, the lease
//! counters and the parameter traffic.

use crate::lease::LeaseCounters;
use crate::run::Summary;
use serde::Serialize;

/// What a run on a coordinator did: its experiment's summary, what the leases saw and the
/// parameter bytes that crossed the wire.
#[derive(Debug, Serialize)]
pub struct CoordinatorSummary {
    /// The experiment's summary, its fields at the top level of the JSON.
    #[serde(flatten)]
    pub run: Summary,
    /// Lease totals over every run of the coordinator.
    pub leases: LeaseCounters,
    /// Tensor bytes to and from agents.
    pub parameter_bytes: ParameterBytes,
    /// Which run of the coordinator this is: 1 for the first on its state directory, one
    /// more each time it resumed from there (a random number without a state directory).
    pub incarnation: u64,
}

/// Parameter tensor bytes sent to agents (pulls, and answers to gradient pushes) and
/// received from them (deltas and gradients), since the coordinator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParameterBytes {
    /// Bytes sent to agents.
    pub pulled: u64,
    /// Bytes received from agents.
    pub pushed: u64,
}
