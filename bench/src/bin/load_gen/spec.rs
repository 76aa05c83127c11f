//! The experiment the simulated agents work on: PathNet on a tiny two-class dataset written
//! for the benchmark, so that what the coordinator does per result (lease, tournament,
//! parameter deltas, events) is all there but the tensors are a few dozen floats.

use anyhow::{Context, Result};
use std::path::Path;

/// Side of the square images; 16 input features.
const SIDE: u32 = 4;
/// Examples per split: the coordinator loads the test split at start and only evaluates it
/// when a task ends, which never happens here.
const EXAMPLES: u32 = 64;

/// Writes IDX train and test splits of `EXAMPLES` `SIDE`x`SIDE` images with labels 0 and 1
/// into `dir`.
pub(crate) fn write_dataset(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let pixels: Vec<u8> = (0..EXAMPLES * SIDE * SIDE)
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    let labels: Vec<u8> = (0..EXAMPLES).map(|i| (i % 2) as u8).collect();
    for split in ["train", "t10k"] {
        let images = idx(3, &[EXAMPLES, SIDE, SIDE], &pixels);
        let path = dir.join(format!("{split}-images-idx3-ubyte"));
        std::fs::write(&path, images).with_context(|| format!("writing {}", path.display()))?;
        let path = dir.join(format!("{split}-labels-idx1-ubyte"));
        std::fs::write(&path, idx(1, &[EXAMPLES], &labels))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// An IDX file of unsigned bytes: magic, dimensions big-endian, payload.
fn idx(dimensions: u8, sizes: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dimensions];
    for size in sizes {
        bytes.extend_from_slice(&size.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

/// A PathNet experiment that runs until it is stopped: 2 layers of 4 modules of 2 units, at
/// most 2 active per layer, and a threshold the synthetic accuracies never reach. The
/// population (`population`) must hold every agent's evaluation in flight: at most as many
/// evaluations as members are out at once.
pub(crate) fn spec_toml(data_dir: &Path, population: usize, seed: u64) -> String {
    format!(
        "name = \"load-gen\"\nseed = {seed}\n\n\
         [data]\ndir = {dir:?}\nnoise = 0.0\n\n\
         [pathnet]\nlayers = 2\nmodules_per_layer = 4\nmax_active = 2\nmodule_units = 2\n\n\
         [evolution]\npopulation = {population}\nminibatches_per_evaluation = 1\n\
         batch_size = 16\nlearning_rate = 0.01\naccuracy_threshold = 0.999\n\
         max_generations = 10000000\n\n\
         [[tasks]]\nname = \"synthetic\"\nclasses = [0, 1]\n",
        dir = data_dir.display().to_string(),
    )
}

/// Training accuracy every synthetic result stays below, so no task ever ends.
pub(crate) const MAX_SYNTHETIC_ACCURACY: f64 = 0.9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_header_is_big_endian_dimensions_after_the_magic() {
        let bytes = idx(3, &[2, 1, 1], &[7, 8]);
        assert_eq!(
            bytes,
            [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8]
        );
    }

    #[test]
    fn the_spec_is_valid_toml_with_an_unreachable_threshold() {
        let text = spec_toml(Path::new("/data/x"), 2048, 3);
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["evolution"]["population"].as_integer(), Some(2048));
        let threshold = table["evolution"]["accuracy_threshold"].as_float().unwrap();
        assert!(threshold > MAX_SYNTHETIC_ACCURACY);
        assert_eq!(table["data"]["dir"].as_str(), Some("/data/x"));
    }
}
