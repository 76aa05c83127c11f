//! Two-class tasks carved out of a multi-class dataset, as in PathNet (Fernando et al. 2017):
//! keep two classes, relabel them 0 and 1, and optionally corrupt the images with
//! salt-and-pepper noise so that the task is hard enough to separate good paths from bad.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::error::DataError;

/// Salt-and-pepper noise: a fixed fraction of each image's pixels, chosen uniformly without
/// replacement, is set to 0 or 1 with equal probability.
///
/// An exact count per image (rather than an independent coin per pixel) makes every image
/// equally corrupted, so task difficulty does not vary from example to example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaltAndPepper {
    fraction: f32,
}

impl SaltAndPepper {
    /// Noise that replaces `fraction` (in `[0, 1]`) of the pixels of each image.
    pub fn new(fraction: f32) -> Result<Self, DataError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(DataError::invalid(
                "noise",
                fraction,
                "must be a fraction of pixels in [0, 1]",
            ));
        }
        Ok(Self { fraction })
    }

    /// The fraction of pixels replaced.
    pub fn fraction(self) -> f32 {
        self.fraction
    }

    /// Number of pixels replaced in an image of `pixels` pixels.
    pub fn pixels_replaced(self, pixels: usize) -> usize {
        (f64::from(self.fraction) * pixels as f64).round() as usize
    }

    /// Corrupts one image in place.
    pub fn apply(self, image: &mut [f32], rng: &mut impl Rng) {
        let amount = self.pixels_replaced(image.len());
        for i in index::sample(rng, image.len(), amount) {
            image[i] = if rng.random_bool(0.5) { 1.0 } else { 0.0 };
        }
    }

    /// Corrupts every image of `images`, each `pixels` long, in order from one generator.
    pub fn apply_all(self, images: &mut [f32], pixels: usize, rng: &mut impl Rng) {
        if self.fraction == 0.0 {
            return;
        }
        for image in images.chunks_exact_mut(pixels) {
            self.apply(image, rng);
        }
    }
}

/// How to build a [`BinaryTask`]; also the shape of its entry in an experiment config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinaryTaskSpec {
    /// Original class relabelled 0.
    pub negative: u8,
    /// Original class relabelled 1.
    pub positive: u8,
    /// Fraction of each image's pixels replaced by salt-and-pepper noise; 0 for none.
    #[serde(default)]
    pub noise: f32,
    /// Seed of the noise; irrelevant without noise.
    #[serde(default)]
    pub seed: u64,
}

impl BinaryTaskSpec {
    /// `negative` vs `positive`, without noise.
    pub fn new(negative: u8, positive: u8) -> Self {
        Self {
            negative,
            positive,
            noise: 0.0,
            seed: 0,
        }
    }

    /// Sets the salt-and-pepper fraction.
    pub fn with_noise(mut self, fraction: f32) -> Self {
        self.noise = fraction;
        self
    }

    /// Sets the noise seed. Give the train and test splits different seeds so they do not share
    /// a noise pattern.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Extracts the two classes from `data`, keeping dataset order, and applies the noise.
    pub fn build(&self, data: &Dataset) -> Result<BinaryTask, DataError> {
        let noise = SaltAndPepper::new(self.noise)?;
        for (field, class) in [("negative", self.negative), ("positive", self.positive)] {
            if usize::from(class) >= data.num_classes() {
                return Err(DataError::invalid(
                    field,
                    class,
                    "class not in the dataset's label range",
                ));
            }
        }
        if self.negative == self.positive {
            return Err(DataError::invalid(
                "positive",
                self.positive,
                "must differ from `negative`",
            ));
        }
        let counts = data.class_counts();
        for (field, class) in [("negative", self.negative), ("positive", self.positive)] {
            if counts[usize::from(class)] == 0 {
                return Err(DataError::invalid(
                    field,
                    class,
                    "class has no examples in this dataset",
                ));
            }
        }

        let n = counts[usize::from(self.negative)] + counts[usize::from(self.positive)];
        let mut images = Vec::with_capacity(n * data.features());
        let mut labels = Vec::with_capacity(n);
        for (i, &l) in data.labels().iter().enumerate() {
            let relabelled = if l == self.negative {
                0
            } else if l == self.positive {
                1
            } else {
                continue;
            };
            images.extend_from_slice(data.image(i));
            labels.push(relabelled);
        }
        noise.apply_all(
            &mut images,
            data.features(),
            &mut ChaCha8Rng::seed_from_u64(self.seed),
        );
        let data = Dataset::new(images, labels, data.rows(), data.cols(), 2)?;
        Ok(BinaryTask {
            spec: self.clone(),
            data,
        })
    }
}

/// A two-class dataset with labels 0 (`spec().negative`) and 1 (`spec().positive`).
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryTask {
    spec: BinaryTaskSpec,
    data: Dataset,
}

impl BinaryTask {
    /// What the task was built from.
    pub fn spec(&self) -> &BinaryTaskSpec {
        &self.spec
    }

    /// The relabelled, possibly noisy examples.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The original class behind a task label (0 or 1).
    pub fn original_class(&self, label: u8) -> Option<u8> {
        match label {
            0 => Some(self.spec.negative),
            1 => Some(self.spec.positive),
            _ => None,
        }
    }

    /// Takes the dataset out.
    pub fn into_dataset(self) -> Dataset {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(n: usize, pixels: usize, labels: Vec<u8>, classes: usize) -> Dataset {
        Dataset::new(vec![0.5; n * pixels], labels, 1, pixels, classes).unwrap()
    }

    #[test]
    fn noise_replaces_the_exact_fraction_with_both_colours() {
        let noise = SaltAndPepper::new(0.25).unwrap();
        let mut image = vec![0.5; 400];
        noise.apply(&mut image, &mut ChaCha8Rng::seed_from_u64(3));
        let ones = image.iter().filter(|&&p| p == 1.0).count();
        let zeros = image.iter().filter(|&&p| p == 0.0).count();
        assert_eq!(ones + zeros, 100);
        // Seeded, so these bounds are a fixed outcome, not a flaky probability.
        assert!((30..=70).contains(&ones), "{ones} salt pixels out of 100");
    }

    #[test]
    fn rejects_bad_noise_and_classes() {
        let data = grey(3, 4, vec![0, 1, 2], 3);
        let cases = [
            (BinaryTaskSpec::new(0, 1).with_noise(1.5), "`noise`: 1.5"),
            (
                BinaryTaskSpec::new(0, 1).with_noise(f32::NAN),
                "`noise`: NaN",
            ),
            (BinaryTaskSpec::new(0, 3), "`positive`: 3"),
            (BinaryTaskSpec::new(2, 2), "must differ"),
        ];
        for (spec, expected) in cases {
            let err = spec.build(&data).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn rejects_a_class_without_examples() {
        let data = grey(2, 4, vec![0, 0], 3);
        let err = BinaryTaskSpec::new(0, 2).build(&data).unwrap_err();
        assert!(err.to_string().contains("no examples"), "{err}");
    }

    #[test]
    fn keeps_order_and_relabels() {
        let images = vec![0.0, 0.1, 0.2, 0.3, 0.4];
        let data = Dataset::new(images, vec![4, 1, 3, 4, 3], 1, 1, 5).unwrap();
        let task = BinaryTaskSpec::new(3, 4).build(&data).unwrap();
        assert_eq!(task.data().labels(), &[1, 0, 1, 0]);
        assert_eq!(task.data().images(), &[0.0, 0.2, 0.3, 0.4]);
        assert_eq!(task.original_class(1), Some(4));
    }
}
