//! Any Python Gymnasium environment (Atari through `ale-py` included) as an [`Env`], run in a
//! Python child process. Built with the `python` feature; see `docs/python_bridge.md`.
//!
//! The child runs an embedded script that calls `gymnasium.make(id, **kwargs)` and serves
//! reset/step requests in a small binary protocol, one write and one read per call. The
//! environment is exactly Gymnasium's, wrappers included (its own `TimeLimit`, so nothing is
//! added here); observations arrive flattened to `f32`. Every call has a time limit, so an
//! environment that hangs becomes an error instead of a stuck caller.

mod options;
mod process;
mod protocol;
mod watchdog;

use crate::env::{Env, Info, Options, Step, invalid_action};
use crate::error::EnvError;
use crate::registry::{GYMNASIUM_PREFIX, Kwargs};
use crate::space::{Action, BoxSpace, Discrete, Space};
pub use options::{
    DEFAULT_REPLY_TIMEOUT, DEFAULT_STARTUP_TIMEOUT, PYTHON_ENV_VAR, PythonEnvBuilder,
    REPLY_TIMEOUT_VAR, STARTUP_TIMEOUT_VAR, default_python,
};
use process::{CallError, Process};
use protocol::{ActionDescription, Status};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCRIPT: &str = include_str!("../../python/gymnasium_bridge.py");

/// A Gymnasium environment living in a Python process. The process is killed when this is
/// dropped; [`PythonEnv::close`] closes the environment properly first.
///
/// Errors name the environment as `gymnasium:<id>`. A Python exception comes back as an
/// error with its traceback and leaves the environment usable; a dead process, a reply that
/// cannot be read or one that does not come in time ([`EnvError::Timeout`]; the process is
/// then killed) ends it, and every later call says so.
pub struct PythonEnv {
    /// `gymnasium:<id>`, the name `make` accepts.
    id: String,
    python: PathBuf,
    reply_timeout: Duration,
    /// `None` once the process failed (the reason is in `failure`) or was closed.
    process: Option<Process>,
    failure: String,
    gymnasium_version: String,
    max_episode_steps: Option<u64>,
    observation_shape: Vec<usize>,
    observation_space: BoxSpace,
    action_space: Space,
    needs_reset: bool,
    obs: Vec<f32>,
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl std::fmt::Debug for PythonEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonEnv")
            .field("id", &self.id)
            .field("python", &self.python)
            .field("pid", &self.pid())
            .field("reply_timeout", &self.reply_timeout)
            .finish_non_exhaustive()
    }
}

impl PythonEnv {
    /// `gymnasium.make(id, **kwargs)` in the [`default_python`] interpreter, with the
    /// [`PythonEnvBuilder`]'s default time limits. `id` is a Gymnasium id such as
    /// `"ALE/Pong-v5"`; a leading `gymnasium:` is accepted and dropped.
    pub fn new(id: &str, kwargs: &Kwargs) -> Result<Self, EnvError> {
        Self::builder(id).kwargs(kwargs).build()
    }

    /// [`PythonEnv::new`] in the interpreter at `python`.
    pub fn with_python(python: &Path, id: &str, kwargs: &Kwargs) -> Result<Self, EnvError> {
        Self::builder(id).python(python).kwargs(kwargs).build()
    }

    /// For the interpreter, the keyword arguments and the time limits together.
    pub fn builder(id: &str) -> PythonEnvBuilder {
        PythonEnvBuilder::new(id)
    }

    fn start(
        python: &Path,
        id: &str,
        kwargs: &Kwargs,
        startup_timeout: Duration,
        reply_timeout: Duration,
    ) -> Result<Self, EnvError> {
        let gym_id = id.strip_prefix(GYMNASIUM_PREFIX).unwrap_or(id);
        let name = format!("{GYMNASIUM_PREFIX}{gym_id}");
        let process = Process::spawn(python, SCRIPT).map_err(|e| EnvError::Python {
            env: name.clone(),
            reason: format!(
                "could not start the Python interpreter {}: {e} (pass its path, or set {PYTHON_ENV_VAR})",
                python.display()
            ),
        })?;
        let mut env = PythonEnv {
            id: name,
            python: python.to_path_buf(),
            reply_timeout,
            process: Some(process),
            failure: String::new(),
            gymnasium_version: String::new(),
            max_episode_steps: None,
            observation_shape: Vec::new(),
            observation_space: BoxSpace::new(Vec::new(), Vec::new()),
            action_space: Space::Discrete(Discrete::new(0)),
            needs_reset: true,
            obs: Vec::new(),
            request: Vec::new(),
            reply: Vec::new(),
        };
        protocol::make_request(&mut env.request, gym_id, kwargs);
        env.exchange("gymnasium.make", startup_timeout)?;
        let description = protocol::description(&env.reply[1..])
            .and_then(|d| env.adopt(d))
            .map_err(|reason| env.fail("gymnasium.make", reason));
        description.map(|()| env)
    }

    /// Takes over the spaces that the Python side described.
    fn adopt(&mut self, d: protocol::Description) -> Result<(), protocol::Malformed> {
        let o = d.observation;
        let size: usize = o.shape.iter().product();
        let low = protocol::hex_f32(&o.low, "observation low")?;
        let high = protocol::hex_f32(&o.high, "observation high")?;
        if low.len() != size {
            return Err(format!(
                "observation space {} has {} bounds for shape {:?}",
                o.repr,
                low.len(),
                o.shape
            ));
        }
        self.observation_space = BoxSpace::try_new(low, high).map_err(|e| e.to_string())?;
        self.observation_shape = o.shape;
        self.action_space = match d.action {
            ActionDescription::Discrete { n, start } => Space::Discrete(Discrete { n, start }),
            ActionDescription::Box { shape, low, high } => {
                let low = protocol::hex_f32(&low, "action low")?;
                let high = protocol::hex_f32(&high, "action high")?;
                if low.len() != shape.iter().product::<usize>() {
                    return Err(format!(
                        "action space has {} bounds for shape {shape:?}",
                        low.len()
                    ));
                }
                Space::Box(BoxSpace::try_new(low, high).map_err(|e| e.to_string())?)
            }
        };
        self.gymnasium_version = d.gymnasium;
        self.max_episode_steps = d.max_episode_steps;
        Ok(())
    }

    /// The interpreter's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// The Python interpreter the environment runs in, as given (a path or a name on `PATH`).
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// How long each call waits for its reply.
    pub fn reply_timeout(&self) -> Duration {
        self.reply_timeout
    }

    /// Changes how long each later call waits for its reply (`Duration::MAX`: for ever).
    pub fn set_reply_timeout(&mut self, limit: Duration) {
        self.reply_timeout = limit;
    }

    /// `gymnasium.__version__` in the child.
    pub fn gymnasium_version(&self) -> &str {
        &self.gymnasium_version
    }

    /// `env.spec.max_episode_steps`: the limit Gymnasium's own `TimeLimit` applies.
    pub fn max_episode_steps(&self) -> Option<u64> {
        self.max_episode_steps
    }

    /// The observation's shape in Python (e.g. `[210, 160, 3]`); observations here are that
    /// array flattened in C order. Empty for a `Discrete` observation space.
    pub fn observation_shape(&self) -> &[usize] {
        &self.observation_shape
    }

    /// `env.close()` in Python, then waits (within the reply limit) for the process to exit.
    pub fn close(mut self) -> Result<(), EnvError> {
        let limit = self.reply_timeout;
        protocol::close_request(&mut self.request);
        self.exchange("close", limit)?;
        let waited = self.process.take().map_or(Ok(()), |p| p.wait(limit));
        waited.map_err(|e| match e {
            CallError::TimedOut => self.timed_out("close", limit),
            CallError::Send(e) | CallError::Receive(e) => EnvError::Python {
                env: self.id.clone(),
                reason: format!("close: could not wait for the Python process: {e}"),
            },
        })
    }

    /// The error for a call on an environment whose process has ended.
    fn gone(&self, what: &str) -> EnvError {
        EnvError::Python {
            env: self.id.clone(),
            reason: format!("{what}: the Python process is gone ({})", self.failure),
        }
    }

    /// Sends `self.request`, reads the reply into `self.reply` within `limit` and checks that
    /// it is a success; the payload is then `self.reply[1..]`.
    fn exchange(&mut self, what: &'static str, limit: Duration) -> Result<(), EnvError> {
        let Some(process) = self.process.as_mut() else {
            return Err(self.gone(what));
        };
        let problem = match process.call(&self.request, &mut self.reply, limit) {
            Ok(()) => None,
            Err(CallError::TimedOut) => return Err(self.timed_out(what, limit)),
            Err(CallError::Send(e)) => Some(format!("could not send the request ({e})")),
            Err(CallError::Receive(e)) => Some(match e.kind() {
                io::ErrorKind::UnexpectedEof => "no complete reply".to_string(),
                io::ErrorKind::InvalidData => e.to_string(),
                _ => format!("could not read the reply ({e})"),
            }),
        };
        if let Some(problem) = problem {
            let report = process.post_mortem();
            return Err(self.fail(what, format!("{problem}; {report}")));
        }
        match protocol::status(&self.reply) {
            Ok(Status::Ok(_)) => Ok(()),
            Ok(Status::Raised(traceback)) => Err(EnvError::Python {
                env: self.id.clone(),
                reason: format!("{what} raised in Python:\n{traceback}"),
            }),
            Ok(Status::Unsupported(_)) if what == "set_state" => Err(EnvError::Unsupported {
                env: self.id.clone(),
                operation: "set_state",
            }),
            Ok(Status::Unsupported(message)) => Err(EnvError::Python {
                env: self.id.clone(),
                reason: format!("{what}: {message}"),
            }),
            Err(reason) => Err(self.fail(what, reason)),
        }
    }

    /// Gives up on the process (killing it) after `what` got no reply within `limit`.
    fn timed_out(&mut self, what: &'static str, limit: Duration) -> EnvError {
        self.process = None;
        self.failure = format!("{what} got no reply within {limit:?}, so the process was killed");
        EnvError::Timeout {
            env: self.id.clone(),
            call: what,
            limit,
        }
    }

    /// Gives up on the process after `what` failed for `reason`.
    fn fail(&mut self, what: &str, reason: String) -> EnvError {
        self.process = None;
        self.failure = format!("{what} failed: {reason}");
        EnvError::Python {
            env: self.id.clone(),
            reason: self.failure.clone(),
        }
    }
}

impl Env for PythonEnv {
    fn id(&self) -> &str {
        &self.id
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
        protocol::reset_request(&mut self.request, seed, options);
        self.exchange("reset", self.reply_timeout)?;
        let info = protocol::reset_reply(
            &self.reply[1..],
            &mut self.obs,
            self.observation_space.dim(),
        )
        .map_err(|reason| self.fail("reset", reason))?;
        self.needs_reset = false;
        Ok((&self.obs, info))
    }

    /// Discrete actions outside the space are refused here; continuous actions go to Python
    /// as they are (of the right length), where the environment clips or rejects them.
    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        if self.process.is_none() {
            // Said before anything else: no reset can help.
            return Err(self.gone("step"));
        }
        if self.needs_reset {
            // Gymnasium's OrderEnforcing would raise the same; no need to ask.
            return Err(EnvError::NeedsReset {
                env: self.id.clone(),
            });
        }
        match (&self.action_space, action) {
            (Space::Discrete(d), Action::Discrete(a)) if d.contains(*a) => {
                protocol::discrete_step_request(&mut self.request, *a);
            }
            (Space::Box(b), Action::Continuous(v)) if v.len() == b.dim() => {
                protocol::continuous_step_request(&mut self.request, v);
            }
            _ => return Err(invalid_action(&self.id, action, &self.action_space)),
        }
        self.exchange("step", self.reply_timeout)?;
        let reply = protocol::step_reply(
            &self.reply[1..],
            &mut self.obs,
            self.observation_space.dim(),
        )
        .map_err(|reason| self.fail("step", reason))?;
        Ok(Step {
            obs: &self.obs,
            reward: reply.reward,
            terminated: reply.terminated,
            truncated: reply.truncated,
            info: reply.info,
        })
    }

    /// Assigns `env.unwrapped.state` (float64, reshaped to the current state's shape), as
    /// the Gymnasium reference tests do. `Unsupported` for environments without a `state`.
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        protocol::set_state_request(&mut self.request, state);
        self.exchange("set_state", self.reply_timeout)
    }

    /// Always `None`: reading the state would cost a round trip per call.
    fn state(&self) -> Option<&[f64]> {
        None
    }
}
