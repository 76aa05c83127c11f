//! What is fixed for a whole safe-mutation PathNet run (the tasks' environments and the
//! super-network), and the fitness of one pathway: its greedy policy's mean episode return.

use crate::EvoError;
use crate::task::{BROKEN_FITNESS, evenly_spaced};
use ndarray::{Array2, ArrayD, Axis};
use pathnet_envs::{Action, Env, Space};
use pathnet_nn::pathnet::build::{LinearModules, linear};
use pathnet_nn::pathnet::{PathNet, PathNetDims, Pathway};
use serde::{Deserialize, Serialize};

/// The super-network and the tasks its pathways are evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathwayProblem {
    /// One environment id per task, in the order the tasks are learned.
    pub envs: Vec<String>,
    /// Shared layers `L`, modules per layer `M`, active modules per layer at most `N`.
    pub layers: usize,
    pub modules: usize,
    pub max_active: usize,
    /// Units of every module (`Linear + ReLU`).
    pub units: usize,
    /// Seeds the super-network's base weights (modules and heads).
    pub base_seed: u64,
    /// Episodes per evaluation; episode `e` resets its environment with seed
    /// `episode_seed + e`, so every genome of a task meets the same episodes.
    pub episodes: usize,
    pub episode_seed: u64,
    /// The most observations kept from an evaluation for the safe-mutation operators.
    pub max_experience: usize,
}

/// What an environment looks like to the super-network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvShape {
    pub observations: usize,
    pub actions: usize,
    /// The action the first output stands for (Gymnasium's `Discrete.start`).
    pub first_action: i64,
}

/// Bounds that keep a spec from asking for more than an evaluation can hold.
const MAX_SIZE: usize = 4096;

impl PathwayProblem {
    pub fn validate(&self) -> Result<(), EvoError> {
        if self.envs.is_empty() {
            return Err(EvoError::invalid("envs", "[]", "name at least one task"));
        }
        for (field, value) in [
            ("layers", self.layers),
            ("modules", self.modules),
            ("max_active", self.max_active),
            ("units", self.units),
            ("episodes", self.episodes),
            ("experience", self.max_experience),
        ] {
            if value == 0 || value > MAX_SIZE {
                return Err(EvoError::invalid(
                    field,
                    value,
                    format!("must be between 1 and {MAX_SIZE}"),
                ));
            }
        }
        self.dims()?;
        self.shapes()?;
        Ok(())
    }

    pub fn dims(&self) -> Result<PathNetDims, EvoError> {
        PathNetDims::new(self.layers, self.modules, self.max_active).map_err(|err| {
            EvoError::invalid(
                "max_active",
                self.max_active,
                format!("with {} modules per layer: {err}", self.modules),
            )
        })
    }

    /// Every task's observation width and action count; only flat observations and discrete
    /// actions can drive a pathway's greedy policy.
    pub fn shapes(&self) -> Result<Vec<EnvShape>, EvoError> {
        self.envs.iter().map(|id| env_shape(id)).collect()
    }

    /// The width of the first layer's input: the widest observation. Narrower observations
    /// are padded with zeros, so every task can reuse every module.
    pub fn inputs(&self) -> Result<usize, EvoError> {
        Ok(self
            .shapes()?
            .iter()
            .map(|s| s.observations)
            .max()
            .unwrap_or(1))
    }

    /// The base super-network: every module and head drawn from `base_seed`.
    pub fn base_network(&self) -> Result<PathNet<f32>, EvoError> {
        let heads: Vec<usize> = self.shapes()?.iter().map(|s| s.actions).collect();
        let modules = LinearModules {
            inputs: self.inputs()?,
            units: self.units,
        };
        Ok(linear::<f32>(
            self.dims()?,
            modules,
            &heads,
            self.base_seed,
        )?)
    }

    /// Evaluates `pathway` with task `task`'s head on that task's episodes.
    pub fn evaluate(
        &self,
        net: &PathNet<f32>,
        pathway: &Pathway,
        task: usize,
    ) -> Result<Evaluation, EvoError> {
        let id = self
            .envs
            .get(task)
            .ok_or_else(|| EvoError::invalid("task", task, "no such task"))?;
        let inputs = self.inputs()?;
        let first_action = env_shape(id)?.first_action;
        let mut env = pathnet_envs::make(id).map_err(|err| EvoError::Env(err.to_string()))?;
        let mut seen: Vec<f32> = Vec::new();
        let mut total = 0.0;
        let mut steps = 0usize;
        'episodes: for e in 0..self.episodes {
            let (obs, _) = env
                .reset(Some(self.episode_seed.wrapping_add(e as u64)))
                .map_err(|err| EvoError::Env(err.to_string()))?;
            let mut obs = obs.to_vec();
            loop {
                let row = seen.len();
                seen.extend_from_slice(&obs);
                seen.resize(row + inputs, 0.0);
                let input = Array2::from_shape_vec((1, inputs), seen[row..].to_vec())
                    .expect("one padded row");
                let out = net.forward(pathway, task, input.view().into_dyn())?.output;
                let Some(action) = greedy(out.view().index_axis(Axis(0), 0).iter()) else {
                    total = BROKEN_FITNESS * self.episodes as f64;
                    break 'episodes;
                };
                let step = env
                    .step(&Action::Discrete(first_action + action as i64))
                    .map_err(|err| EvoError::Env(err.to_string()))?;
                total += step.reward;
                steps += 1;
                if step.terminated || step.truncated {
                    break;
                }
                obs = step.obs.to_vec();
            }
        }
        let rows = seen.len() / inputs;
        let keep = evenly_spaced(rows, self.max_experience);
        let mut experience = Array2::<f32>::zeros((keep.len(), inputs));
        for (out, &row) in keep.iter().enumerate() {
            experience.row_mut(out).assign(&ndarray::ArrayView1::from(
                &seen[row * inputs..(row + 1) * inputs],
            ));
        }
        Ok(Evaluation {
            fitness: total / self.episodes as f64,
            steps,
            experience: experience.into_dyn(),
        })
    }
}

/// One evaluation of a pathway.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean return per episode.
    pub fitness: f64,
    /// Environment steps taken over all episodes.
    pub steps: usize,
    /// Observations seen (batch axis first), for the safe mutations of its children.
    pub experience: ArrayD<f32>,
}

/// The first index of the largest output; `None` when an output is not finite.
fn greedy<'a>(outputs: impl Iterator<Item = &'a f32>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in outputs.enumerate() {
        if !v.is_finite() {
            return None;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

fn env_shape(id: &str) -> Result<EnvShape, EvoError> {
    let env = pathnet_envs::make(id)
        .map_err(|err| EvoError::invalid("envs", id, format!("no such environment: {err}")))?;
    let (actions, first_action) = match env.action_space() {
        Space::Discrete(d) if d.n > 0 => (d.n as usize, d.start),
        other => {
            return Err(EvoError::invalid(
                "envs",
                id,
                format!("its actions are {other}: a pathway's greedy policy needs discrete ones"),
            ));
        }
    };
    Ok(EnvShape {
        observations: env.observation_space().dim(),
        actions,
        first_action,
    })
}
