//! Constructors for the two module kinds of the paper: small ReLU MLP layers and ReLU
//! convolutions, each with one linear head per task.

use super::{PathNet, PathNetDims, PathNetError};
use crate::{Conv2d, Conv2dSpec, Flatten, Float, Init, Layer, Linear, Relu, Sequential};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Shared modules that are each `Linear(.., units) + ReLU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearModules {
    /// Features of one input example.
    pub inputs: usize,
    /// Units of every module (the paper's supervised experiments use 20).
    pub units: usize,
}

/// Builds a linear super-network; `head_classes[t]` is the number of classes of task `t`.
/// All parameters are drawn from `seed`: modules (He-uniform, for the ReLU) in id order,
/// then heads (Xavier-uniform).
pub fn linear<F: Float>(
    dims: PathNetDims,
    modules: LinearModules,
    head_classes: &[usize],
    seed: u64,
) -> Result<PathNet<F>, PathNetError> {
    dims.validate()?;
    positive("inputs", modules.inputs)?;
    positive("units", modules.units)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = (0..dims.layers)
        .map(|layer| {
            let inputs = if layer == 0 {
                modules.inputs
            } else {
                modules.units
            };
            (0..dims.modules)
                .map(|_| {
                    let module = Sequential::new(Vec::new())
                        .with(Linear::new(
                            inputs,
                            modules.units,
                            Init::HeUniform,
                            &mut rng,
                        ))
                        .with(Relu);
                    Box::new(module) as Box<dyn Layer<F>>
                })
                .collect()
        })
        .collect();
    let heads = heads(modules.units, head_classes, &mut rng)?;
    PathNet::from_parts(dims, vec![modules.inputs], layers, heads)
}

fn heads<F: Float>(
    features: usize,
    head_classes: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Box<dyn Layer<F>>>, PathNetError> {
    head_classes
        .iter()
        .map(|&classes| {
            positive("head_classes[..]", classes)?;
            Ok(
                Box::new(Linear::new(features, classes, Init::XavierUniform, rng))
                    as Box<dyn Layer<F>>,
            )
        })
        .collect()
}

fn positive(field: &'static str, value: usize) -> Result<(), PathNetError> {
    if value == 0 {
        return Err(PathNetError::Dims {
            field,
            value,
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

/// Shared modules that are each `Conv2d + ReLU` over NCHW images; every layer uses the same
/// kernel, stride and padding, and `filters` output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvModules {
    /// Channels of one input image (the first layer's input channels).
    pub channels: usize,
    /// Height of one input image, in pixels.
    pub height: usize,
    /// Width of one input image, in pixels.
    pub width: usize,
    /// Output channels of every module.
    pub filters: usize,
    /// Side of the square kernel.
    pub kernel: usize,
    /// Step of the kernel on both axes.
    pub stride: usize,
    /// Zeros added on every side of a layer's input.
    pub padding: usize,
}

/// Builds a convolutional super-network whose heads are `Flatten + Linear`. Seeded as
/// [`linear`]. Fails if the feature maps shrink below the kernel before the last layer.
pub fn conv<F: Float>(
    dims: PathNetDims,
    modules: ConvModules,
    head_classes: &[usize],
    seed: u64,
) -> Result<PathNet<F>, PathNetError> {
    dims.validate()?;
    for (field, value) in [
        ("channels", modules.channels),
        ("height", modules.height),
        ("width", modules.width),
        ("filters", modules.filters),
        ("kernel", modules.kernel),
        ("stride", modules.stride),
    ] {
        positive(field, value)?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut height, mut width) = (modules.height, modules.width);
    let mut layers = Vec::with_capacity(dims.layers);
    for layer in 0..dims.layers {
        let spec = Conv2dSpec {
            in_channels: if layer == 0 {
                modules.channels
            } else {
                modules.filters
            },
            out_channels: modules.filters,
            kernel: modules.kernel,
            stride: modules.stride,
            padding: modules.padding,
        };
        (height, width) = spec.output_size(height, width).ok_or_else(|| {
            PathNetError::Build(format!(
                "layer {layer}: a {height}x{width} feature map is smaller than the \
                 {k}x{k} kernel (padding {p})",
                k = modules.kernel,
                p = modules.padding
            ))
        })?;
        let row = (0..dims.modules)
            .map(|_| {
                let module = Sequential::new(Vec::new())
                    .with(Conv2d::new(spec, Init::HeUniform, &mut rng))
                    .with(Relu);
                Box::new(module) as Box<dyn Layer<F>>
            })
            .collect();
        layers.push(row);
    }
    let features = modules.filters * height * width;
    let heads = head_classes
        .iter()
        .map(|&classes| {
            positive("head_classes[..]", classes)?;
            let head = Sequential::new(Vec::new()).with(Flatten).with(Linear::new(
                features,
                classes,
                Init::XavierUniform,
                &mut rng,
            ));
            Ok(Box::new(head) as Box<dyn Layer<F>>)
        })
        .collect::<Result<_, PathNetError>>()?;
    let input_shape = vec![modules.channels, modules.height, modules.width];
    PathNet::from_parts(dims, input_shape, layers, heads)
}
