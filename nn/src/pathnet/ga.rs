//! Genetic operators on pathways: the paper's point mutation and binary tournament.
//!
//! **Boundaries wrap modulo `M`.** The paper adds a uniform offset in `[-2, 2]` to an index
//! in `[0, M)` without saying what happens at the ends. Clamping would map every overshoot
//! onto module `0` or `M-1`, so the edge modules would be proposed roughly twice as often as
//! interior ones and the population would drift towards them for no reason to do with
//! fitness. Wrapping makes the index space a ring: every module has the same five
//! neighbours, mutation is symmetric and its stationary distribution is uniform.
//!
//! **Duplicates are redrawn.** A layer is a set of distinct modules, so an offset that
//! lands on a module already active elsewhere in the same layer is redrawn until it lands
//! on a free one. Offset 0 (no change) is always free, so this terminates, and it keeps
//! every layer at its size: dropping duplicates instead would only ever shrink pathways,
//! since mutation never adds a module back.

use super::{PathNetDims, PathNetError, Pathway};
use rand::Rng;

/// The largest offset a mutation adds or subtracts.
pub const MAX_OFFSET: i64 = 2;

/// One position chosen for mutation. `offset` is the offset finally applied (after any
/// redraw), so `offset == 0` and `from == to` when the draw kept the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointMutation {
    /// The layer, 0-based.
    pub layer: usize,
    /// The entry's position within the layer's active modules.
    pub position: usize,
    /// The module index before.
    pub from: usize,
    /// The module index after: `from + offset` modulo `M`.
    pub to: usize,
    /// The offset applied, in `[-MAX_OFFSET, MAX_OFFSET]`.
    pub offset: i64,
}

/// Every position that was selected for mutation, in layer then position order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MutationReport {
    /// One per selected position, changed or not.
    pub mutations: Vec<PointMutation>,
}

impl MutationReport {
    /// Positions whose index actually changed.
    pub fn changed(&self) -> usize {
        self.mutations.iter().filter(|m| m.from != m.to).count()
    }
}

/// The paper's mutation rate: each of the `N * L` genotype entries mutates with
/// probability `1 / (N * L)`, so one entry per genotype on average.
pub fn mutation_rate(dims: &PathNetDims) -> f64 {
    1.0 / (dims.max_active * dims.layers) as f64
}

/// Mutates `pathway` in place with [`mutation_rate`].
pub fn mutate<R: Rng + ?Sized>(
    pathway: &mut Pathway,
    dims: &PathNetDims,
    rng: &mut R,
) -> Result<MutationReport, PathNetError> {
    mutate_with_rate(pathway, dims, mutation_rate(dims), rng)
}

/// Mutates `pathway` in place, selecting each position with probability `rate`; see the
/// module documentation for how boundaries and duplicates are handled.
pub fn mutate_with_rate<R: Rng + ?Sized>(
    pathway: &mut Pathway,
    dims: &PathNetDims,
    rate: f64,
    rng: &mut R,
) -> Result<MutationReport, PathNetError> {
    pathway.validate(dims)?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(PathNetError::MutationRate { rate });
    }
    let modules = dims.modules as i64;
    let mut report = MutationReport::default();
    for (layer, active) in pathway.layers_mut().iter_mut().enumerate() {
        for position in 0..active.len() {
            if !rng.random_bool(rate) {
                continue;
            }
            let from = active[position];
            let (offset, to) = loop {
                let offset = rng.random_range(-MAX_OFFSET..=MAX_OFFSET);
                let to = (from as i64 + offset).rem_euclid(modules) as usize;
                let taken = active
                    .iter()
                    .enumerate()
                    .any(|(other, &index)| other != position && index == to);
                if !taken {
                    break (offset, to);
                }
            };
            active[position] = to;
            report.mutations.push(PointMutation {
                layer,
                position,
                from,
                to,
                offset,
            });
        }
    }
    Ok(report)
}

/// Which of the two contestants of a binary tournament.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contestant {
    /// The first fitness given to [`tournament`].
    First,
    /// The second fitness given to [`tournament`].
    Second,
}

/// The outcome of comparing two fitnesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TournamentResult {
    /// The contestant whose pathway survives.
    pub winner: Contestant,
    /// The contestant overwritten by a mutated copy of the winner.
    pub loser: Contestant,
}

/// Higher fitness wins. Ties go to the first contestant so that the outcome is a pure
/// function of the fitnesses, and a NaN fitness (a diverged pathway) always loses.
pub fn tournament(first: f64, second: f64) -> TournamentResult {
    let first_wins = second.is_nan() || first >= second;
    if first_wins {
        TournamentResult {
            winner: Contestant::First,
            loser: Contestant::Second,
        }
    } else {
        TournamentResult {
            winner: Contestant::Second,
            loser: Contestant::First,
        }
    }
}

/// Runs a binary tournament and overwrites the loser's genotype with a mutated copy of the
/// winner's. Returns who won and how the copy was mutated.
pub fn tournament_step<R: Rng + ?Sized>(
    first: (&mut Pathway, f64),
    second: (&mut Pathway, f64),
    dims: &PathNetDims,
    rng: &mut R,
) -> Result<(TournamentResult, MutationReport), PathNetError> {
    let result = tournament(first.1, second.1);
    let (winner, loser) = match result.winner {
        Contestant::First => (first.0, second.0),
        Contestant::Second => (second.0, first.0),
    };
    let mut child = winner.clone();
    let report = mutate(&mut child, dims, rng)?;
    *loser = child;
    Ok((result, report))
}
