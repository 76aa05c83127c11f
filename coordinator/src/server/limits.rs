//! The limits and timings of a coordinator, told to every agent at join.

use crate::spec::DEFAULT_MAX_EXPERIMENT_BYTES;
use std::time::Duration;

/// Limits and timings of a coordinator, told to every agent at join.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest gRPC message either side accepts; tensors travel in chunks below it.
    pub max_message_bytes: usize,
    /// How long a lease lasts without a heartbeat.
    pub lease_duration: Duration,
    /// How often agents are asked to heartbeat their leases; shorter than the lease.
    pub heartbeat_interval: Duration,
    /// Ceiling on an experiment's estimated memory; a spec over it is refused at start.
    pub max_experiment_bytes: u64,
}

impl Limits {
    /// Data bytes per tensor chunk: leaves room for the enclosing message's other fields.
    pub fn chunk_bytes(&self) -> usize {
        pathnet_proto::chunk_data_bytes(self.max_message_bytes)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 << 20,
            lease_duration: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            max_experiment_bytes: DEFAULT_MAX_EXPERIMENT_BYTES,
        }
    }
}
