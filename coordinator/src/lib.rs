//! The coordinator: experiments, populations, selection and the super-network's parameters.
//!
//! - [`spec`]: experiment specs in TOML, validated;
//! - [`a3c`]: an A3C experiment with the coordinator as parameter server;
//! - [`ga`]: a neuroevolution experiment (safe mutations, seed-list genomes);
//! - [`engine`]: the experiment itself, with no networking: parameters, tournaments,
//!   transfer between tasks, counters and progress events;
//! - [`workload`]: one interface over the experiment kinds for the runtime;
//! - [`pathnet_a3c`]: PathNet-A3C with transfer, in this process;
//! - [`lease`]: which agent holds which work until when;
//! - [`local`]: the engine with one in-process executor (`pathnet run`);
//! - [`server`]: the engine and leases behind the gRPC services;
//! - [`metrics`]: the Prometheus endpoint over the server's counters.

pub mod a3c;
pub mod engine;
pub mod ga;
pub mod lease;
pub mod local;
pub mod metrics;
pub mod pathnet_a3c;
pub mod server;
pub mod spec;
pub mod workload;
