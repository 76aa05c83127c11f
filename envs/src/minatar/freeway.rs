//! MinAtar Freeway (`freeway.py`): a chicken crosses eight lanes of traffic from the bottom
//! row to the top.

use super::state::Fields;
use super::{GRID, Game, MinAtarEnv, cell};
use crate::error::EnvError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const ID: &str = "MinAtar/Freeway-v1";
const CHICKEN: usize = 0;
const CAR: usize = 1;
const SPEED1: usize = 2;
const LANES: usize = 8;
/// The chicken's column; it only moves vertically.
const CHICKEN_X: i64 = 4;
const BOTTOM: i64 = GRID as i64 - 1;
/// Steps the chicken must wait between moves.
const PLAYER_SPEED: i64 = 3;
/// MinAtar's `time_limit`: the game ends when this many steps (plus one) have passed.
const TIME_LIMIT: i64 = 2500;
const MAX_SPEED: i64 = 5;
const SCALARS: usize = 5;

/// One car: it moves one cell every `|speed|` steps, rightwards for positive speed,
/// wrapping around the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Car {
    /// Its column, 0 to 9.
    pub x: i64,
    /// Its row, 0 to 9; a reset puts lane `i` on row `i + 1`.
    pub y: i64,
    /// Steps per cell moved, signed for direction: -5 to 5, never 0.
    pub speed: i64,
    /// Steps until the next move.
    pub timer: i64,
}

/// Everything that determines the game's future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreewayState {
    /// The chicken's row (9 is the start, 0 the goal).
    pub chicken_y: i64,
    /// Steps until the chicken may move again, 0 to 3 (it waits 3 steps after each move).
    pub move_timer: i64,
    /// Counts down from 2500; the game is over once it goes below zero.
    pub terminate_timer: i64,
    /// The time is up: the episode is over and only a reset continues.
    pub terminal: bool,
    /// The previous minimal-set action, which a sticky step repeats.
    pub last_action: usize,
    /// One car per lane, top lane first.
    pub cars: [Car; LANES],
}

impl FreewayState {
    /// The layout `Env::state` returns: the scalar fields in declaration order (booleans as
    /// 0/1), then each car's `x, y, speed, timer`.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = vec![
            self.chicken_y as f64,
            self.move_timer as f64,
            self.terminate_timer as f64,
            f64::from(u8::from(self.terminal)),
            self.last_action as f64,
        ];
        for c in &self.cars {
            v.extend([c.x, c.y, c.speed, c.timer].map(|n| n as f64));
        }
        v
    }

    /// The inverse of [`FreewayState::to_vec`], rejecting out-of-range fields by name.
    pub fn from_slice(s: &[f64]) -> Result<Self, EnvError> {
        let mut f = Fields::new(ID, s, SCALARS + 4 * LANES)?;
        let chicken_y = f.int("chicken_y", 0, BOTTOM)?;
        let move_timer = f.int("move_timer", 0, PLAYER_SPEED)?;
        let terminate_timer = f.int("terminate_timer", -1, TIME_LIMIT)?;
        let terminal = f.flag("terminal")?;
        let last_action = f.index("last_action", 2)?;
        let mut cars = [Car {
            x: 0,
            y: 0,
            speed: 1,
            timer: 1,
        }; LANES];
        for (i, c) in cars.iter_mut().enumerate() {
            c.x = f.int(&format!("cars[{i}].x"), 0, BOTTOM)?;
            c.y = f.int(&format!("cars[{i}].y"), 0, BOTTOM)?;
            c.speed = f.int(&format!("cars[{i}].speed"), -MAX_SPEED, MAX_SPEED)?;
            if c.speed == 0 {
                return Err(EnvError::InvalidOption {
                    key: format!("state.cars[{i}].speed"),
                    value: "0".to_string(),
                    reason: format!("{ID}: a car's speed must be non-zero"),
                });
            }
            c.timer = f.int(&format!("cars[{i}].timer"), 0, MAX_SPEED)?;
        }
        Ok(FreewayState {
            chicken_y,
            move_timer,
            terminate_timer,
            terminal,
            last_action,
            cars,
        })
    }
}

/// MinAtar's `_randomize_cars`: all eight speeds (1..=5) are drawn, then all eight
/// directions; each car's timer restarts at its new speed. Positions are kept.
fn randomize_speeds(rng: &mut ChaCha8Rng, cars: &mut [Car; LANES]) {
    let speeds: [i64; LANES] = std::array::from_fn(|_| rng.random_range(1..=MAX_SPEED));
    let dirs: [i64; LANES] = std::array::from_fn(|_| if rng.random::<bool>() { 1 } else { -1 });
    for ((car, s), d) in cars.iter_mut().zip(speeds).zip(dirs) {
        car.speed = s * d;
        car.timer = s;
    }
}

/// MinAtar Freeway with the minimal action set: 0 no-op, 1 up, 2 down. Observation
/// channels: 0 chicken, 1 cars, 2..=6 the cell behind a car of speed 1..=5 (showing its
/// direction and speed). Reward +1 for reaching the top row, which sends the chicken back to
/// the bottom and re-draws the cars' speeds; a car hitting the chicken also sends it back.
/// MinAtar ends the game after 2500 steps and reports it as termination (not truncation);
/// so does this.
pub type Freeway = MinAtarEnv<FreewayState>;

impl Game for FreewayState {
    const ID: &'static str = ID;
    const ACTIONS: usize = 3;
    const CHANNELS: &'static [&'static str] = &[
        "chicken",
        "car",
        "trail speed 1",
        "trail speed 2",
        "trail speed 3",
        "trail speed 4",
        "trail speed 5",
    ];

    #[inline]
    fn start(rng: &mut ChaCha8Rng) -> Self {
        // Every car starts at the left edge, lane i on row i + 1.
        let mut cars: [Car; LANES] = std::array::from_fn(|i| Car {
            x: 0,
            y: i as i64 + 1,
            speed: 1,
            timer: 1,
        });
        randomize_speeds(rng, &mut cars);
        FreewayState {
            chicken_y: BOTTOM,
            move_timer: PLAYER_SPEED,
            terminate_timer: TIME_LIMIT,
            terminal: false,
            last_action: 0,
            cars,
        }
    }

    #[inline]
    fn act(&mut self, action: usize, rng: &mut ChaCha8Rng) -> f64 {
        let mut reward = 0.0;
        if self.move_timer == 0 {
            match action {
                1 => {
                    self.move_timer = PLAYER_SPEED;
                    self.chicken_y = (self.chicken_y - 1).max(0);
                }
                2 => {
                    self.move_timer = PLAYER_SPEED;
                    self.chicken_y = (self.chicken_y + 1).min(BOTTOM);
                }
                _ => {}
            }
        }
        if self.chicken_y == 0 {
            reward += 1.0;
            randomize_speeds(rng, &mut self.cars);
            self.chicken_y = BOTTOM;
        }
        for car in &mut self.cars {
            // Checked before and after the car moves, so a car cannot jump over the chicken.
            if car.x == CHICKEN_X && car.y == self.chicken_y {
                self.chicken_y = BOTTOM;
            }
            if car.timer == 0 {
                car.timer = car.speed.abs();
                car.x = (car.x + car.speed.signum()).rem_euclid(GRID as i64);
                if car.x == CHICKEN_X && car.y == self.chicken_y {
                    self.chicken_y = BOTTOM;
                }
            } else {
                car.timer -= 1;
            }
        }
        if self.move_timer > 0 {
            self.move_timer -= 1;
        }
        self.terminate_timer -= 1;
        if self.terminate_timer < 0 {
            self.terminal = true;
        }
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
        obs[cell(CHICKEN, self.chicken_y as usize, CHICKEN_X as usize)] = 1.0;
        for car in &self.cars {
            let (x, y) = (car.x as usize, car.y as usize);
            obs[cell(CAR, y, x)] = 1.0;
            let back_x = (car.x - car.speed.signum()).rem_euclid(GRID as i64) as usize;
            let trail = SPEED1 + car.speed.unsigned_abs() as usize - 1;
            obs[cell(trail, y, back_x)] = 1.0;
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
