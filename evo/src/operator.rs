//! The five mutation operators a genome can record, and applying one to a network.
//!
//! Every mutation draws from its own `ChaCha8Rng` seeded with the mutation's seed, so a
//! (seed, magnitude, operator) triple and the parent's weights and stored experience fix the
//! child's weights exactly.

use ndarray::ArrayViewD;
use pathnet_nn::Layer;
use pathnet_nn::safe_mutation::{self, Gradient, Perturbation, RescaleConfig, SafeMutationError};
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

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One generation's mutation: everything needed to redo it on the parent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mutation {
    pub seed: u64,
    /// The standard deviation of the drawn noise (control and SM-G), or SM-R's target
    /// divergence.
    pub magnitude: f64,
    pub operator: Operator,
}

/// What applying a mutation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// SM-R found no step reaching its target divergence (the outputs saturate before it, or
    /// the search did not converge). The child keeps the parent's weights: deterministic, so
    /// every rebuild agrees, and harmless, since the child then only costs an evaluation.
    Unchanged,
}

impl Mutation {
    /// Applies the mutation to `net`. `experience` (batch axis first) is the parent's stored
    /// inputs; operators other than [`Operator::Control`] require it.
    pub fn apply(
        &self,
        net: &mut dyn Layer<f32>,
        experience: Option<ArrayViewD<'_, f32>>,
    ) -> Result<Applied, SafeMutationError> {
        let perturbation = self.perturbation(net, experience)?;
        match perturbation {
            Some(p) => {
                p.apply(net)?;
                Ok(Applied::Changed)
            }
            None => Ok(Applied::Unchanged),
        }
    }

    /// The weight change this mutation makes to `net`, without applying it; `None` where
    /// SM-R gives up (see [`Applied::Unchanged`]). `net` is only probed.
    pub fn perturbation(
        &self,
        net: &mut dyn Layer<f32>,
        experience: Option<ArrayViewD<'_, f32>>,
    ) -> Result<Option<Perturbation<f32>>, SafeMutationError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let inputs = || experience.clone().ok_or(SafeMutationError::NoInputs);
        let mut gradient = |g| -> Result<Option<Perturbation<f32>>, SafeMutationError> {
            Ok(Some(safe_mutation::sm_g(
                &*net,
                inputs()?,
                g,
                self.magnitude,
                &mut rng,
            )?))
        };
        match self.operator {
            Operator::Control => Ok(Some(safe_mutation::gaussian(
                &*net,
                self.magnitude,
                &mut rng,
            )?)),
            Operator::SmGSum => gradient(Gradient::Sum),
            Operator::SmGAbs => gradient(Gradient::Abs),
            Operator::SmGSo => gradient(Gradient::SecondOrder),
            Operator::SmR => {
                let cfg = RescaleConfig::new(self.magnitude);
                match safe_mutation::sm_r(net, inputs()?, &cfg, &mut rng) {
                    Ok(r) => Ok(Some(r.perturbation)),
                    Err(
                        SafeMutationError::TargetUnreachable { .. }
                        | SafeMutationError::NoConvergence { .. },
                    ) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }
}
