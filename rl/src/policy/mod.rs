//! Actor-critic networks on nn's layers: a trunk (optional 3x3 convolution, fully connected
//! layers, optional LSTM cell) feeding a policy head and a value head.
//!
//! - `mlp`: `obs → [linear → act]* → {policy, value}`
//! - `lstm`: `obs → [linear → act]* → LSTM → {policy, value}`; the cell's state is carried
//!   across segments in [`Memory`] and reset at episode end; training back-propagates through
//!   the segment only, from the state the segment started in.
//! - `conv`: `obs (C×10×10) → conv 3x3 stride 1 → act → flatten → [linear → act]* → {…}`, the
//!   MinAtar baseline's shape.
//!
//! The policy head gives logits (`Discrete` spaces) or the Gaussian mean (`Box` spaces, with a
//! learned state-independent `log_std` tensor). Parameters are an ordered list of named tensors
//! ([`ActorCritic::param_names`]), the order gradients travel in. Acting ([`ActorCritic::act`])
//! runs on one observation through preallocated buffers; training
//! ([`ActorCritic::forward_segment`]) re-runs the segment as a batch with caches.

mod act;
mod activation;
#[cfg(test)]
mod tests;
mod train;

pub use act::{Memory, RecurrentState};
pub use train::SegmentPass;

use crate::config::{Activation, PolicyConfig, PolicyKind};
use crate::error::RlError;
use ndarray::{Array1, ArrayViewD, ArrayViewMutD};
use pathnet_envs::minatar::GRID;
use pathnet_envs::{Env, Space};
use pathnet_nn::{Conv2d, Conv2dSpec, Float, Init, Layer, Linear, LstmCell};
use rand::Rng;

/// The policy distribution's family and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionHead {
    /// Logits over `actions` choices.
    Categorical {
        /// The number of discrete actions, at least 1.
        actions: usize,
    },
    /// A diagonal Gaussian over `dim` components.
    Gaussian {
        /// The action vector's length, at least 1.
        dim: usize,
    },
}

impl ActionHead {
    /// The head that fits an environment's action space.
    pub fn for_space(space: &Space) -> Result<Self, RlError> {
        match space {
            Space::Discrete(d) => usize::try_from(d.n)
                .ok()
                .filter(|&n| n > 0)
                .map(|actions| ActionHead::Categorical { actions })
                .ok_or_else(|| RlError::config("env", space, "at least one action")),
            Space::Box(b) if b.dim() > 0 => Ok(ActionHead::Gaussian { dim: b.dim() }),
            Space::Box(_) => Err(RlError::config("env", space, "a non-empty action space")),
        }
    }

    /// Width of the policy head's output.
    pub fn width(self) -> usize {
        match self {
            ActionHead::Categorical { actions } => actions,
            ActionHead::Gaussian { dim } => dim,
        }
    }
}

struct ConvStem<F> {
    layer: Conv2d<F>,
    channels: usize,
}

/// An actor-critic network: a trunk (convolution, fully connected layers, optionally an LSTM
/// cell) shared by a policy head and a scalar value head, with named parameters.
pub struct ActorCritic<F: Float> {
    obs_dim: usize,
    head: ActionHead,
    activation: Activation,
    conv: Option<ConvStem<F>>,
    dense: Vec<Linear<F>>,
    lstm: Option<LstmCell<F>>,
    policy: Linear<F>,
    value: Linear<F>,
    log_std: Option<Array1<F>>,
}

/// The policy head starts this much smaller than its initialiser draws, so that the first
/// policy is close to uniform (or to the zero mean) and exploration is not biased by chance.
const POLICY_INIT_SCALE: f64 = 0.01;

impl<F: Float> ActorCritic<F> {
    /// A network for `obs_dim` inputs and `head`, with every parameter drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(
        config: &PolicyConfig,
        obs_dim: usize,
        head: ActionHead,
        rng: &mut R,
    ) -> Result<Self, RlError> {
        let init = match config.activation() {
            Activation::Relu => Init::HeUniform,
            Activation::Tanh => Init::XavierUniform,
        };
        let mut width = obs_dim;
        let conv = match config.kind {
            PolicyKind::Conv => {
                let cells = GRID * GRID;
                if obs_dim == 0 || !obs_dim.is_multiple_of(cells) {
                    return Err(RlError::config(
                        "policy.kind",
                        "\"conv\"",
                        format!("{GRID}x{GRID}xC observations, got {obs_dim} values"),
                    ));
                }
                let spec = Conv2dSpec {
                    in_channels: obs_dim / cells,
                    out_channels: config.conv_channels(),
                    kernel: 3,
                    stride: 1,
                    padding: 0,
                };
                let (h, w) = spec.output_size(GRID, GRID).expect("3x3 fits a 10x10 grid");
                width = spec.out_channels * h * w;
                Some(ConvStem {
                    layer: Conv2d::new(spec, init, rng),
                    channels: spec.in_channels,
                })
            }
            _ => None,
        };
        let mut dense = Vec::with_capacity(config.hidden.len());
        for &h in &config.hidden {
            dense.push(Linear::new(width, h, init, rng));
            width = h;
        }
        let lstm = (config.kind == PolicyKind::Lstm).then(|| {
            let cell = LstmCell::new(width, config.lstm_size(), Init::XavierUniform, rng);
            width = cell.hidden();
            cell
        });
        let policy_weight = Init::XavierUniform
            .sample::<F, R>(&[width, head.width()], width, head.width(), rng)
            .mapv(|w| w * F::of(POLICY_INIT_SCALE))
            .into_dimensionality()
            .expect("sampled with two axes");
        let policy = Linear::from_params(policy_weight, Array1::zeros(head.width()));
        let value = Linear::new(width, 1, Init::XavierUniform, rng);
        let log_std = match head {
            ActionHead::Gaussian { dim } => {
                Some(Array1::from_elem(dim, F::of(config.init_log_std)))
            }
            ActionHead::Categorical { .. } => None,
        };
        Ok(ActorCritic {
            obs_dim,
            head,
            activation: config.activation(),
            conv,
            dense,
            lstm,
            policy,
            value,
            log_std,
        })
    }

    /// A network fitting `env`'s observation and action spaces.
    pub fn for_env<R: Rng + ?Sized>(
        config: &PolicyConfig,
        env: &dyn Env,
        rng: &mut R,
    ) -> Result<Self, RlError> {
        let head = ActionHead::for_space(env.action_space())?;
        Self::new(config, env.observation_space().dim(), head, rng)
    }

    /// Values per observation the network takes (for `conv`, `C x 10 x 10` flattened).
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The policy head's distribution family and size.
    pub fn head(&self) -> ActionHead {
        self.head
    }

    /// Whether it has an LSTM cell, so acting carries a [`RecurrentState`] between steps.
    pub fn is_recurrent(&self) -> bool {
        self.lstm.is_some()
    }

    /// The Gaussian head's log standard deviations; `None` for a categorical head.
    pub fn log_std(&self) -> Option<&Array1<F>> {
        self.log_std.as_ref()
    }

    /// Every parameter tensor, in the order of [`ActorCritic::param_names`].
    pub fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        let mut out = Vec::new();
        if let Some(stem) = &self.conv {
            out.extend(stem.layer.params());
        }
        for layer in &self.dense {
            out.extend(layer.params());
        }
        if let Some(cell) = &self.lstm {
            out.extend(cell.params());
        }
        out.extend(self.policy.params());
        out.extend(self.value.params());
        out.extend(self.log_std.iter().map(|s| s.view().into_dyn()));
        out
    }

    /// Every parameter tensor, mutably, in the order of [`ActorCritic::param_names`].
    pub fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        let mut out = Vec::new();
        if let Some(stem) = &mut self.conv {
            out.extend(stem.layer.params_mut());
        }
        for layer in &mut self.dense {
            out.extend(layer.params_mut());
        }
        if let Some(cell) = &mut self.lstm {
            out.extend(cell.params_mut());
        }
        out.extend(self.policy.params_mut());
        out.extend(self.value.params_mut());
        out.extend(self.log_std.iter_mut().map(|s| s.view_mut().into_dyn()));
        out
    }

    /// Stable names of the tensors, e.g. `dense.0.weight`, `lstm.w_h`, `policy.bias`,
    /// `log_std`.
    pub fn param_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        let weight_bias = |out: &mut Vec<String>, prefix: &str| {
            out.push(format!("{prefix}.weight"));
            out.push(format!("{prefix}.bias"));
        };
        if self.conv.is_some() {
            weight_bias(&mut out, "conv");
        }
        for i in 0..self.dense.len() {
            weight_bias(&mut out, &format!("dense.{i}"));
        }
        if self.lstm.is_some() {
            out.extend(["lstm.w_x", "lstm.w_h", "lstm.bias"].map(String::from));
        }
        weight_bias(&mut out, "policy");
        weight_bias(&mut out, "value");
        if self.log_std.is_some() {
            out.push("log_std".into());
        }
        out
    }

    /// Shapes of the tensors, in order.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        self.params().iter().map(|p| p.shape().to_vec()).collect()
    }
}
