//! `make`: environments by their registered id, wrapped as `gymnasium.make` wraps them.

use crate::classic::{Acrobot, CartPole, MountainCar, Pendulum};
use crate::env::BoxedEnv;
use crate::error::EnvError;
use crate::minatar::{Breakout, Freeway};
use crate::time_limit::TimeLimit;
use crate::vector::{AutoresetMode, SyncVectorEnv};

/// Ids with this prefix name Python Gymnasium environments: `make("gymnasium:ALE/Pong-v5")`
/// runs `gymnasium.make("ALE/Pong-v5")` in Python (the `python` feature).
pub const GYMNASIUM_PREFIX: &str = "gymnasium:";

/// Keyword arguments for `gymnasium.make` (e.g. `{"frameskip": 1, "obs_type": "grayscale"}`).
pub type Kwargs = serde_json::Map<String, serde_json::Value>;

/// A registered environment: its id and the `max_episode_steps` registered for it.
#[derive(Debug, Clone, Copy)]
pub struct EnvSpec {
    /// The id `make` takes, e.g. `"CartPole-v1"`.
    pub id: &'static str,
    /// `None` where the id is registered without a time limit, so `make` adds no `TimeLimit`.
    pub max_episode_steps: Option<u64>,
    /// Builds the bare environment.
    pub entry_point: fn() -> BoxedEnv,
}

/// Everything `make` knows: the classic-control ids with Gymnasium 1.4's registered time
/// limits, and the MinAtar ids as MinAtar registers them.
pub const REGISTRY: [EnvSpec; 6] = [
    EnvSpec {
        id: "CartPole-v1",
        max_episode_steps: Some(500),
        entry_point: || Box::new(CartPole::new()),
    },
    EnvSpec {
        id: "Acrobot-v1",
        max_episode_steps: Some(500),
        entry_point: || Box::new(Acrobot::new()),
    },
    EnvSpec {
        id: "MountainCar-v0",
        max_episode_steps: Some(200),
        entry_point: || Box::new(MountainCar::new()),
    },
    EnvSpec {
        id: "Pendulum-v1",
        max_episode_steps: Some(200),
        entry_point: || Box::new(Pendulum::new()),
    },
    // MinAtar registers its games with no episode limit: Breakout runs until the ball is
    // lost, and Freeway ends itself after 2500 steps as a termination, not a truncation.
    EnvSpec {
        id: "MinAtar/Breakout-v1",
        max_episode_steps: None,
        entry_point: || Box::new(Breakout::new()),
    },
    EnvSpec {
        id: "MinAtar/Freeway-v1",
        max_episode_steps: None,
        entry_point: || Box::new(Freeway::new()),
    },
];

/// The registered spec of `id` (`gymnasium.spec(id)`).
///
/// # Errors
/// [`EnvError::UnknownEnv`] listing the registered ids.
pub fn spec(id: &str) -> Result<&'static EnvSpec, EnvError> {
    REGISTRY
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| EnvError::UnknownEnv {
            name: id.to_string(),
            known: REGISTRY.map(|s| s.id).join(", "),
        })
}

/// The bare environment, without the time limit (`gymnasium.make(id).unwrapped`).
pub fn make_unwrapped(id: &str) -> Result<BoxedEnv, EnvError> {
    Ok((spec(id)?.entry_point)())
}

/// `gymnasium.make(id)`: the environment inside a `TimeLimit` with its registered limit, or
/// bare where none is registered. (Gymnasium's `OrderEnforcing` is built into the
/// environments: stepping before a reset is an error; its `PassiveEnvChecker` has no
/// counterpart, the types already check.)
///
/// Ids starting with [`GYMNASIUM_PREFIX`] are made in Python, see [`make_with_kwargs`].
pub fn make(id: &str) -> Result<BoxedEnv, EnvError> {
    if id.starts_with(GYMNASIUM_PREFIX) {
        return make_with_kwargs(id, &Kwargs::new());
    }
    let env = make_unwrapped(id)?;
    Ok(match spec(id)?.max_episode_steps {
        Some(limit) => Box::new(TimeLimit::new(env, limit)?),
        None => env,
    })
}

/// `gymnasium.make(id, **kwargs)` for a `gymnasium:<id>` in Python, in the interpreter named
/// by `PATHNET_PYTHON` (else `python3`); Gymnasium applies its own time limit there. Needs the
/// `python` feature. Other ids take no keyword arguments and go to [`make`].
pub fn make_with_kwargs(id: &str, kwargs: &Kwargs) -> Result<BoxedEnv, EnvError> {
    match id.strip_prefix(GYMNASIUM_PREFIX) {
        Some(gym_id) => make_in_python(gym_id, kwargs),
        None => match kwargs.iter().next() {
            None => make(id),
            Some((key, value)) => Err(EnvError::InvalidOption {
                key: key.clone(),
                value: value.to_string(),
                reason: format!(
                    "{id} takes no make() keyword arguments; only {GYMNASIUM_PREFIX}<id> \
                     environments do"
                ),
            }),
        },
    }
}

#[cfg(feature = "python")]
fn make_in_python(gym_id: &str, kwargs: &Kwargs) -> Result<BoxedEnv, EnvError> {
    Ok(Box::new(crate::python::PythonEnv::new(gym_id, kwargs)?))
}

#[cfg(not(feature = "python"))]
fn make_in_python(gym_id: &str, _kwargs: &Kwargs) -> Result<BoxedEnv, EnvError> {
    Err(EnvError::Python {
        env: format!("{GYMNASIUM_PREFIX}{gym_id}"),
        reason: "Gymnasium environments run in Python need pathnet-envs built with \
                 `--features python`"
            .to_string(),
    })
}

/// `gymnasium.make_vec(id, num_envs, vectorization_mode="sync")`.
pub fn make_vec(id: &str, num_envs: usize, mode: AutoresetMode) -> Result<SyncVectorEnv, EnvError> {
    let envs = (0..num_envs)
        .map(|_| make(id))
        .collect::<Result<Vec<_>, _>>()?;
    SyncVectorEnv::new(envs, mode)
}
