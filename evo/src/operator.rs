//! The five mutation operators a genome can record, and applying one to a network.
//!
//! Every mutation draws from its own `ChaCha8Rng` seeded with the mutation's seed, so a
//! (seed, magnitude, operator) triple and the parent's weights and stored experience fix the
//! child's weights exactly.

use ndarray::ArrayViewD;
use pathnet_nn::Layer;
use pathnet_nn::safe_mutation::{
    self, Gradient, LineSearch, Perturbation, RescaleConfig, SafeMutationError,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A mutation operator (Lehman et al. 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Plain Gaussian noise `N(0, sigma^2)` on every weight.
    Control,
    /// SM-R: a random direction, its length line-searched so the output divergence on the
    /// stored experience equals the magnitude.
    SmR,
    /// SM-G-SUM: Gaussian noise divided per weight by the summed output gradient.
    SmGSum,
    /// SM-G-ABS: as SM-G-SUM with the mean absolute per-example gradient.
    SmGAbs,
    /// SM-G-SO: as SM-G-SUM with the curvature of the divergence along the drawn direction.
    SmGSo,
}

impl Operator {
    /// Every operator, in wire-code order (the index is the code).
    pub const ALL: [Operator; 5] = [
        Operator::Control,
        Operator::SmR,
        Operator::SmGSum,
        Operator::SmGAbs,
        Operator::SmGSo,
    ];

    /// Whether the operator looks at the parent's stored experience.
    pub fn needs_experience(self) -> bool {
        self != Operator::Control
    }

    /// The name used in configuration files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Control => "control",
            Operator::SmR => "sm_r",
            Operator::SmGSum => "sm_g_sum",
            Operator::SmGAbs => "sm_g_abs",
            Operator::SmGSo => "sm_g_so",
        }
    }

    /// The one-byte code of the wire encoding.
    pub(crate) fn code(self) -> u8 {
        match self {
            Operator::Control => 0,
            Operator::SmR => 1,
            Operator::SmGSum => 2,
            Operator::SmGAbs => 3,
            Operator::SmGSo => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Operator::ALL.get(code as usize).copied()
    }
}

impl std::str::FromStr for Operator {
    type Err = String;

    /// Parses [`Operator::name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operator::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown operator {s:?}: expected control, sm_r, sm_g_sum, sm_g_abs or sm_g_so"
                )
            })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One generation's mutation: everything needed to redo it on the parent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mutation {
    /// Seeds the mutation's own random generator.
    pub seed: u64,
    /// The standard deviation of the drawn noise (control and SM-G), or SM-R's target
    /// divergence.
    pub magnitude: f64,
    /// How the weight change is drawn and scaled.
    pub operator: Operator,
}

/// What applying a mutation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The operator's weight change was applied as drawn (SM-R: its line search hit the
    /// target divergence).
    Changed,
    /// SM-R's line search gave up (the outputs saturate below the target, or bisection did not
    /// converge) and the step whose divergence came closest to the target was applied. Counted
    /// as a give-up in the GA's summary.
    ClosestStep,
    /// No tried SM-R step gave a finite divergence, so the child keeps the parent's weights:
    /// deterministic, so every rebuild agrees, and harmless, since the child then only costs
    /// an evaluation.
    Unchanged,
}

/// A mutation's weight change, before it is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// `None` exactly when `applied` is [`Applied::Unchanged`].
    pub perturbation: Option<Perturbation<f32>>,
    /// What applying it does.
    pub applied: Applied,
}

/// Checks a `weight_clip` setting: `None`, or finite and positive.
pub fn validate_weight_clip(weight_clip: Option<f64>) -> Result<(), crate::EvoError> {
    match weight_clip {
        Some(c) if !(c.is_finite() && c > 0.0) => Err(crate::EvoError::invalid(
            "weight_clip",
            c,
            "must be finite and positive (leave it out for no clipping)",
        )),
        _ => Ok(()),
    }
}

impl Mutation {
    /// Applies the mutation to `net`. `experience` (batch axis first) is the parent's stored
    /// inputs; operators other than [`Operator::Control`] require it. `weight_clip` (off with
    /// `None`) clips each weight's change to `[-c, c]` after the operator computed it.
    pub fn apply(
        &self,
        net: &mut dyn Layer<f32>,
        experience: Option<ArrayViewD<'_, f32>>,
        weight_clip: Option<f64>,
    ) -> Result<Applied, SafeMutationError> {
        let drawn = self.perturbation(net, experience, weight_clip)?;
        if let Some(p) = &drawn.perturbation {
            p.apply(net)?;
        }
        Ok(drawn.applied)
    }

    /// The weight change this mutation makes to `net` (clipped as at [`Mutation::apply`]),
    /// without applying it. `net` is only probed.
    pub fn perturbation(
        &self,
        net: &mut dyn Layer<f32>,
        experience: Option<ArrayViewD<'_, f32>>,
        weight_clip: Option<f64>,
    ) -> Result<Drawn, SafeMutationError> {
        if let Some(c) = weight_clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(SafeMutationError::NotPositive {
                field: "weight_clip",
                value: c,
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let inputs = || experience.clone().ok_or(SafeMutationError::NoInputs);
        let gradient =
            |g, rng: &mut ChaCha8Rng| safe_mutation::sm_g(&*net, inputs()?, g, self.magnitude, rng);
        let (perturbation, applied) = match self.operator {
            Operator::Control => (
                Some(safe_mutation::gaussian(&*net, self.magnitude, &mut rng)?),
                Applied::Changed,
            ),
            Operator::SmGSum => (Some(gradient(Gradient::Sum, &mut rng)?), Applied::Changed),
            Operator::SmGAbs => (Some(gradient(Gradient::Abs, &mut rng)?), Applied::Changed),
            Operator::SmGSo => (
                Some(gradient(Gradient::SecondOrder, &mut rng)?),
                Applied::Changed,
            ),
            Operator::SmR => {
                let cfg = RescaleConfig::new(self.magnitude);
                match safe_mutation::sm_r_search(net, inputs()?, &cfg, &mut rng)? {
                    LineSearch::Hit(r) => (Some(r.perturbation), Applied::Changed),
                    LineSearch::GaveUp {
                        closest: Some(r), ..
                    } => (Some(r.perturbation), Applied::ClosestStep),
                    LineSearch::GaveUp { closest: None, .. } => (None, Applied::Unchanged),
                }
            }
        };
        let perturbation = perturbation.map(|mut p| {
            if let Some(c) = weight_clip {
                p.clip(c as f32);
            }
            p
        });
        Ok(Drawn {
            perturbation,
            applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SafeMutationConfig, TaskKind};
    use crate::task::TaskSpec;
    use ndarray::ArrayD;

    /// A small maze network and its own experience.
    fn setup() -> (Box<dyn Layer<f32>>, ArrayD<f32>) {
        let task = TaskSpec::Maze { steps: 60 };
        let net = task.network(8, 3).build(3);
        let experience = task.evaluate(&*net, 20).experience;
        (net, experience)
    }

    fn flat(p: &Perturbation<f32>) -> Vec<u32> {
        p.deltas.iter().flatten().map(|d| d.to_bits()).collect()
    }

    fn draw(op: Operator, magnitude: f64, clip: Option<f64>) -> Drawn {
        let (mut net, experience) = setup();
        let m = Mutation {
            seed: 11,
            magnitude,
            operator: op,
        };
        m.perturbation(&mut *net, Some(experience.view()), clip)
            .unwrap()
    }

    #[test]
    fn weight_clip_bounds_every_change_of_every_operator() {
        for op in Operator::ALL {
            // Magnitudes large enough that unclipped changes exceed the clip somewhere.
            let magnitude = if op == Operator::SmR { 0.2 } else { 1.0 };
            let raw = draw(op, magnitude, None).perturbation.unwrap();
            let clipped = draw(op, magnitude, Some(0.2)).perturbation.unwrap();
            let max = |p: &Perturbation<f32>| {
                p.deltas
                    .iter()
                    .flatten()
                    .fold(0.0f32, |m, d| m.max(d.abs()))
            };
            assert!(
                max(&raw) > 0.2,
                "{op}: raw change {} never needs clipping",
                max(&raw)
            );
            assert!(max(&clipped) <= 0.2, "{op}: {}", max(&clipped));
            for (r, c) in raw
                .deltas
                .iter()
                .flatten()
                .zip(clipped.deltas.iter().flatten())
            {
                assert_eq!(*c, r.clamp(-0.2, 0.2), "{op}");
            }
        }
    }

    #[test]
    fn without_a_clip_each_operator_is_its_own_draw_bit_for_bit() {
        let (mut net, experience) = setup();
        let rng = || ChaCha8Rng::seed_from_u64(11);
        let x = experience.view();
        let expected = [
            safe_mutation::gaussian(&*net, 0.05, &mut rng()).unwrap(),
            safe_mutation::sm_r(&mut *net, x.view(), &RescaleConfig::new(1e-3), &mut rng())
                .unwrap()
                .perturbation,
            safe_mutation::sm_g(&*net, x.view(), Gradient::Sum, 0.05, &mut rng()).unwrap(),
            safe_mutation::sm_g(&*net, x.view(), Gradient::Abs, 0.05, &mut rng()).unwrap(),
            safe_mutation::sm_g(&*net, x.view(), Gradient::SecondOrder, 0.05, &mut rng()).unwrap(),
        ];
        for (op, expected) in Operator::ALL.into_iter().zip(expected) {
            let magnitude = if op == Operator::SmR { 1e-3 } else { 0.05 };
            let drawn = draw(op, magnitude, None);
            assert_eq!(drawn.applied, Applied::Changed, "{op}");
            assert_eq!(flat(&drawn.perturbation.unwrap()), flat(&expected), "{op}");
        }
    }

    #[test]
    fn a_bad_weight_clip_is_refused() {
        for bad in [0.0, -0.2, f64::NAN, f64::INFINITY] {
            let (mut net, _) = setup();
            let m = Mutation {
                seed: 1,
                magnitude: 0.1,
                operator: Operator::Control,
            };
            let err = m.apply(&mut *net, None, Some(bad)).unwrap_err();
            assert!(err.to_string().contains("weight_clip"), "{err}");
            assert!(validate_weight_clip(Some(bad)).is_err());
        }
        assert!(validate_weight_clip(None).is_ok());
    }

    #[test]
    fn sm_r_applies_its_closest_step_when_the_search_gives_up() {
        let (mut net, experience) = setup();
        let before: Vec<u32> = net
            .params()
            .iter()
            .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
            .collect();
        // The maze network's outputs are bounded, so a divergence of 100 is out of reach.
        let m = Mutation {
            seed: 5,
            magnitude: 100.0,
            operator: Operator::SmR,
        };
        let applied = m.apply(&mut *net, Some(experience.view()), None).unwrap();
        assert_eq!(applied, Applied::ClosestStep);
        let after: Vec<u32> = net
            .params()
            .iter()
            .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
            .collect();
        assert_ne!(before, after, "the closest step must change the weights");
    }

    #[test]
    fn the_ga_counts_sm_r_give_ups() {
        let mut cfg = SafeMutationConfig::new(TaskKind::Parity, Operator::SmR, 100.0);
        cfg.population = 4;
        cfg.tournament_size = Some(2);
        cfg.max_evaluations = 10;
        cfg.hidden = Some(4);
        cfg.parity_bits = Some(3);
        let report = crate::runner::run(&cfg, 1, 16).unwrap();
        // Every child (all but the initial population) misses an unreachable target.
        assert_eq!(report.summary.sm_r_give_ups, 6, "{:?}", report.summary);
        assert_eq!(report.summary.unchanged_mutations, 0);

        cfg.sigma = 1e-3;
        let report = crate::runner::run(&cfg, 1, 16).unwrap();
        assert_eq!(report.summary.sm_r_give_ups, 0, "{:?}", report.summary);
    }
}
