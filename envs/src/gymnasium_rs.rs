//! Interoperability with the `gymnasium-rs` crate (cargo feature `gymnasium-rs`).
//!
//! Our environments implement its `core::Env` trait, and its environments can be wrapped
//! into ours with [`FromGymRs`]. Its own CartPole is not Gymnasium's (see
//! docs/decisions/0002-gymnasium-rs.md), so only the interface is shared.
//!
//! Its trait has no error channel, so through it invalid actions, invalid reset options and
//! negative seeds panic with the error message our API would have returned.

use crate::env::{BoxedEnv, Env, Info, Options};
use crate::error::EnvError;
use crate::space::{Action, BoxSpace, Discrete, Space};
use crate::time_limit::TimeLimit;
use crate::{Acrobot, CartPole, MountainCar, Pendulum};
use gymnasium_rs::core::{
    Env as GymEnv, Info as GymInfo, Options as GymOptions, Reward, Space as GymSpace,
};
use ndarray015::{Array1, Array3};
use std::marker::PhantomData;

fn to_gym_space(space: &Space) -> GymSpace {
    match space {
        // Saturates: a space wider than i32 cannot be described through that trait.
        Space::Discrete(d) => GymSpace::Discrete(i32::try_from(d.n).unwrap_or(i32::MAX)),
        Space::Box(b) => to_gym_box(b),
    }
}

fn to_gym_box(b: &BoxSpace) -> GymSpace {
    GymSpace::Box {
        low: Array1::from(b.low().to_vec()),
        high: Array1::from(b.high().to_vec()),
    }
}

fn to_gym_info(info: Info) -> GymInfo {
    info.into_iter().collect()
}

fn gym_reset<E: Env + ?Sized>(
    env: &mut E,
    seed: Option<i32>,
    options: GymOptions,
) -> (Array1<f32>, GymInfo) {
    let seed = seed.map(|s| {
        u64::try_from(s)
            .unwrap_or_else(|_| panic!("{}: seed must be non-negative, got {s}", env.id()))
    });
    let options: Options = options.into_iter().collect();
    let options = (!options.is_empty()).then_some(&options);
    match env.reset_with_options(seed, options) {
        Ok((obs, info)) => (Array1::from(obs.to_vec()), to_gym_info(info)),
        Err(e) => panic!("{e}"),
    }
}

fn gym_step<E: Env + ?Sized>(
    env: &mut E,
    action: Action,
) -> (Array1<f32>, Reward, bool, bool, GymInfo) {
    match env.step(&action) {
        Ok(s) => (
            Array1::from(s.obs.to_vec()),
            s.reward as Reward,
            s.terminated,
            s.truncated,
            to_gym_info(s.info),
        ),
        Err(e) => panic!("{e}"),
    }
}

/// Implements gymnasium-rs's trait for discrete (`i32`) and continuous (`Array1<f32>`)
/// actions; an action of the wrong kind for the environment panics like any invalid action.
macro_rules! impl_gym_env {
    ($([$($generics:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($generics)*> GymEnv<Array1<f32>, i32> for $ty {
            fn observation_space(&self) -> GymSpace {
                to_gym_box(Env::observation_space(self))
            }
            fn action_space(&self) -> GymSpace {
                to_gym_space(Env::action_space(self))
            }
            fn reset(&mut self, seed: Option<i32>, options: GymOptions) -> (Array1<f32>, GymInfo) {
                gym_reset(self, seed, options)
            }
            fn step(&mut self, action: i32) -> (Array1<f32>, Reward, bool, bool, GymInfo) {
                gym_step(self, Action::Discrete(i64::from(action)))
            }
            fn render(&self) -> Option<Array3<u8>> {
                None
            }
            fn close(&mut self) {}
        }

        impl<$($generics)*> GymEnv<Array1<f32>, Array1<f32>> for $ty {
            fn observation_space(&self) -> GymSpace {
                to_gym_box(Env::observation_space(self))
            }
            fn action_space(&self) -> GymSpace {
                to_gym_space(Env::action_space(self))
            }
            fn reset(&mut self, seed: Option<i32>, options: GymOptions) -> (Array1<f32>, GymInfo) {
                gym_reset(self, seed, options)
            }
            fn step(&mut self, action: Array1<f32>) -> (Array1<f32>, Reward, bool, bool, GymInfo) {
                gym_step(self, Action::Continuous(action.to_vec()))
            }
            fn render(&self) -> Option<Array3<u8>> {
                None
            }
            fn close(&mut self) {}
        }
    )*};
}

impl_gym_env!(
    [] CartPole,
    [] Acrobot,
    [] MountainCar,
    [] Pendulum,
    [E: Env] TimeLimit<E>,
    [] BoxedEnv,
);

/// An action type of gymnasium-rs's trait, converted from ours.
pub trait GymRsAction: Sized {
    /// `None` if `action` is not a member of `space`, or of the wrong kind.
    fn from_action(action: &Action, space: &Space) -> Option<Self>;
}

impl GymRsAction for i32 {
    fn from_action(action: &Action, space: &Space) -> Option<Self> {
        match action {
            Action::Discrete(a) if space.contains(action) => i32::try_from(*a).ok(),
            _ => None,
        }
    }
}

impl GymRsAction for Array1<f32> {
    /// Only the shape is checked: whether out-of-range values are clipped or refused is the
    /// wrapped environment's business, as in Gymnasium.
    fn from_action(action: &Action, space: &Space) -> Option<Self> {
        match (action, space) {
            (Action::Continuous(v), Space::Box(b)) if v.len() == b.dim() => {
                Some(Array1::from(v.clone()))
            }
            _ => None,
        }
    }
}

/// A gymnasium-rs environment behind our [`Env`] trait. Its trait exposes no internal
/// state, so `set_state` is unsupported and `state` is `None`.
pub struct FromGymRs<E, A> {
    env: E,
    id: String,
    observation_space: BoxSpace,
    action_space: Space,
    obs: Vec<f32>,
    _action: PhantomData<fn(A)>,
}

impl<E: GymEnv<Array1<f32>, A>, A: GymRsAction> FromGymRs<E, A> {
    /// Wraps `env` under the name `id`; its spaces must be well formed, and its observation
    /// space a Box (observations here are float vectors).
    pub fn new(id: impl Into<String>, env: E) -> Result<Self, EnvError> {
        let id = id.into();
        let observation_space = match env.observation_space() {
            GymSpace::Box { low, high } => BoxSpace::try_new(low.to_vec(), high.to_vec())?,
            GymSpace::Discrete(n) => {
                return Err(EnvError::InvalidSpace(format!(
                    "{id}: observation space Discrete({n}) is not a Box"
                )));
            }
        };
        let action_space = match env.action_space() {
            GymSpace::Discrete(n) => {
                Space::Discrete(Discrete::new(u64::try_from(n).map_err(|_| {
                    EnvError::InvalidSpace(format!("{id}: action space Discrete({n})"))
                })?))
            }
            GymSpace::Box { low, high } => {
                Space::Box(BoxSpace::try_new(low.to_vec(), high.to_vec())?)
            }
        };
        Ok(FromGymRs {
            env,
            id,
            observation_space,
            action_space,
            obs: Vec::new(),
            _action: PhantomData,
        })
    }

    /// Unwraps the gymnasium-rs environment.
    pub fn into_inner(self) -> E {
        self.env
    }

    fn store_obs(&mut self, obs: &Array1<f32>) -> &[f32] {
        self.obs.clear();
        self.obs.extend(obs.iter().copied());
        &self.obs
    }
}

impl<E: GymEnv<Array1<f32>, A>, A: GymRsAction> Env for FromGymRs<E, A> {
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    /// Seeds are folded into the non-negative `i32` range that trait takes (seeds that
    /// differ only above bit 31 coincide).
    fn reset_with_options(
        &mut self,
        seed: Option<u64>,
        options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        let seed = seed.map(|s| (s & 0x7fff_ffff) as i32);
        let options = options
            .map(|o| o.clone().into_iter().collect())
            .unwrap_or_default();
        let (obs, info) = self.env.reset(seed, options);
        Ok((self.store_obs(&obs), info.into_iter().collect()))
    }

    fn step(&mut self, action: &Action) -> Result<crate::Step<'_>, EnvError> {
        let Some(a) = A::from_action(action, &self.action_space) else {
            return Err(crate::env::invalid_action(
                &self.id,
                action,
                &self.action_space,
            ));
        };
        let (obs, reward, terminated, truncated, info) = self.env.step(a);
        Ok(crate::Step {
            obs: self.store_obs(&obs),
            reward: f64::from(reward),
            terminated,
            truncated,
            info: info.into_iter().collect(),
        })
    }

    fn set_state(&mut self, _state: &[f64]) -> Result<(), EnvError> {
        Err(EnvError::Unsupported {
            env: self.id.clone(),
            operation: "set_state",
        })
    }

    fn state(&self) -> Option<&[f64]> {
        None
    }
}
