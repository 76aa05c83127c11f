//! Environments with the Gymnasium API and semantics, and supervised datasets.
//!
//! Nothing here knows about networking or neural networks.

pub mod data;
