//! MinAtar games (Young & Tian 2019, github.com/kenjyoung/MinAtar): 10x10 miniatures of Atari
//! games with binary multi-channel observations, ported rule for rule from MinAtar's
//! `environments/breakout.py` and `environments/freeway.py`. A game's rules are a [`Game`];
//! [`MinAtarEnv`] gives any of them the Gymnasium API, seeding and sticky actions, and
//! [`Breakout`] and [`Freeway`] name the two instances.
//!
//! What matches MinAtar: the game rules and the order of updates within a step, the minimal
//! action sets of the `MinAtar/<Game>-v1` Gym ids (the action here is the index into that
//! set), the reward and termination rules, and sticky actions: each step one uniform draw,
//! and with probability `sticky_action_prob` (default 0.1) the previous action is executed
//! instead of the chosen one and becomes the new previous action.
//!
//! Differences:
//! - Observations are `f32` and channel-first (`channels x 10 x 10`, index
//!   `c * 100 + y * 10 + x`, row 0 at the top); MinAtar's are channel-last, because the
//!   networks here take channel-first input.
//! - Random numbers come from a seeded ChaCha8 stream, so a seed gives different games than
//!   numpy's `RandomState` would, from the same distributions.
//! - The previous action restarts as no-op at every reset; MinAtar's wrapper keeps it across
//!   episodes. Here a seeded reset alone determines the episode.
//! - Stepping a terminated game is an error; MinAtar returns reward 0 and terminal again.
//! - MinAtar's difficulty ramping is absent; neither game here uses it.

mod breakout;
mod freeway;
mod game;
mod state;

pub use breakout::{Breakout, BreakoutState};
pub use freeway::{Car, Freeway, FreewayState};
pub use game::{Game, MinAtarEnv};

/// Width and height of every MinAtar grid.
pub const GRID: usize = 10;

/// Channels of a channel-first `GRID x GRID` observation of `obs_dim` values (a MinAtar
/// game's layout); `None` when the observation is not such a grid.
pub fn grid_channels(obs_dim: usize) -> Option<usize> {
    let cells = GRID * GRID;
    (obs_dim > 0 && obs_dim.is_multiple_of(cells)).then_some(obs_dim / cells)
}

/// MinAtar's default probability of repeating the previous action.
pub const DEFAULT_STICKY_ACTION_PROB: f64 = 0.1;

/// Index of cell `(channel, y, x)` in a channel-first observation.
const fn cell(channel: usize, y: usize, x: usize) -> usize {
    channel * GRID * GRID + y * GRID + x
}
