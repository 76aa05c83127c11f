//! Conv modules over MinAtar grids: channel padding, safe mutations through the
//! convolutions, bit-identical rebuilds and frozen modules.

use super::tests::{env, flat, job_of, lineage, module, problem};
use super::*;
use crate::operator::Operator;
use pathnet_nn::pathnet::{ModuleId, Pathway};

const CONV: ConvLayers = ConvLayers {
    filters: 4,
    kernel: 3,
    stride: 1,
    padding: 0,
};

/// Freeway (7 channels) first, then Breakout (4 channels, padded with 3 zero channels), so
/// that most evaluations play Breakout's short episodes.
fn minatar() -> PathwayProblem {
    PathwayProblem {
        tasks: vec![env("MinAtar/Freeway-v1"), env("MinAtar/Breakout-v1")],
        conv: Some(CONV),
        max_experience: 12,
        ..problem()
    }
}

#[test]
fn breakout_is_padded_to_freeways_channels_and_its_experience_is_grids() {
    pathnet_nn::set_threads(1);
    let p = minatar();
    p.validate().unwrap();
    assert_eq!(p.input_shape().unwrap(), [7, 10, 10]);
    let net = p.base_network().unwrap();
    assert_eq!(net.input_shape(), [7, 10, 10]);
    let pathway = Pathway::random(&p.dims().unwrap(), 3).unwrap();
    let evaluation = p.evaluate(&net, &pathway, 1, None).unwrap();
    let shape = evaluation.experience.shape();
    assert_eq!(shape[1..], [7, 10, 10]);
    assert!(shape[0] > 0 && shape[0] <= 12, "{shape:?}");
    // Breakout's own channels hold its ball and paddle; the padding channels are zero.
    let grids = evaluation
        .experience
        .view()
        .into_dimensionality::<ndarray::Ix4>()
        .unwrap();
    let padding: f32 = grids.slice(ndarray::s![.., 4.., .., ..]).sum();
    assert_eq!(padding, 0.0);
    assert!(evaluation.experience.sum() > 0.0);
    assert!(evaluation.steps > 0);
}

#[test]
fn safe_mutations_go_through_conv_modules_rebuild_bit_for_bit_and_spare_frozen_ones() {
    pathnet_nn::set_threads(1);
    let p = minatar();
    // Freeway's best: control mutations only, so no Freeway evaluation is replayed.
    let a_best = lineage(Operator::Control, 2, 5);
    let cache = PathwayRebuildCache::new(0);
    let a = rebuild(&job_of(p.clone(), 0, vec![], &a_best), &cache).unwrap();
    let transfers = vec![Transfer {
        task: 0,
        genome: a_best,
    }];
    let base = base_network(&p, &transfers, &cache).unwrap();
    let mut frozen: Vec<ModuleId> = a.pathway.module_ids().collect();
    frozen.sort();
    assert_eq!(base.frozen_ids(), frozen);
    for operator in Operator::ALL {
        let genome = lineage(operator, 3, 30);
        let job = |k| job_of(p.clone(), 1, transfers.clone(), &genome.prefix(k));
        // Warm: every ancestor evaluated in turn, as a tournament does.
        let warm = PathwayRebuildCache::new(64);
        let fitness: Vec<f64> = (0..=3)
            .map(|k| evaluate_pathway(&job(k), &warm).unwrap().fitness)
            .collect();
        let from_warm = rebuild(&job(3), &warm).unwrap();
        let from_cold = rebuild(&job(3), &PathwayRebuildCache::new(0)).unwrap();
        assert_eq!(from_cold.replayed_mutations, 3, "{operator}");
        assert_eq!(flat(&from_warm.net), flat(&from_cold.net), "{operator}");
        assert_eq!(from_warm.pathway, from_cold.pathway, "{operator}");
        let again = evaluate_pathway(&job(3), &PathwayRebuildCache::new(0)).unwrap();
        assert_eq!(again.fitness.to_bits(), fitness[3].to_bits(), "{operator}");
        for &id in &frozen {
            assert_eq!(
                module(&from_cold.net, id),
                module(&a.net, id),
                "{operator}: {id}"
            );
        }
        // The first mutation changed the unfrozen conv modules of the first pathway.
        let first = genome_pathway(&p.dims().unwrap(), &genome.prefix(0)).unwrap();
        let moved = first
            .module_ids()
            .filter(|id| !frozen.contains(id))
            .filter(|&id| module(&from_cold.net, id) != module(&base, id))
            .count();
        assert!(moved > 0, "{operator}: no conv module of the pathway moved");
    }
}

#[test]
fn conv_modules_need_grid_observations_and_a_kernel_that_fits() {
    let mut p = minatar();
    p.tasks[1] = env("CartPole-v1");
    let err = p.validate().unwrap_err().to_string();
    assert!(
        err.contains("module_kind") && err.contains("CartPole-v1"),
        "{err}"
    );
    let p = PathwayProblem {
        layers: 3,
        conv: Some(ConvLayers { kernel: 5, ..CONV }),
        ..minatar()
    };
    let err = p.validate().unwrap_err().to_string();
    assert!(
        err.contains("conv_kernel") && err.contains("layer 2"),
        "{err}"
    );
    let p = PathwayProblem {
        conv: Some(ConvLayers { filters: 0, ..CONV }),
        ..minatar()
    };
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("conv_filters")
    );
    // Without conv, MinAtar's grids are flat vectors into linear modules, as before.
    let p = PathwayProblem {
        conv: None,
        ..minatar()
    };
    p.validate().unwrap();
    assert_eq!(p.input_shape().unwrap(), [700]);
}
