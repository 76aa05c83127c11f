//! What every MinAtar game shares: the Gymnasium API around a game's rules, seeding, action
//! checking, sticky actions and the observation and state buffers. A game supplies only its
//! rules, as a [`Game`].

use super::{DEFAULT_STICKY_ACTION_PROB, GRID};
use crate::env::{Env, Info, Options, Step, invalid_action};
use crate::error::EnvError;
use crate::seeding::EnvRng;
use crate::space::{Action, BoxSpace, Discrete, Space};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::fmt::Debug;

/// The rules of one MinAtar game: its state, how it starts, one step given an action of its
/// minimal set, and how it is drawn. [`MinAtarEnv`] turns it into an [`Env`].
///
/// Implementations mark their methods `#[inline]`: `MinAtarEnv::step` is compiled apart
/// from the game's rules, and calling them there instead of inlining costs about 5% of a step.
pub trait Game: Clone + Debug + Sized {
    /// The registered id, e.g. `"MinAtar/Breakout-v1"`.
    const ID: &'static str;
    /// The size of the minimal action set; actions are indices into it.
    const ACTIONS: usize;
    /// What each observation channel shows, in channel order.
    const CHANNELS: &'static [&'static str];

    /// A new game, drawing its random start from `rng`.
    fn start(rng: &mut ChaCha8Rng) -> Self;

    /// One step of MinAtar's `Env.act` after the sticky-action rule; returns the reward.
    /// `rng` is the stream the sticky-action draw came from.
    fn act(&mut self, action: usize, rng: &mut ChaCha8Rng) -> f64;

    /// Whether the game is over.
    fn terminal(&self) -> bool;

    /// The previous action, which a sticky step repeats and every step replaces.
    fn last_action(&mut self) -> &mut usize;

    /// Writes the channel-first observation (`CHANNELS.len() x GRID x GRID`) into `obs`,
    /// every cell of it.
    fn render(&self, obs: &mut [f32]);

    /// The flat state `Env::state` returns.
    fn to_state(&self) -> Vec<f64>;

    /// The inverse of [`Game::to_state`], rejecting out-of-range fields by name.
    fn from_state(state: &[f64]) -> Result<Self, EnvError>;
}

/// A MinAtar game behind the Gymnasium API. The episode has no time limit, as in MinAtar.
#[derive(Debug, Clone)]
pub struct MinAtarEnv<G: Game> {
    state: Option<G>,
    flat: Vec<f64>,
    obs: Vec<f32>,
    sticky_action_prob: f64,
    rng: EnvRng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl<G: Game> Default for MinAtarEnv<G> {
    fn default() -> Self {
        Self::new()
    }
}

impl<G: Game> MinAtarEnv<G> {
    /// With MinAtar's default sticky-action probability of 0.1.
    pub fn new() -> Self {
        Self::with_sticky_action_prob(DEFAULT_STICKY_ACTION_PROB)
            .expect("the default probability is valid")
    }

    /// `sticky_action_prob` must lie in `[0, 1]`.
    pub fn with_sticky_action_prob(sticky_action_prob: f64) -> Result<Self, EnvError> {
        let n = G::CHANNELS.len() * GRID * GRID;
        Ok(MinAtarEnv {
            state: None,
            flat: Vec::new(),
            obs: vec![0.0; n],
            sticky_action_prob: check_sticky(G::ID, sticky_action_prob)?,
            rng: EnvRng::default(),
            observation_space: BoxSpace::new(vec![0.0; n], vec![1.0; n]),
            action_space: Space::Discrete(Discrete::new(G::ACTIONS as u64)),
        })
    }

    /// The probability, in `[0, 1]`, that a step repeats the previous action instead of
    /// the one given (MinAtar's `sticky_action_prob`).
    pub fn sticky_action_prob(&self) -> f64 {
        self.sticky_action_prob
    }

    /// The game state, `None` before the first reset.
    pub fn game(&self) -> Option<&G> {
        self.state.as_ref()
    }

    fn install(&mut self, state: G) {
        state.render(&mut self.obs);
        self.flat = state.to_state();
        self.state = Some(state);
    }
}

impl<G: Game> Env for MinAtarEnv<G> {
    fn id(&self) -> &str {
        G::ID
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
        _options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        let state = G::start(self.rng.on_reset(seed));
        self.install(state);
        Ok((&self.obs, Info::new()))
    }

    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        let chosen = match action {
            Action::Discrete(a) if (0..G::ACTIONS as i64).contains(a) => *a as usize,
            _ => return Err(invalid_action(G::ID, action, &self.action_space)),
        };
        let mut state = match self.state.take() {
            Some(s) if !s.terminal() => s,
            Some(s) => {
                self.state = Some(s);
                return Err(after_terminal(G::ID));
            }
            None => return Err(EnvError::NeedsReset { env: G::ID.into() }),
        };
        let rng = self.rng.on_reset(None);
        let a = sticky(rng, self.sticky_action_prob, chosen, state.last_action());
        let reward = state.act(a, rng);
        let terminated = state.terminal();
        self.install(state);
        Ok(Step {
            obs: &self.obs,
            reward,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }

    /// Takes [`Game::to_state`]'s layout.
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        let state = G::from_state(state)?;
        self.install(state);
        Ok(())
    }

    fn state(&self) -> Option<&[f64]> {
        self.state.as_ref().map(|_| self.flat.as_slice())
    }
}

/// Checks a sticky-action probability given by the user.
fn check_sticky(env: &str, p: f64) -> Result<f64, EnvError> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(EnvError::InvalidOption {
            key: "sticky_action_prob".to_string(),
            value: p.to_string(),
            reason: format!("{env}: must be a probability in [0, 1]"),
        })
    }
}

/// MinAtar's sticky-action rule: one uniform draw per step, always taken (even when the
/// probability is 0) so that the random stream does not depend on the setting's value.
fn sticky(rng: &mut ChaCha8Rng, p: f64, chosen: usize, last: &mut usize) -> usize {
    let a = if rng.random::<f64>() < p {
        *last
    } else {
        chosen
    };
    *last = a;
    a
}

/// MinAtar raises when a finished game is stepped; so do these.
fn after_terminal(env: &str) -> EnvError {
    EnvError::Unsupported {
        env: env.to_string(),
        operation: "stepping a terminated episode (reset first)",
    }
}
