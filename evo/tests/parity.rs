//! Recurrent parity solved end to end by the steady-state GA with SM-G-SUM, and the solver
//! rebuilt from nothing but its encoded seed list.

use pathnet_evo::config::TaskKind;
use pathnet_evo::engine::EngineState;
use pathnet_evo::rebuild::rebuild;
use pathnet_evo::{Genome, Operator, RebuildCache, SafeMutationConfig, runner};

/// A smaller population and network than the paper's keep the test fast; with them, seeds
/// 1-12 all solved within 6100 evaluations while this was developed (seed 3 in 900).
fn config() -> SafeMutationConfig {
    let mut cfg = SafeMutationConfig::new(TaskKind::Parity, Operator::SmGSum, 0.005);
    cfg.population = 50;
    cfg.hidden = Some(8);
    cfg.max_evaluations = 10_000;
    cfg.seed = 3;
    cfg
}

#[test]
fn sm_g_sum_solves_parity_and_the_solver_rebuilds_from_its_seeds() {
    let cfg = config();
    let report = runner::run(&cfg, 1, 200).unwrap();
    let s = &report.summary;
    assert!(s.solved, "{s:?}");
    assert_eq!(s.state, EngineState::Solved);
    let to_solve = s.evaluations_to_solve.unwrap();
    assert!(to_solve <= 10_000 && to_solve == s.evaluations);
    assert_eq!(s.replayed_evaluations, 0, "every parent was still cached");

    let genome = s.best_genome.clone().unwrap();
    let wire = genome.encode();
    assert_eq!(wire.len(), genome.encoded_len());
    let received = Genome::decode(&wire).unwrap();
    let problem = cfg.problem();
    assert!(wire.len() < problem.network.weight_bytes());
    let rebuilt = rebuild(&problem, &received, &RebuildCache::new(0)).unwrap();
    let evaluation = problem.task.evaluate(&*rebuilt.net, problem.max_experience);
    assert!(evaluation.solved);
    assert_eq!(
        evaluation.fitness.to_bits(),
        s.best_fitness.unwrap().to_bits()
    );

    // One evaluation at a time, the run is a function of the configuration.
    let again = runner::run(&cfg, 1, 200).unwrap().summary;
    assert_eq!(again, *s);
}

#[test]
fn several_workers_share_the_engine_and_the_cache() {
    let mut cfg = config();
    cfg.max_evaluations = 300;
    let s = runner::run(&cfg, 2, 200).unwrap().summary;
    assert!(
        matches!(s.state, EngineState::Solved | EngineState::Exhausted),
        "{s:?}"
    );
    assert!(s.evaluations <= 300);
    if s.state == EngineState::Exhausted {
        assert_eq!(s.evaluations, 300);
    }
    // 50 fresh genomes, then one mutation per child (more only after cache misses).
    assert!(s.replayed_mutations >= s.evaluations.saturating_sub(50));
}
