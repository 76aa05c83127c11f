//! The `[a3c]` table of an experiment: environment, A3C hyperparameters, network and stop rule.
//!
//! Every key has a default except `env`; unknown keys are rejected, and [`A3cConfig::validate`]
//! names the field and the bad value. Defaults follow Mnih et al. 2016 where the paper gives
//! one (gamma 0.99, shared RMSProp with alpha 0.99 and eps 0.1, entropy 0.01, t_max 5,
//! 16 threads, learning rate annealed to 0). `docs/a3c.md` documents every key.

use crate::error::RlError;
use pathnet_envs::minatar::GRID;
use pathnet_envs::{BoxedEnv, Env, Space};
use pathnet_nn::RmsPropConfig;
use serde::{Deserialize, Serialize};

/// An experiment's `[a3c]` table: every key of `docs/a3c.md`, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A3cConfig {
    /// A registered environment id, e.g. `CartPole-v1`.
    pub env: String,
    /// Most environment steps per segment (one gradient update); a segment also ends with its
    /// episode.
    #[serde(default = "defaults::t_max")]
    pub t_max: usize,
    /// Discount factor of the n-step returns, in `[0, 1]` (default 0.99).
    #[serde(default = "defaults::gamma")]
    pub gamma: f64,
    /// The shared RMSProp's step size, positive; the starting one when annealed (default 7e-4).
    #[serde(default = "defaults::learning_rate")]
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to 0 at `stop.max_env_steps`, as the paper does.
    #[serde(default = "defaults::yes")]
    pub anneal_learning_rate: bool,
    /// Decay of the shared mean squared gradient, in `[0, 1)` (default 0.99).
    #[serde(default = "defaults::rmsprop_alpha")]
    pub rmsprop_alpha: f64,
    /// Added under RMSProp's square root, positive (default 0.1, the paper's: it damps steps
    /// of rarely updated weights).
    #[serde(default = "defaults::rmsprop_eps")]
    pub rmsprop_eps: f64,
    /// Weight of the entropy bonus, at least 0 (default 0.01).
    #[serde(default = "defaults::entropy_beta")]
    pub entropy_beta: f64,
    /// Weight of the critic term `0.5 * (R - V)^2`.
    #[serde(default = "defaults::value_coef")]
    pub value_coef: f64,
    /// Global L2 norm each segment's gradient is clipped to, in the worker, before it is pushed.
    #[serde(default = "defaults::max_grad_norm")]
    pub max_grad_norm: f64,
    /// Rewards are multiplied by this before returns are computed (episode returns in the
    /// statistics and the stop rule stay unscaled).
    #[serde(default = "defaults::reward_scale")]
    pub reward_scale: f64,
    /// Updates computed against parameters more than this many versions old are dropped.
    #[serde(default = "defaults::max_staleness")]
    pub max_staleness: u64,
    /// Worker threads per process.
    #[serde(default = "defaults::workers")]
    pub workers: usize,
    /// The actor-critic network (`[a3c.policy]`).
    #[serde(default)]
    pub policy: PolicyConfig,
    /// When training ends (`[a3c.stop]`).
    #[serde(default)]
    pub stop: StopConfig,
}

/// The actor-critic network's architecture (`policy.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Fully connected trunk.
    Mlp,
    /// Fully connected encoder, then an LSTM cell.
    Lstm,
    /// One convolution over a channel-first 10x10 grid (MinAtar), then fully connected layers.
    Conv,
}

/// The nonlinearity after every hidden layer and the convolution (`policy.activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)`, bounded in `(-1, 1)`.
    Tanh,
}

/// The `[a3c.policy]` table: the actor-critic network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The architecture (default `mlp`).
    pub kind: PolicyKind,
    /// Widths of the fully connected hidden layers (for `conv`, those after the convolution).
    pub hidden: Vec<usize>,
    /// Default: `tanh` for `mlp` and `lstm` (a ReLU critic extrapolates without bound and
    /// diverged on CartPole with bootstrapped returns), `relu` for `conv` (MinAtar's baseline).
    pub activation: Option<Activation>,
    /// Width of the LSTM cell; only for `kind = "lstm"` (default 64).
    pub lstm_size: Option<usize>,
    /// Output channels of the 3x3 convolution; only for `kind = "conv"` (default 16).
    pub conv_channels: Option<usize>,
    /// Initial log standard deviation of the Gaussian head (Box action spaces only), in
    /// `[-20, 2]` (default 0).
    pub init_log_std: f64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            kind: PolicyKind::Mlp,
            hidden: vec![128],
            activation: None,
            lstm_size: None,
            conv_channels: None,
            init_log_std: 0.0,
        }
    }
}

impl PolicyConfig {
    /// The LSTM cell's width when `lstm_size` is not given.
    pub const DEFAULT_LSTM_SIZE: usize = 64;
    /// The convolution's output channels when `conv_channels` is not given.
    pub const DEFAULT_CONV_CHANNELS: usize = 16;

    /// The activation in effect: the one given, else the kind's default.
    pub fn activation(&self) -> Activation {
        self.activation.unwrap_or(match self.kind {
            PolicyKind::Mlp | PolicyKind::Lstm => Activation::Tanh,
            PolicyKind::Conv => Activation::Relu,
        })
    }

    /// The LSTM width in effect (meaningful for `kind = "lstm"` only).
    pub fn lstm_size(&self) -> usize {
        self.lstm_size.unwrap_or(Self::DEFAULT_LSTM_SIZE)
    }

    /// The convolution's channels in effect (meaningful for `kind = "conv"` only).
    pub fn conv_channels(&self) -> usize {
        self.conv_channels.unwrap_or(Self::DEFAULT_CONV_CHANNELS)
    }
}

/// When training ends: whichever of the two rules holds first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopConfig {
    /// Stop once the mean undiscounted return of the last `window` episodes reaches this.
    pub target_return: Option<f64>,
    /// Episodes averaged for the stop rule and the reported mean return, at least 1
    /// (default 100).
    pub window: usize,
    /// Stop once this many environment steps have been taken over all workers; also where
    /// the annealed learning rate reaches 0 (default 10,000,000).
    pub max_env_steps: u64,
}

impl Default for StopConfig {
    fn default() -> Self {
        StopConfig {
            target_return: None,
            window: 100,
            max_env_steps: 10_000_000,
        }
    }
}

mod defaults {
    pub(super) fn t_max() -> usize {
        5
    }
    pub(super) fn gamma() -> f64 {
        0.99
    }
    pub(super) fn learning_rate() -> f64 {
        7e-4
    }
    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn rmsprop_alpha() -> f64 {
        0.99
    }
    pub(super) fn rmsprop_eps() -> f64 {
        0.1
    }
    pub(super) fn entropy_beta() -> f64 {
        0.01
    }
    pub(super) fn value_coef() -> f64 {
        0.5
    }
    pub(super) fn max_grad_norm() -> f64 {
        40.0
    }
    pub(super) fn reward_scale() -> f64 {
        1.0
    }
    pub(super) fn max_staleness() -> u64 {
        64
    }
    pub(super) fn workers() -> usize {
        16
    }
}

impl A3cConfig {
    /// The defaults for `env`.
    pub fn new(env: impl Into<String>) -> Self {
        A3cConfig {
            env: env.into(),
            t_max: defaults::t_max(),
            gamma: defaults::gamma(),
            learning_rate: defaults::learning_rate(),
            anneal_learning_rate: defaults::yes(),
            rmsprop_alpha: defaults::rmsprop_alpha(),
            rmsprop_eps: defaults::rmsprop_eps(),
            entropy_beta: defaults::entropy_beta(),
            value_coef: defaults::value_coef(),
            max_grad_norm: defaults::max_grad_norm(),
            reward_scale: defaults::reward_scale(),
            max_staleness: defaults::max_staleness(),
            workers: defaults::workers(),
            policy: PolicyConfig::default(),
            stop: StopConfig::default(),
        }
    }

    /// The shared optimiser's settings (its learning rate is the starting one when annealed).
    pub fn rmsprop(&self) -> RmsPropConfig {
        RmsPropConfig {
            lr: self.learning_rate,
            alpha: self.rmsprop_alpha,
            eps: self.rmsprop_eps,
        }
    }

    /// Checks every setting, including that the policy fits the environment's spaces.
    pub fn validate(&self) -> Result<(), RlError> {
        self.validate_for(&self.make_env()?)
    }

    /// `gymnasium.make(env)`, with an error naming the field when the id is unknown.
    pub fn make_env(&self) -> Result<BoxedEnv, RlError> {
        pathnet_envs::make(&self.env).map_err(|e| {
            RlError::config(
                "env",
                format!("{:?}", self.env),
                format!("a registered environment ({e})"),
            )
        })
    }

    /// Checks every setting against `env` in place of the registered `env` id.
    pub fn validate_for(&self, env: &dyn Env) -> Result<(), RlError> {
        require("t_max", self.t_max, self.t_max >= 1, "at least 1")?;
        finite(
            "gamma",
            self.gamma,
            (0.0..=1.0).contains(&self.gamma),
            "in [0, 1]",
        )?;
        finite(
            "learning_rate",
            self.learning_rate,
            self.learning_rate > 0.0,
            "positive",
        )?;
        let alpha = self.rmsprop_alpha;
        finite(
            "rmsprop_alpha",
            alpha,
            (0.0..1.0).contains(&alpha),
            "in [0, 1)",
        )?;
        finite(
            "rmsprop_eps",
            self.rmsprop_eps,
            self.rmsprop_eps > 0.0,
            "positive",
        )?;
        finite(
            "entropy_beta",
            self.entropy_beta,
            self.entropy_beta >= 0.0,
            "at least 0",
        )?;
        finite(
            "value_coef",
            self.value_coef,
            self.value_coef >= 0.0,
            "at least 0",
        )?;
        finite(
            "max_grad_norm",
            self.max_grad_norm,
            self.max_grad_norm > 0.0,
            "positive",
        )?;
        finite(
            "reward_scale",
            self.reward_scale,
            self.reward_scale > 0.0,
            "positive",
        )?;
        require("workers", self.workers, self.workers >= 1, "at least 1")?;
        let staleness = self.max_staleness;
        require(
            "max_staleness",
            staleness,
            staleness <= TOML_INT_MAX,
            TOML_INT,
        )?;
        self.stop.validate()?;
        self.policy.validate(env)
    }
}

impl StopConfig {
    /// Checks the stop rule on its own.
    ///
    /// # Errors
    /// [`RlError::Config`] naming the `stop.*` field and its bad value.
    pub fn validate(&self) -> Result<(), RlError> {
        require("stop.window", self.window, self.window >= 1, "at least 1")?;
        if let Some(target) = self.target_return {
            finite("stop.target_return", target, true, "a finite number")?;
        }
        let steps = self.max_env_steps;
        require("stop.max_env_steps", steps, steps >= 1, "at least 1")?;
        require("stop.max_env_steps", steps, steps <= TOML_INT_MAX, TOML_INT)
    }
}

impl PolicyConfig {
    fn validate(&self, env: &dyn Env) -> Result<(), RlError> {
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(RlError::config(
                format!("policy.hidden[{i}]"),
                0,
                "a positive layer width",
            ));
        }
        let only_for = |field: &str, kind: &str, set: bool| {
            if set {
                Err(RlError::config(
                    format!("policy.{field}"),
                    "(set)",
                    format!("only allowed with policy.kind = \"{kind}\""),
                ))
            } else {
                Ok(())
            }
        };
        only_for(
            "lstm_size",
            "lstm",
            self.kind != PolicyKind::Lstm && self.lstm_size.is_some(),
        )?;
        only_for(
            "conv_channels",
            "conv",
            self.kind != PolicyKind::Conv && self.conv_channels.is_some(),
        )?;
        require(
            "policy.lstm_size",
            self.lstm_size(),
            self.lstm_size() >= 1,
            "at least 1",
        )?;
        let channels = self.conv_channels();
        require(
            "policy.conv_channels",
            channels,
            channels >= 1,
            "at least 1",
        )?;
        let log_std = self.init_log_std;
        finite(
            "policy.init_log_std",
            log_std,
            (-20.0..=2.0).contains(&log_std),
            "in [-20, 2]",
        )?;
        let obs = env.observation_space().dim();
        if self.kind == PolicyKind::Conv && (obs == 0 || !obs.is_multiple_of(GRID * GRID)) {
            return Err(RlError::config(
                "policy.kind",
                "\"conv\"",
                format!(
                    "an environment with channel-first {GRID}x{GRID} grid observations; {} \
                     observes {obs} values",
                    env.id()
                ),
            ));
        }
        match env.action_space() {
            Space::Discrete(d) if d.n == 0 => Err(RlError::config(
                "env",
                env.id(),
                "an environment with at least one action",
            )),
            _ => Ok(()),
        }
    }
}

/// The config travels as TOML text (coordinator to agents), whose integers are signed 64-bit.
const TOML_INT_MAX: u64 = i64::MAX as u64;
const TOML_INT: &str = "at most 9223372036854775807 (a TOML integer)";

fn require(
    field: &str,
    value: impl std::fmt::Display,
    ok: bool,
    expected: &str,
) -> Result<(), RlError> {
    if ok {
        Ok(())
    } else {
        Err(RlError::config(field, value, expected))
    }
}

/// Like [`require`], and the value must be finite (NaN and infinities fail every range).
fn finite(field: &str, value: f64, ok: bool, expected: &str) -> Result<(), RlError> {
    require(field, value, ok && value.is_finite(), expected)
}

#[cfg(test)]
mod tests;
