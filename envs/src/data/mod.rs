//! Supervised datasets of the MNIST family and the two-class tasks PathNet is trained on.
//!
//! [`Dataset::load`] reads the standard IDX files (raw or gzip) from a directory,
//! [`BinaryTaskSpec::build`] turns a dataset into a noisy two-class task, and [`BatchSampler`]
//! draws seeded minibatches as plain `Vec<f32>` plus a shape, so that no tensor library is needed
//! here.

mod batch;
mod binary;
mod classes;
mod dataset;
mod error;
mod idx;

pub use batch::{Batch, BatchSampler};
pub use binary::{BinaryTask, BinaryTaskSpec, SaltAndPepper};
pub use classes::{FASHION_MNIST_CLASSES, Family, MNIST_CLASSES};
pub use dataset::{Dataset, MNIST_NUM_CLASSES, Split};
pub use error::DataError;
pub use idx::{IdxArray, MAX_PAYLOAD_BYTES, read_idx};
