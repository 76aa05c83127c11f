//! Drawing clips and rendering their frames.

use super::config::{Edges, MovingObjectsConfig, VideoConfigError};
use crate::data::Dataset;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// A seeded source of moving-objects clips over a dataset's images.
#[derive(Debug, Clone)]
pub struct MovingObjects {
    data: Arc<Dataset>,
    config: MovingObjectsConfig,
    seed: u64,
    /// Image indices of each class present.
    by_class: Vec<Vec<usize>>,
}

/// The two labels of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClipLabels {
    /// The first object's class (with `shared_class`, every object's).
    pub class: u8,
    /// The first object's initial direction, an index into
    /// [`Directions`](super::Directions) (with `shared_direction`, every object's).
    pub direction: u8,
}

#[derive(Debug, Clone)]
struct Object {
    /// `size x size` pixels in `[0, 1]`.
    image: Vec<f32>,
    class: u8,
    direction: u8,
    x0: f32,
    y0: f32,
    vx: f32,
    vy: f32,
}

/// One clip: its objects and their straight-line trajectories. Frames are rendered on demand.
#[derive(Debug, Clone)]
pub struct Clip {
    config: MovingObjectsConfig,
    size: usize,
    objects: Vec<Object>,
}

impl MovingObjects {
    /// Clips drawn from `data`'s images, laid out by `config`, all derived from `seed`.
    ///
    /// # Errors
    /// A config field out of range for these images (e.g. objects larger than the canvas),
    /// or images that are not square.
    pub fn new(
        data: Arc<Dataset>,
        config: MovingObjectsConfig,
        seed: u64,
    ) -> Result<Self, VideoConfigError> {
        config.validate(data.rows(), data.cols())?;
        if data.rows() != data.cols() {
            return Err(VideoConfigError {
                field: "dataset",
                value: format!("{}x{} images", data.rows(), data.cols()),
                expected: "square images".into(),
            });
        }
        let mut by_class = vec![Vec::new(); data.num_classes()];
        for (i, &label) in data.labels().iter().enumerate() {
            by_class[usize::from(label)].push(i);
        }
        by_class.retain(|c| !c.is_empty());
        Ok(MovingObjects {
            data,
            config,
            seed,
            by_class,
        })
    }

    /// The layout every clip follows.
    pub fn config(&self) -> &MovingObjectsConfig {
        &self.config
    }

    /// Side of a rendered object in pixels.
    pub fn object_size(&self) -> usize {
        self.data.rows() / self.config.downscale
    }

    /// Classes of the direction label.
    pub fn direction_classes(&self) -> usize {
        self.config.directions.count()
    }

    /// Classes of the class label (the dataset's).
    pub fn class_count(&self) -> usize {
        self.data.num_classes()
    }

    /// Clip `index`: the same for the same seed and config, independent of other clips.
    pub fn clip(&self, index: u64) -> Clip {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        let c = &self.config;
        let size = self.object_size();
        let shared_class = rng.random_range(0..self.by_class.len());
        let shared_direction = rng.random_range(0..c.directions.count());
        let range = (c.canvas - size) as f32;
        let objects = (0..c.objects)
            .map(|_| {
                let class = if c.shared_class {
                    shared_class
                } else {
                    rng.random_range(0..self.by_class.len())
                };
                let pool = &self.by_class[class];
                let image_index = pool[rng.random_range(0..pool.len())];
                let direction = if c.shared_direction {
                    shared_direction
                } else {
                    rng.random_range(0..c.directions.count())
                };
                let (ux, uy) = c.directions.unit(direction);
                let (x0, y0) = match c.edges {
                    Edges::Bounce => (rng.random_range(0.0..=range), rng.random_range(0.0..=range)),
                    Edges::Wrap => {
                        let side = c.canvas as f32;
                        (rng.random_range(0.0..side), rng.random_range(0.0..side))
                    }
                };
                Object {
                    image: downscale(self.data.image(image_index), self.data.rows(), c.downscale),
                    class: self.data.labels()[image_index],
                    direction: direction as u8,
                    x0,
                    y0,
                    vx: c.speed * ux,
                    vy: c.speed * uy,
                }
            })
            .collect();
        Clip {
            config: *c,
            size,
            objects,
        }
    }
}

/// Average-pools a square image by `factor`.
fn downscale(image: &[f32], side: usize, factor: usize) -> Vec<f32> {
    if factor == 1 {
        return image.to_vec();
    }
    let out = side / factor;
    let norm = 1.0 / (factor * factor) as f32;
    let mut pooled = vec![0.0; out * out];
    for (r, row) in image.chunks(side).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            pooled[(r / factor) * out + c / factor] += v * norm;
        }
    }
    pooled
}

/// Reflects a free coordinate into `[0, range]`, as an object bouncing between two walls.
fn fold(x: f32, range: f32) -> f32 {
    if range <= 0.0 {
        return 0.0;
    }
    let q = x.rem_euclid(2.0 * range);
    if q <= range { q } else { 2.0 * range - q }
}

impl Clip {
    /// Frames in the clip.
    pub fn len(&self) -> usize {
        self.config.frames
    }

    /// Whether the clip has no frames.
    pub fn is_empty(&self) -> bool {
        self.config.frames == 0
    }

    /// The clip's class and direction labels, taken from its first object.
    pub fn labels(&self) -> ClipLabels {
        ClipLabels {
            class: self.objects[0].class,
            direction: self.objects[0].direction,
        }
    }

    /// Every object's `(class, direction)`.
    pub fn objects(&self) -> Vec<(u8, u8)> {
        self.objects
            .iter()
            .map(|o| (o.class, o.direction))
            .collect()
    }

    /// Pixels per frame: `canvas * canvas`.
    pub fn frame_len(&self) -> usize {
        self.config.canvas * self.config.canvas
    }

    /// Top-left corner of object `i` at frame `t`, in whole pixels (wrapped into the canvas
    /// on a torus).
    pub fn position(&self, i: usize, t: usize) -> (usize, usize) {
        let o = &self.objects[i];
        let (x, y) = (o.x0 + o.vx * t as f32, o.y0 + o.vy * t as f32);
        let side = self.config.canvas;
        match self.config.edges {
            Edges::Bounce => {
                let range = (side - self.size) as f32;
                (
                    fold(x, range).round() as usize,
                    fold(y, range).round() as usize,
                )
            }
            Edges::Wrap => {
                let wrap = |v: f32| (v.round() as i64).rem_euclid(side as i64) as usize;
                (wrap(x), wrap(y))
            }
        }
    }

    /// Writes frame `t` (row-major `canvas x canvas`, values in `[0, 1]`) into `out`;
    /// overlapping objects combine by maximum.
    ///
    /// # Panics
    /// If `out` is not [`Self::frame_len`] long.
    pub fn render(&self, t: usize, out: &mut [f32]) {
        let side = self.config.canvas;
        assert_eq!(out.len(), side * side, "frame buffer size");
        out.fill(0.0);
        for (i, o) in self.objects.iter().enumerate() {
            let (x, y) = self.position(i, t);
            for (r, row) in o.image.chunks(self.size).enumerate() {
                let py = (y + r) % side;
                for (c, &v) in row.iter().enumerate() {
                    let p = &mut out[py * side + (x + c) % side];
                    *p = p.max(v);
                }
            }
        }
    }

    /// Frame `t` as a new buffer; [`Self::render`] without the allocation reuse.
    pub fn frame(&self, t: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.frame_len()];
        self.render(t, &mut out);
        out
    }
}

/// Frame `t` of several clips of one config, back to back: `[clips, canvas, canvas]`.
pub fn render_batch(clips: &[Clip], t: usize, out: &mut Vec<f32>) {
    let len = clips.first().map_or(0, Clip::frame_len);
    out.resize(clips.len() * len, 0.0);
    for (clip, chunk) in clips.iter().zip(out.chunks_mut(len.max(1))) {
        clip.render(t, chunk);
    }
}
