//! The coordinator: experiments, populations, selection and the super-network's parameters.
//!
//! - [`spec`]: experiment specs in TOML, validated;
//! - [`checkpoint`]: the coordinator's state on disk (a JSON manifest and safetensors);
//! - [`a3c`]: an A3C experiment with the coordinator as parameter server;
//! - [`ga`]: a neuroevolution experiment (safe mutations, seed-list genomes);
//! - [`kind`]: the kinds of experiment, by name;
//! - [`run`]: what every kind's run is to the runtime ([`run::Run`]): state, counters,
//!   progress events, summary;
//! - [`pathnet`]: PathNet's engine, with no networking: parameters, tournaments, transfer
//!   between tasks;
//! - [`pathnet_a3c`]: PathNet-A3C with transfer, in this process;
//! - [`sm_pathnet`]: safe-mutation GAs over PathNet pathways, with transfer;
//! - [`lease`]: which agent holds which work until when;
//! - [`local`]: the engine with one in-process executor (`pathnet run`);
//! - [`server`]: the engine and leases behind the gRPC services;
//! - [`metrics`]: the Prometheus endpoint over the server's counters;
//! - [`dashboard`]: the live web dashboard served beside it.

pub mod a3c;
pub mod checkpoint;
pub mod dashboard;
pub mod ga;
pub mod kind;
pub mod lease;
pub mod local;
pub mod metrics;
pub mod pathnet;
pub mod pathnet_a3c;
pub mod placement;
pub mod run;
pub mod server;
pub mod sideways;
pub mod sm_pathnet;
pub mod spec;
mod tls;
