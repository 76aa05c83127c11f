//! MinAtar Breakout and Freeway: hand-built positions checked against MinAtar's rules, the
//! observation layout, sticky actions and seeding.

use pathnet_envs::minatar::{Breakout, BreakoutState, Car, Freeway, FreewayState, GRID};
use pathnet_envs::{Action, Env, EnvError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn at(obs: &[f32], c: usize, y: usize, x: usize) -> f32 {
    obs[c * GRID * GRID + y * GRID + x]
}

fn channel_sum(obs: &[f32], c: usize) -> f32 {
    obs[c * GRID * GRID..(c + 1) * GRID * GRID].iter().sum()
}

/// A Breakout without sticky actions, in the given position with no bricks.
fn breakout(ball: (i64, i64), dir: usize, paddle: i64) -> (Breakout, BreakoutState) {
    let mut env = Breakout::with_sticky_action_prob(0.0).unwrap();
    env.reset(Some(0)).unwrap();
    let s = BreakoutState {
        ball_x: ball.0,
        ball_y: ball.1,
        ball_dir: dir,
        paddle,
        last_x: ball.0,
        last_y: ball.1,
        strike: false,
        terminal: false,
        last_action: 0,
        bricks: [[false; GRID]; GRID],
    };
    (env, s)
}

fn step(env: &mut impl Env, a: i64) -> (f64, bool) {
    let s = env.step(&Action::Discrete(a)).unwrap();
    (s.reward, s.terminated)
}

fn ball(env: &Breakout) -> (i64, i64, usize) {
    let g = env.game().unwrap();
    (g.ball_x, g.ball_y, g.ball_dir)
}

#[test]
fn breakout_reset_observation_has_the_four_channels() {
    let mut env = Breakout::new();
    let obs = env.reset(Some(1)).unwrap().0.to_vec();
    assert_eq!(obs.len(), 4 * GRID * GRID);
    assert!(env.observation_space().contains(&obs));
    assert_eq!(at(&obs, 0, 9, 4), 1.0);
    assert_eq!(channel_sum(&obs, 0), 1.0);
    let g = env.game().unwrap().clone();
    assert!((g.ball_x, g.ball_dir) == (0, 2) || (g.ball_x, g.ball_dir) == (9, 3));
    assert_eq!(at(&obs, 1, 3, g.ball_x as usize), 1.0);
    assert_eq!(channel_sum(&obs, 1), 1.0);
    assert_eq!(at(&obs, 2, 3, g.ball_x as usize), 1.0);
    for y in 0..GRID {
        for x in 0..GRID {
            let want = if (1..4).contains(&y) { 1.0 } else { 0.0 };
            assert_eq!(at(&obs, 3, y, x), want, "brick ({y}, {x})");
        }
    }
    // Both starting corners occur across seeds.
    let starts: Vec<i64> = (0..20)
        .map(|s| {
            env.reset(Some(s)).unwrap();
            env.game().unwrap().ball_x
        })
        .collect();
    assert!(starts.contains(&0) && starts.contains(&9), "{starts:?}");
}

#[test]
fn breakout_ball_reflects_off_walls_and_ceiling() {
    let (mut env, s) = breakout((0, 5), 0, 4);
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 0), (0.0, false));
    assert_eq!(
        ball(&env),
        (0, 4, 1),
        "left wall turns up-left into up-right"
    );

    let (mut env, s) = breakout((5, 0), 1, 4);
    env.set_state(&s.to_vec()).unwrap();
    step(&mut env, 0);
    assert_eq!(
        ball(&env),
        (6, 0, 2),
        "ceiling turns up-right into down-right"
    );

    // The corner flips both components in one step.
    let (mut env, s) = breakout((9, 0), 1, 4);
    env.set_state(&s.to_vec()).unwrap();
    step(&mut env, 0);
    assert_eq!(ball(&env), (9, 0, 3));
    let obs = env.step(&Action::Discrete(0)).unwrap().obs.to_vec();
    assert_eq!(at(&obs, 1, 1, 8), 1.0, "ball");
    assert_eq!(at(&obs, 2, 0, 9), 1.0, "trail is the previous cell");
}

#[test]
fn breakout_brick_pays_one_and_bounces_once_per_strike() {
    let (mut env, mut s) = breakout((5, 5), 0, 4);
    s.bricks[4][4] = true;
    s.bricks[3][3] = true;
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 0), (1.0, false));
    let g = env.game().unwrap();
    assert!(!g.bricks[4][4] && g.strike);
    assert_eq!(
        ball(&env),
        (4, 5, 3),
        "reflected back down, stays on its row"
    );

    // A ball that struck on the previous step enters the next brick without breaking it.
    let (mut env, mut s) = breakout((5, 5), 0, 4);
    s.bricks[4][4] = true;
    s.strike = true;
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 0), (0.0, false));
    assert!(env.game().unwrap().bricks[4][4]);
    assert_eq!(ball(&env), (4, 4, 0));
    assert!(env.game().unwrap().strike, "still overlapping a brick");
    step(&mut env, 0);
    assert!(!env.game().unwrap().strike);
}

#[test]
fn breakout_paddle_reflects_by_the_side_hit_and_a_miss_terminates() {
    // Ball above the paddle: straight reflection.
    let (mut env, s) = breakout((4, 8), 2, 4);
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 0), (0.0, false));
    assert_eq!(ball(&env), (5, 8, 1));
    // Ball coming onto the paddle from the side: sent back the way it came.
    let (mut env, s) = breakout((3, 8), 2, 4);
    env.set_state(&s.to_vec()).unwrap();
    step(&mut env, 0);
    assert_eq!(ball(&env), (4, 8, 0));
    // Missing the paddle ends the game, and a finished game cannot be stepped.
    let (mut env, s) = breakout((0, 8), 2, 4);
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 0), (0.0, true));
    assert_eq!(ball(&env), (1, 9, 2));
    assert!(matches!(
        env.step(&Action::Discrete(0)),
        Err(EnvError::Unsupported { .. })
    ));
    // The paddle moves before the ball, so moving under it saves the ball.
    let (mut env, s) = breakout((5, 8), 2, 5);
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 2), (0.0, false));
    assert_eq!(ball(&env), (6, 8, 0));
}

#[test]
fn breakout_refills_bricks_when_cleared() {
    let (mut env, s) = breakout((4, 8), 2, 4);
    env.set_state(&s.to_vec()).unwrap();
    step(&mut env, 0);
    let g = env.game().unwrap();
    for (y, row) in g.bricks.iter().enumerate() {
        assert_eq!(*row, [(1..4).contains(&y); GRID], "row {y}");
    }
}

#[test]
fn breakout_paddle_moves_and_stops_at_the_edges() {
    let (mut env, s) = breakout((4, 1), 1, 1);
    env.set_state(&s.to_vec()).unwrap();
    let mut seen = vec![];
    for a in [1, 1, 0, 2, 2] {
        step(&mut env, a);
        seen.push(env.game().unwrap().paddle);
    }
    assert_eq!(seen, [0, 0, 0, 1, 2]);
}

#[test]
fn sticky_actions_repeat_the_previous_action() {
    // With probability 1 the initial no-op is repeated forever.
    let mut env = Breakout::with_sticky_action_prob(1.0).unwrap();
    env.reset(Some(3)).unwrap();
    for _ in 0..3 {
        step(&mut env, 2);
    }
    assert_eq!(env.game().unwrap().paddle, 4);

    // At 0.1, the same seed repeats the same substitutions; they do happen.
    let paddles = |seed, p| {
        let mut env = Breakout::with_sticky_action_prob(p).unwrap();
        env.reset(Some(seed)).unwrap();
        let mut path = vec![];
        for i in 0..8 {
            let (_, done) = step(&mut env, [1, 2][i % 2]);
            path.push(env.game().unwrap().paddle);
            if done {
                break;
            }
        }
        path
    };
    assert_eq!(paddles(5, 0.1), paddles(5, 0.1));
    let free = paddles(5, 0.0);
    assert!((0..40).any(|s| paddles(s, 0.1) != paddles(s, 0.0)));
    assert_eq!(free[..4], [3, 4, 3, 4]);

    for bad in [-0.1, 1.5, f64::NAN] {
        let err = Freeway::with_sticky_action_prob(bad).unwrap_err();
        assert!(err.to_string().contains("sticky_action_prob"), "{err}");
    }
}

fn trajectory(env: &mut dyn Env, seed: u64) -> Vec<f32> {
    let mut out = env.reset(Some(seed)).unwrap().0.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..300 {
        let a = env.action_space().sample(&mut rng);
        let s = env.step(&a).unwrap();
        out.extend_from_slice(s.obs);
        out.push(s.reward as f32);
        if s.terminated {
            out.extend_from_slice(env.reset(None).unwrap().0);
        }
    }
    out
}

#[test]
fn same_seed_same_trajectory() {
    let games: [fn() -> Box<dyn Env>; 2] =
        [|| Box::new(Breakout::new()), || Box::new(Freeway::new())];
    for make in games {
        let (mut a, mut b) = (make(), make());
        assert_eq!(trajectory(&mut *a, 9), trajectory(&mut *b, 9), "{}", a.id());
        assert_ne!(
            trajectory(&mut *a, 9),
            trajectory(&mut *b, 10),
            "{}",
            a.id()
        );
    }
}

#[test]
fn bad_actions_states_and_order_are_errors() {
    let mut env = Breakout::new();
    assert!(matches!(
        env.step(&Action::Discrete(0)),
        Err(EnvError::NeedsReset { .. })
    ));
    env.reset(Some(0)).unwrap();
    let err = env.step(&Action::Discrete(3)).unwrap_err();
    assert!(matches!(err, EnvError::InvalidAction { .. }), "{err}");
    let mut s = env.state().unwrap().to_vec();
    assert_eq!(BreakoutState::from_slice(&s).unwrap(), *env.game().unwrap());
    s[2] = 4.0;
    let msg = env.set_state(&s).unwrap_err().to_string();
    assert!(msg.contains("ball_dir") && msg.contains('4'), "{msg}");
    assert!(env.set_state(&s[..5]).is_err());

    let mut fw = Freeway::new();
    fw.reset(Some(0)).unwrap();
    let mut s = fw.state().unwrap().to_vec();
    s[5 + 2] = 0.0;
    let msg = fw.set_state(&s).unwrap_err().to_string();
    assert!(msg.contains("cars[0].speed"), "{msg}");
}

fn freeway(chicken_y: i64, move_timer: i64, cars: [Car; 8]) -> Freeway {
    let mut env = Freeway::with_sticky_action_prob(0.0).unwrap();
    env.reset(Some(0)).unwrap();
    let s = FreewayState {
        chicken_y,
        move_timer,
        terminate_timer: 2500,
        terminal: false,
        last_action: 0,
        cars,
    };
    env.set_state(&s.to_vec()).unwrap();
    env
}

/// Slow cars parked away from the chicken's column.
fn parked() -> [Car; 8] {
    std::array::from_fn(|i| Car {
        x: 0,
        y: i as i64 + 1,
        speed: 5,
        timer: 5,
    })
}

#[test]
fn freeway_reset_observation_shows_chicken_cars_and_speeds() {
    let mut env = Freeway::new();
    let obs = env.reset(Some(2)).unwrap().0.to_vec();
    assert_eq!(obs.len(), 7 * GRID * GRID);
    assert!(env.observation_space().contains(&obs));
    assert_eq!(at(&obs, 0, 9, 4), 1.0);
    assert_eq!(channel_sum(&obs, 0), 1.0);
    for (i, car) in env.game().unwrap().cars.iter().enumerate() {
        assert_eq!(
            (car.x, car.y, car.timer),
            (0, i as i64 + 1, car.speed.abs())
        );
        assert_eq!(at(&obs, 1, i + 1, 0), 1.0);
        let back = if car.speed > 0 { 9 } else { 1 };
        let c = 1 + car.speed.unsigned_abs() as usize;
        assert_eq!(at(&obs, c, i + 1, back), 1.0, "car {i}: {car:?}");
    }
    let trails: f32 = (2..7).map(|c| channel_sum(&obs, c)).sum();
    assert_eq!(trails, 8.0);
}

#[test]
fn freeway_chicken_waits_between_moves_and_scores_at_the_top() {
    let mut env = freeway(9, 0, parked());
    step(&mut env, 1);
    assert_eq!(env.game().unwrap().chicken_y, 8);
    for _ in 0..3 {
        step(&mut env, 1);
    }
    assert_eq!(env.game().unwrap().chicken_y, 7, "three steps' wait");

    let mut env = freeway(1, 0, parked());
    assert_eq!(step(&mut env, 1), (1.0, false));
    let g = env.game().unwrap();
    assert_eq!(g.chicken_y, 9);
    // New speeds restart the timers, which then count down as the cars update.
    assert!(g.cars.iter().all(|c| c.timer == c.speed.abs() - 1));
}

#[test]
fn freeway_car_hit_sends_the_chicken_back() {
    let mut cars = parked();
    cars[4] = Car {
        x: 3,
        y: 5,
        speed: 1,
        timer: 0,
    };
    let mut env = freeway(5, 3, cars);
    assert_eq!(step(&mut env, 0), (0.0, false));
    let g = env.game().unwrap();
    assert_eq!((g.chicken_y, g.cars[4].x), (9, 4));
    // Cars wrap around the screen.
    let mut cars = parked();
    cars[0] = Car {
        x: 0,
        y: 1,
        speed: -2,
        timer: 0,
    };
    let mut env = freeway(9, 3, cars);
    step(&mut env, 0);
    assert_eq!(env.game().unwrap().cars[0].x, 9);
}

#[test]
fn freeway_ends_after_its_time_limit() {
    let mut env = freeway(9, 0, parked());
    let mut s = env.game().unwrap().clone();
    s.terminate_timer = 1;
    env.set_state(&s.to_vec()).unwrap();
    assert_eq!(step(&mut env, 0), (0.0, false));
    assert_eq!(step(&mut env, 0), (0.0, true));
    assert!(env.step(&Action::Discrete(0)).is_err());
}
