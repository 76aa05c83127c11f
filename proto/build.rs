//! Generates the `pathnet.v1` messages and gRPC stubs.
//!
//! The `.proto` files are compiled by `protox`, a protobuf compiler written in Rust,
//! so building needs neither `protoc` nor a network download. The resulting
//! descriptor set is also written out so the crate can embed it (for reflection
//! and for checking the contract in tests).

use std::{env, error::Error, fs, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";
const FILES: [&str; 6] = [
    "pathnet/v1/common.proto",
    "pathnet/v1/work.proto",
    "pathnet/v1/agent.proto",
    "pathnet/v1/parameters.proto",
    "pathnet/v1/experiment.proto",
    "pathnet/v1/link.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let fds = protox::compile(FILES.map(|f| format!("{PROTO_ROOT}/{f}")), [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("pathnet_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        // Ordered maps keep encoded messages byte-identical across runs.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
