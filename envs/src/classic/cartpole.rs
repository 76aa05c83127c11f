//! CartPole-v1, a line-by-line port of `gymnasium/envs/classic_control/cartpole.py` (1.4).

use super::control::{Control, Physics};
use crate::env::{Options, reset_bounds};
use crate::error::EnvError;
use crate::seeding::uniform;
use crate::space::{Action, BoxSpace, Discrete, Space};
use rand_chacha::ChaCha8Rng;

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
// Computed, not written as literals, because Gymnasium computes them and the last bit of
// these constants feeds every step.
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
const LENGTH: f64 = 0.5; // half the pole's length
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// The cart-pole balancing task with Gymnasium's default settings (euler integration,
/// reward 1 per step including the terminating one).
pub type CartPole = Control<CartPolePhysics>;

#[derive(Debug, Clone, Default)]
pub struct CartPolePhysics {
    // Gymnasium's `steps_beyond_terminated`: stepping on after termination pays 0, not 1.
    steps_beyond_terminated: Option<u64>,
}

impl Physics for CartPolePhysics {
    const ID: &'static str = "CartPole-v1";
    type State = [f64; 4];
    type Obs = [f32; 4];
    /// Push right.
    type Input = bool;

    fn observation_space() -> BoxSpace {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::INFINITY,
        ];
        BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec())
    }

    fn action_space() -> Space {
        Space::Discrete(Discrete::new(2))
    }

    fn reset_bounds(options: Option<&Options>) -> Result<(f64, f64), EnvError> {
        reset_bounds(options, -0.05, 0.05)
    }

    fn start(&mut self, (low, high): (f64, f64), rng: &mut ChaCha8Rng) -> [f64; 4] {
        self.steps_beyond_terminated = None;
        [(); 4].map(|()| uniform(rng, low, high))
    }

    #[inline]
    fn input(action: &Action) -> Option<bool> {
        match action {
            Action::Discrete(1) => Some(true),
            Action::Discrete(0) => Some(false),
            _ => None,
        }
    }

    #[inline]
    fn step(
        &mut self,
        [x, x_dot, theta, theta_dot]: [f64; 4],
        push_right: bool,
    ) -> ([f64; 4], f64, bool) {
        let force = if push_right { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;

        let x = x + TAU * x_dot;
        let x_dot = x_dot + TAU * xacc;
        let theta = theta + TAU * theta_dot;
        let theta_dot = theta_dot + TAU * thetaacc;

        // Not `!range.contains(..)`: a NaN state must not count as terminated, as in Python.
        #[allow(clippy::manual_range_contains)]
        let terminated = x < -X_THRESHOLD
            || x > X_THRESHOLD
            || theta < -THETA_THRESHOLD_RADIANS
            || theta > THETA_THRESHOLD_RADIANS;
        let reward = if !terminated {
            1.0
        } else if let Some(n) = self.steps_beyond_terminated.as_mut() {
            *n += 1;
            0.0
        } else {
            self.steps_beyond_terminated = Some(0);
            1.0
        };
        ([x, x_dot, theta, theta_dot], reward, terminated)
    }

    #[inline]
    fn observe(s: &[f64; 4]) -> [f32; 4] {
        s.map(|v| v as f32)
    }
}
