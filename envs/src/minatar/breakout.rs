//! MinAtar Breakout (`breakout.py`): a paddle on the bottom row bounces a diagonally moving
//! ball into three rows of bricks.

use super::state::Fields;
use super::{GRID, Game, MinAtarEnv, cell};
use crate::error::EnvError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const ID: &str = "MinAtar/Breakout-v1";
const PADDLE: usize = 0;
const BALL: usize = 1;
const TRAIL: usize = 2;
const BRICK: usize = 3;
const LAST: i64 = GRID as i64 - 1;
/// Scalar fields before the brick map in the flat state.
const SCALARS: usize = 9;

/// Everything that determines the game's future. Ball directions are MinAtar's: 0 up-left,
/// 1 up-right, 2 down-right, 3 down-left (y grows downwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakoutState {
    /// The ball's column, 0 to 9.
    pub ball_x: i64,
    /// The ball's row, 0 (top) to 9 (the paddle's row).
    pub ball_y: i64,
    /// The ball's direction, 0 to 3 as above.
    pub ball_dir: usize,
    /// The paddle's column; it always sits on the bottom row.
    pub paddle: i64,
    /// The ball's previous column, shown as the trail.
    pub last_x: i64,
    /// The ball's previous row, shown as the trail.
    pub last_y: i64,
    /// Whether the ball hit a brick on the previous step: MinAtar breaks at most one brick
    /// per two consecutive steps.
    pub strike: bool,
    /// The ball passed the paddle: the episode is over and only a reset continues.
    pub terminal: bool,
    /// The previous minimal-set action, which a sticky step repeats.
    pub last_action: usize,
    /// `bricks[y][x]`.
    pub bricks: [[bool; GRID]; GRID],
}

impl BreakoutState {
    /// The layout `Env::state` returns: the scalar fields in declaration order (booleans as
    /// 0/1), then the brick map row by row.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = vec![
            self.ball_x as f64,
            self.ball_y as f64,
            self.ball_dir as f64,
            self.paddle as f64,
            self.last_x as f64,
            self.last_y as f64,
            f64::from(u8::from(self.strike)),
            f64::from(u8::from(self.terminal)),
            self.last_action as f64,
        ];
        v.extend(
            self.bricks
                .iter()
                .flatten()
                .map(|&b| f64::from(u8::from(b))),
        );
        v
    }

    /// The inverse of [`BreakoutState::to_vec`], rejecting out-of-range fields by name.
    pub fn from_slice(s: &[f64]) -> Result<Self, EnvError> {
        let mut f = Fields::new(ID, s, SCALARS + GRID * GRID)?;
        let mut state = BreakoutState {
            ball_x: f.int("ball_x", 0, LAST)?,
            ball_y: f.int("ball_y", 0, LAST)?,
            ball_dir: f.index("ball_dir", 3)?,
            paddle: f.int("paddle", 0, LAST)?,
            last_x: f.int("last_x", 0, LAST)?,
            last_y: f.int("last_y", 0, LAST)?,
            strike: f.flag("strike")?,
            terminal: f.flag("terminal")?,
            last_action: f.index("last_action", 2)?,
            bricks: [[false; GRID]; GRID],
        };
        for (i, b) in state.bricks.iter_mut().flatten().enumerate() {
            *b = f.flag(&format!("bricks[{}][{}]", i / GRID, i % GRID))?;
        }
        Ok(state)
    }

    fn brick(&mut self, x: i64, y: i64) -> &mut bool {
        &mut self.bricks[y as usize][x as usize]
    }

    /// MinAtar's `brick_map[1:4, :] = 1`.
    fn refill_bricks(&mut self) {
        for row in &mut self.bricks[1..4] {
            *row = [true; GRID];
        }
    }
}

/// MinAtar Breakout with the minimal action set: 0 no-op, 1 left, 2 right. Observation
/// channels: 0 paddle, 1 ball, 2 trail (the ball's previous cell), 3 bricks. Reward +1 per
/// brick; the episode terminates when the ball reaches the bottom row missing the paddle.
/// There is no time limit, as in MinAtar.
pub type Breakout = MinAtarEnv<BreakoutState>;

impl Game for BreakoutState {
    const ID: &'static str = ID;
    const ACTIONS: usize = 3;
    const CHANNELS: &'static [&'static str] = &["paddle", "ball", "trail", "brick"];

    #[inline]
    fn start(rng: &mut ChaCha8Rng) -> Self {
        // The ball starts on row 3 in a top corner column, heading down and inwards.
        let (ball_x, ball_dir) = if rng.random_range(0..2) == 0 {
            (0, 2)
        } else {
            (LAST, 3)
        };
        let mut state = BreakoutState {
            ball_x,
            ball_y: 3,
            ball_dir,
            paddle: 4,
            last_x: ball_x,
            last_y: 3,
            strike: false,
            terminal: false,
            last_action: 0,
            bricks: [[false; GRID]; GRID],
        };
        state.refill_bricks();
        state
    }

    #[inline]
    fn act(&mut self, action: usize, _rng: &mut ChaCha8Rng) -> f64 {
        let mut reward = 0.0;
        match action {
            1 => self.paddle = (self.paddle - 1).max(0),
            2 => self.paddle = (self.paddle + 1).min(LAST),
            _ => {}
        }
        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        let (dx, dy) = [(-1, -1), (1, -1), (1, 1), (-1, 1)][self.ball_dir];
        let (mut new_x, mut new_y) = (self.ball_x + dx, self.ball_y + dy);

        let mut strike_toggle = false;
        if !(0..=LAST).contains(&new_x) {
            new_x = new_x.clamp(0, LAST);
            self.ball_dir = [1, 0, 3, 2][self.ball_dir];
        }
        if new_y < 0 {
            new_y = 0;
            self.ball_dir = [3, 2, 1, 0][self.ball_dir];
        } else if *self.brick(new_x, new_y) {
            strike_toggle = true;
            // A ball that struck on the previous step passes into the brick's cell without
            // breaking it; this is MinAtar's behaviour, kept as is.
            if !self.strike {
                reward += 1.0;
                self.strike = true;
                *self.brick(new_x, new_y) = false;
                new_y = self.last_y;
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
            }
        } else if new_y == LAST {
            if self.bricks.iter().flatten().all(|&b| !b) {
                self.refill_bricks();
            }
            if self.ball_x == self.paddle {
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
                new_y = self.last_y;
            } else if new_x == self.paddle {
                self.ball_dir = [2, 3, 0, 1][self.ball_dir];
                new_y = self.last_y;
            } else {
                self.terminal = true;
            }
        }
        if !strike_toggle {
            self.strike = false;
        }
        self.ball_x = new_x;
        self.ball_y = new_y;
        reward
    }

    #[inline]
    fn terminal(&self) -> bool {
        self.terminal
    }

    #[inline]
    fn last_action(&mut self) -> &mut usize {
        &mut self.last_action
    }

    #[inline]
    fn render(&self, obs: &mut [f32]) {
        obs.fill(0.0);
        let at = |c, y: i64, x: i64| cell(c, y as usize, x as usize);
        obs[at(BALL, self.ball_y, self.ball_x)] = 1.0;
        obs[at(PADDLE, LAST, self.paddle)] = 1.0;
        obs[at(TRAIL, self.last_y, self.last_x)] = 1.0;
        for (y, row) in self.bricks.iter().enumerate() {
            for (x, &b) in row.iter().enumerate() {
                if b {
                    obs[cell(BRICK, y, x)] = 1.0;
                }
            }
        }
    }

    #[inline]
    fn to_state(&self) -> Vec<f64> {
        self.to_vec()
    }

    fn from_state(state: &[f64]) -> Result<Self, EnvError> {
        Self::from_slice(state)
    }
}
