//! Shared timing helpers for the benchmark binaries under `src/bin`.
