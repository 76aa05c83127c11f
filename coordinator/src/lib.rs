//! The coordinator: experiments, populations, selection and the super-network's parameters.
//!
//! - [`spec`]: experiment specs in TOML, validated;
//! - [`engine`]: the experiment itself, with no networking: parameters, tournaments,
//!   transfer between tasks, counters and progress events;
//! - [`workload`]: one interface over the experiment kinds for the runtime;
//! - [`lease`]: which agent holds which work until when;
//! - [`local`]: the engine with one in-process executor (`pathnet run`);
//! - [`server`]: the engine and leases behind the gRPC services;
//! - [`metrics`]: the Prometheus endpoint over the server's counters.

pub mod engine;
pub mod lease;
pub mod local;
pub mod metrics;
pub mod server;
pub mod spec;
pub mod workload;
