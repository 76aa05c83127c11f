//! MountainCar-v0, a line-by-line port of `gymnasium/envs/classic_control/mountain_car.py`
//! (1.4), including the velocity/position clipping and the inelastic left wall.

use crate::env::{Env, Info, Options, Step, check_state_len, invalid_action, reset_bounds};
use crate::error::EnvError;
use crate::seeding::{EnvRng, uniform};
use crate::space::{Action, BoxSpace, Discrete, Space};

const ID: &str = "MountainCar-v0";
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// The under-powered car that must rock back and forth to reach the flag.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: Option<[f64; 2]>,
    obs: [f32; 2],
    rng: EnvRng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    pub fn new() -> Self {
        MountainCar {
            state: None,
            obs: [0.0; 2],
            rng: EnvRng::default(),
            observation_space: BoxSpace::new(
                vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                vec![MAX_POSITION as f32, MAX_SPEED as f32],
            ),
            action_space: Space::Discrete(Discrete::new(3)),
        }
    }

    fn set_obs(&mut self, s: [f64; 2]) {
        self.obs = s.map(|v| v as f32);
    }
}

impl Env for MountainCar {
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
        let (low, high) = reset_bounds(options, -0.6, -0.4)?;
        let s = [uniform(self.rng.on_reset(seed), low, high), 0.0];
        self.state = Some(s);
        self.set_obs(s);
        Ok((&self.obs, Info::new()))
    }

    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        let push = match action {
            Action::Discrete(a @ 0..=2) => (a - 1) as f64,
            _ => return Err(invalid_action(ID, action, &self.action_space)),
        };
        let Some([position, velocity]) = self.state else {
            return Err(EnvError::NeedsReset { env: ID.into() });
        };
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
        let s = [position, velocity];
        self.state = Some(s);
        self.set_obs(s);
        Ok(Step {
            obs: &self.obs,
            reward: -1.0,
            terminated,
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
