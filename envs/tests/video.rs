//! The moving-objects video generator: determinism, motion, bouncing, labels, and the real
//! Fashion-MNIST images under it.

use pathnet_envs::data::{Dataset, Split};
use pathnet_envs::video::{Directions, Edges, MovingObjects, MovingObjectsConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Four 4x4 images, one per class: a filled square of brightness `(class + 1) / 4`.
fn squares() -> Arc<Dataset> {
    let mut images = Vec::new();
    for class in 0..4u8 {
        images.extend(std::iter::repeat_n(f32::from(class + 1) / 4.0, 16));
    }
    Arc::new(Dataset::new(images, vec![0, 1, 2, 3], 4, 4, 4).unwrap())
}

fn config(edges: Edges, directions: Directions) -> MovingObjectsConfig {
    MovingObjectsConfig {
        canvas: 12,
        objects: 1,
        frames: 40,
        speed: 1.0,
        edges,
        directions,
        downscale: 1,
        shared_class: true,
        shared_direction: true,
    }
}

/// Top-left corner of the lit pixels (one object, no wrap across the border in view).
fn bright_pixels(frame: &[f32]) -> Vec<usize> {
    frame
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn clips_are_seeded_and_independent_of_order() {
    let videos =
        MovingObjects::new(squares(), config(Edges::Bounce, Directions::Eight), 7).unwrap();
    let again = MovingObjects::new(squares(), config(Edges::Bounce, Directions::Eight), 7).unwrap();
    let a: Vec<Vec<f32>> = (0..5).map(|t| videos.clip(3).frame(t)).collect();
    let _ = again.clip(0);
    let b: Vec<Vec<f32>> = (0..5).map(|t| again.clip(3).frame(t)).collect();
    assert_eq!(a, b);
    let other = MovingObjects::new(squares(), config(Edges::Bounce, Directions::Eight), 8).unwrap();
    let differs = (0..20).any(|i| videos.clip(i).frame(0) != other.clip(i).frame(0));
    assert!(differs);
}

#[test]
fn objects_move_by_speed_in_the_labelled_direction() {
    for directions in [Directions::Four, Directions::Eight] {
        let mut cfg = config(Edges::Wrap, directions);
        cfg.speed = 2.0;
        let videos = MovingObjects::new(squares(), cfg, 1).unwrap();
        let mut seen = vec![false; directions.count()];
        for i in 0..200 {
            let clip = videos.clip(i);
            let labels = clip.labels();
            seen[usize::from(labels.direction)] = true;
            let (ux, uy) = directions.unit(usize::from(labels.direction));
            for t in 0..6 {
                let (x0, y0) = clip.position(0, t);
                let (x1, y1) = clip.position(0, t + 1);
                let step = |a: usize, b: usize| {
                    let d = (b as i64 - a as i64).rem_euclid(12);
                    if d > 6 { d - 12 } else { d }
                };
                let (dx, dy) = (step(x0, x1) as f32, step(y0, y1) as f32);
                // Rounding to whole pixels moves a diagonal step by at most one pixel.
                assert!((dx - 2.0 * ux).abs() <= 1.0 && (dy - 2.0 * uy).abs() <= 1.0);
            }
            // The class label is the brightness of the drawn square.
            let frame = clip.frame(0);
            let max = frame.iter().cloned().fold(0.0, f32::max);
            assert_eq!(max, f32::from(labels.class + 1) / 4.0);
            assert_eq!(bright_pixels(&frame).len(), 16, "the whole object is drawn");
        }
        assert!(seen.iter().all(|&s| s), "every direction drawn: {seen:?}");
    }
}

#[test]
fn bouncing_objects_stay_inside_and_reflect() {
    let videos = MovingObjects::new(squares(), config(Edges::Bounce, Directions::Four), 2).unwrap();
    for i in 0..50 {
        let clip = videos.clip(i);
        let mut xs = Vec::new();
        for t in 0..clip.len() {
            let (x, y) = clip.position(0, t);
            assert!(x <= 8 && y <= 8, "object inside the 12x12 canvas");
            assert_eq!(bright_pixels(&clip.frame(t)).len(), 16);
            xs.push(x as i64 + y as i64);
        }
        // 40 frames at 1 px/frame over a range of 8: the motion reverses.
        let steps: Vec<i64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().any(|&s| s > 0) && steps.iter().any(|&s| s < 0));
    }
}

#[test]
fn multiple_objects_and_the_moving_mnist_layout() {
    let mut cfg = MovingObjectsConfig::moving_mnist();
    cfg.downscale = 1;
    let data = squares();
    // 4x4 images on the 64x64 canvas.
    let videos = MovingObjects::new(data, cfg, 3).unwrap();
    let clip = videos.clip(0);
    assert_eq!(
        (clip.len(), clip.frame_len(), clip.objects().len()),
        (20, 64 * 64, 2)
    );
    let distinct = (0..50).any(|i| {
        let objects = videos.clip(i).objects();
        objects[0] != objects[1]
    });
    assert!(
        distinct,
        "objects of the preset have their own class and direction"
    );
    let mut batch = Vec::new();
    let clips = [videos.clip(1), videos.clip(2)];
    pathnet_envs::video::render_batch(&clips, 5, &mut batch);
    assert_eq!(&batch[..4096], clips[0].frame(5).as_slice());
    assert_eq!(&batch[4096..], clips[1].frame(5).as_slice());
}

#[test]
fn bad_settings_are_errors_naming_the_field() {
    type Breaks = fn(&mut MovingObjectsConfig);
    let cases: [(&str, Breaks); 6] = [
        ("canvas", |c| c.canvas = 3),
        ("objects", |c| c.objects = 0),
        ("frames", |c| c.frames = 0),
        ("speed", |c| c.speed = f32::NAN),
        ("speed", |c| c.speed = -1.0),
        ("downscale", |c| c.downscale = 3),
    ];
    for (field, break_it) in cases {
        let mut cfg = config(Edges::Wrap, Directions::Four);
        break_it(&mut cfg);
        let err = MovingObjects::new(squares(), cfg, 0).unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.to_string().contains(field));
    }
}

#[test]
fn fashion_mnist_clips_show_the_labelled_item() {
    let dir = std::env::var_os("PATHNET_FASHION_MNIST").map_or_else(
        || PathBuf::from("/usr/share/datasets/fashion-mnist"),
        PathBuf::from,
    );
    let data = Arc::new(
        Dataset::load(&dir, Split::Test)
            .unwrap_or_else(|e| panic!("Fashion-MNIST (install dataset-fashion-mnist): {e}")),
    );
    let mut cfg = MovingObjectsConfig::small();
    cfg.frames = 128;
    let videos = MovingObjects::new(data.clone(), cfg, 5).unwrap();
    assert_eq!(
        (
            videos.object_size(),
            videos.direction_classes(),
            videos.class_count()
        ),
        (14, 4, 10)
    );
    let mut classes = [0usize; 10];
    for i in 0..300 {
        let clip = videos.clip(i);
        classes[usize::from(clip.labels().class)] += 1;
        let last = clip.frame(127);
        assert!(last.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(
            last.iter().any(|&v| v > 0.2),
            "the item is visible at frame 127"
        );
    }
    assert!(
        classes.iter().all(|&c| c > 10),
        "classes drawn evenly: {classes:?}"
    );
}
