//! A pathway genome back into weights. The base network is the super-network drawn from
//! the problem's seed, with each earlier task's best genome written in and its pathway
//! frozen (the rest re-drawn, as PathNet re-initialises after a task); the genome's initial
//! seed draws its first pathway; each mutation then changes the weights of the pathway it
//! was applied to and moves the pathway (see [`crate::pathway::mutate_pathway`]).
//!
//! The pathway point mutations draw from a stream of their own, so a genome's pathway is a
//! function of its seeds alone ([`genome_pathway`]): the coordinator knows every pathway
//! without building a weight.

use super::job::{PathwayJob, Transfer};
use super::problem::{ExampleSource, PathwayProblem};
use crate::EvoError;
use crate::genome::Genome;
use crate::operator::Applied;
use crate::pathway::mutate_pathway;
use ndarray::ArrayD;
use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetDims, Pathway, ga};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// The pathway of `genome`: its initial pathway, moved by every mutation's point mutation.
pub fn genome_pathway(dims: &PathNetDims, genome: &Genome) -> Result<Pathway, EvoError> {
    let mut pathway = Pathway::random(dims, genome.init_seed)?;
    for m in &genome.mutations {
        pathway = point_mutated(dims, &pathway, m.seed)?;
    }
    Ok(pathway)
}

/// The same draw as [`mutate_pathway`] makes for the child's pathway.
fn point_mutated(dims: &PathNetDims, pathway: &Pathway, seed: u64) -> Result<Pathway, EvoError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    let mut child = pathway.clone();
    ga::mutate(&mut child, dims, &mut rng)?;
    Ok(child)
}

/// The seed of the hybrid mode's SGD minibatches after a genome's last seed (its initial
/// seed, or its last mutation's): a stream that neither the weight change nor the point
/// mutation draws from.
fn sgd_seed(seed: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(3);
    rng.random()
}

/// A genome's network and pathway, and what it took to rebuild them.
pub struct Rebuilt {
    /// The super-network with the genome's weights (and earlier tasks' transfers).
    pub net: PathNet<f32>,
    /// The genome's pathway, as [`genome_pathway`] gives it.
    pub pathway: Pathway,
    /// The pathway's experience, when the cache had it.
    pub experience: Option<ArrayD<f32>>,
    /// Mutations applied (1 for a child of a cached parent).
    pub replayed_mutations: usize,
    /// Ancestors evaluated again for their experience (0 for a child of a cached parent).
    pub replayed_evaluations: usize,
    /// Whether the last mutation replayed changed no weight (SM-R found no step).
    pub last_unchanged: bool,
    /// Whether the last mutation replayed was SM-R's closest step after its search gave up.
    pub last_gave_up: bool,
}

/// Rebuilds the job's genome, starting from its deepest ancestor in `cache`.
pub fn rebuild(job: &PathwayJob, cache: &PathwayRebuildCache) -> Result<Rebuilt, EvoError> {
    rebuild_genome(&job.problem, job.task, &job.transfers, &job.genome(), cache)
}

fn rebuild_genome(
    problem: &PathwayProblem,
    task: usize,
    transfers: &[Transfer],
    genome: &Genome,
    cache: &PathwayRebuildCache,
) -> Result<Rebuilt, EvoError> {
    let context = Context::new(problem, task, transfers);
    let digests = genome.prefix_digests();
    let dims = problem.dims()?;
    let examples = cache.examples();
    let (mut net, mut pathway, mut experience, start) =
        match cache.deepest_ancestor(&context, genome, &digests) {
            Some((depth, stored)) => {
                let mut net = problem.base_network()?;
                stored.load_into(&mut net)?;
                (
                    net,
                    stored.pathway.clone(),
                    stored.experience.clone(),
                    depth,
                )
            }
            None => {
                let mut net = base_network(problem, transfers, cache)?;
                let pathway = Pathway::random(&dims, genome.init_seed)?;
                problem.train(
                    &mut net,
                    &pathway,
                    task,
                    sgd_seed(genome.init_seed),
                    examples,
                )?;
                (net, pathway, None, 0)
            }
        };
    let mut rebuilt_counts = (0, 0, false, false);
    for (index, mutation) in genome.mutations.iter().enumerate().skip(start) {
        if mutation.operator.needs_experience() && experience.is_none() {
            let evaluation = problem.evaluate(&net, &pathway, task, examples)?;
            rebuilt_counts.1 += 1;
            // Its other descendants will want the same experience.
            cache.insert(
                &context,
                &genome.prefix(index),
                digests[index],
                &net,
                &pathway,
                Some(&evaluation.experience),
            );
            experience = Some(evaluation.experience);
        }
        let step = mutate_pathway(
            &mut net,
            &pathway,
            task,
            mutation,
            experience.as_ref().map(|e| e.view()),
        )
        .map_err(|err| match err {
            EvoError::Mutation { source, .. } => EvoError::Mutation { index, source },
            other => other,
        })?;
        rebuilt_counts.0 += 1;
        rebuilt_counts.2 = step.changed.is_empty();
        rebuilt_counts.3 = step.applied == Applied::ClosestStep;
        pathway = step.pathway;
        // Hybrid mode: the child (the loser's slot's new copy) is trained before it is
        // measured, and its descendants inherit the trained weights.
        problem.train(&mut net, &pathway, task, sgd_seed(mutation.seed), examples)?;
        // The pathway moved, so the parent's experience is no longer this network's.
        experience = None;
    }
    Ok(Rebuilt {
        net,
        pathway,
        experience,
        replayed_mutations: rebuilt_counts.0,
        replayed_evaluations: rebuilt_counts.1,
        last_unchanged: rebuilt_counts.2,
        last_gave_up: rebuilt_counts.3,
    })
}

/// The super-network a task starts from: the base weights with every transfer's genome
/// written in, in order, each freezing its pathway and re-drawing the unfrozen rest.
pub fn base_network(
    problem: &PathwayProblem,
    transfers: &[Transfer],
    cache: &PathwayRebuildCache,
) -> Result<PathNet<f32>, EvoError> {
    let Some((last, earlier)) = transfers.split_last() else {
        return problem.base_network();
    };
    let base_key = Context::new(problem, usize::MAX, transfers);
    if let Some(stored) = cache.base(&base_key) {
        let mut net = problem.base_network()?;
        stored.load_into(&mut net)?;
        return Ok(net);
    }
    let rebuilt = rebuild_genome(problem, last.task, earlier, &last.genome, cache)?;
    let mut net = rebuilt.net;
    net.freeze_pathway(&rebuilt.pathway)?;
    let mut rng = ChaCha8Rng::seed_from_u64(problem.base_seed);
    rng.set_stream(2 + transfers.len() as u64);
    net.reinit_unfrozen(&mut rng);
    cache.store_base(&base_key, &net);
    Ok(net)
}

/// Everything besides the genome that fixes a rebuild.
pub(crate) struct Context(String);

impl Context {
    pub(crate) fn new(problem: &PathwayProblem, task: usize, transfers: &[Transfer]) -> Self {
        Context(format!("{problem:?}/{task}/{transfers:?}"))
    }

    fn digest(&self, genome_digest: u64) -> u64 {
        let mut h = DefaultHasher::new();
        (&self.0, genome_digest).hash(&mut h);
        h.finish()
    }
}

/// A whole super-network's state.
struct Stored {
    context: String,
    genome: Genome,
    params: Vec<Vec<ArrayD<f32>>>,
    frozen: Vec<ModuleId>,
    pathway: Pathway,
    experience: Option<ArrayD<f32>>,
}

impl Stored {
    fn capture(
        context: &Context,
        genome: Genome,
        net: &PathNet<f32>,
        pathway: &Pathway,
        experience: Option<&ArrayD<f32>>,
    ) -> Self {
        let params = net
            .module_ids()
            .map(|id| {
                net.params(id)
                    .expect("the network's own id")
                    .iter()
                    .map(|p| p.to_owned())
                    .collect()
            })
            .collect();
        Stored {
            context: context.0.clone(),
            genome,
            params,
            frozen: net.frozen_ids(),
            pathway: pathway.clone(),
            experience: experience.cloned(),
        }
    }

    fn load_into(&self, net: &mut PathNet<f32>) -> Result<(), EvoError> {
        let ids: Vec<ModuleId> = net.module_ids().collect();
        for (id, params) in ids.into_iter().zip(&self.params) {
            net.set_params(id, params)?;
        }
        for &id in &self.frozen {
            net.freeze(id)?;
        }
        Ok(())
    }
}

impl Stored {
    fn bytes(&self) -> usize {
        let params: usize = self.params.iter().flatten().map(|p| p.len()).sum();
        4 * (params + self.experience.as_ref().map_or(0, |e| e.len()))
    }
}

struct Slot {
    stored: Arc<Stored>,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<u64, Slot>,
    bases: Vec<Arc<Stored>>,
    clock: u64,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// Networks of up to `capacity` recently evaluated genomes (and a few base networks), so a
/// child of a cached parent costs one mutation; the least recently used goes first, and
/// entries beyond 512 MiB go too. Shared
/// by reference, it locks internally.
pub struct PathwayRebuildCache {
    capacity: usize,
    inner: Mutex<Inner>,
    /// Dataset tasks' examples; an executor without it can run environment tasks only.
    examples: Option<Arc<dyn ExampleSource>>,
}

/// Base networks kept: one per task and arm in flight is plenty.
const BASES: usize = 8;

/// The most the cached genomes may hold: every entry is a whole super-network, so a large
/// one must not multiply by the entry count.
const MAX_BYTES: usize = 512 << 20;

impl PathwayRebuildCache {
    /// A cache of `capacity` genomes (0 disables caching) with no dataset examples.
    pub fn new(capacity: usize) -> Self {
        PathwayRebuildCache {
            capacity,
            inner: Mutex::new(Inner::default()),
            examples: None,
        }
    }

    /// Where dataset tasks' examples come from (the executor's dataset loader).
    pub fn with_examples(mut self, examples: Arc<dyn ExampleSource>) -> Self {
        self.examples = Some(examples);
        self
    }

    /// The dataset tasks' examples, if this executor has a loader.
    pub fn examples(&self) -> Option<&dyn ExampleSource> {
        self.examples.as_deref()
    }

    /// Rebuilds that started from a cached genome, and from the base network.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.hits, inner.misses)
    }

    /// Keeps `net` as `genome`'s network, with its `experience`.
    pub fn store(
        &self,
        job: &PathwayJob,
        net: &PathNet<f32>,
        pathway: &Pathway,
        experience: &ArrayD<f32>,
    ) {
        let genome = job.genome();
        let digest = *genome.prefix_digests().last().expect("the initial seed");
        let context = Context::new(&job.problem, job.task, &job.transfers);
        self.insert(&context, &genome, digest, net, pathway, Some(experience));
    }

    fn insert(
        &self,
        context: &Context,
        genome: &Genome,
        digest: u64,
        net: &PathNet<f32>,
        pathway: &Pathway,
        experience: Option<&ArrayD<f32>>,
    ) {
        if self.capacity == 0 {
            return;
        }
        let stored = Arc::new(Stored::capture(
            context,
            genome.clone(),
            net,
            pathway,
            experience,
        ));
        let mut inner = self.lock();
        inner.clock += 1;
        let last_used = inner.clock;
        inner.bytes += stored.bytes();
        if let Some(old) = inner
            .slots
            .insert(context.digest(digest), Slot { stored, last_used })
        {
            inner.bytes -= old.stored.bytes();
        }
        while inner.slots.len() > self.capacity
            || (inner.bytes > MAX_BYTES && inner.slots.len() > 1)
        {
            let oldest = *inner
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .expect("over capacity, so not empty")
                .0;
            if let Some(gone) = inner.slots.remove(&oldest) {
                inner.bytes -= gone.stored.bytes();
            }
        }
    }

    fn deepest_ancestor(
        &self,
        context: &Context,
        genome: &Genome,
        digests: &[u64],
    ) -> Option<(usize, Arc<Stored>)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        for depth in (0..digests.len()).rev() {
            if let Some(slot) = inner.slots.get_mut(&context.digest(digests[depth])) {
                // A digest collision must not hand out another genome's weights.
                let stored = &slot.stored;
                if stored.context == context.0
                    && stored.genome.depth() == depth
                    && stored.genome.is_prefix_of(genome)
                {
                    slot.last_used = now;
                    let stored = Arc::clone(&slot.stored);
                    inner.hits += 1;
                    return Some((depth, stored));
                }
            }
        }
        inner.misses += 1;
        None
    }

    fn base(&self, context: &Context) -> Option<Arc<Stored>> {
        self.lock()
            .bases
            .iter()
            .find(|b| b.context == context.0)
            .cloned()
    }

    fn store_base(&self, context: &Context, net: &PathNet<f32>) {
        if self.capacity == 0 {
            return;
        }
        let dims = net.dims();
        let pathway = Pathway::random(dims, 0).expect("valid dims");
        let stored = Arc::new(Stored::capture(
            context,
            Genome::fresh(0),
            net,
            &pathway,
            None,
        ));
        let mut inner = self.lock();
        if inner.bases.len() >= BASES {
            inner.bases.remove(0);
        }
        inner.bases.push(stored);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update is a single insert or remove: a panic elsewhere leaves it consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
