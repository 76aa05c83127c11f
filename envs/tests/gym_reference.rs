//! Compares every environment step by step against the real Python Gymnasium 1.4.
//!
//! The interpreter comes from `PATHNET_REF_PYTHON`, else `<workspace>/.venv-ref/bin/python`
//! (created by `scripts/setup-python-ref`). Without one the tests fail: a reference test that
//! silently skips would pass on every machine that cannot check anything.

mod common;

use pathnet_envs::{Action, Env, make};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::f64::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Observations are float32 in both. The ports reproduce Gymnasium's f64 arithmetic operation
/// for operation, so on one machine the two agree bit for bit; the tolerances leave room only
/// for a platform whose numpy and C library round a transcendental differently.
const OBS_TOL: f64 = 1e-5;
const REWARD_TOL: f64 = 1e-9;
/// The internal state is compared too (relative), because some errors do not show in the
/// observation: Acrobot's observation is the same for angles that differ by 2 pi.
const STATE_TOL: f64 = 1e-9;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0) || (a.is_nan() && b.is_nan())
}

struct Case {
    env: &'static str,
    state: Vec<f64>,
    /// Discrete indices or float torques, as JSON numbers.
    actions: Vec<f64>,
    stop_on_done: bool,
}

struct Outcome {
    obs: Vec<f64>,
    reward: f64,
    terminated: bool,
    truncated: bool,
    /// The internal f64 state after the step (`env.unwrapped.state`).
    state: Vec<f64>,
}

fn reference_python() -> PathBuf {
    common::reference_python().unwrap_or_else(|| {
        panic!(
            "no reference Python with gymnasium 1.4.0: run scripts/setup-python-ref \
             (creates {}) or set PATHNET_REF_PYTHON to an interpreter that has it",
            common::default_reference_python().display()
        )
    })
}

fn run_python(cases: &[Case]) -> Vec<Vec<Outcome>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/gym_reference.py");
    let request = json!({
        "cases": cases.iter().map(|c| json!({
            "env": c.env, "state": c.state, "actions": c.actions, "stop_on_done": c.stop_on_done,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(reference_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the reference Python");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(request.to_string().as_bytes())
        .expect("send cases to the reference Python");
    let out = child
        .wait_with_output()
        .expect("wait for the reference Python");
    assert!(
        out.status.success(),
        "reference Python failed ({}); is gymnasium 1.4.0 installed? run scripts/setup-python-ref\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("reference output is JSON");
    assert_eq!(reply["gymnasium"], "1.4.0");
    reply["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|steps| {
            steps
                .as_array()
                .expect("steps array")
                .iter()
                .map(|s| Outcome {
                    obs: s["obs"]
                        .as_array()
                        .expect("obs array")
                        .iter()
                        .map(|v| v.as_f64().expect("obs number"))
                        .collect(),
                    reward: s["reward"].as_f64().expect("reward number"),
                    terminated: s["terminated"].as_bool().expect("terminated flag"),
                    truncated: s["truncated"].as_bool().expect("truncated flag"),
                    state: s["state"]
                        .as_array()
                        .expect("state array")
                        .iter()
                        .map(|h| {
                            let bits = h.as_str().expect("state as hex bits");
                            f64::from_bits(u64::from_str_radix(bits, 16).expect("hex bits"))
                        })
                        .collect(),
                })
                .collect()
        })
        .collect()
}

fn to_action(env: &str, a: f64) -> Action {
    if env == "Pendulum-v1" {
        Action::Continuous(vec![a as f32])
    } else {
        Action::Discrete(a as i64)
    }
}

fn run_ours(case: &Case) -> Vec<Outcome> {
    let mut env = make(case.env).unwrap();
    env.reset(Some(0)).unwrap();
    env.set_state(&case.state).unwrap();
    let mut steps = Vec::new();
    for &a in &case.actions {
        let s = env.step(&to_action(case.env, a)).unwrap();
        let (obs, reward, terminated, truncated) = (
            s.obs.iter().map(|&v| f64::from(v)).collect(),
            s.reward,
            s.terminated,
            s.truncated,
        );
        steps.push(Outcome {
            obs,
            reward,
            terminated,
            truncated,
            state: env.state().unwrap().to_vec(),
        });
        if case.stop_on_done && (terminated || truncated) {
            break;
        }
    }
    steps
}

/// Runs all cases through both and fails listing the first mismatches. Returns how many
/// cases ended terminated and how many truncated, so callers can check coverage.
fn compare_with_gymnasium(cases: &[Case]) -> (usize, usize) {
    let theirs = run_python(cases);
    assert_eq!(theirs.len(), cases.len());
    let mut failures = Vec::new();
    let (mut terminated, mut truncated) = (0, 0);
    for (i, (case, theirs)) in cases.iter().zip(&theirs).enumerate() {
        let ours = run_ours(case);
        let failures_before = failures.len();
        for (t, (o, g)) in ours.iter().zip(theirs).enumerate() {
            let obs_ok = o.obs.len() == g.obs.len()
                && o.obs
                    .iter()
                    .zip(&g.obs)
                    .all(|(a, b)| (a - b).abs() <= OBS_TOL);
            let reward_ok = close(o.reward, g.reward, REWARD_TOL);
            let state_ok = o.state.len() == g.state.len()
                && o.state
                    .iter()
                    .zip(&g.state)
                    .all(|(a, b)| close(*a, *b, STATE_TOL));
            let flags_ok = o.terminated == g.terminated && o.truncated == g.truncated;
            if !(obs_ok && reward_ok && state_ok && flags_ok) {
                failures.push(format!(
                    "case {i} ({} from {:?}) step {t}:\n  here:      obs {:?} r {} term {} trunc {} state {:?}\n  Gymnasium: obs {:?} r {} term {} trunc {} state {:?}",
                    case.env,
                    case.state,
                    o.obs,
                    o.reward,
                    o.terminated,
                    o.truncated,
                    o.state,
                    g.obs,
                    g.reward,
                    g.terminated,
                    g.truncated,
                    g.state
                ));
                break;
            }
        }
        if failures.len() == failures_before && ours.len() != theirs.len() {
            failures.push(format!(
                "case {i} ({} from {:?}): {} steps here, {} in Gymnasium",
                case.env,
                case.state,
                ours.len(),
                theirs.len()
            ));
        }
        if let Some(last) = theirs.last() {
            terminated += usize::from(last.terminated);
            truncated += usize::from(last.truncated);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Gymnasium:\n{}",
        failures.len(),
        cases.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    (terminated, truncated)
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..hi)
}

/// Actions chosen by `policy` while running our env from `state`, plus `extra` random ones,
/// so that long episodes (up to the time limit and past it) get exercised.
fn policy_actions(id: &str, state: &[f64], len: usize, policy: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut env = make(id).unwrap();
    env.reset(Some(0)).unwrap();
    env.set_state(state).unwrap();
    (0..len)
        .map(|_| {
            let a = policy(env.state().unwrap());
            env.step(&to_action(id, a)).unwrap();
            a
        })
        .collect()
}

fn random_discrete(rng: &mut ChaCha8Rng, n: i64, len: usize) -> Vec<f64> {
    (0..len).map(|_| rng.random_range(0..n) as f64).collect()
}

/// How one environment is checked: which cases go to both sides, and which endings they must
/// reach between them so that both termination and truncation are exercised.
struct Suite {
    id: &'static str,
    seed: u64,
    /// Cases from random states with random actions: how many, the `i`-th start state, its
    /// actions, and whether it stops at the first episode end or runs on past it.
    random: usize,
    random_state: fn(usize, &mut ChaCha8Rng) -> Vec<f64>,
    random_actions: fn(&mut ChaCha8Rng) -> Vec<f64>,
    random_stops: fn(usize) -> bool,
    /// Cases driven by a controller that reaches an episode's end (a goal or the time limit):
    /// how many, the start state, the steps, the controller, and whether the `i`-th stops.
    driven: usize,
    driven_state: fn(&mut ChaCha8Rng) -> Vec<f64>,
    driven_steps: usize,
    controller: fn(&[f64]) -> f64,
    driven_stops: fn(usize) -> bool,
    /// States on and past the edges (thresholds, walls, wrapping), each run with `edge_actions`
    /// and never stopped.
    edges: Vec<Vec<f64>>,
    edge_actions: Vec<f64>,
    /// Whether the cases ending terminated and truncated cover what this environment must.
    coverage: fn(usize, usize) -> bool,
}

impl Suite {
    /// Every case, drawn from the suite's seed in a fixed order.
    fn cases(&self) -> Vec<Case> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut cases = Vec::new();
        for i in 0..self.random {
            let state = (self.random_state)(i, &mut rng);
            let actions = (self.random_actions)(&mut rng);
            cases.push(Case {
                env: self.id,
                state,
                actions,
                stop_on_done: (self.random_stops)(i),
            });
        }
        for i in 0..self.driven {
            let state = (self.driven_state)(&mut rng);
            let actions = policy_actions(self.id, &state, self.driven_steps, self.controller);
            cases.push(Case {
                env: self.id,
                state,
                actions,
                stop_on_done: (self.driven_stops)(i),
            });
        }
        for state in &self.edges {
            cases.push(Case {
                env: self.id,
                state: state.clone(),
                actions: self.edge_actions.clone(),
                stop_on_done: false,
            });
        }
        cases
    }
}

fn suites() -> Vec<Suite> {
    // CartPole's pole-angle threshold.
    let edge = 12.0 * 2.0 * PI / 360.0;
    vec![
        Suite {
            id: "CartPole-v1",
            seed: 11,
            random: 300,
            random_state: |i, rng| {
                if i % 3 == 0 {
                    // Near the start distribution: long random episodes.
                    (0..4).map(|_| uniform(rng, -0.05, 0.05)).collect()
                } else {
                    vec![
                        uniform(rng, -2.4, 2.4),
                        uniform(rng, -2.0, 2.0),
                        uniform(rng, -0.21, 0.21),
                        uniform(rng, -2.0, 2.0),
                    ]
                }
            },
            random_actions: |rng| random_discrete(rng, 2, 520),
            random_stops: |i| i % 10 != 0,
            // A balancing controller reaches the 500-step limit; some of these run 40 steps
            // past it.
            driven: 20,
            driven_state: |rng| (0..4).map(|_| uniform(rng, -0.05, 0.05)).collect(),
            driven_steps: 540,
            controller: |s| f64::from(u8::from(s[2] * 10.0 + s[3] + 0.1 * s[0] + 0.5 * s[1] > 0.0)),
            driven_stops: |i| i % 2 == 0,
            // On and just past the termination thresholds.
            edges: vec![
                vec![2.4, 0.0, 0.0, 0.0],
                vec![-2.4, -0.1, 0.0, 0.0],
                vec![0.0, 0.0, edge, 0.0],
                vec![0.0, 0.0, -edge, -0.01],
            ],
            edge_actions: vec![0.0, 1.0, 1.0],
            coverage: |terminated, truncated| terminated > 100 && truncated >= 10,
        },
        Suite {
            id: "Acrobot-v1",
            seed: 12,
            random: 150,
            random_state: |i, rng| {
                if i % 2 == 0 {
                    (0..4).map(|_| uniform(rng, -0.1, 0.1)).collect()
                } else {
                    vec![
                        uniform(rng, -PI, PI),
                        uniform(rng, -PI, PI),
                        uniform(rng, -4.0 * PI, 4.0 * PI),
                        uniform(rng, -9.0 * PI, 9.0 * PI),
                    ]
                }
            },
            random_actions: |rng| random_discrete(rng, 3, 520),
            random_stops: |i| i % 10 != 1,
            // Pumping energy with the second link swings up and terminates.
            driven: 20,
            driven_state: |rng| (0..4).map(|_| uniform(rng, -0.1, 0.1)).collect(),
            driven_steps: 520,
            controller: |s| if s[2] > 0.0 { 2.0 } else { 0.0 },
            driven_stops: |_| true,
            // Angles outside [-pi, pi] exercise the wrapping loops; velocities past the
            // bounds, the clipping.
            edges: vec![
                vec![7.0, -7.0, 20.0, -40.0],
                vec![-20.0, 13.0, 0.0, 0.0],
                vec![PI, -PI, 4.0 * PI, 9.0 * PI],
            ],
            edge_actions: vec![0.0, 1.0, 2.0, 2.0],
            coverage: |terminated, truncated| terminated > 20 && truncated > 10,
        },
        Suite {
            id: "MountainCar-v0",
            seed: 13,
            random: 200,
            random_state: |_, rng| vec![uniform(rng, -1.2, 0.6), uniform(rng, -0.07, 0.07)],
            random_actions: |rng| random_discrete(rng, 3, 230),
            random_stops: |i| i % 10 != 0,
            // Pushing along the velocity reaches the goal well within 200 steps.
            driven: 30,
            driven_state: |rng| vec![uniform(rng, -0.6, -0.4), 0.0],
            driven_steps: 230,
            controller: |s| if s[1] < 0.0 { 0.0 } else { 2.0 },
            driven_stops: |_| true,
            // The inelastic left wall, and the goal edge.
            edges: vec![
                vec![-1.2, -0.07],
                vec![-1.19, -0.05],
                vec![0.5, 0.0],
                vec![0.49, 0.07],
                vec![0.6, 0.07],
            ],
            edge_actions: vec![0.0, 0.0, 1.0, 2.0],
            coverage: |terminated, truncated| terminated > 20 && truncated > 50,
        },
        Suite {
            id: "Pendulum-v1",
            seed: 14,
            random: 150,
            random_state: |_, rng| vec![uniform(rng, -3.0 * PI, 3.0 * PI), uniform(rng, -8.0, 8.0)],
            // Torques beyond +-2 check the clipping; f32 values so both sides see the same
            // action.
            random_actions: |rng| {
                (0..220)
                    .map(|_| match rng.random_range(0..10) {
                        0 => 2.0,
                        1 => -2.0,
                        2 => 0.0,
                        _ => f64::from(rng.random_range(-3.0f32..3.0)),
                    })
                    .collect()
            },
            random_stops: |i| i % 10 != 0,
            driven: 0,
            driven_state: |_| Vec::new(),
            driven_steps: 0,
            controller: |_| 0.0,
            driven_stops: |_| true,
            edges: Vec::new(),
            edge_actions: Vec::new(),
            // Pendulum never terminates; every case runs into the time limit.
            coverage: |terminated, truncated| terminated == 0 && truncated == 150,
        },
    ]
}

#[test]
fn every_environment_matches_gymnasium() {
    let suites = suites();
    // One reference process per environment, side by side.
    std::thread::scope(|scope| {
        let checks: Vec<_> = suites
            .iter()
            .map(|suite| {
                scope.spawn(move || {
                    let (terminated, truncated) = compare_with_gymnasium(&suite.cases());
                    assert!(
                        (suite.coverage)(terminated, truncated),
                        "{} coverage: {terminated} terminated, {truncated} truncated",
                        suite.id
                    );
                })
            })
            .collect();
        let failed: Vec<&str> = suites
            .iter()
            .zip(checks)
            .filter_map(|(suite, check)| check.join().is_err().then_some(suite.id))
            .collect();
        assert!(failed.is_empty(), "differ from Gymnasium: {failed:?}");
    });
}
