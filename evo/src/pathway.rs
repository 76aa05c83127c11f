//! Safe mutations on PathNet: the weights of the modules one pathway uses (and its task's
//! head) are mutated as one network, every other module is left as it is, and the pathway
//! itself then takes PathNet's point mutation (`pathnet_nn::pathnet::ga`).
//!
//! The operators see the pathway exactly as [`PathNet::pathway_layer`] presents it, so
//! SM-G scales each weight by how much the pathway's output depends on it. Frozen modules
//! on the pathway keep their weights (they still shape the sensitivities of the others).

use crate::EvoError;
use crate::operator::{Applied, Mutation};
use ndarray::{ArrayD, ArrayViewD};
use pathnet_nn::Layer;
use pathnet_nn::pathnet::ga::{self, MutationReport};
use pathnet_nn::pathnet::{ModuleId, PathNet, Pathway};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What [`mutate_pathway`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PathwayMutation {
    /// The child's pathway.
    pub pathway: Pathway,
    /// How it differs from the parent's.
    pub report: MutationReport,
    /// Modules whose weights changed (the parent pathway's unfrozen modules and head).
    pub changed: Vec<ModuleId>,
    /// What the weight mutation did (SM-R may have given up, see [`Applied`]).
    pub applied: Applied,
}

/// Applies `mutation` to the weights of `pathway`'s modules and task `task`'s head, skipping
/// frozen ones; `experience` is a batch of the pathway's recent inputs. Returns the modules
/// changed (none when SM-R finds no step).
pub fn mutate_pathway_weights(
    net: &mut PathNet<f32>,
    pathway: &Pathway,
    task: usize,
    mutation: &Mutation,
    experience: Option<ArrayViewD<'_, f32>>,
) -> Result<Vec<ModuleId>, EvoError> {
    mutate_weights(net, pathway, task, mutation, experience).map(|(changed, _)| changed)
}

fn mutate_weights(
    net: &mut PathNet<f32>,
    pathway: &Pathway,
    task: usize,
    mutation: &Mutation,
    experience: Option<ArrayViewD<'_, f32>>,
) -> Result<(Vec<ModuleId>, Applied), EvoError> {
    let (ids, drawn) = {
        let mut layer = net.pathway_layer(pathway.clone(), task)?;
        let ids = layer.module_ids().to_vec();
        // PathNet's safe mutations take no weight clip (`weight_clip` is a `[ga]` setting).
        let drawn = mutation
            .perturbation(&mut layer as &mut dyn Layer<f32>, experience, None)
            .map_err(|source| EvoError::Mutation { index: 0, source })?;
        (ids, drawn)
    };
    let Some(perturbation) = drawn.perturbation else {
        return Ok((Vec::new(), drawn.applied));
    };
    let mut deltas = perturbation.deltas.into_iter();
    let mut changed = Vec::new();
    for id in ids {
        let current: Vec<ArrayD<f32>> = net.params(id)?.iter().map(|p| p.to_owned()).collect();
        let module_deltas: Vec<Vec<f32>> = deltas.by_ref().take(current.len()).collect();
        if net.is_frozen(id)? {
            continue;
        }
        let updated: Vec<ArrayD<f32>> = current
            .into_iter()
            .zip(&module_deltas)
            .map(|(mut p, d)| {
                p.iter_mut().zip(d).for_each(|(w, d)| *w += d);
                p
            })
            .collect();
        net.set_params(id, &updated)?;
        changed.push(id);
    }
    Ok((changed, drawn.applied))
}

/// One PathNet generation step for a child of `pathway`: [`mutate_pathway_weights`] on the
/// parent's pathway (whose modules the experience was gathered with), then a point mutation of
/// a copy of the pathway. Both draw from `mutation.seed` (the pathway from a separate stream),
/// so the step is reproducible from the seed alone.
pub fn mutate_pathway(
    net: &mut PathNet<f32>,
    pathway: &Pathway,
    task: usize,
    mutation: &Mutation,
    experience: Option<ArrayViewD<'_, f32>>,
) -> Result<PathwayMutation, EvoError> {
    let (changed, applied) = mutate_weights(net, pathway, task, mutation, experience)?;
    let mut rng = ChaCha8Rng::seed_from_u64(mutation.seed);
    rng.set_stream(1);
    let mut child = pathway.clone();
    let report = ga::mutate(&mut child, net.dims(), &mut rng)?;
    Ok(PathwayMutation {
        pathway: child,
        report,
        changed,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Operator;
    use ndarray::Array2;
    use pathnet_nn::pathnet::PathNetDims;
    use pathnet_nn::pathnet::build::{LinearModules, linear};
    use rand::Rng;

    fn setup() -> (PathNet<f32>, Pathway, Array2<f32>) {
        let dims = PathNetDims::new(3, 5, 2).unwrap();
        let modules = LinearModules {
            inputs: 4,
            units: 6,
        };
        let net = linear::<f32>(dims, modules, &[2, 3], 11).unwrap();
        let pathway = Pathway::random(&dims, 5).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let experience = Array2::from_shape_fn((8, 4), |_| rng.random_range(-1.0..1.0));
        (net, pathway, experience)
    }

    fn snapshot(net: &PathNet<f32>) -> Vec<(ModuleId, Vec<ArrayD<f32>>)> {
        net.module_ids()
            .map(|id| {
                (
                    id,
                    net.params(id)
                        .unwrap()
                        .iter()
                        .map(|p| p.to_owned())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn only_the_pathways_unfrozen_modules_and_head_change() {
        for operator in Operator::ALL {
            let (mut net, pathway, experience) = setup();
            let frozen = pathway.module_ids().nth(1).unwrap();
            net.freeze(frozen).unwrap();
            let before = snapshot(&net);
            let magnitude = if operator == Operator::SmR {
                1e-3
            } else {
                0.02
            };
            let mutation = Mutation {
                seed: 9,
                magnitude,
                operator,
            };
            let changed = mutate_pathway_weights(
                &mut net,
                &pathway,
                1,
                &mutation,
                Some(experience.view().into_dyn()),
            )
            .unwrap();
            let head = net.head_id(1).unwrap();
            let mut want: Vec<ModuleId> = pathway.module_ids().filter(|&id| id != frozen).collect();
            want.push(head);
            assert_eq!(changed, want, "{operator}");
            for (id, old) in before {
                let now: Vec<ArrayD<f32>> = net
                    .params(id)
                    .unwrap()
                    .iter()
                    .map(|p| p.to_owned())
                    .collect();
                if want.contains(&id) {
                    assert_ne!(now, old, "{operator}: {id} should have changed");
                } else {
                    assert_eq!(now, old, "{operator}: {id} must be untouched");
                }
            }
        }
    }

    #[test]
    fn a_generation_step_is_reproducible_and_mutates_the_pathway() {
        let run = |seed| {
            let (mut net, pathway, experience) = setup();
            let mutation = Mutation {
                seed,
                magnitude: 0.01,
                operator: Operator::SmGSum,
            };
            let step = mutate_pathway(
                &mut net,
                &pathway,
                0,
                &mutation,
                Some(experience.view().into_dyn()),
            )
            .unwrap();
            (step, snapshot(&net), pathway)
        };
        let (a, net_a, parent) = run(3);
        let (b, net_b, _) = run(3);
        assert_eq!(a, b);
        assert_eq!(net_a, net_b);
        a.pathway
            .validate(&PathNetDims::new(3, 5, 2).unwrap())
            .unwrap();
        // Over a few seeds the pathway mutation (rate 1/(N L) per entry) changes something.
        let moved = (0..20)
            .map(run)
            .filter(|(s, _, _)| s.pathway != parent)
            .count();
        assert!(moved > 0);
        assert_eq!(
            a.report.changed() > 0,
            a.pathway != parent,
            "the report matches the pathway"
        );
    }

    #[test]
    fn safe_mutations_need_experience() {
        let (mut net, pathway, _) = setup();
        let mutation = Mutation {
            seed: 1,
            magnitude: 0.01,
            operator: Operator::SmGAbs,
        };
        let err = mutate_pathway_weights(&mut net, &pathway, 0, &mutation, None).unwrap_err();
        assert!(err.to_string().contains("stored input"), "{err}");
    }
}
