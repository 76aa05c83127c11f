//! Pendulum-v1, a line-by-line port of `gymnasium/envs/classic_control/pendulum.py` (1.4).
//!
//! The torque is a float32 action, and numpy keeps `float32 * python float` in float32, so
//! the torque terms are computed in f32 exactly as Gymnasium does before joining the f64
//! state arithmetic.

use super::square::{py_square, py_square_f32};
use crate::env::{Env, Info, Options, Step, check_state_len, invalid_action, number_option};
use crate::error::EnvError;
use crate::seeding::{EnvRng, uniform};
use crate::space::{Action, BoxSpace, Space};
use std::f64::consts::PI;

const ID: &str = "Pendulum-v1";
const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// The inverted-pendulum swing-up task (never terminates; the time limit ends it).
#[derive(Debug, Clone)]
pub struct Pendulum {
    state: Option<[f64; 2]>,
    obs: [f32; 3],
    rng: EnvRng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

/// Gymnasium's `angle_normalize`: `((x + pi) % (2 pi)) - pi`, with Python's floored modulo.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Pendulum {
    pub fn new() -> Self {
        let high = [1.0, 1.0, MAX_SPEED as f32];
        Pendulum {
            state: None,
            obs: [0.0; 3],
            rng: EnvRng::default(),
            observation_space: BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec()),
            action_space: Space::Box(BoxSpace::new(vec![-MAX_TORQUE], vec![MAX_TORQUE])),
        }
    }

    fn set_obs(&mut self, [theta, thetadot]: [f64; 2]) {
        self.obs = [theta.cos() as f32, theta.sin() as f32, thetadot as f32];
    }
}

impl Env for Pendulum {
    fn id(&self) -> &str {
        ID
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset_with_options(
        &mut self,
        seed: Option<u64>,
        options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        let x = number_option(options, "x_init", PI)?;
        let y = number_option(options, "y_init", 1.0)?;
        let rng = self.rng.on_reset(seed);
        // Gymnasium enforces symmetric limits: low = -high.
        let s = [uniform(rng, -x, x), uniform(rng, -y, y)];
        self.state = Some(s);
        self.set_obs(s);
        Ok((&self.obs, Info::new()))
    }

    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        // Out-of-range torques are clipped, as in Gymnasium; NaN has no clipped value.
        let u = match action {
            Action::Continuous(v) if v.len() == 1 && !v[0].is_nan() => {
                v[0].clamp(-MAX_TORQUE, MAX_TORQUE)
            }
            _ => return Err(invalid_action(ID, action, &self.action_space)),
        };
        let Some([th, thdot]) = self.state else {
            return Err(EnvError::NeedsReset { env: ID.into() });
        };
        let costs = py_square(angle_normalize(th))
            + 0.1 * py_square(thdot)
            + f64::from(0.001f32 * py_square_f32(u));
        let torque_term = f64::from((3.0 / (M * L * L)) as f32 * u);
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + torque_term) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        let s = [newth, newthdot];
        self.state = Some(s);
        self.set_obs(s);
        Ok(Step {
            obs: &self.obs,
            reward: -costs,
            terminated: false,
            truncated: false,
            info: Info::new(),
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        check_state_len(ID, state, 2)?;
        let s = [state[0], state[1]];
        self.state = Some(s);
        self.set_obs(s);
        Ok(())
    }

    fn state(&self) -> Option<&[f64]> {
        self.state.as_ref().map(|s| s.as_slice())
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
