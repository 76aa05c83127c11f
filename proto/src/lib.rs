//! The wire contract between coordinator and agents.
//!
//! Only message and service definitions live here: no algorithm, no state. The gRPC
//! services of package `pathnet.v1` are generated at build time from the `.proto`
//! files under `proto/` with a pure-Rust protobuf compiler, so building needs no
//! `protoc`. Beside the generated code, [`chunk`] splits tensors into wire-sized
//! pieces and reassembles them with full validation, and [`security`] carries bearer tokens
//! and client TLS settings.

pub mod chunk;
pub mod quote;
pub mod security;

/// The protobuf package every message belongs to; bumped on breaking wire changes.
pub const PACKAGE: &str = "pathnet.v1";

/// Encoded `google.protobuf.FileDescriptorSet` of the whole contract, comments
/// included, for gRPC reflection and contract checks.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pathnet_descriptor.bin"));

/// Generated messages, enums, clients and servers of `pathnet.v1`.
pub mod v1 {
    tonic::include_proto!("pathnet.v1");
}

pub use chunk::{
    ChunkError, Tensor, TensorAssembler, assemble_tensors, chunk_data_bytes, split_tensor,
};
pub use quote::{quote, quote_lines, quote_list};
