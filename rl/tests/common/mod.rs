//! Helpers several of this crate's test binaries share.

#![allow(dead_code)] // Each test binary uses its own subset.

/// The arithmetic mean.
pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}
