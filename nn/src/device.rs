//! Where a layer runs: the CPU, or a CUDA device by ordinal.
//!
//! Always compiled, so that specs can name devices and report a clear error when a CUDA device
//! is asked of a build without the `cuda` feature. The CUDA backend itself lives in
//! `crate::cuda` (feature `cuda`).

use crate::{Float, Layer};
use std::fmt;
use std::str::FromStr;

/// A compute device: `cpu` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Device {
    /// The CPU (the default), through ndarray.
    #[default]
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl Device {
    /// Whether it is a CUDA device.
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A device name that is not `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "device `{value}` is not one of `cpu`, `cuda` or `cuda:N` (N a device ordinal, e.g. `cuda:0`)"
)]
pub struct ParseDeviceError {
    /// The text given.
    pub value: String,
}

impl FromStr for Device {
    type Err = ParseDeviceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseDeviceError {
            value: text.to_string(),
        };
        match text.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            other => {
                let ordinal = other.strip_prefix("cuda:").ok_or_else(bad)?;
                // `parse` alone would take "+1"; an ordinal is digits only.
                if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                ordinal.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a layer could not be moved to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// A CUDA device was asked of a build without the `cuda` feature.
    #[error(
        "device `{device}` needs a build with the `cuda` feature (cargo build --features pathnet-nn/cuda)"
    )]
    NotBuilt {
        /// The device asked for.
        device: Device,
    },
    /// The device exists in this build but refused the layer (no device, an unsupported
    /// layer, out of memory).
    #[error("placing `{layer}` on `{device}`: {reason}")]
    Failed {
        /// The layer's name (a stage or module prefix where there is one).
        layer: String,
        /// The device asked for.
        device: Device,
        /// The backend's error.
        reason: String,
    },
}

/// Whether CUDA devices can be used by this process: `Ok(count)` with the number of devices,
/// or `Err(why not)`, a sentence for a "skipped: no CUDA device (…)" message.
pub fn cuda_devices() -> Result<usize, String> {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::device_count()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err("built without the `cuda` feature".into())
    }
}

/// A CUDA device as the driver describes it, for an agent to advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDescription {
    /// The device, `cuda:N`.
    pub device: Device,
    /// The model name, e.g. `NVIDIA H200`.
    pub name: String,
    /// Total device memory in bytes (0 when the driver does not say).
    pub memory_bytes: u64,
}

/// The CUDA devices this process can use (none without the `cuda` feature or a driver). Opens
/// no device for computing: no kernels are compiled.
pub fn cuda_device_descriptions() -> Vec<DeviceDescription> {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::describe_devices()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Vec::new()
    }
}

/// Moves a layer to `device`. On `cpu` the layer is returned as it is; on `cuda:N` it becomes
/// a `cuda::GpuNet` holding its parameters in device memory, behind the same
/// [`Layer`] interface. Only `f32` layers can go to a CUDA device.
pub fn place<F: Float>(
    layer: Box<dyn Layer<F>>,
    device: Device,
) -> Result<Box<dyn Layer<F>>, PlaceError> {
    try_place(layer, device).map_err(|(e, _)| e)
}

/// The placed layer, or the error and the layer unchanged.
pub(crate) type Placed<F> = Result<Box<dyn Layer<F>>, (PlaceError, Box<dyn Layer<F>>)>;

/// [`place`], handing the layer back unchanged when it cannot be placed.
pub(crate) fn try_place<F: Float>(layer: Box<dyn Layer<F>>, device: Device) -> Placed<F> {
    match device {
        Device::Cpu => Ok(layer),
        #[cfg(feature = "cuda")]
        Device::Cuda(ordinal) => crate::cuda::place_generic(layer, ordinal),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err((PlaceError::NotBuilt { device }, layer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_devices() {
        for (text, device) in [
            ("cpu", Device::Cpu),
            ("cuda", Device::Cuda(0)),
            ("cuda:0", Device::Cuda(0)),
            ("cuda:3", Device::Cuda(3)),
        ] {
            assert_eq!(text.parse::<Device>(), Ok(device));
        }
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        assert_eq!(Device::Cpu.to_string(), "cpu");
    }

    #[test]
    fn bad_devices_name_the_value() {
        for text in [
            "gpu", "cuda:", "cuda:x", "cuda:+1", "cuda:-1", "CPU", "cuda0", "",
        ] {
            let err = text.parse::<Device>().unwrap_err();
            assert_eq!(err.value, text);
            assert!(err.to_string().contains(&format!("`{text}`")), "{err}");
        }
    }

    #[test]
    fn devices_in_toml() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Spec {
            device: Device,
        }
        let spec: Spec = toml::from_str("device = \"cuda:1\"").unwrap();
        assert_eq!(spec.device, Device::Cuda(1));
        let err = toml::from_str::<Spec>("device = \"tpu\"").err().unwrap();
        assert!(err.to_string().contains("`tpu`"), "{err}");
        assert_eq!(
            toml::to_string(&spec).unwrap().trim(),
            "device = \"cuda:1\""
        );
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_needs_the_feature() {
        let layer: Box<dyn Layer<f32>> = Box::new(crate::Relu);
        let err = place(layer, Device::Cuda(0)).err().unwrap();
        assert_eq!(
            err,
            PlaceError::NotBuilt {
                device: Device::Cuda(0)
            }
        );
        assert!(cuda_devices().unwrap_err().contains("`cuda` feature"));
        assert!(cuda_device_descriptions().is_empty());
        let layer: Box<dyn Layer<f32>> = Box::new(crate::Relu);
        assert!(place(layer, Device::Cpu).is_ok());
    }
}
