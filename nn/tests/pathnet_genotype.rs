//! Pathway genotypes and the GA operators: validation, seeding, mutation statistics and the
//! tournament.

use pathnet_nn::pathnet::ga::{self, Contestant, MAX_OFFSET};
use pathnet_nn::pathnet::{ModuleId, PathNetDims, PathNetError, Pathway};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn dims() -> PathNetDims {
    PathNetDims::new(3, 10, 3).unwrap()
}

#[test]
fn dims_reject_impossible_sizes() {
    for (l, m, n, field) in [
        (0, 10, 3, "layers"),
        (3, 0, 3, "modules"),
        (3, 10, 0, "max_active"),
        (3, 2, 3, "max_active"),
    ] {
        match PathNetDims::new(l, m, n) {
            Err(PathNetError::Dims { field: f, .. }) => assert_eq!(f, field),
            other => panic!("({l},{m},{n}): expected a Dims error on {field}, got {other:?}"),
        }
    }
}

#[test]
fn valid_pathways_are_accepted() {
    let p = Pathway::new(vec![vec![0, 9, 4], vec![1], vec![2, 3]], &dims()).unwrap();
    assert_eq!(p.layer(0), &[0, 9, 4]);
    let ids: Vec<ModuleId> = p.module_ids().collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(ids[0], ModuleId::new(0, 0));
    assert_eq!(ids[5], ModuleId::new(2, 3));
    assert!(p.uses(ModuleId::new(0, 9)));
    assert!(!p.uses(ModuleId::new(1, 9)));
}

#[test]
fn index_out_of_range_is_named() {
    let err = Pathway::new(vec![vec![0, 1], vec![2, 10], vec![3]], &dims()).unwrap_err();
    assert_eq!(
        err,
        PathNetError::IndexOutOfRange {
            layer: 1,
            position: 1,
            value: 10,
            modules: 10
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("layer 1") && msg.contains("position 1") && msg.contains("10"),
        "{msg}"
    );
}

#[test]
fn duplicates_are_rejected() {
    let err = Pathway::new(vec![vec![0], vec![5, 2, 5], vec![3]], &dims()).unwrap_err();
    assert_eq!(
        err,
        PathNetError::Duplicate {
            layer: 1,
            position: 2,
            value: 5,
            first: 0
        }
    );
    // More entries than N, all copies of one module: reported as the duplicate.
    let err = Pathway::new(vec![vec![1, 1, 1, 1], vec![0], vec![0]], &dims()).unwrap_err();
    assert!(matches!(
        err,
        PathNetError::Duplicate {
            layer: 0,
            position: 1,
            value: 1,
            ..
        }
    ));
}

#[test]
fn more_than_n_active_is_rejected() {
    let err = Pathway::new(vec![vec![0], vec![1], vec![0, 1, 2, 3]], &dims()).unwrap_err();
    assert_eq!(
        err,
        PathNetError::TooManyActive {
            layer: 2,
            actual: 4,
            max: 3
        }
    );
}

#[test]
fn wrong_layer_count_and_empty_layers_are_rejected() {
    let err = Pathway::new(vec![vec![0], vec![1]], &dims()).unwrap_err();
    assert_eq!(
        err,
        PathNetError::LayerCount {
            expected: 3,
            actual: 2
        }
    );
    let err = Pathway::new(vec![vec![0], vec![], vec![1]], &dims()).unwrap_err();
    assert_eq!(err, PathNetError::EmptyLayer { layer: 1 });
}

#[test]
fn random_pathways_are_valid_full_and_seeded() {
    let d = dims();
    for seed in 0..200 {
        let p = Pathway::random(&d, seed).unwrap();
        p.validate(&d).unwrap();
        assert!(p.layers().iter().all(|l| l.len() == d.max_active));
    }
    assert_eq!(
        Pathway::random(&d, 7).unwrap(),
        Pathway::random(&d, 7).unwrap()
    );
    let distinct: std::collections::HashSet<Pathway> =
        (0..20).map(|s| Pathway::random(&d, s).unwrap()).collect();
    assert!(
        distinct.len() > 15,
        "only {} distinct pathways from 20 seeds",
        distinct.len()
    );
}

#[test]
fn mutation_rate_and_offsets_match_the_paper() {
    let d = dims();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let draws = 20_000;
    let (mut selected, mut offsets) = (0usize, [0usize; 5]);
    for i in 0..draws {
        let mut p = Pathway::random(&d, i).unwrap();
        let before = p.clone();
        let report = ga::mutate(&mut p, &d, &mut rng).unwrap();
        p.validate(&d).unwrap();
        for m in &report.mutations {
            assert!((-MAX_OFFSET..=MAX_OFFSET).contains(&m.offset), "{m:?}");
            assert_eq!(m.from, before.layer(m.layer)[m.position]);
            assert_eq!(m.to, p.layer(m.layer)[m.position]);
            let wrapped = (m.from as i64 + m.offset).rem_euclid(d.modules as i64) as usize;
            assert_eq!(m.to, wrapped, "{m:?}");
            offsets[(m.offset + MAX_OFFSET) as usize] += 1;
        }
        selected += report.mutations.len();
        // Positions not reported are untouched.
        let changed = (0..d.layers)
            .flat_map(|l| (0..d.max_active).map(move |k| (l, k)))
            .filter(|&(l, k)| before.layer(l)[k] != p.layer(l)[k])
            .count();
        assert_eq!(changed, report.changed());
    }
    let positions = (draws as usize * d.max_active * d.layers) as f64;
    let rate = selected as f64 / positions;
    let expected = ga::mutation_rate(&d);
    // 180k Bernoulli(1/9) trials: the standard deviation of the rate is ~7e-4.
    assert!(
        (rate - expected).abs() < 0.005,
        "rate {rate}, expected {expected}"
    );
    // Every offset occurs; non-zero offsets are roughly uniform (redraws favour none of them).
    assert!(offsets.iter().all(|&c| c > 0), "{offsets:?}");
    let nonzero = [offsets[0], offsets[1], offsets[3], offsets[4]];
    let mean = nonzero.iter().sum::<usize>() as f64 / 4.0;
    assert!(
        nonzero
            .iter()
            .all(|&c| (c as f64 - mean).abs() < 0.1 * mean),
        "{offsets:?}"
    );
}

#[test]
fn mutation_wraps_and_never_duplicates() {
    // M = 4, N = 3: most offsets collide with another active module.
    let d = PathNetDims::new(2, 4, 3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut p = Pathway::new(vec![vec![0, 1, 3], vec![3, 2, 1]], &d).unwrap();
    let mut wrapped = false;
    for _ in 0..2_000 {
        let report = ga::mutate_with_rate(&mut p, &d, 1.0, &mut rng).unwrap();
        p.validate(&d).unwrap();
        wrapped |= report
            .mutations
            .iter()
            .any(|m| (m.from as i64 + m.offset) < 0 || (m.from as i64 + m.offset) >= 4);
    }
    assert!(wrapped, "no mutation ever crossed the boundary");
}

#[test]
fn mutation_is_deterministic_and_rejects_bad_input() {
    let d = dims();
    let run = |seed| {
        let mut p = Pathway::random(&d, 1).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..50 {
            ga::mutate(&mut p, &d, &mut rng).unwrap();
        }
        p
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut p = Pathway::random(&d, 1).unwrap();
    let err = ga::mutate_with_rate(&mut p, &d, 1.5, &mut rng).unwrap_err();
    assert_eq!(err, PathNetError::MutationRate { rate: 1.5 });
    let other = PathNetDims::new(4, 10, 3).unwrap();
    assert!(matches!(
        ga::mutate(&mut p, &other, &mut rng),
        Err(PathNetError::LayerCount {
            expected: 4,
            actual: 3
        })
    ));
}

#[test]
fn tournament_picks_the_fitter_and_overwrites_the_loser() {
    let r = ga::tournament(-0.1, -0.3);
    assert_eq!((r.winner, r.loser), (Contestant::First, Contestant::Second));
    let r = ga::tournament(-0.5, -0.3);
    assert_eq!((r.winner, r.loser), (Contestant::Second, Contestant::First));
    assert_eq!(ga::tournament(0.2, 0.2).winner, Contestant::First);
    assert_eq!(ga::tournament(f64::NAN, -1.0).winner, Contestant::Second);
    assert_eq!(ga::tournament(-1.0, f64::NAN).winner, Contestant::First);

    let d = dims();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let winner = Pathway::random(&d, 1).unwrap();
    let loser = Pathway::random(&d, 2).unwrap();
    let (mut a, mut b) = (loser.clone(), winner.clone());
    let (result, report) =
        ga::tournament_step((&mut a, -0.4), (&mut b, -0.2), &d, &mut rng).unwrap();
    assert_eq!(result.winner, Contestant::Second);
    assert_eq!(b, winner, "the winner must be left as it was");
    a.validate(&d).unwrap();
    let differing = (0..d.layers)
        .flat_map(|l| (0..d.max_active).map(move |k| (l, k)))
        .filter(|&(l, k)| a.layer(l)[k] != winner.layer(l)[k])
        .count();
    assert_eq!(
        differing,
        report.changed(),
        "the loser is the winner plus the reported mutations"
    );
}
