//! An in-memory labelled image dataset and its loading from an MNIST-family directory.

use std::path::{Path, PathBuf};

use super::batch::Batch;
use super::error::DataError;
use super::idx::read_idx;

/// Number of classes in MNIST and Fashion-MNIST.
pub const MNIST_NUM_CLASSES: usize = 10;

/// Which of the two standard splits to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 60 000-example training split (`train-*`).
    Train,
    /// The 10 000-example test split (`t10k-*`).
    Test,
}

impl Split {
    /// Standard image file name, without `.gz`.
    pub fn images_file(self) -> &'static str {
        match self {
            Split::Train => "train-images-idx3-ubyte",
            Split::Test => "t10k-images-idx3-ubyte",
        }
    }

    /// Standard label file name, without `.gz`.
    pub fn labels_file(self) -> &'static str {
        match self {
            Split::Train => "train-labels-idx1-ubyte",
            Split::Test => "t10k-labels-idx1-ubyte",
        }
    }
}

/// Labelled greyscale images: pixels as `f32` in `[0, 1]`, one row-major image after another.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    images: Vec<f32>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    num_classes: usize,
}

impl Dataset {
    /// Loads one split of an MNIST-family dataset (10 classes) from `dir`.
    ///
    /// Each file is looked up under its standard name, raw first, then with `.gz`.
    pub fn load(dir: &Path, split: Split) -> Result<Self, DataError> {
        Self::load_with_classes(dir, split, MNIST_NUM_CLASSES)
    }

    /// Like [`Self::load`] for datasets in the same layout with another number of classes
    /// (e.g. the EMNIST splits).
    pub fn load_with_classes(
        dir: &Path,
        split: Split,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let images = find_file(dir, split.images_file())?;
        let labels = find_file(dir, split.labels_file())?;
        Self::from_idx_files(&images, &labels, num_classes)
    }

    /// Loads an image file (3 dimensions: count, rows, columns) and a label file (1 dimension)
    /// given by path, checking that they agree and that every label is below `num_classes`.
    pub fn from_idx_files(
        images_path: &Path,
        labels_path: &Path,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let images = read_idx(images_path, 3)?;
        let (count, rows, cols) = (images.dims()[0], images.dims()[1], images.dims()[2]);
        if count == 0 || rows == 0 || cols == 0 {
            return Err(DataError::format(
                images_path,
                format!("empty image set: dimensions [{count}, {rows}, {cols}]"),
            ));
        }
        let labels = read_idx(labels_path, 1)?;
        if labels.dims()[0] != count {
            return Err(DataError::CountMismatch {
                images_path: images_path.to_path_buf(),
                images: count,
                labels_path: labels_path.to_path_buf(),
                labels: labels.dims()[0],
            });
        }
        let labels = labels.into_data();
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= num_classes)
        {
            return Err(DataError::LabelOutOfRange {
                path: labels_path.to_path_buf(),
                index,
                label,
                num_classes,
            });
        }
        let images = images
            .data()
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        Ok(Self {
            images,
            labels,
            rows,
            cols,
            num_classes,
        })
    }

    /// Builds a dataset from memory, e.g. a synthetic one or a transformed copy.
    ///
    /// `images` holds `labels.len()` images of `rows * cols` pixels, each in `[0, 1]`, and every
    /// label is below `num_classes`.
    pub fn new(
        images: Vec<f32>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let invalid = |msg: String| Err(DataError::InvalidDataset(msg));
        if labels.is_empty() || rows == 0 || cols == 0 {
            return invalid(format!(
                "needs at least one image of at least one pixel, got {} images of {rows}x{cols}",
                labels.len()
            ));
        }
        if Some(images.len()) != labels.len().checked_mul(rows * cols) {
            return invalid(format!(
                "{} pixel values do not make {} images of {rows}x{cols}",
                images.len(),
                labels.len()
            ));
        }
        if let Some(i) = images.iter().position(|p| !(0.0..=1.0).contains(p)) {
            return invalid(format!(
                "pixel value {} at index {i} is outside [0, 1]",
                images[i]
            ));
        }
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return invalid(format!(
                "label {} at index {i} is out of range (expected 0..{num_classes})",
                labels[i]
            ));
        }
        Ok(Self {
            images,
            labels,
            rows,
            cols,
            num_classes,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false for a constructed dataset; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height in pixels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width in pixels.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image, i.e. the input width of a model fed flattened images.
    pub fn features(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of classes labels are drawn from.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// All pixels, `len() x features()` row-major.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// All labels, one per image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `i`.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.features();
        &self.images[i * n..(i + 1) * n]
    }

    /// How many examples each class has, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// Copies the examples at `indices`, in that order, into one batch.
    ///
    /// # Panics
    /// If an index is `>= len()`, like slice indexing: indices come from code, not from input.
    pub fn gather(&self, indices: &[usize]) -> Batch {
        let mut inputs = Vec::with_capacity(indices.len() * self.features());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            inputs.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Batch::new(inputs, labels, self.features())
    }

    /// Consecutive batches in dataset order, the last one possibly smaller; for evaluation,
    /// where every example must be seen once and order does not matter.
    pub fn batches(
        &self,
        batch_size: usize,
    ) -> Result<impl Iterator<Item = Batch> + '_, DataError> {
        if batch_size == 0 {
            return Err(DataError::invalid("batch_size", 0, "must be positive"));
        }
        let n = self.features();
        Ok(self
            .labels
            .chunks(batch_size)
            .zip(self.images.chunks(batch_size * n))
            .map(move |(labels, inputs)| Batch::new(inputs.to_vec(), labels.to_vec(), n)))
    }
}

fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_mismatched_pixel_count() {
        let err = Dataset::new(vec![0.0; 5], vec![0, 1], 2, 1, 2).unwrap_err();
        assert!(err.to_string().contains("5 pixel values"), "{err}");
    }

    #[test]
    fn new_rejects_nan_and_out_of_range_pixels() {
        for bad in [f32::NAN, -0.1, 1.5] {
            let err = Dataset::new(vec![0.0, bad], vec![0, 1], 1, 1, 2).unwrap_err();
            assert!(err.to_string().contains("index 1"), "{err}");
        }
    }

    #[test]
    fn batches_cover_every_example_once() {
        let images: Vec<f32> = (0..10).map(|i| i as f32 / 10.0).collect();
        let labels = vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
        let data = Dataset::new(images.clone(), labels.clone(), 1, 1, 2).unwrap();
        let batches: Vec<Batch> = data.batches(4).unwrap().collect();
        assert_eq!(
            batches.iter().map(Batch::len).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let all: Vec<f32> = batches.iter().flat_map(|b| b.inputs().to_vec()).collect();
        assert_eq!(all, images);
        assert!(data.batches(0).is_err());
    }
}
