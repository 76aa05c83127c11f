//! The spec of an A3C experiment (`kind = "a3c"`): the `[a3c]` table is the reinforcement
//! learning crate's own config, so the coordinator, the agents and the in-process run read
//! one schema with one set of defaults.

use super::limits::{self, MemoryEstimate, dense_parameters};
use super::{SpecError, invalid};
use pathnet_envs::Space;
use pathnet_rl::{A3cConfig, PolicyKind, RlError};
use serde::{Deserialize, Serialize};

/// An A3C experiment: workers' rollouts train one shared policy, the coordinator holding
/// its parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A3cSpec {
    /// The experiment's name; a coordinator's experiment ids are `<name>-<number>`.
    pub name: String,
    /// Seeds the initial parameters and every worker's environment and action sampling
    /// (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Most A3C worker leases outstanding at once over all agents; each agent holds as many
    /// as its `--workers`.
    #[serde(default = "default_max_workers")]
    pub max_workers: usize,
    /// The `[a3c]` table: environment, policy network, optimiser and step budget.
    pub a3c: A3cConfig,
}

fn default_max_workers() -> usize {
    64
}

impl A3cSpec {
    /// Checks `max_workers`, every size against the coordinator's bounds, then the `[a3c]`
    /// table; the error names the first bad field.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.max_workers == 0 {
            return Err(invalid("max_workers", 0, "must be at least 1"));
        }
        self.check_bounds()?;
        self.a3c.validate().map_err(spec_error)
    }

    /// The sizes, each below its bound, so that nothing the spec asks for aborts the process.
    fn check_bounds(&self) -> Result<(), SpecError> {
        use limits::*;
        let (a, policy) = (&self.a3c, &self.a3c.policy);
        #[rustfmt::skip]
        let bounds = [
            ("max_workers", self.max_workers, MAX_WORKERS, "worker leases"),
            ("a3c.workers", a.workers, MAX_WORKERS, "workers"),
            ("a3c.t_max", a.t_max, MAX_T_MAX, "rollout steps per update"),
            ("a3c.stop.window", a.stop.window, MAX_STEPS, "episodes averaged"),
            ("a3c.policy.hidden", policy.hidden.len(), MAX_LAYERS, "hidden layers"),
            ("a3c.policy.lstm_size", policy.lstm_size.unwrap_or(0), MAX_UNITS, "units"),
            ("a3c.policy.conv_channels", policy.conv_channels.unwrap_or(0), MAX_CONV_FILTERS, "filters"),
        ];
        at_most_each(&bounds)?;
        for (i, &width) in policy.hidden.iter().enumerate() {
            at_most(
                &format!("a3c.policy.hidden[{i}]"),
                width,
                MAX_UNITS,
                "units",
            )?;
        }
        Ok(())
    }

    /// The memory of the run: the policy's parameters held four times (the parameters, the
    /// shared RMSProp statistics, a gradient being applied and the answer sent back). The
    /// convolution's output is counted at the observation's size per channel, an upper bound.
    pub fn memory_estimate(&self) -> Result<MemoryEstimate, SpecError> {
        let env = self.a3c.make_env().map_err(spec_error)?;
        let obs = env.observation_space().dim();
        let outputs = match env.action_space() {
            Space::Discrete(d) => d.n as usize + 1,
            Space::Box(b) => 2 * b.dim() + 1,
        };
        let policy = &self.a3c.policy;
        let mut widths = vec![obs];
        let mut parameters = 0u128;
        match policy.kind {
            PolicyKind::Mlp => {}
            PolicyKind::Lstm => {
                let h = policy.lstm_size() as u128;
                parameters += 4 * (obs as u128 + h + 1) * h;
                widths = vec![policy.lstm_size()];
            }
            PolicyKind::Conv => {
                let c = policy.conv_channels() as u128;
                parameters += (9 * obs as u128 + 1) * c;
                widths = vec![obs.saturating_mul(policy.conv_channels())];
            }
        }
        widths.extend(&policy.hidden);
        widths.push(outputs);
        Ok(MemoryEstimate {
            field: "a3c.policy",
            parameters: parameters + dense_parameters(&widths),
            copies: 4,
            other_bytes: 0,
        })
    }

    /// The `[a3c]` table as TOML text, as agents receive it.
    pub fn config_toml(&self) -> String {
        toml::to_string(&self.a3c).expect("an A3C config is plain TOML data")
    }
}

/// An error of the `[a3c]` table, named by its path in the spec.
pub(super) fn spec_error(err: RlError) -> SpecError {
    match err {
        RlError::Config {
            field,
            value,
            expected,
        } => invalid(&format!("a3c.{field}"), value, expected),
        other => invalid("a3c", "", other.to_string()),
    }
}
