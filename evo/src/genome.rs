//! Genomes as seed lists: the seed of the initial weights and one [`Mutation`] per generation.
//! A genome is a recipe, not weights: anyone holding the network spec and the task rebuilds the
//! same weights from it (see [`crate::rebuild`]).
//!
//! Wire encoding (little endian): the initial seed (`u64`), the mutation count (`u32`), then
//! per mutation its seed (`u64`), magnitude (`f64`) and operator code (`u8`): 12 + 17 n bytes,
//! against 4 bytes per weight for the network itself.

use crate::EvoError;
use crate::operator::{Mutation, Operator};
use serde::{Deserialize, Serialize};
use std::hash::{DefaultHasher, Hash, Hasher};

const HEADER_BYTES: usize = 8 + 4;
const MUTATION_BYTES: usize = 8 + 8 + 1;

/// A network as a seed list: its initial seed and every mutation since, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Genome {
    /// Seeds the network's initial weights.
    pub init_seed: u64,
    /// Applied in order, the first to the initial network.
    pub mutations: Vec<Mutation>,
}

impl Genome {
    /// A generation-0 genome.
    pub fn fresh(init_seed: u64) -> Self {
        Genome {
            init_seed,
            mutations: Vec::new(),
        }
    }

    /// This genome with one more mutation.
    pub fn child(&self, mutation: Mutation) -> Self {
        let mut mutations = Vec::with_capacity(self.mutations.len() + 1);
        mutations.extend_from_slice(&self.mutations);
        mutations.push(mutation);
        Genome {
            init_seed: self.init_seed,
            mutations,
        }
    }

    /// The first `len` mutations of this genome: its ancestor `self.depth() - len` generations
    /// back.
    pub fn prefix(&self, len: usize) -> Genome {
        Genome {
            init_seed: self.init_seed,
            mutations: self.mutations[..len.min(self.mutations.len())].to_vec(),
        }
    }

    /// Number of mutations since the initial network.
    pub fn depth(&self) -> usize {
        self.mutations.len()
    }

    /// Bytes of [`Genome::encode`]'s output, what travels instead of the weights.
    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES + MUTATION_BYTES * self.mutations.len()
    }

    /// The wire encoding described in the module docs, [`Genome::encoded_len`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&self.init_seed.to_le_bytes());
        let count = u32::try_from(self.mutations.len()).expect("fewer than 2^32 generations");
        out.extend_from_slice(&count.to_le_bytes());
        for m in &self.mutations {
            out.extend_from_slice(&m.seed.to_le_bytes());
            out.extend_from_slice(&m.magnitude.to_le_bytes());
            out.push(m.operator.code());
        }
        out
    }

    /// The genome [`Genome::encode`] wrote.
    ///
    /// # Errors
    /// [`EvoError::Decode`] for bytes too short or too long for their mutation count, or an
    /// unknown operator code.
    pub fn decode(bytes: &[u8]) -> Result<Genome, EvoError> {
        let short = || {
            EvoError::Decode(format!(
                "{} bytes is shorter than its own header says",
                bytes.len()
            ))
        };
        let u64_at = |at: usize| -> Result<u64, EvoError> {
            let b = bytes.get(at..at + 8).ok_or_else(short)?;
            Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        let init_seed = u64_at(0)?;
        let count = bytes.get(8..12).ok_or_else(short)?;
        let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
        let expected = HEADER_BYTES + MUTATION_BYTES * count;
        if bytes.len() != expected {
            return Err(EvoError::Decode(format!(
                "{count} mutations take {expected} bytes, got {}",
                bytes.len()
            )));
        }
        let mut mutations = Vec::with_capacity(count);
        for i in 0..count {
            let at = HEADER_BYTES + i * MUTATION_BYTES;
            let code = bytes[at + 16];
            let operator = Operator::from_code(code).ok_or_else(|| {
                EvoError::Decode(format!("mutation {i}: unknown operator code {code}"))
            })?;
            mutations.push(Mutation {
                seed: u64_at(at)?,
                magnitude: f64::from_bits(u64_at(at + 8)?),
                operator,
            });
        }
        Ok(Genome {
            init_seed,
            mutations,
        })
    }

    /// A digest of every prefix, `digests[k]` for the first `k` mutations, each computed from
    /// the previous one: looking up all ancestors of a genome costs one pass over it.
    pub(crate) fn prefix_digests(&self) -> Vec<u64> {
        let mut digests = Vec::with_capacity(self.mutations.len() + 1);
        let mut h = DefaultHasher::new();
        self.init_seed.hash(&mut h);
        let mut current = h.finish();
        digests.push(current);
        for m in &self.mutations {
            let mut h = DefaultHasher::new();
            (current, m.seed, m.magnitude.to_bits(), m.operator.code()).hash(&mut h);
            current = h.finish();
            digests.push(current);
        }
        digests
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub(crate) fn is_prefix_of(&self, other: &Genome) -> bool {
        self.init_seed == other.init_seed
            && self.mutations.len() <= other.mutations.len()
            && self.mutations.iter().zip(&other.mutations).all(|(a, b)| {
                a.seed == b.seed
                    && a.operator == b.operator
                    && a.magnitude.to_bits() == b.magnitude.to_bits()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Genome {
        let mut g = Genome::fresh(42);
        for (i, op) in Operator::ALL.into_iter().enumerate() {
            g = g.child(Mutation {
                seed: 1000 + i as u64,
                magnitude: 0.01 * (i + 1) as f64,
                operator: op,
            });
        }
        g
    }

    #[test]
    fn encoding_round_trips_and_has_the_stated_size() {
        let g = sample();
        let bytes = g.encode();
        assert_eq!(bytes.len(), g.encoded_len());
        assert_eq!(bytes.len(), 12 + 5 * 17);
        assert_eq!(Genome::decode(&bytes).unwrap(), g);
    }

    #[test]
    fn decoding_rejects_bad_input() {
        let mut bytes = sample().encode();
        assert!(Genome::decode(&bytes[..bytes.len() - 1]).is_err());
        let last = bytes.len() - 1;
        bytes[last] = 9;
        let err = Genome::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains("unknown operator code 9"), "{err}");
        assert!(Genome::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn prefix_digests_match_the_prefixes_own() {
        let g = sample();
        let all = g.prefix_digests();
        for (k, digest) in all.iter().enumerate() {
            assert_eq!(g.prefix(k).prefix_digests().last(), Some(digest));
            assert!(g.prefix(k).is_prefix_of(&g));
        }
        let other = Genome::fresh(43);
        assert_ne!(other.prefix_digests()[0], all[0]);
        assert!(!other.is_prefix_of(&g));
        assert!(!g.is_prefix_of(&g.prefix(2)));
    }
}
