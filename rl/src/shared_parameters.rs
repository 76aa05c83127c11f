//! The seam between an A3C worker and wherever the global parameters live: in this process
//! ([`crate::ParameterServer`], Hogwild) or behind a network connection.
//!
//! Tensors are `f32` and always in the order of the policy's `params()`
//! ([`crate::ActorCritic::param_names`]), because that is what goes on the wire. Gradients are
//! clipped by the worker before they are pushed; the store applies them as they are.

use crate::error::RlError;
use ndarray::{ArrayD, ArrayViewMutD};

/// One segment's contribution.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientUpdate {
    /// The version [`SharedParameters::fetch`] returned for the parameters the gradients were
    /// computed with; the store measures staleness against it.
    pub base_version: u64,
    /// Loss gradients in `params()` order, already clipped.
    pub grads: Vec<ArrayD<f32>>,
    /// Environment steps taken for this segment.
    pub env_steps: u64,
    /// Undiscounted returns of the episodes that finished since the last push.
    pub episode_returns: Vec<f64>,
}

/// What the store did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    /// `false` when the update was dropped: too stale, or training had already stopped.
    pub applied: bool,
    /// Training is over; the worker should exit.
    pub stop: bool,
    /// The newest version after this push.
    pub version: u64,
}

/// Global parameters that many workers read and update concurrently.
pub trait SharedParameters: Send + Sync {
    /// Copies the newest parameters into `into` (tensor order and shapes of the policy's
    /// `params()`) and returns their version.
    fn fetch(&self, into: &mut [ArrayViewMutD<'_, f32>]) -> Result<u64, RlError>;

    /// Hands over one segment's gradients and counters. Steps and episode returns count even
    /// when the gradients are dropped.
    fn push(&self, update: GradientUpdate) -> Result<PushOutcome, RlError>;
}
