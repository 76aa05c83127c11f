//! Pendulum-v1, a line-by-line port of `gymnasium/envs/classic_control/pendulum.py` (1.4).
//!
//! The torque is a float32 action, and numpy keeps `float32 * python float` in float32, so
//! the torque terms are computed in f32 exactly as Gymnasium does before joining the f64
//! state arithmetic.

use super::control::{Control, Physics};
use super::square::{py_square, py_square_f32};
use crate::env::{Options, number_option};
use crate::error::EnvError;
use crate::seeding::uniform;
use crate::space::{Action, BoxSpace, Space};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// The inverted-pendulum swing-up task (never terminates; the time limit ends it).
pub type Pendulum = Control<PendulumPhysics>;

#[derive(Debug, Clone, Default)]
pub struct PendulumPhysics;

/// Gymnasium's `angle_normalize`: `((x + pi) % (2 pi)) - pi`, with Python's floored modulo.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Physics for PendulumPhysics {
    const ID: &'static str = "Pendulum-v1";
    type State = [f64; 2];
    type Obs = [f32; 3];
    /// The torque, clipped.
    type Input = f32;

    fn observation_space() -> BoxSpace {
        let high = [1.0, 1.0, MAX_SPEED as f32];
        BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec())
    }

    fn action_space() -> Space {
        Space::Box(BoxSpace::new(vec![-MAX_TORQUE], vec![MAX_TORQUE]))
    }

    /// `x_init` and `y_init`: the start angle and velocity are drawn from `[-x, x]` and
    /// `[-y, y]` (Gymnasium enforces symmetric limits: low = -high).
    fn reset_bounds(options: Option<&Options>) -> Result<(f64, f64), EnvError> {
        Ok((
            number_option(options, "x_init", PI)?,
            number_option(options, "y_init", 1.0)?,
        ))
    }

    fn start(&mut self, (x, y): (f64, f64), rng: &mut ChaCha8Rng) -> [f64; 2] {
        [uniform(rng, -x, x), uniform(rng, -y, y)]
    }

    #[inline]
    fn input(action: &Action) -> Option<f32> {
        // Out-of-range torques are clipped, as in Gymnasium; NaN has no clipped value.
        match action {
            Action::Continuous(v) if v.len() == 1 && !v[0].is_nan() => {
                Some(v[0].clamp(-MAX_TORQUE, MAX_TORQUE))
            }
            _ => None,
        }
    }

    #[inline]
    fn step(&mut self, [th, thdot]: [f64; 2], u: f32) -> ([f64; 2], f64, bool) {
        let costs = py_square(angle_normalize(th))
            + 0.1 * py_square(thdot)
            + f64::from(0.001f32 * py_square_f32(u));
        let torque_term = f64::from((3.0 / (M * L * L)) as f32 * u);
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + torque_term) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        ([newth, newthdot], -costs, false)
    }

    #[inline]
    fn observe(&[theta, thetadot]: &[f64; 2]) -> [f32; 3] {
        [theta.cos() as f32, theta.sin() as f32, thetadot as f32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_uses_floored_modulo() {
        assert!((angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert_eq!(angle_normalize(0.0), 0.0);
    }
}
