//! Acrobot-v1, a line-by-line port of `gymnasium/envs/classic_control/acrobot.py` (1.4):
//! `book` dynamics, one rk4 step of 0.2 s, angle wrapping and velocity bounds.

use super::control::{Control, Physics};
use super::square::py_square;
use crate::env::{Options, reset_bounds};
use crate::error::EnvError;
use crate::seeding::uniform;
use crate::space::{Action, BoxSpace, Discrete, Space};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

/// The two-link underactuated swing-up task.
pub type Acrobot = Control<AcrobotPhysics>;

#[derive(Debug, Clone, Default)]
pub struct AcrobotPhysics;

impl Physics for AcrobotPhysics {
    const ID: &'static str = "Acrobot-v1";
    type State = [f64; 4];
    type Obs = [f32; 6];
    /// The torque on the joint between the links.
    type Input = f64;

    fn observation_space() -> BoxSpace {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec())
    }

    fn action_space() -> Space {
        Space::Discrete(Discrete::new(3))
    }

    fn reset_bounds(options: Option<&Options>) -> Result<(f64, f64), EnvError> {
        reset_bounds(options, -0.1, 0.1)
    }

    fn start(&mut self, (low, high): (f64, f64), rng: &mut ChaCha8Rng) -> [f64; 4] {
        // Gymnasium casts the initial state to float32 (`.astype(np.float32)`).
        [(); 4].map(|()| f64::from(uniform(rng, low, high) as f32))
    }

    #[inline]
    fn input(action: &Action) -> Option<f64> {
        match action {
            Action::Discrete(a @ 0..=2) => Some(AVAIL_TORQUE[*a as usize]),
            _ => None,
        }
    }

    #[inline]
    fn step(&mut self, s: [f64; 4], torque: f64) -> ([f64; 4], f64, bool) {
        let mut ns = rk4([s[0], s[1], s[2], s[3], torque], DT);
        ns[0] = wrap(ns[0], -PI, PI);
        ns[1] = wrap(ns[1], -PI, PI);
        ns[2] = bound(ns[2], -MAX_VEL_1, MAX_VEL_1);
        ns[3] = bound(ns[3], -MAX_VEL_2, MAX_VEL_2);
        let terminated = -ns[0].cos() - (ns[1] + ns[0]).cos() > 1.0;
        let reward = if terminated { 0.0 } else { -1.0 };
        (ns, reward, terminated)
    }

    #[inline]
    fn observe(s: &[f64; 4]) -> [f32; 6] {
        [
            s[0].cos() as f32,
            s[0].sin() as f32,
            s[1].cos() as f32,
            s[1].sin() as f32,
            s[2] as f32,
            s[3] as f32,
        ]
    }
}

/// `AcrobotEnv._dsdt` with the `book` branch. The operation order and the `** 2` follow the
/// Python so the f64 results agree to the last bit (the constants' squares are exact).
fn dsdt(s: [f64; 5]) -> [f64; 5] {
    let (m1, m2, l1, lc1, lc2) = (
        LINK_MASS_1,
        LINK_MASS_2,
        LINK_LENGTH_1,
        LINK_COM_POS_1,
        LINK_COM_POS_2,
    );
    let (i1, i2) = (LINK_MOI, LINK_MOI);
    let g = 9.8;
    let a = s[4];
    let [theta1, theta2, dtheta1, dtheta2] = [s[0], s[1], s[2], s[3]];
    let d1 =
        m1 * (lc1 * lc1) + m2 * ((l1 * l1) + (lc2 * lc2) + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * ((lc2 * lc2) + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * py_square(dtheta2) * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * py_square(dtheta1) * theta2.sin() - phi2)
        / (m2 * (lc2 * lc2) + i2 - py_square(d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
}

/// Gymnasium's `rk4` over `t = [0, dt]`: a single classic Runge-Kutta step.
fn rk4(y0: [f64; 5], dt: f64) -> [f64; 4] {
    let dt2 = dt / 2.0;
    let axpy = |y: [f64; 5], h: f64, k: [f64; 5]| std::array::from_fn(|i| y[i] + h * k[i]);
    let k1 = dsdt(y0);
    let k2 = dsdt(axpy(y0, dt2, k1));
    let k3 = dsdt(axpy(y0, dt2, k2));
    let k4 = dsdt(axpy(y0, dt, k3));
    let h = dt / 6.0;
    std::array::from_fn(|i| y0[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `wrap`: two loops of repeated subtraction and addition, which differ from a
/// remainder in the last bits. Past a million turns (states Gymnasium would all but hang on)
/// it falls back to a remainder.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    const MAX_TURNS: u32 = 1_000_000;
    let diff = big_m - m;
    let mut turns = 0;
    while x > big_m && turns < MAX_TURNS {
        x -= diff;
        turns += 1;
    }
    while x < m && turns < MAX_TURNS {
        x += diff;
        turns += 1;
    }
    if turns == MAX_TURNS {
        m + (x - m).rem_euclid(diff)
    } else {
        x
    }
}

/// Gymnasium's `bound`: `min(max(x, m), M)` with Python's builtins, which keep `x` when it
/// is NaN.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    let x = if m > x { m } else { x };
    if big_m < x { big_m } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_matches_repeated_subtraction_and_terminates_on_huge_input() {
        assert_eq!(wrap(4.0, -PI, PI), 4.0 - 2.0 * PI);
        assert_eq!(wrap(-10.0, -PI, PI), -10.0 + 2.0 * PI + 2.0 * PI);
        let w = wrap(1e300, -PI, PI);
        assert!(w.is_nan() || (-PI..=PI).contains(&w));
    }

    #[test]
    fn bound_keeps_nan_like_python() {
        assert!(bound(f64::NAN, -1.0, 1.0).is_nan());
        assert_eq!(bound(3.0, -1.0, 1.0), 1.0);
        assert_eq!(bound(-3.0, -1.0, 1.0), -1.0);
    }
}
