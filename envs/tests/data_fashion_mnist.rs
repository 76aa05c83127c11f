//! Loads the real Fashion-MNIST and checks the loader, the binary-task builder and the sampler
//! against facts about the published files.
//!
//! The data comes from Debian's `dataset-fashion-mnist` package; `PATHNET_FASHION_MNIST` points
//! elsewhere. A missing dataset fails the tests rather than skipping them, so a green run always
//! means the real files were checked.

use std::path::PathBuf;
use std::sync::OnceLock;

use pathnet_envs::data::{BatchSampler, BinaryTaskSpec, Dataset, Family, Split};

const DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn dataset_dir() -> PathBuf {
    let dir = std::env::var_os("PATHNET_FASHION_MNIST")
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    assert!(
        dir.is_dir(),
        "Fashion-MNIST not found in {}: run `apt-get install dataset-fashion-mnist`, or set \
         PATHNET_FASHION_MNIST to a directory holding the IDX files",
        dir.display()
    );
    dir
}

/// Decoding 47 MB of gzip is the slow part, so each split is loaded once per test binary.
fn split(which: Split) -> &'static Dataset {
    static TRAIN: OnceLock<Dataset> = OnceLock::new();
    static TEST: OnceLock<Dataset> = OnceLock::new();
    let cell = match which {
        Split::Train => &TRAIN,
        Split::Test => &TEST,
    };
    cell.get_or_init(|| {
        Dataset::load(&dataset_dir(), which)
            .unwrap_or_else(|e| panic!("loading Fashion-MNIST {which:?}: {e}"))
    })
}

#[test]
fn splits_have_the_published_sizes() {
    for (which, count, per_class) in [(Split::Train, 60_000, 6_000), (Split::Test, 10_000, 1_000)] {
        let data = split(which);
        assert_eq!(data.len(), count, "{which:?}");
        assert_eq!((data.rows(), data.cols(), data.features()), (28, 28, 784));
        assert_eq!(data.images().len(), count * 784);
        assert_eq!(data.num_classes(), 10);
        assert_eq!(data.class_counts(), vec![per_class; 10], "{which:?}");
    }
}

#[test]
fn pixels_match_the_published_bytes() {
    let train = split(Split::Train);
    assert!(train.images().iter().all(|p| (0.0..=1.0).contains(p)));
    // Sum of the raw bytes of train-images-idx3-ubyte, computed once from the file; recovering
    // it exactly proves the u8 -> f32 scaling loses nothing.
    let byte_sum: u64 = train
        .images()
        .iter()
        .map(|&p| (p * 255.0).round() as u64)
        .sum();
    assert_eq!(byte_sum, 3_431_114_169);
    let mean = byte_sum as f64 / train.images().len() as f64 / 255.0;
    assert!((mean - 0.2860).abs() < 5e-5, "mean pixel {mean}");
    assert_eq!(&train.labels()[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(
        Family::FashionMnist.class_name(train.labels()[0]),
        Some("Ankle boot")
    );
}

#[test]
fn binary_task_keeps_both_classes_whole() {
    let spec = BinaryTaskSpec::new(3, 7);
    let train = spec.build(split(Split::Train)).unwrap();
    assert_eq!(train.data().len(), 12_000);
    assert_eq!(train.data().class_counts(), [6_000, 6_000]);
    let test = spec.build(split(Split::Test)).unwrap();
    assert_eq!(test.data().class_counts(), [1_000, 1_000]);

    // Without noise the pixels are the originals: the first Dress (label 3) is example 3.
    let original = split(Split::Train);
    let first = train.data().labels().iter().position(|&l| l == 0).unwrap();
    let first_dress = original.labels().iter().position(|&l| l == 3).unwrap();
    assert_eq!(train.data().image(first), original.image(first_dress));
    assert_eq!(
        Family::FashionMnist.describe_pair(spec.negative, spec.positive),
        "Dress (3) vs Sneaker (7)"
    );
}

#[test]
fn noise_is_determined_by_the_seed() {
    let data = split(Split::Test);
    let build = |seed| {
        BinaryTaskSpec::new(3, 7)
            .with_noise(0.5)
            .with_seed(seed)
            .build(data)
            .unwrap()
            .into_dataset()
    };
    let a = build(11);
    assert_eq!(a, build(11));
    assert_ne!(a.images(), build(12).images());

    let clean = BinaryTaskSpec::new(3, 7)
        .build(data)
        .unwrap()
        .into_dataset();
    assert_ne!(a.images(), clean.images());
    for i in [0, 1_000, 1_999] {
        let saturated = a.image(i).iter().filter(|&&p| p == 0.0 || p == 1.0).count();
        assert!(
            saturated >= 392,
            "image {i}: only {saturated} pixels are 0 or 1"
        );
        let kept = a
            .image(i)
            .iter()
            .zip(clean.image(i))
            .filter(|(n, c)| n == c)
            .count();
        assert!(
            kept >= 392,
            "image {i}: noise touched more than half the pixels"
        );
    }
}

#[test]
fn batches_are_determined_by_the_seed() {
    let task = BinaryTaskSpec::new(3, 7).build(split(Split::Test)).unwrap();
    let data = task.data();
    let draw = |seed| {
        let mut sampler = BatchSampler::for_dataset(data, 16, seed).unwrap();
        (0..5).map(|_| sampler.next_batch(data)).collect::<Vec<_>>()
    };
    let a = draw(5);
    assert_eq!(a, draw(5));
    assert_ne!(a, draw(6));
    for batch in &a {
        assert_eq!(batch.shape(), (16, 784));
        assert_eq!(batch.inputs().len(), 16 * 784);
        assert!(batch.labels().iter().all(|&l| l < 2));
    }
    // Both classes show up: a sampler stuck on one class would pass the checks above.
    let ones: usize = a
        .iter()
        .flat_map(|b| b.labels())
        .map(|&l| usize::from(l))
        .sum();
    assert!(ones > 0 && ones < 80, "{ones} positives in 80 examples");
}
