//! Fixtures several of this crate's test binaries share.

#![allow(dead_code)] // Each test binary uses its own subset.

use pathnet_nn::pathnet::PathNetDims;
use pathnet_nn::pathnet::build::ConvModules;

/// A small conv super-network whose stride and padding exercise every edge case of the
/// column buffers: `L = 2`, `M = 4`, `N = 2`, 2 x 7 x 6 inputs, 3 filters of 3 x 3, stride 2,
/// padding 1.
pub(crate) fn small_conv() -> (PathNetDims, ConvModules) {
    let dims = PathNetDims::new(2, 4, 2).unwrap();
    let modules = ConvModules {
        channels: 2,
        height: 7,
        width: 6,
        filters: 3,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    (dims, modules)
}
