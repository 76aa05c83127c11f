//! Random generators as checkpoints save them, so that a resumed run draws the same numbers
//! as one that never stopped. The crates that checkpoint a ChaCha8 generator (the GA engine,
//! PathNet-A3C's evolution) all depend on this one, so it is saved here, once.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Where a ChaCha8 generator stands, so it goes on with the same numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedRng {
    seed: [u8; 32],
    stream: u64,
    /// A 68-bit position, as a decimal string: JSON numbers do not carry it exactly.
    word_pos: String,
}

/// A saved position that is not a whole number; holds the text as it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`word_pos` = {0:?}: not a whole number")]
pub struct BadWordPos(pub String);

impl SavedRng {
    /// Where `rng` stands.
    pub fn of(rng: &ChaCha8Rng) -> Self {
        SavedRng {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The generator where it stood.
    ///
    /// # Errors
    /// The saved position is not a whole number (a state edited or damaged).
    pub fn restore(&self) -> Result<ChaCha8Rng, BadWordPos> {
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| BadWordPos(self.word_pos.clone()))?;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn a_restored_generator_goes_on_with_the_same_numbers() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        rng.set_stream(3);
        let _: [u64; 5] = rng.random();
        let saved = SavedRng::of(&rng);
        let mut restored = saved.restore().unwrap();
        let (a, b): ([u64; 8], [u64; 8]) = (rng.random(), restored.random());
        assert_eq!(a, b);
        let bad = SavedRng {
            word_pos: "x1".to_owned(),
            ..saved
        };
        assert_eq!(bad.restore().unwrap_err(), BadWordPos("x1".to_owned()));
    }
}
