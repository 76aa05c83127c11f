//! The per-environment random generator, seeded the way Gymnasium's `np_random` is.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Mirrors `gymnasium.Env.np_random`: `reset(seed=s)` replaces the generator with one seeded
/// from `s`; `reset(seed=None)` keeps the current generator, creating one from OS entropy
/// only if the environment was never seeded. The streams are our own (ChaCha8), so the
/// numbers differ from numpy's, but the distributions are the same.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvRng {
    rng: Option<ChaCha8Rng>,
}

impl EnvRng {
    /// Applies a reset's `seed` argument and returns the generator to draw from.
    pub(crate) fn on_reset(&mut self, seed: Option<u64>) -> &mut ChaCha8Rng {
        match seed {
            Some(seed) => self.rng.insert(ChaCha8Rng::seed_from_u64(seed)),
            None => self
                .rng
                .get_or_insert_with(|| ChaCha8Rng::from_rng(&mut rand::rng())),
        }
    }
}

/// `numpy.random.Generator.uniform(low, high)` for one value: `low + (high - low) * U[0, 1)`.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    use rand::Rng;
    low + (high - low) * rng.random::<f64>()
}
