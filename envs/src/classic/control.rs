//! What every classic-control environment shares: the Gymnasium API around a system's
//! physics, seeding, action checking, and the state and observation buffers. A system
//! supplies only its physics, as a [`Physics`].

use crate::env::{Env, Info, Options, Step, check_state_len, invalid_action};
use crate::error::EnvError;
use crate::seeding::EnvRng;
use crate::space::{Action, BoxSpace, Space};
use rand_chacha::ChaCha8Rng;
use std::fmt::Debug;

/// The physics of one classic-control system, line by line as Gymnasium computes it.
/// [`Control`] turns it into an [`Env`].
pub trait Physics: Clone + Debug + Default {
    /// The registered id, e.g. `"CartPole-v1"`.
    const ID: &'static str;
    /// The internal state, Gymnasium's `env.unwrapped.state`.
    type State: Copy + Debug + Default + AsRef<[f64]> + for<'a> TryFrom<&'a [f64]>;
    /// The float32 observation.
    type Obs: Copy + Debug + Default + AsRef<[f32]>;
    /// An action of the action space, decoded.
    type Input: Copy;

    fn observation_space() -> BoxSpace;

    fn action_space() -> Space;

    /// The bounds of the start state that the reset `options` ask for; read before the reset
    /// draws anything, so bad options leave the environment's random stream untouched.
    fn reset_bounds(options: Option<&Options>) -> Result<(f64, f64), EnvError>;

    /// A start state drawn from `rng` within `bounds`. Whatever the physics keeps between
    /// steps starts over too.
    fn start(&mut self, bounds: (f64, f64), rng: &mut ChaCha8Rng) -> Self::State;

    /// Decodes `action`; `None` when it is outside the action space. Continuous actions are
    /// clipped here where Gymnasium clips them.
    fn input(action: &Action) -> Option<Self::Input>;

    /// One step from `state`: the next state, the reward, and whether it terminated.
    fn step(&mut self, state: Self::State, input: Self::Input) -> (Self::State, f64, bool);

    /// The observation of `state`.
    fn observe(state: &Self::State) -> Self::Obs;
}

/// A classic-control system behind the Gymnasium API.
#[derive(Debug, Clone)]
pub struct Control<P: Physics> {
    physics: P,
    state: Option<P::State>,
    obs: P::Obs,
    rng: EnvRng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl<P: Physics> Default for Control<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Physics> Control<P> {
    pub fn new() -> Self {
        Control {
            physics: P::default(),
            state: None,
            obs: P::Obs::default(),
            rng: EnvRng::default(),
            observation_space: P::observation_space(),
            action_space: P::action_space(),
        }
    }

    fn install(&mut self, state: P::State) {
        self.state = Some(state);
        self.obs = P::observe(&state);
    }
}

impl<P: Physics> Env for Control<P> {
    fn id(&self) -> &str {
        P::ID
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
        let bounds = P::reset_bounds(options)?;
        let state = self.physics.start(bounds, self.rng.on_reset(seed));
        self.install(state);
        Ok((self.obs.as_ref(), Info::new()))
    }

    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        let Some(input) = P::input(action) else {
            return Err(invalid_action(P::ID, action, &self.action_space));
        };
        let Some(state) = self.state else {
            return Err(EnvError::NeedsReset { env: P::ID.into() });
        };
        let (state, reward, terminated) = self.physics.step(state, input);
        self.install(state);
        Ok(Step {
            obs: self.obs.as_ref(),
            reward,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        check_state_len(P::ID, state, P::State::default().as_ref().len())?;
        let state = P::State::try_from(state)
            .unwrap_or_else(|_| unreachable!("the length was just checked"));
        self.install(state);
        Ok(())
    }

    fn state(&self) -> Option<&[f64]> {
        self.state.as_ref().map(|s| s.as_ref())
    }
}
