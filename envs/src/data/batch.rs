//! Minibatches of flattened images, and a seeded sampler that draws them epoch by epoch.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::dataset::Dataset;
use super::error::DataError;

/// A minibatch: `len() x features()` pixels row-major and one label per row.
///
/// Plain vectors plus a shape keep this crate free of any tensor library; a model wraps
/// `inputs()` in its own array type without reinterpreting anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    inputs: Vec<f32>,
    labels: Vec<u8>,
    features: usize,
}

impl Batch {
    pub(crate) fn new(inputs: Vec<f32>, labels: Vec<u8>, features: usize) -> Self {
        debug_assert_eq!(inputs.len(), labels.len() * features);
        Self {
            inputs,
            labels,
            features,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True for a batch without examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per example.
    pub fn features(&self) -> usize {
        self.features
    }

    /// `(len(), features())`, the shape of `inputs()` as a matrix.
    pub fn shape(&self) -> (usize, usize) {
        (self.len(), self.features)
    }

    /// The inputs, one example per row.
    pub fn inputs(&self) -> &[f32] {
        &self.inputs
    }

    /// The class label of each row.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Labels as one-hot rows, `len() x num_classes`, for losses that take target vectors.
    ///
    /// # Panics
    /// If a label is `>= num_classes`.
    pub fn one_hot(&self, num_classes: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.len() * num_classes];
        for (row, &l) in self.labels.iter().enumerate() {
            let l = usize::from(l);
            assert!(
                l < num_classes,
                "label {l} does not fit {num_classes} classes"
            );
            out[row * num_classes + l] = 1.0;
        }
        out
    }

    /// Takes the inputs and labels out without copying.
    pub fn into_parts(self) -> (Vec<f32>, Vec<u8>) {
        (self.inputs, self.labels)
    }
}

/// Draws minibatches without replacement within an epoch, reshuffling between epochs.
///
/// Every batch has exactly `batch_size` examples: when fewer than that remain in an epoch, they
/// are dropped and a new epoch starts, so a model never sees a ragged batch during training.
/// The same seed gives the same sequence of batches.
#[derive(Debug, Clone)]
pub struct BatchSampler {
    order: Vec<usize>,
    next: usize,
    batch_size: usize,
    epoch: u64,
    rng: ChaCha8Rng,
}

impl BatchSampler {
    /// A sampler over a dataset of `len` examples.
    pub fn new(len: usize, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        if batch_size == 0 || batch_size > len {
            return Err(DataError::invalid(
                "batch_size",
                batch_size,
                "must be between 1 and the number of examples",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..len).collect();
        order.shuffle(&mut rng);
        Ok(Self {
            order,
            next: 0,
            batch_size,
            epoch: 0,
            rng,
        })
    }

    /// A sampler sized for `data`.
    pub fn for_dataset(data: &Dataset, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        Self::new(data.len(), batch_size, seed)
    }

    /// Number of examples sampled from.
    pub fn dataset_len(&self) -> usize {
        self.order.len()
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Completed passes over the data so far.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Indices of the next batch.
    pub fn next_indices(&mut self) -> &[usize] {
        if self.next + self.batch_size > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.next = 0;
            self.epoch += 1;
        }
        let start = self.next;
        self.next += self.batch_size;
        &self.order[start..self.next]
    }

    /// The next batch drawn from `data`.
    ///
    /// # Panics
    /// If `data` does not have the length the sampler was made for, which is a wiring mistake
    /// in the caller rather than bad input.
    pub fn next_batch(&mut self, data: &Dataset) -> Batch {
        assert_eq!(
            data.len(),
            self.order.len(),
            "sampler was made for {} examples, dataset has {}",
            self.order.len(),
            data.len()
        );
        data.gather(self.next_indices())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_epoch_visits_each_index_once() {
        let mut s = BatchSampler::new(10, 3, 1).unwrap();
        let mut seen: Vec<usize> = (0..3).flat_map(|_| s.next_indices().to_vec()).collect();
        assert_eq!(s.epoch(), 0);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9);
        s.next_indices();
        assert_eq!(s.epoch(), 1, "the tenth index alone cannot fill a batch");
    }

    #[test]
    fn rejects_zero_and_oversized_batches() {
        for size in [0, 11] {
            let err = BatchSampler::new(10, size, 0).unwrap_err().to_string();
            assert!(
                err.contains("batch_size") && err.contains(&size.to_string()),
                "{err}"
            );
        }
    }

    #[test]
    fn one_hot_marks_the_label_column() {
        let b = Batch::new(vec![0.0; 2], vec![1, 0], 1);
        assert_eq!(b.one_hot(2), [0.0, 1.0, 1.0, 0.0]);
    }
}
