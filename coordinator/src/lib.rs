//! The coordinator: experiments, populations, selection and the super-network's parameters.
//!
//! It composes the model crate (`pathnet-nn`) and the task crate (`pathnet-envs`); the
//! networked scheduler arrives with the gRPC runtime. Today it runs experiments in one
//! process ([`local`]), with the same spec format the distributed runtime will accept.

pub mod local;
pub mod spec;
