//! A worker on a scripted environment against a recording store: segment boundaries, step and
//! episode accounting, and the bootstrap of terminated, truncated and cut segments, read off
//! the value-bias gradient of a network whose value is a constant.

use ndarray::{ArrayD, ArrayViewMutD};
use pathnet_envs::{
    Action, BoxSpace, BoxedEnv, Discrete, Env, EnvError, Info, Options, Space, Step,
};
use pathnet_rl::{A3cConfig, GradientUpdate, PushOutcome, RlError, SharedParameters, Worker};
use std::sync::Mutex;

/// Reward 1 per step; the episode ends after `length` steps, by termination or truncation.
struct Corridor {
    length: u64,
    truncate: bool,
    t: u64,
    obs: [f32; 2],
    observation_space: BoxSpace,
    action_space: Space,
}

impl Corridor {
    fn boxed(length: u64, truncate: bool) -> BoxedEnv {
        Box::new(Corridor {
            length,
            truncate,
            t: 0,
            obs: [0.0; 2],
            observation_space: BoxSpace::new(vec![-1.0; 2], vec![1.0; 2]),
            action_space: Space::Discrete(Discrete::new(2)),
        })
    }
}

impl Env for Corridor {
    fn id(&self) -> &str {
        "Corridor"
    }
    fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset_with_options(
        &mut self,
        _seed: Option<u64>,
        _options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        self.t = 0;
        Ok((&self.obs, Info::new()))
    }
    fn step(&mut self, _action: &Action) -> Result<Step<'_>, EnvError> {
        self.t += 1;
        let end = self.t == self.length;
        Ok(Step {
            obs: &self.obs,
            reward: 1.0,
            terminated: end && !self.truncate,
            truncated: end && self.truncate,
            info: Info::new(),
        })
    }
    fn set_state(&mut self, _state: &[f64]) -> Result<(), EnvError> {
        Err(EnvError::Unsupported {
            env: "Corridor".into(),
            operation: "set_state",
        })
    }
    fn state(&self) -> Option<&[f64]> {
        None
    }
}

/// Serves parameters that are zero except the value bias, so `V(s) = value_bias` everywhere,
/// and records every push.
struct Recorder {
    value_bias_index: usize,
    value_bias: f32,
    pushes: Mutex<Vec<GradientUpdate>>,
}

impl SharedParameters for Recorder {
    fn fetch(&self, into: &mut [ArrayViewMutD<'_, f32>]) -> Result<u64, RlError> {
        for (i, t) in into.iter_mut().enumerate() {
            t.fill(if i == self.value_bias_index {
                self.value_bias
            } else {
                0.0
            });
        }
        Ok(0)
    }
    fn push(&self, update: GradientUpdate) -> Result<PushOutcome, RlError> {
        let mut pushes = self.pushes.lock().unwrap();
        pushes.push(update);
        Ok(PushOutcome {
            applied: true,
            stop: false,
            version: pushes.len() as u64,
        })
    }
}

fn config() -> A3cConfig {
    let mut c = A3cConfig::new("CartPole-v1");
    c.t_max = 5;
    c.gamma = 0.5;
    c.value_coef = 1.0;
    c.max_grad_norm = 1e9;
    c.policy.hidden = vec![4];
    c
}

/// The value-bias gradient and env steps of each of the first `segments` pushes.
fn run(env: BoxedEnv, segments: usize) -> (Vec<(f32, u64)>, Vec<Vec<f64>>) {
    let mut worker = Worker::with_env(&config(), env, 3, 0).unwrap();
    let names = worker.policy().param_names();
    let recorder = Recorder {
        value_bias_index: names.iter().position(|n| n == "value.bias").unwrap(),
        value_bias: 2.0,
        pushes: Mutex::new(Vec::new()),
    };
    for _ in 0..segments {
        worker.run_segment(&recorder).unwrap();
    }
    let pushes = recorder.pushes.into_inner().unwrap();
    let shapes = worker.policy().param_shapes();
    for p in &pushes {
        let got: Vec<Vec<usize>> = p.grads.iter().map(|g| g.shape().to_vec()).collect();
        assert_eq!(got, shapes, "gradients travel in params() order");
    }
    let bias = |g: &ArrayD<f32>| g.iter().copied().next().unwrap();
    let index = recorder.value_bias_index;
    (
        pushes
            .iter()
            .map(|p| (bias(&p.grads[index]), p.env_steps))
            .collect(),
        pushes.iter().map(|p| p.episode_returns.clone()).collect(),
    )
}

fn close(got: f32, want: f32) {
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn terminated_segments_bootstrap_zero() {
    // V = 2, returns 1.75, 1.5, 1: d/db Σ ½(V − R)² = 0.25 + 0.5 + 1.
    let (grads, returns) = run(Corridor::boxed(3, false), 2);
    for &(g, steps) in &grads {
        close(g, 1.75);
        assert_eq!(steps, 3);
    }
    assert_eq!(returns, [vec![3.0], vec![3.0]]);
}

#[test]
fn truncated_segments_bootstrap_from_the_final_observation() {
    // Bootstrap V = 2 makes every return 1 + 0.5 · 2 = 2 = V: no gradient.
    let (grads, returns) = run(Corridor::boxed(3, true), 2);
    for &(g, steps) in &grads {
        close(g, 0.0);
        assert_eq!(steps, 3);
    }
    assert_eq!(returns, [vec![3.0], vec![3.0]]);
}

#[test]
fn long_episodes_are_cut_at_t_max_and_bootstrap_from_the_next_state() {
    let (grads, returns) = run(Corridor::boxed(8, false), 4);
    let steps: Vec<u64> = grads.iter().map(|g| g.1).collect();
    assert_eq!(steps, [5, 3, 5, 3]);
    close(grads[0].0, 0.0);
    close(grads[1].0, 1.75);
    assert_eq!(returns, [vec![], vec![8.0], vec![], vec![8.0]]);
}
