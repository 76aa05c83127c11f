//! Turning a seed list back into weights: build the initial network from its seed, then apply
//! each mutation in order. The safe-mutation operators need the parent's experience (the
//! inputs it saw when it was evaluated); evaluating a deterministic network again reproduces
//! it exactly, so a rebuild that lacks it re-runs that evaluation.
//!
//! A [`RebuildCache`] keeps the weights and experience of recently evaluated genomes, so a
//! child of a cached parent costs one mutation. It is shared by reference and locks
//! internally, so several evaluations (threads) can use one cache.

use crate::EvoError;
use crate::executor::Problem;
use crate::genome::Genome;
use crate::operator::Applied;
use ndarray::ArrayD;
use pathnet_nn::Layer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A network and what it took to rebuild it.
pub struct Rebuilt {
    /// The genome's network, weights as its seed list makes them.
    pub net: Box<dyn Layer<f32>>,
    /// The network's experience, when the cache had it.
    pub experience: Option<ArrayD<f32>>,
    /// Mutations applied (1 for a child of a cached parent).
    pub replayed_mutations: usize,
    /// Ancestors evaluated again for their experience (0 for a child of a cached parent).
    pub replayed_evaluations: usize,
    /// Of the replayed mutations, those that left the weights unchanged (see
    /// [`Applied::Unchanged`]).
    pub unchanged_mutations: usize,
    /// Of the replayed mutations, SM-R steps applied after the line search gave up (see
    /// [`Applied::ClosestStep`]).
    pub gave_up_mutations: usize,
    /// What the genome's last mutation did, if it was replayed.
    pub last: Option<Applied>,
}

/// Rebuilds `genome`'s network for `problem`, starting from its deepest ancestor in `cache`.
pub fn rebuild(
    problem: &Problem,
    genome: &Genome,
    cache: &RebuildCache,
) -> Result<Rebuilt, EvoError> {
    let digests = genome.prefix_digests();
    let mut net = problem.network.build(genome.init_seed);
    let mut experience = None;
    let mut start = 0;
    if let Some((depth, stored)) = cache.deepest_ancestor(genome, &digests) {
        load(&mut *net, &stored.params)?;
        experience = Some(stored.experience.clone());
        start = depth;
    }
    let mut rebuilt = Rebuilt {
        net,
        experience: None,
        replayed_mutations: 0,
        replayed_evaluations: 0,
        unchanged_mutations: 0,
        gave_up_mutations: 0,
        last: None,
    };
    for (index, mutation) in genome.mutations.iter().enumerate().skip(start) {
        if mutation.operator.needs_experience() && experience.is_none() {
            let e = problem
                .task
                .evaluate(&*rebuilt.net, problem.max_experience)
                .experience;
            rebuilt.replayed_evaluations += 1;
            // Its other descendants will want the same experience.
            cache.insert(&genome.prefix(index), digests[index], &*rebuilt.net, &e);
            experience = Some(e);
        }
        let applied = mutation
            .apply(
                &mut *rebuilt.net,
                experience.as_ref().map(|e| e.view()),
                problem.weight_clip,
            )
            .map_err(|source| EvoError::Mutation { index, source })?;
        rebuilt.replayed_mutations += 1;
        rebuilt.last = Some(applied);
        match applied {
            Applied::Unchanged => rebuilt.unchanged_mutations += 1,
            Applied::ClosestStep => {
                rebuilt.gave_up_mutations += 1;
                experience = None;
            }
            Applied::Changed => experience = None,
        }
    }
    rebuilt.experience = experience;
    Ok(rebuilt)
}

fn load(net: &mut dyn Layer<f32>, params: &[ArrayD<f32>]) -> Result<(), EvoError> {
    let mut targets = net.params_mut();
    let fits = targets.len() == params.len()
        && targets
            .iter()
            .zip(params)
            .all(|(t, p)| t.shape() == p.shape());
    if !fits {
        return Err(EvoError::ParamShape {
            expected: targets.len(),
            expected_lens: targets.iter().map(|t| t.len()).collect(),
            got_lens: params.iter().map(|p| p.len()).collect(),
        });
    }
    for (t, p) in targets.iter_mut().zip(params) {
        t.assign(p);
    }
    Ok(())
}

struct Stored {
    genome: Genome,
    params: Vec<ArrayD<f32>>,
    experience: ArrayD<f32>,
}

struct Slot {
    stored: Arc<Stored>,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<u64, Slot>,
    clock: u64,
    stats: CacheStats,
}

/// How the cache has been used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Rebuilds that started from a cached genome (the genome itself or an ancestor).
    pub hits: u64,
    /// Rebuilds that started from the initial seed.
    pub misses: u64,
    /// Genomes dropped, least recently used first, to make room.
    pub evictions: u64,
}

/// Weights and experience of up to `capacity` genomes; the least recently used goes first.
pub struct RebuildCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl RebuildCache {
    /// A cache of `capacity` genomes (0 disables caching). For a steady-state GA it should
    /// hold the population and the children in flight; a few times the population is ample.
    pub fn new(capacity: usize) -> Self {
        RebuildCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The most genomes it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Genomes it holds now.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether it holds no genome.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its hits, misses and evictions so far.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// Whether the cache holds `genome` itself.
    pub fn contains(&self, genome: &Genome) -> bool {
        let digest = *genome
            .prefix_digests()
            .last()
            .expect("at least the initial seed");
        self.lock()
            .slots
            .get(&digest)
            .is_some_and(|s| s.stored.genome == *genome)
    }

    /// Stores `net`'s weights and `experience` under `genome`.
    pub fn store(&self, genome: &Genome, net: &dyn Layer<f32>, experience: &ArrayD<f32>) {
        let digest = *genome
            .prefix_digests()
            .last()
            .expect("at least the initial seed");
        self.insert(genome, digest, net, experience);
    }

    fn insert(&self, genome: &Genome, digest: u64, net: &dyn Layer<f32>, experience: &ArrayD<f32>) {
        if self.capacity == 0 {
            return;
        }
        let stored = Arc::new(Stored {
            genome: genome.clone(),
            params: net.params().iter().map(|p| p.to_owned()).collect(),
            experience: experience.clone(),
        });
        let mut inner = self.lock();
        inner.clock += 1;
        let last_used = inner.clock;
        inner.slots.insert(digest, Slot { stored, last_used });
        while inner.slots.len() > self.capacity {
            let oldest = *inner
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .expect("over capacity, so not empty")
                .0;
            inner.slots.remove(&oldest);
            inner.stats.evictions += 1;
        }
    }

    /// The deepest cached prefix of `genome` (possibly `genome` itself) and its length.
    fn deepest_ancestor(&self, genome: &Genome, digests: &[u64]) -> Option<(usize, Arc<Stored>)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        for depth in (0..digests.len()).rev() {
            if let Some(slot) = inner.slots.get_mut(&digests[depth]) {
                // A digest collision must not hand out another genome's weights.
                if slot.stored.genome.depth() == depth && slot.stored.genome.is_prefix_of(genome) {
                    slot.last_used = now;
                    let stored = Arc::clone(&slot.stored);
                    inner.stats.hits += 1;
                    return Some((depth, stored));
                }
            }
        }
        inner.stats.misses += 1;
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the map half-updated: every update is a single insert
        // or remove, so the data is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
