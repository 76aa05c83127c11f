//! The Python Gymnasium bridge (`--features python`): bridged CartPole against our native
//! port and against Gymnasium run directly, the errors it turns failures into (time limits
//! included), and Atari Pong through `ale-py`.
//!
//! The interpreter is the reference one, as in `gym_reference.rs`: `PATHNET_REF_PYTHON`, else
//! `<workspace>/.venv-ref/bin/python` (made by `scripts/setup-python-ref`). Where neither
//! exists the bridged tests print why and return; a `PATHNET_REF_PYTHON` that points nowhere
//! fails them. Without the feature only the routing error is tested.

mod common;

#[cfg(not(feature = "python"))]
#[test]
fn gymnasium_ids_ask_for_the_python_feature() {
    let err = pathnet_envs::make("gymnasium:ALE/Pong-v5")
        .err()
        .expect("no bridge without the feature");
    let message = err.to_string();
    assert!(message.contains("gymnasium:ALE/Pong-v5"), "{message}");
    assert!(message.contains("--features python"), "{message}");
}

#[cfg(feature = "python")]
mod bridged {
    use super::common;
    use pathnet_envs::{Action, Env, EnvError, Kwargs, PythonEnv, Space, make, make_with_kwargs};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::{Value, json};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    /// As in `gym_reference.rs`: the ports match Gymnasium bit for bit on one machine; this
    /// leaves room only for a platform whose C library rounds a cosine differently.
    const OBS_TOL: f32 = 1e-5;

    fn reference_python() -> Option<PathBuf> {
        let python = common::reference_python();
        if python.is_none() {
            eprintln!(
                "skipped: no reference Python (set PATHNET_REF_PYTHON or run scripts/setup-python-ref)"
            );
        }
        python
    }

    fn bridged(python: &Path, id: &str) -> PythonEnv {
        PythonEnv::with_python(python, id, &Kwargs::new())
            .unwrap_or_else(|e| panic!("make {id}: {e}"))
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= OBS_TOL * y.abs().max(1.0))
    }

    /// Steps the bridged and the native CartPole from the same internal state with the same
    /// actions; returns how many steps were compared and whether the last one truncated.
    fn compare_cartpole(
        ours: &mut dyn Env,
        theirs: &mut dyn Env,
        state: &[f64],
        mut policy: impl FnMut(&[f32]) -> i64,
    ) -> (usize, bool) {
        ours.reset_with_options(Some(0), None).unwrap();
        theirs.reset_with_options(Some(0), None).unwrap();
        ours.set_state(state).unwrap();
        theirs.set_state(state).unwrap();
        let mut obs = state.iter().map(|&v| v as f32).collect::<Vec<_>>();
        let mut beyond = 0;
        for t in 1.. {
            let action = Action::Discrete(policy(&obs));
            let a = theirs.step(&action).unwrap();
            let (a_obs, a_rest) = (a.obs.to_vec(), (a.reward, a.terminated, a.truncated));
            let b = ours.step(&action).unwrap();
            assert!(close(b.obs, &a_obs), "step {t}: {:?} vs {a_obs:?}", b.obs);
            assert_eq!((b.reward, b.terminated, b.truncated), a_rest, "step {t}");
            obs = a_obs;
            // Three steps past the end, where Gymnasium pays 0 after a termination.
            if a_rest.1 || a_rest.2 {
                beyond += 1;
                if beyond == 3 {
                    return (t, a_rest.2);
                }
            }
        }
        unreachable!("the loop only ends by returning")
    }

    #[test]
    fn cartpole_matches_the_native_port_from_the_same_states() {
        let Some(python) = reference_python() else {
            return;
        };
        let mut ours = bridged(&python, "CartPole-v1");
        assert_eq!(ours.id(), "gymnasium:CartPole-v1");
        assert_eq!(ours.max_episode_steps(), Some(500));
        let mut theirs = make("CartPole-v1").unwrap();
        assert_eq!(ours.action_space(), theirs.action_space());
        assert_eq!(ours.observation_space(), theirs.observation_space());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..10 {
            let state: Vec<f64> = (0..4).map(|_| rng.random_range(-0.1..0.1)).collect();
            let mut actions = ChaCha8Rng::seed_from_u64(rng.random());
            let (_, truncated) = compare_cartpole(&mut ours, &mut theirs, &state, |_| {
                actions.random_range(0..2)
            });
            assert!(!truncated, "random actions do not balance for 500 steps");
        }
        // A balancing controller runs into Gymnasium's own TimeLimit at step 500.
        let controller = |o: &[f32]| i64::from(10.0 * o[2] + o[3] + 0.1 * o[0] + 0.5 * o[1] > 0.0);
        let (steps, truncated) =
            compare_cartpole(&mut ours, &mut theirs, &[0.01, 0.0, 0.02, 0.0], controller);
        assert_eq!((steps, truncated), (502, true));
        ours.close().unwrap();
    }

    /// Runs Gymnasium itself: reset(seed) for each seed, then the given actions.
    fn gymnasium_directly(python: &Path, seeds: &[u64], actions: &[i64]) -> Value {
        let script = r#"
import json, sys
import gymnasium as gym
seeds, actions = json.loads(sys.argv[1]), json.loads(sys.argv[2])
env = gym.make("CartPole-v1")
out = []
for seed in seeds:
    obs, _ = env.reset(seed=seed)
    steps = [[float(v) for v in obs]]
    for a in actions:
        obs, r, te, tr, _ = env.step(a)
        steps.append([float(v) for v in obs] + [float(r), bool(te), bool(tr)])
        if te or tr:
            break
    out.append(steps)
print(json.dumps(out))
"#;
        let out = Command::new(python)
            .args([
                "-c",
                script,
                &json!(seeds).to_string(),
                &json!(actions).to_string(),
            ])
            .output()
            .expect("run the reference Python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON from the reference Python")
    }

    #[test]
    fn seeded_cartpole_matches_gymnasium_step_by_step() {
        let Some(python) = reference_python() else {
            return;
        };
        let seeds = [0, 1, 42, 123_456_789_012];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let actions: Vec<i64> = (0..60).map(|_| rng.random_range(0..2)).collect();
        let expected = gymnasium_directly(&python, &seeds, &actions);
        let mut env = bridged(&python, "CartPole-v1");
        for (seed, steps) in seeds.iter().zip(expected.as_array().unwrap()) {
            let steps = steps.as_array().unwrap();
            let (obs, info) = env.reset_with_options(Some(*seed), None).unwrap();
            assert!(info.is_empty());
            // Gymnasium's observations are float32 (printed exactly as f64 by Python; serde_json
            // may read them an f64 ulp off, which rounding back to f32 undoes).
            let row = |v: &Value| -> Vec<f32> {
                let values = v.as_array().unwrap()[..4].iter();
                values.map(|x| x.as_f64().unwrap() as f32).collect()
            };
            assert_eq!(obs, row(&steps[0]), "reset(seed={seed})");
            for (t, (want, &a)) in steps[1..].iter().zip(&actions).enumerate() {
                let step = env.step(&Action::Discrete(a)).unwrap();
                let w = want.as_array().unwrap();
                assert_eq!(step.obs, row(want), "seed {seed}, step {t}");
                assert_eq!(step.reward, w[4].as_f64().unwrap());
                assert_eq!(step.terminated, w[5].as_bool().unwrap());
                assert_eq!(step.truncated, w[6].as_bool().unwrap());
            }
        }
        // The same seed gives the same start; no seed continues the generator.
        let first = env.reset_with_options(Some(7), None).unwrap().0.to_vec();
        assert_eq!(env.reset_with_options(Some(7), None).unwrap().0, first);
        assert_ne!(env.reset_with_options(None, None).unwrap().0, first);
    }

    #[test]
    fn bad_requests_are_errors_and_leave_the_env_usable() {
        let Some(python) = reference_python() else {
            return;
        };
        let err = PythonEnv::with_python(&python, "NoSuchEnv-v0", &Kwargs::new()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("gymnasium:NoSuchEnv-v0: gymnasium.make"),
            "{message}"
        );
        assert!(
            message.contains("Traceback") && message.contains("NoSuchEnv"),
            "{message}"
        );

        let mut env = bridged(&python, "CartPole-v1");
        let before = env.step(&Action::Discrete(0)).unwrap_err();
        assert!(matches!(before, EnvError::NeedsReset { .. }), "{before}");
        env.reset(Some(0)).unwrap();
        for bad in [
            Action::Discrete(2),
            Action::Discrete(-1),
            Action::Continuous(vec![0.0]),
        ] {
            let err = env.step(&bad).unwrap_err();
            assert!(matches!(err, EnvError::InvalidAction { .. }), "{err}");
            assert!(err.to_string().contains("gymnasium:CartPole-v1"), "{err}");
        }
        // A Python exception: CartPole's reset rejects low > high.
        let options = json!({"low": 0.1, "high": -0.1});
        let err = env
            .reset_with_options(Some(0), options.as_object())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reset raised in Python") && err.contains("Traceback"),
            "{err}"
        );
        assert!(err.contains("gymnasium:CartPole-v1"), "{err}");
        let err = env.set_state(&[0.0; 3]).unwrap_err().to_string();
        assert!(err.contains("state must have 4 values, got 3"), "{err}");
        let options = json!({"low": 0.05, "high": 0.05});
        let (obs, _) = env.reset_with_options(None, options.as_object()).unwrap();
        assert_eq!(obs, [0.05; 4]);
        env.step(&Action::Discrete(1)).unwrap();

        let mut kwargs = Kwargs::new();
        kwargs.insert("no_such_argument".into(), json!(1));
        let err = PythonEnv::with_python(&python, "CartPole-v1", &kwargs).unwrap_err();
        assert!(err.to_string().contains("no_such_argument"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_killed_process_is_an_error_not_a_panic() {
        let Some(python) = reference_python() else {
            return;
        };
        let mut env = bridged(&python, "CartPole-v1");
        env.reset(Some(0)).unwrap();
        let pid = env.pid().expect("running").to_string();
        let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success());
        // The child is blocked reading its next request, so the kill lands before any reply.
        let err = env.step(&Action::Discrete(0)).unwrap_err().to_string();
        assert!(
            err.starts_with("gymnasium:CartPole-v1: step failed"),
            "{err}"
        );
        assert!(err.contains("signal: 9"), "{err}");
        let again = env.reset_with_options(None, None).unwrap_err().to_string();
        assert!(again.contains("the Python process is gone"), "{again}");
        assert_eq!(env.pid(), None);
    }

    #[test]
    fn dead_or_missing_interpreters_are_errors() {
        let err = PythonEnv::with_python(
            Path::new("/nonexistent/python3"),
            "CartPole-v1",
            &Kwargs::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("could not start the Python interpreter /nonexistent/python3"),
            "{err}"
        );
        // `false -c <script>` exits at once with status 1.
        let err = PythonEnv::with_python(Path::new("false"), "CartPole-v1", &Kwargs::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("gymnasium:CartPole-v1: gymnasium.make failed"),
            "{err}"
        );
        assert!(err.contains("exit status: 1"), "{err}");
    }

    /// An executable that ignores its arguments, waits for the start of the first request
    /// (so that the request is written before it exits) and answers `reply`.
    #[cfg(unix)]
    fn fake_python(name: &str, reply: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let script = format!("#!/bin/sh\nhead -c 5 >/dev/null\nprintf '{reply}'\n");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn malformed_replies_are_errors() {
        let cases = [
            (
                "bridge-bad-code",
                r"\001\000\000\000Z",
                "unknown reply code 0x5a",
            ),
            (
                "bridge-huge-frame",
                r"\377\377\377\177",
                "more than the limit",
            ),
            (
                "bridge-bad-json",
                r"\003\000\000\000O{]",
                "bad space description",
            ),
        ];
        for (name, reply, expected) in cases {
            let python = fake_python(name, reply);
            let err = PythonEnv::with_python(&python, "CartPole-v1", &Kwargs::new())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("gymnasium:CartPole-v1") && err.contains(expected),
                "{err}"
            );
        }
    }

    /// A Gymnasium environment that sleeps for `seconds` in `gymnasium.make` or in `reset`
    /// (the `sleep_in` keyword), then creates `woke_file` if given. The sleep is far longer
    /// than the limits the tests set, and finite, so that a limit that does not work fails
    /// the test instead of hanging it.
    const SLEEPY_ENV: &str = r#"
import time
import gymnasium as gym
import numpy as np


class Sleepy(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, sleep_in="reset", seconds=20.0, woke_file=None):
        self.sleep_in, self.seconds, self.woke_file = sleep_in, seconds, woke_file
        if sleep_in == "make":
            self.sleep()

    def sleep(self):
        time.sleep(self.seconds)
        if self.woke_file is not None:
            open(self.woke_file, "w").close()

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if self.sleep_in == "reset":
            self.sleep()
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, False, False, {}


gym.register("Sleepy-v0", entry_point=Sleepy)
"#;

    /// An interpreter that can import `sleepy_env` (so that `gymnasium.make` can load
    /// `sleepy_env:Sleepy-v0`): a wrapper in the new directory `name` that puts the module
    /// there on `PYTHONPATH` and runs the reference Python in its own process.
    #[cfg(unix)]
    fn python_with_sleepy_env(python: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sleepy_env.py"), SLEEPY_ENV).unwrap();
        let wrapper = dir.join("python");
        let script = format!(
            "#!/bin/sh\nPYTHONPATH='{}' exec '{}' \"$@\"\n",
            dir.display(),
            python.display()
        );
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        wrapper
    }

    #[cfg(unix)]
    #[test]
    fn a_late_reply_is_a_timeout_that_ends_the_process() {
        let Some(python) = reference_python() else {
            return;
        };
        let python = python_with_sleepy_env(&python, "bridge-sleepy-reset");
        let woke = python.with_file_name("woke");
        let limit = Duration::from_millis(200);
        let mut env = PythonEnv::builder("sleepy_env:Sleepy-v0")
            .python(&python)
            .kwargs(json!({"woke_file": woke}).as_object().unwrap())
            .reply_timeout(limit)
            .build()
            .unwrap();
        assert_eq!(env.reply_timeout(), limit);
        let pid = env.pid().expect("running").to_string();
        let err = env.reset(Some(0)).unwrap_err();
        assert_eq!(
            err,
            EnvError::Timeout {
                env: "gymnasium:sleepy_env:Sleepy-v0".into(),
                call: "reset",
                limit,
            }
        );
        assert_eq!(
            err.to_string(),
            "gymnasium:sleepy_env:Sleepy-v0: no reply to reset within 200ms; the Python \
             process was killed"
        );
        assert_eq!(env.pid(), None);
        // `kill -0` only asks whether the process exists: it was killed and reaped.
        let exists = Command::new("kill")
            .args(["-0", &pid])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!exists.success(), "process {pid} is still there");
        // Killed at the limit, not after it finished the reset in its own time.
        assert!(!woke.exists(), "the reset slept to the end");
        let later = [
            env.reset(None).unwrap_err(),
            env.step(&Action::Discrete(0)).err().unwrap(),
            env.set_state(&[0.0]).unwrap_err(),
        ];
        for err in later {
            let message = err.to_string();
            assert!(
                message.contains("the Python process is gone")
                    && message.contains("reset got no reply within 200ms"),
                "{message}"
            );
        }
        assert!(env.close().is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_make_that_does_not_finish_in_time_is_a_timeout() {
        let Some(python) = reference_python() else {
            return;
        };
        let python = python_with_sleepy_env(&python, "bridge-sleepy-make");
        let limit = Duration::from_millis(200);
        let err = PythonEnv::builder("sleepy_env:Sleepy-v0")
            .python(&python)
            .kwargs(json!({"sleep_in": "make"}).as_object().unwrap())
            .startup_timeout(limit)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            EnvError::Timeout {
                env: "gymnasium:sleepy_env:Sleepy-v0".into(),
                call: "gymnasium.make",
                limit,
            }
        );
    }

    #[test]
    fn make_routes_gymnasium_ids_to_python() {
        let err = make_with_kwargs("CartPole-v1", json!({"frameskip": 1}).as_object().unwrap())
            .err()
            .expect("native ids take no kwargs");
        assert!(err.to_string().contains("frameskip"), "{err}");
        // `make` uses PATHNET_PYTHON (else python3), which scripts/test points at the reference.
        match make("gymnasium:CartPole-v1") {
            Ok(mut env) => {
                assert_eq!(env.id(), "gymnasium:CartPole-v1");
                assert_eq!(env.observation_space().dim(), 4);
                env.reset_with_options(Some(0), None).unwrap();
                env.step(&Action::Discrete(1)).unwrap();
            }
            Err(e) if std::env::var_os("PATHNET_PYTHON").is_none() => {
                assert!(
                    matches!(e, EnvError::Python { .. }),
                    "not routed to Python: {e}"
                );
                eprintln!("make(\"gymnasium:CartPole-v1\") not run: {e}");
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn has_ale_py(python: &Path) -> bool {
        let found = Command::new(python)
            .args(["-c", "import ale_py"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("skipped: ale-py is not installed (scripts/setup-python-ref installs it)");
        }
        found
    }

    fn pong(python: &Path, kwargs: Value) -> PythonEnv {
        PythonEnv::with_python(python, "ALE/Pong-v5", kwargs.as_object().unwrap())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn atari_pong_through_ale_py() {
        let Some(python) = reference_python() else {
            return;
        };
        if !has_ale_py(&python) {
            return;
        }
        let mut env = pong(&python, json!({}));
        assert_eq!(env.observation_shape(), [210, 160, 3]);
        assert_eq!(env.observation_space().dim(), 210 * 160 * 3);
        assert!(env.observation_space().high().iter().all(|&h| h == 255.0));
        let Space::Discrete(actions) = env.action_space() else {
            panic!("Pong's action space is {}", env.action_space());
        };
        assert_eq!((actions.n, actions.start), (6, 0));
        let run = |env: &mut PythonEnv| {
            let (obs, _) = env.reset_with_options(Some(3), None).unwrap();
            let mut frames = vec![obs.to_vec()];
            let mut last_info = None;
            for t in 0..40 {
                let step = env.step(&Action::Discrete(t % 6)).unwrap();
                assert!(!step.terminated && !step.truncated);
                frames.push(step.obs.to_vec());
                last_info = Some(step.info);
            }
            (frames, last_info.unwrap())
        };
        let (frames, info) = run(&mut env);
        assert!(env.observation_space().contains(&frames[40]));
        assert!(frames[40].iter().all(|v| v.fract() == 0.0));
        assert_ne!(frames[0], frames[40], "the picture moves");
        // v5 repeats each action for 4 frames; only numeric scalars of the info come over.
        assert_eq!(info["episode_frame_number"], 160);
        assert!(info["lives"].is_number());
        // Sticky actions draw from the seeded generator, so a rerun is identical.
        assert_eq!(run(&mut pong(&python, json!({}))).0, frames);

        let mut single = pong(&python, json!({"frameskip": 1, "obs_type": "grayscale"}));
        assert_eq!(single.observation_shape(), [210, 160]);
        single.reset_with_options(Some(0), None).unwrap();
        let info = single.step(&Action::Discrete(0)).unwrap().info;
        assert_eq!(info["episode_frame_number"], 1);
        env.close().unwrap();
    }
}
