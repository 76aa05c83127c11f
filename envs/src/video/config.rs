//! What a moving-objects video looks like, checked before any clip is drawn.

/// What happens at the canvas edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edges {
    /// Objects reflect off the edges (Moving MNIST). The direction label is the initial
    /// direction; a long clip shows it reversed after each bounce.
    Bounce,
    /// The canvas is a torus: objects leave one side and come back on the other, so the
    /// direction never changes.
    Wrap,
}

/// How many motion directions there are (the direction label's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Directions {
    /// Right, down, left, up.
    Four,
    /// The four, then the diagonals: down-right, down-left, up-left, up-right.
    Eight,
}

impl Directions {
    /// The number of directions: 4 or 8.
    pub fn count(self) -> usize {
        match self {
            Directions::Four => 4,
            Directions::Eight => 8,
        }
    }

    /// Unit step `(dx, dy)` of direction `index` in image coordinates (y grows downwards).
    pub fn unit(self, index: usize) -> (f32, f32) {
        const D: f32 = std::f32::consts::FRAC_1_SQRT_2;
        const UNITS: [(f32, f32); 8] = [
            (1.0, 0.0),
            (0.0, 1.0),
            (-1.0, 0.0),
            (0.0, -1.0),
            (D, D),
            (-D, D),
            (-D, -D),
            (D, -D),
        ];
        UNITS[index % self.count()]
    }
}

/// A moving-objects video task.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovingObjectsConfig {
    /// Canvas height and width in pixels.
    pub canvas: usize,
    /// Objects per clip.
    pub objects: usize,
    /// Frames per clip.
    pub frames: usize,
    /// Pixels per frame.
    pub speed: f32,
    /// What objects do at the canvas edge.
    pub edges: Edges,
    /// Which directions objects move in (the direction label's classes).
    pub directions: Directions,
    /// Images are shrunk by this factor (average pooling): 2 turns 28x28 into 14x14.
    pub downscale: usize,
    /// All objects of a clip show the same class (so the class label is about all of them).
    pub shared_class: bool,
    /// All objects of a clip move in the same direction.
    pub shared_direction: bool,
}

impl MovingObjectsConfig {
    /// The standard Moving-MNIST layout (Srivastava et al. 2015): two objects bouncing in a
    /// 64x64 canvas for 20 frames, each with its own class and direction (here from 8
    /// directions at 3 pixels per frame).
    pub fn moving_mnist() -> Self {
        MovingObjectsConfig {
            canvas: 64,
            objects: 2,
            frames: 20,
            speed: 3.0,
            edges: Edges::Bounce,
            directions: Directions::Eight,
            downscale: 1,
            shared_class: false,
            shared_direction: false,
        }
    }

    /// A small task for quick training: one 14x14 object on a 32x32 torus, 4 directions.
    pub fn small() -> Self {
        MovingObjectsConfig {
            canvas: 32,
            objects: 1,
            frames: 16,
            speed: 2.0,
            edges: Edges::Wrap,
            directions: Directions::Four,
            downscale: 2,
            shared_class: true,
            shared_direction: true,
        }
    }

    /// Checks every field against images of `rows x cols`.
    pub fn validate(&self, rows: usize, cols: usize) -> Result<(), VideoConfigError> {
        let bad = |field: &'static str, value: String, expected: String| {
            Err(VideoConfigError {
                field,
                value,
                expected,
            })
        };
        if self.downscale == 0
            || !rows.is_multiple_of(self.downscale)
            || !cols.is_multiple_of(self.downscale)
        {
            return bad(
                "downscale",
                self.downscale.to_string(),
                format!("a positive divisor of the image size {rows}x{cols}"),
            );
        }
        let size = rows.max(cols) / self.downscale;
        if self.canvas < size || self.canvas > 4096 {
            return bad(
                "canvas",
                self.canvas.to_string(),
                format!("at least the object size {size} and at most 4096"),
            );
        }
        if self.objects == 0 || self.objects > 64 {
            return bad("objects", self.objects.to_string(), "1 to 64".into());
        }
        if self.frames == 0 || self.frames > 1 << 20 {
            return bad("frames", self.frames.to_string(), "1 to 1048576".into());
        }
        if !(self.speed.is_finite() && self.speed >= 0.0 && self.speed <= self.canvas as f32) {
            return bad(
                "speed",
                self.speed.to_string(),
                format!("a number in [0, canvas = {}]", self.canvas),
            );
        }
        Ok(())
    }
}

/// A config field with a value it cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("video setting `{field}` = {value} is invalid: expected {expected}")]
pub struct VideoConfigError {
    /// The field of [`MovingObjectsConfig`], or `dataset` when the images do not fit.
    pub field: &'static str,
    /// The value it has.
    pub value: String,
    /// What it would need to be.
    pub expected: String,
}
