//! The wire contract between coordinator and agents.
//!
//! Only message and service definitions live here: no algorithm, no state. The gRPC
//! service (`pathnet.v1`) is generated from `.proto` files with a pure-Rust protobuf
//! compiler, so building needs no `protoc` download. It is filled in by the runtime
//! work; until then this crate only fixes the package name and version.

/// The protobuf package every message belongs to; bumped on breaking wire changes.
pub const PACKAGE: &str = "pathnet.v1";
