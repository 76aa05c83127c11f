//! MountainCar-v0, a line-by-line port of `gymnasium/envs/classic_control/mountain_car.py`
//! (1.4), including the velocity/position clipping and the inelastic left wall.

use super::control::{Control, Physics};
use crate::env::{Options, reset_bounds};
use crate::error::EnvError;
use crate::seeding::uniform;
use crate::space::{Action, BoxSpace, Discrete, Space};
use rand_chacha::ChaCha8Rng;

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// The under-powered car that must rock back and forth to reach the flag.
pub type MountainCar = Control<MountainCarPhysics>;

#[derive(Debug, Clone, Default)]
pub struct MountainCarPhysics;

impl Physics for MountainCarPhysics {
    const ID: &'static str = "MountainCar-v0";
    type State = [f64; 2];
    type Obs = [f32; 2];
    /// The push: -1, 0 or 1.
    type Input = f64;

    fn observation_space() -> BoxSpace {
        BoxSpace::new(
            vec![MIN_POSITION as f32, -MAX_SPEED as f32],
            vec![MAX_POSITION as f32, MAX_SPEED as f32],
        )
    }

    fn action_space() -> Space {
        Space::Discrete(Discrete::new(3))
    }

    fn reset_bounds(options: Option<&Options>) -> Result<(f64, f64), EnvError> {
        reset_bounds(options, -0.6, -0.4)
    }

    fn start(&mut self, (low, high): (f64, f64), rng: &mut ChaCha8Rng) -> [f64; 2] {
        [uniform(rng, low, high), 0.0]
    }

    #[inline]
    fn input(action: &Action) -> Option<f64> {
        match action {
            Action::Discrete(a @ 0..=2) => Some((a - 1) as f64),
            _ => None,
        }
    }

    #[inline]
    fn step(&mut self, [position, velocity]: [f64; 2], push: f64) -> ([f64; 2], f64, bool) {
        // `np.clip` on a scalar; `clamp` agrees, NaN included.
        let velocity = (velocity + (push * FORCE + (3.0 * position).cos() * (-GRAVITY)))
            .clamp(-MAX_SPEED, MAX_SPEED);
        let position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        let velocity = if position == MIN_POSITION && velocity < 0.0 {
            0.0
        } else {
            velocity
        };
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        ([position, velocity], -1.0, terminated)
    }

    #[inline]
    fn observe(s: &[f64; 2]) -> [f32; 2] {
        s.map(|v| v as f32)
    }
}
