//! Environments with the Gymnasium API and semantics, and supervised datasets.
//!
//! Nothing here knows about networking or neural networks.
//!
//! The reinforcement-learning side mirrors Gymnasium 1.4: [`Env`] is `gymnasium.Env`
//! (`reset(seed) -> (obs, info)`, `step(action) -> (obs, reward, terminated, truncated,
//! info)`), [`Space`] covers `Discrete` and `Box`, [`TimeLimit`] and [`SyncVectorEnv`] are the
//! wrapper and vector env of the same names, and [`make`] builds environments by id with
//! their registered time limits. The classic-control dynamics are ports that match
//! Gymnasium's observations, rewards and flags for the same state and actions; the tests
//! check this against the Python package itself. [`minatar`] holds the MinAtar pixel games
//! (Breakout, Freeway), registered as `MinAtar/*-v1` without a time limit, as MinAtar does.
//! With the `python` feature, `make("gymnasium:<id>")` runs any Python Gymnasium environment
//! (Atari through `ale-py` too) in a Python child process, as a `PythonEnv`.

mod classic;
pub mod data;
mod env;
mod error;
#[cfg(feature = "gymnasium-rs")]
pub mod gymnasium_rs;
pub mod minatar;
#[cfg(feature = "python")]
mod python;
mod registry;
mod seeding;
mod space;
mod time_limit;
pub mod trace;
mod vector;
pub mod video;

pub use classic::{Acrobot, CartPole, MountainCar, Pendulum};
pub use env::{BoxedEnv, Env, Info, Options, Step};
pub use error::EnvError;
pub use minatar::{Breakout, Freeway};
#[cfg(feature = "python")]
pub use python::{
    DEFAULT_REPLY_TIMEOUT, DEFAULT_STARTUP_TIMEOUT, PYTHON_ENV_VAR, PythonEnv, PythonEnvBuilder,
    REPLY_TIMEOUT_VAR, STARTUP_TIMEOUT_VAR, default_python,
};
pub use registry::{
    EnvSpec, GYMNASIUM_PREFIX, Kwargs, REGISTRY, make, make_unwrapped, make_vec, make_with_kwargs,
    spec,
};
pub use space::{Action, BoxSpace, Discrete, Space};
pub use time_limit::TimeLimit;
pub use vector::{AutoresetMode, SyncVectorEnv, VecStep};
