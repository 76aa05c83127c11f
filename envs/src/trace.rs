//! Drive an environment from a given internal state through a list of actions: the logic
//! behind `pathnet env trace`, and a way to compare against Gymnasium by hand.

use crate::env::{Env, invalid_action};
use crate::error::EnvError;
use crate::registry::make;
use crate::space::{Action, Space};
use serde::Serialize;

/// One step's outcome, serialised as `{"obs": [...], "reward": r, "terminated": b,
/// "truncated": b}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    /// The observation after the action.
    pub obs: Vec<f32>,
    /// The step's reward.
    pub reward: f64,
    /// Gymnasium's `terminated`: the task reached a terminal state.
    pub terminated: bool,
    /// Gymnasium's `truncated`: a time limit cut the episode off.
    pub truncated: bool,
}

fn split_list<'a>(text: &'a str, what: &'static str) -> Result<Vec<&'a str>, EnvError> {
    if text.trim().is_empty() {
        return Err(EnvError::Parse {
            what,
            value: text.to_string(),
            reason: "expected a comma-separated list of numbers".to_string(),
        });
    }
    Ok(text.split(',').map(str::trim).collect())
}

/// A comma-separated internal state, e.g. `"0.01,0,-0.02,0.1"`.
pub fn parse_state(text: &str) -> Result<Vec<f64>, EnvError> {
    split_list(text, "state")?
        .into_iter()
        .map(|v| {
            v.parse::<f64>().map_err(|e| EnvError::Parse {
                what: "state value",
                value: v.to_string(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Comma-separated actions for `space`: integers in range for a discrete space, one float
/// per step for a one-dimensional box (out-of-range floats are left for the environment to
/// clip, as Gymnasium does).
pub fn parse_actions(text: &str, env_id: &str, space: &Space) -> Result<Vec<Action>, EnvError> {
    split_list(text, "actions")?
        .into_iter()
        .map(|v| parse_action(v, env_id, space))
        .collect()
}

fn parse_action(v: &str, env_id: &str, space: &Space) -> Result<Action, EnvError> {
    let parse_err = |reason: String| EnvError::Parse {
        what: "action",
        value: v.to_string(),
        reason,
    };
    match space {
        Space::Discrete(d) => {
            let a = v
                .parse::<i64>()
                .map_err(|e| parse_err(format!("{e} (this environment takes integer actions)")))?;
            if !d.contains(a) {
                return Err(invalid_action(env_id, &Action::Discrete(a), space));
            }
            Ok(Action::Discrete(a))
        }
        Space::Box(b) if b.dim() == 1 => {
            let a = v.parse::<f32>().map_err(|e| parse_err(e.to_string()))?;
            if a.is_nan() {
                return Err(parse_err("NaN is not a valid action".to_string()));
            }
            Ok(Action::Continuous(vec![a]))
        }
        Space::Box(b) => Err(parse_err(format!(
            "a {}-dimensional action cannot be written as one number",
            b.dim()
        ))),
    }
}

/// Makes `id` (with its time limit), resets it, overwrites its state, and applies `actions`
/// until the first terminated or truncated step. The step counter of the time limit starts
/// at 0 when the state is set.
pub fn trace(id: &str, state: &[f64], actions: &[Action]) -> Result<Vec<TraceStep>, EnvError> {
    let mut env = make(id)?;
    env.reset(Some(0))?;
    env.set_state(state)?;
    let mut steps = Vec::new();
    for action in actions {
        let s = env.step(action)?;
        steps.push(TraceStep {
            obs: s.obs.to_vec(),
            reward: s.reward,
            terminated: s.terminated,
            truncated: s.truncated,
        });
        if s.terminated || s.truncated {
            break;
        }
    }
    Ok(steps)
}

/// [`trace`] from text, as the command line gives it. Everything is parsed and checked
/// before the first step, so a bad action late in the list fails without output.
pub fn trace_text(id: &str, state: &str, actions: &str) -> Result<Vec<TraceStep>, EnvError> {
    let env = make(id)?;
    let state = parse_state(state)?;
    let actions = parse_actions(actions, id, env.action_space())?;
    trace(id, &state, &actions)
}
