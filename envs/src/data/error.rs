//! The one error type of the dataset module.
//!
//! Every variant that comes from a file names that file, so a message read in a log is enough to
//! find and fix the input without re-running under a debugger.

use std::io;
use std::path::PathBuf;

/// What went wrong while loading a dataset or building a task from it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read at the operating-system level.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file starts like gzip but does not decompress.
    #[error("{}: corrupt or truncated gzip data: {source}", path.display())]
    Gzip {
        /// The file being decompressed.
        path: PathBuf,
        /// The decompressor's error.
        source: io::Error,
    },
    /// Neither the raw nor the `.gz` form of a standard file exists.
    #[error(
        "{}: found neither `{name}` nor `{name}.gz` (is the dataset installed there?)",
        dir.display()
    )]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The standard file name without `.gz`.
        name: String,
    },
    /// The contents break the IDX format or the expectations of the file's role.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, with the bad value.
        reason: String,
    },
    /// The image file and the label file disagree on how many examples there are.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Number of images it declares.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Number of labels it declares.
        labels: usize,
    },
    /// A label file holds a class outside `0..num_classes`.
    #[error(
        "{}: label {label} at index {index} is out of range (expected 0..{num_classes})",
        path.display()
    )]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Position of the first bad label.
        index: usize,
        /// The bad label.
        label: u8,
        /// Number of classes the dataset was loaded with.
        num_classes: usize,
    },
    /// In-memory data given to a constructor is inconsistent.
    #[error("invalid dataset: {0}")]
    InvalidDataset(String),
    /// A task or sampler parameter is out of its valid range.
    #[error("invalid `{field}`: {value} ({reason})")]
    InvalidParameter {
        /// The parameter's name as it appears in the API and in configs.
        field: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
}

impl DataError {
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> Self {
        Self::InvalidParameter {
            field,
            value: value.to_string(),
            reason,
        }
    }
}
