//! CartPole-v1, a line-by-line port of `gymnasium/envs/classic_control/cartpole.py` (1.4).

use crate::env::{Env, Info, Options, Step, check_state_len, invalid_action, reset_bounds};
use crate::error::EnvError;
use crate::seeding::{EnvRng, uniform};
use crate::space::{Action, BoxSpace, Discrete, Space};

const ID: &str = "CartPole-v1";
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
#[derive(Debug, Clone)]
pub struct CartPole {
    state: Option<[f64; 4]>,
    obs: [f32; 4],
    // Gymnasium's `steps_beyond_terminated`: stepping on after termination pays 0, not 1.
    steps_beyond_terminated: Option<u64>,
    rng: EnvRng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    pub fn new() -> Self {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::INFINITY,
        ];
        CartPole {
            state: None,
            obs: [0.0; 4],
            steps_beyond_terminated: None,
            rng: EnvRng::default(),
            observation_space: BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec()),
            action_space: Space::Discrete(Discrete::new(2)),
        }
    }

    fn set_obs(&mut self, s: [f64; 4]) {
        self.obs = s.map(|v| v as f32);
    }
}

impl Env for CartPole {
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
        let (low, high) = reset_bounds(options, -0.05, 0.05)?;
        let rng = self.rng.on_reset(seed);
        let s = [(); 4].map(|()| uniform(rng, low, high));
        self.state = Some(s);
        self.steps_beyond_terminated = None;
        self.set_obs(s);
        Ok((&self.obs, Info::new()))
    }

    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        let push_right = match action {
            Action::Discrete(1) => true,
            Action::Discrete(0) => false,
            _ => return Err(invalid_action(ID, action, &self.action_space)),
        };
        let Some([x, x_dot, theta, theta_dot]) = self.state else {
            return Err(EnvError::NeedsReset { env: ID.into() });
        };
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
        let s = [x, x_dot, theta, theta_dot];
        self.state = Some(s);

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
        self.set_obs(s);
        Ok(Step {
            obs: &self.obs,
            reward,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        check_state_len(ID, state, 4)?;
        let s = [state[0], state[1], state[2], state[3]];
        self.state = Some(s);
        self.set_obs(s);
        Ok(())
    }

    fn state(&self) -> Option<&[f64]> {
        self.state.as_ref().map(|s| s.as_slice())
    }
}
