//! The `gymnasium-rs` interface (feature `gymnasium-rs`): our environments behind its `Env`
//! trait and its wrappers, and its environments behind ours. The two traits share method
//! names, so each side lives in its own module with only its trait in scope.
#![cfg(feature = "gymnasium-rs")]

/// Our CartPole observations for `actions` after `reset(Some(seed))`, through our own trait.
fn our_cartpole_obs(seed: u64, actions: &[i64]) -> Vec<Vec<f32>> {
    use pathnet_envs::{Action, CartPole, Env};
    let mut env = CartPole::new();
    let mut out = vec![env.reset(Some(seed)).unwrap().0.to_vec()];
    for &a in actions {
        out.push(env.step(&Action::Discrete(a)).unwrap().obs.to_vec());
    }
    out
}

mod ours_behind_their_trait {
    use gymnasium_rs::core::{Env as GymEnv, Space as GymSpace};
    use gymnasium_rs::wrappers::timelimit::TimeLimitWrapper;
    use ndarray015::{Array1, array};
    use pathnet_envs::{CartPole, make};

    #[test]
    fn our_cartpole_runs_inside_their_time_limit_wrapper() {
        let actions = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let expected = super::our_cartpole_obs(3, &actions);

        let mut env = CartPole::new();
        let dyn_env: &mut dyn GymEnv<Array1<f32>, i32> = &mut env;
        assert_eq!(dyn_env.action_space(), GymSpace::Discrete(2));
        let mut wrapped = TimeLimitWrapper::new(dyn_env, 500);
        let (obs, info) = wrapped.reset_seed(3);
        assert!(info.is_empty());
        let mut got = vec![obs.to_vec()];
        let mut last = (0.0, false);
        for a in actions {
            let (obs, reward, terminated, _, _) = wrapped.step(a as i32);
            got.push(obs.to_vec());
            last = (reward, terminated);
            if terminated {
                break;
            }
        }
        assert_eq!(got, expected[..got.len()]);
        // Gymnasium pays 1 on the terminating step too (gymnasium-rs's own CartPole pays 0).
        assert_eq!(last, (1.0, true));
    }

    #[test]
    fn made_envs_take_continuous_actions() {
        let mut env = make("Pendulum-v1").unwrap();
        GymEnv::<Array1<f32>, Array1<f32>>::reset(&mut env, Some(0), Default::default());
        let (obs, reward, terminated, truncated, _) =
            GymEnv::<Array1<f32>, Array1<f32>>::step(&mut env, array![5.0]);
        assert_eq!(obs.len(), 3);
        assert!(reward < 0.0 && !terminated && !truncated);
    }

    #[test]
    #[should_panic(expected = "CartPole-v1: invalid action 2")]
    fn invalid_actions_panic_with_our_message() {
        let mut env = make("CartPole-v1").unwrap();
        GymEnv::<Array1<f32>, i32>::reset(&mut env, Some(0), Default::default());
        GymEnv::<Array1<f32>, i32>::step(&mut env, 2);
    }
}

mod theirs_behind_our_trait {
    use gymnasium_rs::envs::cartpole::CartPole as GymRsCartPole;
    use pathnet_envs::gymnasium_rs::FromGymRs;
    use pathnet_envs::{Action, Env, EnvError, Space, TimeLimit};

    #[test]
    fn their_cartpole_runs_behind_our_trait() {
        let inner =
            FromGymRs::<_, i32>::new("gymnasium-rs/CartPole", GymRsCartPole::new()).unwrap();
        let mut env = TimeLimit::new(inner, 500).unwrap();
        assert_eq!(env.id(), "gymnasium-rs/CartPole");
        assert_eq!(env.observation_space().dim(), 4);
        assert!(matches!(env.action_space(), Space::Discrete(d) if d.n == 2));
        let first = env.reset(Some(1)).unwrap().0.to_vec();
        assert_eq!(env.reset(Some(1)).unwrap().0, &first[..]);
        assert!(env.step(&Action::Discrete(1)).is_ok());
        let err = env.step(&Action::Discrete(2)).unwrap_err();
        assert!(err.to_string().contains("invalid action 2"), "{err}");
        assert!(matches!(
            env.set_state(&[0.0; 4]),
            Err(EnvError::Unsupported { .. })
        ));
        assert_eq!(env.state(), None);
    }
}
