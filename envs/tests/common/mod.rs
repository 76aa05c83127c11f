//! What the tests that compare against Python Gymnasium share.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::{Path, PathBuf};

/// Where `scripts/setup-python-ref` puts the reference interpreter.
pub(crate) fn default_reference_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-ref/bin/python")
}

/// The reference interpreter (Gymnasium 1.4.0): `PATHNET_REF_PYTHON`, which must exist, else
/// [`default_reference_python`] where it exists.
pub(crate) fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PATHNET_REF_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "PATHNET_REF_PYTHON={} does not exist; run scripts/setup-python-ref or fix the variable",
            p.display()
        );
        return Some(p);
    }
    Some(default_reference_python()).filter(|p| p.exists())
}
