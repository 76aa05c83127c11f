//! Observation and action spaces (Gymnasium's `Discrete` and `Box`) and the action type.

use crate::error::EnvError;
use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use std::fmt;

/// One action for one environment: a discrete index or a continuous vector. Continuous
/// actions are `f32` because Gymnasium's continuous action spaces are `float32` Boxes and the
/// dynamics do part of their arithmetic in that precision (see `Pendulum`).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A member of a [`Discrete`] space (it may be negative when the space's `start` is).
    Discrete(i64),
    /// A point of a [`BoxSpace`], one value per dimension.
    Continuous(Vec<f32>),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Discrete(a) => write!(f, "{a}"),
            Action::Continuous(v) => write!(f, "{v:?}"),
        }
    }
}

/// `{start, start + 1, ..., start + n - 1}`, like `gymnasium.spaces.Discrete(n, start)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discrete {
    /// How many values; 0 makes an empty space that cannot be sampled.
    pub n: u64,
    /// The smallest value.
    pub start: i64,
}

impl Discrete {
    /// `Discrete(n)`: the values `0..n`.
    pub fn new(n: u64) -> Self {
        Discrete { n, start: 0 }
    }

    /// Whether `x` is one of the `n` values.
    pub fn contains(&self, x: i64) -> bool {
        // i128 so that `start + n` cannot overflow for extreme spaces.
        let (x, start) = (i128::from(x), i128::from(self.start));
        x >= start && x < start + i128::from(self.n)
    }

    /// Uniform over the `n` values.
    ///
    /// # Panics
    /// If `n == 0` (an empty space has nothing to sample; Gymnasium rejects it at construction).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> i64 {
        assert!(self.n > 0, "cannot sample from Discrete(0)");
        self.start + rng.random_range(0..self.n) as i64
    }
}

impl fmt::Display for Discrete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == 0 {
            write!(f, "Discrete({})", self.n)
        } else {
            write!(f, "Discrete({}, start={})", self.n, self.start)
        }
    }
}

/// A float32 box `low <= x <= high` per component, like `gymnasium.spaces.Box`. Bounds may
/// be infinite.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxSpace {
    low: Vec<f32>,
    high: Vec<f32>,
}

impl BoxSpace {
    /// # Panics
    /// If the bounds are invalid (see [`BoxSpace::try_new`]): the spaces here are built from
    /// constants in code, so that is a programming error.
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        Self::try_new(low, high).unwrap_or_else(|e| panic!("{e}"))
    }

    /// For bounds that come from elsewhere: they must have the same length and satisfy
    /// `low <= high` componentwise (NaN bounds fail that).
    pub fn try_new(low: Vec<f32>, high: Vec<f32>) -> Result<Self, EnvError> {
        if low.len() != high.len() {
            return Err(EnvError::InvalidSpace(format!(
                "Box bounds differ in length: low has {}, high has {}",
                low.len(),
                high.len()
            )));
        }
        if let Some(i) =
            (0..low.len()).find(|&i| low[i].partial_cmp(&high[i]).is_none_or(|o| o.is_gt()))
        {
            return Err(EnvError::InvalidSpace(format!(
                "Box bound {i}: low {} is not <= high {}",
                low[i], high[i]
            )));
        }
        Ok(BoxSpace { low, high })
    }

    /// The lower bound of each dimension (possibly `-inf`).
    pub fn low(&self) -> &[f32] {
        &self.low
    }

    /// The upper bound of each dimension (possibly `inf`); never below `low`.
    pub fn high(&self) -> &[f32] {
        &self.high
    }

    /// The number of dimensions, Gymnasium's `shape[0]`.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// Right length and every component within its bounds (NaN is never contained).
    pub fn contains(&self, x: &[f32]) -> bool {
        x.len() == self.dim()
            && x.iter()
                .zip(self.low.iter().zip(&self.high))
                .all(|(v, (l, h))| *v >= *l && *v <= *h)
    }

    /// Gymnasium's sampling rule: uniform where both bounds are finite, a shifted exponential
    /// where one is, a standard normal where neither is; drawn in f64, then cast to f32.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f32> {
        self.low
            .iter()
            .zip(&self.high)
            .map(|(&l, &h)| {
                let (l, h) = (f64::from(l), f64::from(h));
                let x: f64 = match (l.is_finite(), h.is_finite()) {
                    (true, true) => l + (h - l) * rng.random::<f64>(),
                    (true, false) => l + Distribution::<f64>::sample(&Exp1, rng),
                    (false, true) => h - Distribution::<f64>::sample(&Exp1, rng),
                    (false, false) => Distribution::<f64>::sample(&StandardNormal, rng),
                };
                x as f32
            })
            .collect()
    }
}

impl fmt::Display for BoxSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like Gymnasium's repr: a scalar when all bounds agree, the full vector otherwise.
        fn bound(v: &[f32]) -> String {
            match v.first() {
                Some(first) if v.iter().all(|x| x == first) => format!("{first:?}"),
                _ => format!("{v:?}"),
            }
        }
        write!(
            f,
            "Box({}, {}, ({},), float32)",
            bound(&self.low),
            bound(&self.high),
            self.dim()
        )
    }
}

/// The spaces the environments here use.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// Finitely many integer actions.
    Discrete(Discrete),
    /// Real vectors within per-dimension bounds.
    Box(BoxSpace),
}

impl Space {
    /// Whether `action` is a member: the right variant, length and bounds.
    pub fn contains(&self, action: &Action) -> bool {
        match (self, action) {
            (Space::Discrete(d), Action::Discrete(a)) => d.contains(*a),
            (Space::Box(b), Action::Continuous(v)) => b.contains(v),
            _ => false,
        }
    }

    /// A random member, with Gymnasium's per-space distribution.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Action {
        match self {
            Space::Discrete(d) => Action::Discrete(d.sample(rng)),
            Space::Box(b) => Action::Continuous(b.sample(rng)),
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete(d) => d.fmt(f),
            Space::Box(b) => b.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn discrete_contains_respects_start() {
        let d = Discrete { n: 3, start: -1 };
        assert!(d.contains(-1) && d.contains(1));
        assert!(!d.contains(-2) && !d.contains(2));
        assert!(!Discrete::new(0).contains(0));
    }

    #[test]
    fn box_samples_are_members_for_every_bound_kind() {
        let inf = f32::INFINITY;
        let b = BoxSpace::new(vec![-1.0, 0.0, -inf, -inf], vec![1.0, inf, 5.0, inf]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..1000 {
            let s = b.sample(&mut rng);
            assert!(b.contains(&s), "{s:?} not in {b}");
        }
        assert!(!b.contains(&[0.0, 0.0, 0.0]));
        assert!(!b.contains(&[f32::NAN, 0.0, 0.0, 0.0]));
        assert!(!b.contains(&[1.5, 0.0, 0.0, 0.0]));
    }

    #[test]
    fn space_rejects_the_wrong_action_kind() {
        let s = Space::Discrete(Discrete::new(2));
        assert!(s.contains(&Action::Discrete(1)));
        assert!(!s.contains(&Action::Continuous(vec![1.0])));
        let b = Space::Box(BoxSpace::new(vec![-2.0], vec![2.0]));
        assert!(!b.contains(&Action::Discrete(0)));
        assert_eq!(b.to_string(), "Box(-2.0, 2.0, (1,), float32)");
    }
}
