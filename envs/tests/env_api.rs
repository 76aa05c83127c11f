//! Gymnasium API semantics that need no Python: seeding, spaces, errors, the time limit,
//! the vector env's autoreset modes, and tracing.

use pathnet_envs::trace::{parse_actions, parse_state, trace, trace_text};
use pathnet_envs::{
    Action, AutoresetMode, BoxSpace, BoxedEnv, CartPole, Env, EnvError, Info, Options, REGISTRY,
    Space, Step, SyncVectorEnv, TimeLimit, make, make_unwrapped, make_vec,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

fn first_action(env: &dyn Env) -> Action {
    match env.action_space() {
        Space::Discrete(_) => Action::Discrete(0),
        Space::Box(b) => Action::Continuous(vec![0.0; b.dim()]),
    }
}

#[test]
fn same_seed_same_episode_and_seeds_matter() {
    for spec in REGISTRY {
        let run = |seed| {
            let mut env = make(spec.id).unwrap();
            let mut obs = env.reset(Some(seed)).unwrap().0.to_vec();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..50 {
                let a = env.action_space().sample(&mut rng);
                let s = env.step(&a).unwrap();
                obs.extend_from_slice(s.obs);
                if s.terminated || s.truncated {
                    obs.extend_from_slice(env.reset(None).unwrap().0);
                }
            }
            obs
        };
        assert_eq!(run(7), run(7), "{}", spec.id);
        assert_ne!(run(7), run(8), "{}", spec.id);
    }
}

#[test]
fn initial_states_follow_gymnasium_distributions() {
    use std::f64::consts::PI;
    for seed in 0..300 {
        let mut cp = make("CartPole-v1").unwrap();
        cp.reset(Some(seed)).unwrap();
        assert!(
            cp.state()
                .unwrap()
                .iter()
                .all(|v| (-0.05..0.05).contains(v))
        );

        let mut ac = make("Acrobot-v1").unwrap();
        ac.reset(Some(seed)).unwrap();
        for &v in ac.state().unwrap() {
            assert!((-0.1..=0.1).contains(&v));
            assert_eq!(
                v,
                f64::from(v as f32),
                "Gymnasium casts Acrobot's start to float32"
            );
        }

        let mut mc = make("MountainCar-v0").unwrap();
        mc.reset(Some(seed)).unwrap();
        let s = mc.state().unwrap();
        assert!((-0.6..-0.4).contains(&s[0]) && s[1] == 0.0, "{s:?}");

        let mut pe = make("Pendulum-v1").unwrap();
        let obs = pe.reset(Some(seed)).unwrap().0.to_vec();
        assert!(pe.observation_space().contains(&obs));
        let s = pe.state().unwrap();
        assert!(
            (-PI..PI).contains(&s[0]) && (-1.0..1.0).contains(&s[1]),
            "{s:?}"
        );
    }
}

#[test]
fn reset_options_are_read_and_checked() {
    let mut env = make("CartPole-v1").unwrap();
    let opts: Options = json!({"low": 0.2, "high": 0.3})
        .as_object()
        .unwrap()
        .clone();
    env.reset_with_options(Some(1), Some(&opts)).unwrap();
    assert!(env.state().unwrap().iter().all(|v| (0.2..0.3).contains(v)));

    let bad: Options = json!({"low": 0.5, "high": 0.3})
        .as_object()
        .unwrap()
        .clone();
    let err = env.reset_with_options(Some(1), Some(&bad)).unwrap_err();
    assert!(err.to_string().contains("must not exceed high"), "{err}");
    let bad: Options = json!({"high": "x"}).as_object().unwrap().clone();
    let err = env.reset_with_options(Some(1), Some(&bad)).unwrap_err();
    assert!(err.to_string().contains("\"high\""), "{err}");

    let mut pe = make("Pendulum-v1").unwrap();
    let opts: Options = json!({"x_init": 0.1, "y_init": 0.0})
        .as_object()
        .unwrap()
        .clone();
    pe.reset_with_options(Some(1), Some(&opts)).unwrap();
    let s = pe.state().unwrap();
    assert!(s[0].abs() <= 0.1 && s[1] == 0.0, "{s:?}");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut env = make("CartPole-v1").unwrap();
    let err = env.step(&Action::Discrete(0)).unwrap_err();
    assert!(matches!(err, EnvError::NeedsReset { .. }), "{err}");

    let err = env.set_state(&[0.0, 0.0, 0.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "CartPole-v1: state must have 4 values, got 3"
    );

    env.reset(Some(0)).unwrap();
    for bad in [
        Action::Discrete(2),
        Action::Discrete(-1),
        Action::Continuous(vec![1.0]),
    ] {
        let err = env.step(&bad).unwrap_err();
        assert!(err.to_string().contains("Discrete(2)"), "{err}");
    }

    let mut pe = make("Pendulum-v1").unwrap();
    pe.reset(Some(0)).unwrap();
    for bad in [
        Action::Continuous(vec![]),
        Action::Continuous(vec![1.0, 1.0]),
        Action::Continuous(vec![f32::NAN]),
        Action::Discrete(1),
    ] {
        assert!(pe.step(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn pendulum_clips_torque_like_gymnasium() {
    let run = |u: f32| {
        let mut env = make("Pendulum-v1").unwrap();
        env.reset(Some(0)).unwrap();
        env.set_state(&[1.0, 0.5]).unwrap();
        let s = env.step(&Action::Continuous(vec![u])).unwrap();
        (s.obs.to_vec(), s.reward)
    };
    assert_eq!(run(5.0), run(2.0));
    assert_eq!(run(f32::NEG_INFINITY), run(-2.0));
    assert_ne!(run(1.0), run(2.0));
}

#[test]
fn time_limit_truncates_at_the_limit_and_after() {
    let mut env = make("Pendulum-v1").unwrap();
    env.reset(Some(0)).unwrap();
    let a = Action::Continuous(vec![0.0]);
    for t in 1..=203 {
        let s = env.step(&a).unwrap();
        assert_eq!(s.truncated, t >= 200, "step {t}");
        assert!(!s.terminated);
    }
    // set_state leaves the counter alone, like assigning env.unwrapped.state.
    env.set_state(&[0.0, 0.0]).unwrap();
    assert!(env.step(&a).unwrap().truncated);
    env.reset(None).unwrap();
    assert!(!env.step(&a).unwrap().truncated);

    let mut short = TimeLimit::new(make_unwrapped("CartPole-v1").unwrap(), 3).unwrap();
    short.reset(Some(0)).unwrap();
    let flags: Vec<bool> = (0..4)
        .map(|_| short.step(&Action::Discrete(0)).unwrap().truncated)
        .collect();
    assert_eq!(flags, [false, false, true, true]);
    assert_eq!(short.elapsed_steps(), 4);
    assert!(TimeLimit::new(make_unwrapped("CartPole-v1").unwrap(), 0).is_err());
}

#[test]
fn registered_limits_and_unknown_names() {
    let limits: Vec<(&str, Option<u64>)> = REGISTRY
        .iter()
        .map(|s| (s.id, s.max_episode_steps))
        .collect();
    assert_eq!(
        limits,
        [
            ("CartPole-v1", Some(500)),
            ("Acrobot-v1", Some(500)),
            ("MountainCar-v0", Some(200)),
            ("Pendulum-v1", Some(200)),
            ("MinAtar/Breakout-v1", None),
            ("MinAtar/Freeway-v1", None)
        ]
    );
    let err = make("CartPole-v0").err().expect("not registered");
    let msg = err.to_string();
    assert!(
        msg.contains("\"CartPole-v0\"") && msg.contains("CartPole-v1, Acrobot-v1"),
        "{msg}"
    );
    for spec in REGISTRY {
        let mut env = make(spec.id).unwrap();
        assert_eq!(env.id(), spec.id);
        let (obs, info) = env.reset(Some(3)).unwrap();
        assert!(info.is_empty());
        let obs = obs.to_vec();
        assert!(
            env.observation_space().contains(&obs),
            "{}: {obs:?}",
            spec.id
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(
                env.action_space()
                    .contains(&env.action_space().sample(&mut rng))
            );
        }
        assert!(env.step(&first_action(&*env)).is_ok());
    }
}

#[test]
fn minatar_ids_have_no_time_limit() {
    // Standing still in Freeway never scores, so only the game's own clock can end it: MinAtar
    // counts 2500 down and ends once it goes below zero, on step 2501. A TimeLimit would
    // truncate earlier or on top.
    let mut env = make("MinAtar/Freeway-v1").unwrap();
    env.reset(Some(0)).unwrap();
    let mut ended_at = None;
    for t in 1..=2600u64 {
        let s = env.step(&Action::Discrete(0)).unwrap();
        assert!(!s.truncated, "step {t}");
        if s.terminated {
            ended_at = Some(t);
            break;
        }
    }
    assert_eq!(ended_at, Some(2501));

    // Breakout as made steps exactly like the bare game: no wrapper in between.
    let mut made = make("MinAtar/Breakout-v1").unwrap();
    let mut bare = make_unwrapped("MinAtar/Breakout-v1").unwrap();
    assert_eq!(
        made.reset(Some(4)).unwrap().0,
        bare.reset(Some(4)).unwrap().0
    );
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..300 {
        let a = made.action_space().sample(&mut rng);
        let (m, b) = (made.step(&a).unwrap(), bare.step(&a).unwrap());
        assert_eq!(
            (m.obs, m.reward, m.terminated, m.truncated),
            (b.obs, b.reward, b.terminated, b.truncated)
        );
        if m.terminated {
            made.reset(None).unwrap();
            bare.reset(None).unwrap();
        }
    }
}

/// One sub-environment driven by hand with Gymnasium's next-step autoreset rule.
struct NextStepModel {
    env: pathnet_envs::BoxedEnv,
    pending_reset: bool,
}

#[test]
fn vector_next_step_autoreset_matches_the_rule() {
    let n = 3;
    let mut venv = make_vec("CartPole-v1", n, AutoresetMode::NextStep).unwrap();
    let (obs, infos) = venv.reset(Some(10)).unwrap();
    assert_eq!(infos.len(), n);
    // Sub-environment i is seeded with seed + i, as in Gymnasium.
    let mut expected_obs = Vec::new();
    let mut models: Vec<NextStepModel> = (0..n)
        .map(|i| {
            let mut env = make("CartPole-v1").unwrap();
            expected_obs.extend_from_slice(env.reset(Some(10 + i as u64)).unwrap().0);
            NextStepModel {
                env,
                pending_reset: false,
            }
        })
        .collect();
    assert_eq!(obs, &expected_obs[..]);

    let mut saw_autoreset = false;
    for t in 0..200 {
        let actions: Vec<Action> = (0..n)
            .map(|i| Action::Discrete(((t + i) % 2) as i64))
            .collect();
        let step = venv.step(&actions).unwrap();
        for (i, m) in models.iter_mut().enumerate() {
            let (o, r, term, trunc) = if m.pending_reset {
                saw_autoreset = true;
                m.pending_reset = false;
                (m.env.reset(None).unwrap().0.to_vec(), 0.0, false, false)
            } else {
                let s = m.env.step(&actions[i]).unwrap();
                m.pending_reset = s.terminated || s.truncated;
                (s.obs.to_vec(), s.reward, s.terminated, s.truncated)
            };
            assert_eq!(step.obs_of(i), &o[..], "t {t} env {i}");
            assert_eq!(
                (step.rewards[i], step.terminations[i], step.truncations[i]),
                (r, term, trunc)
            );
            assert_eq!(step.final_obs(i), None);
        }
    }
    assert!(saw_autoreset);
}

#[test]
fn vector_same_step_autoreset_keeps_the_final_observation() {
    let n = 2;
    let mut venv = make_vec("CartPole-v1", n, AutoresetMode::SameStep).unwrap();
    let mut singles: Vec<_> = (0..n)
        .map(|i| {
            let mut env = make("CartPole-v1").unwrap();
            env.reset(Some(5 + i as u64)).unwrap();
            env
        })
        .collect();
    venv.reset(Some(5)).unwrap();
    let mut endings = 0;
    for t in 0..200 {
        let actions: Vec<Action> = (0..n)
            .map(|i| Action::Discrete(((t / 3 + i) % 2) as i64))
            .collect();
        let step = venv.step(&actions).unwrap();
        for (i, env) in singles.iter_mut().enumerate() {
            let s = env.step(&actions[i]).unwrap();
            let (last, done) = (s.obs.to_vec(), s.terminated || s.truncated);
            assert_eq!(step.terminations[i], s.terminated);
            if done {
                endings += 1;
                assert_eq!(step.final_obs(i), Some(&last[..]));
                assert_eq!(step.obs_of(i), env.reset(None).unwrap().0, "t {t} env {i}");
            } else {
                assert_eq!(step.final_obs(i), None);
                assert_eq!(step.obs_of(i), &last[..]);
            }
        }
    }
    assert!(endings > 2);
}

#[test]
fn vector_env_rejects_misuse() {
    let mut venv = make_vec("MountainCar-v0", 2, AutoresetMode::default()).unwrap();
    assert_eq!(venv.autoreset_mode(), AutoresetMode::NextStep);
    let two = [Action::Discrete(1), Action::Discrete(1)];
    assert!(matches!(venv.step(&two), Err(EnvError::NeedsReset { .. })));
    venv.reset(Some(0)).unwrap();
    assert!(matches!(
        venv.step(&two[..1]),
        Err(EnvError::ActionCount {
            expected: 2,
            got: 1
        })
    ));
    // A failed step leaves the batch half-stepped, so the next step must come after a reset.
    assert!(
        venv.step(&[Action::Discrete(1), Action::Discrete(7)])
            .is_err()
    );
    assert!(matches!(venv.step(&two), Err(EnvError::NeedsReset { .. })));
    venv.reset(None).unwrap();
    assert!(venv.step(&two).is_ok());

    let mixed = vec![make("CartPole-v1").unwrap(), make("Acrobot-v1").unwrap()];
    assert!(SyncVectorEnv::new(mixed, AutoresetMode::NextStep).is_err());
    assert!(SyncVectorEnv::new(Vec::new(), AutoresetMode::NextStep).is_err());
}

/// A CartPole whose resets fail once `resets` are used up, as a bridged environment's do
/// once its Python process is gone.
struct FailingReset {
    env: CartPole,
    resets: u32,
}

impl Env for FailingReset {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset_with_options(
        &mut self,
        seed: Option<u64>,
        options: Option<&Options>,
    ) -> Result<(&[f32], Info), EnvError> {
        if self.resets == 0 {
            return Err(EnvError::Unsupported {
                env: "FailingReset".into(),
                operation: "reset",
            });
        }
        self.resets -= 1;
        self.env.reset_with_options(seed, options)
    }
    fn step(&mut self, action: &Action) -> Result<Step<'_>, EnvError> {
        self.env.step(action)
    }
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.env.set_state(state)
    }
    fn state(&self) -> Option<&[f64]> {
        self.env.state()
    }
}

#[test]
fn reset_errors_reach_the_caller() {
    let failing = |resets| -> BoxedEnv {
        Box::new(FailingReset {
            env: CartPole::new(),
            resets,
        })
    };
    let mut single = failing(1);
    single.reset(Some(0)).unwrap();
    let err = single.reset(None).unwrap_err();
    assert!(matches!(err, EnvError::Unsupported { .. }), "{err}");

    // The first sub-environment has one reset, used by the vector env's own reset; the
    // second has plenty.
    let mut venv =
        SyncVectorEnv::new(vec![failing(1), failing(100)], AutoresetMode::NextStep).unwrap();
    venv.reset(Some(0)).unwrap();
    let right = [Action::Discrete(1), Action::Discrete(1)];
    let mut ended = false;
    for _ in 0..500 {
        let step = venv.step(&right).unwrap();
        if step.terminations[0] || step.truncations[0] {
            ended = true;
            break;
        }
    }
    assert!(ended, "pushing right always ends a CartPole episode");
    // The next step autoresets the first sub-environment, which fails.
    let err = venv.step(&right).unwrap_err();
    assert!(matches!(err, EnvError::Unsupported { .. }), "{err}");
    assert!(matches!(
        venv.step(&right),
        Err(EnvError::NeedsReset { .. })
    ));
    assert!(venv.reset(None).is_err());
    assert!(matches!(
        venv.step(&right),
        Err(EnvError::NeedsReset { .. })
    ));
}

#[test]
fn trace_counts_steps_from_the_set_state() {
    let actions = vec![Action::Continuous(vec![0.5]); 250];
    let steps = trace("Pendulum-v1", &[0.0, 0.0], &actions).unwrap();
    assert_eq!(steps.len(), 200);
    assert!(steps[199].truncated && !steps[198].truncated);

    // Pushing left from the left edge ends the episode on the first step.
    let steps = trace_text("CartPole-v1", "-2.4, -1, 0, 0", "0,0,0").unwrap();
    assert_eq!(steps.len(), 1);
    assert!(steps[0].terminated && steps[0].reward == 1.0);
    let line = serde_json::to_string(&steps[0]).unwrap();
    assert!(
        line.starts_with("{\"obs\":[")
            && line.ends_with("\"terminated\":true,\"truncated\":false}"),
        "{line}"
    );
}

#[test]
fn trace_parsing_errors_name_the_bad_value() {
    let err = parse_state("0.1,abc").unwrap_err().to_string();
    assert!(err.contains("\"abc\""), "{err}");
    assert!(parse_state("").is_err());
    let space = make("CartPole-v1").unwrap().action_space().clone();
    let err = parse_actions("0,1,2", "CartPole-v1", &space)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "CartPole-v1: invalid action 2; the action space is Discrete(2)"
    );
    let err = parse_actions("0,1.5", "CartPole-v1", &space)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"1.5\"") && err.contains("integer"), "{err}");
    let err = trace_text("Acrobot-v1", "0,0,0", "1")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "Acrobot-v1: state must have 4 values, got 3");
    let err = trace_text("Pendulum-v1", "0,0", "0.5,nan")
        .unwrap_err()
        .to_string();
    assert!(err.contains("NaN"), "{err}");
    assert!(trace_text("Nope-v0", "0", "0").is_err());
}
