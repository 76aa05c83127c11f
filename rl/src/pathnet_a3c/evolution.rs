//! The evolution of PathNet-A3C, without any networking so that a coordinator can own it and
//! answer workers over the wire: one genotype (pathway) per worker, each worker's latest
//! fitness, the tournaments, and the start of a new task.
//!
//! After every `T` episodes a worker reports its fitness (the mean return of those
//! episodes). It is compared with the latest fitness of `B` other workers drawn at random
//! from those that have one on the current task; if the best of them is strictly better, the
//! worker takes that worker's pathway, mutated as in [`ga::mutate`] (each of the `N * L`
//! entries with probability `1 / (N * L)`, by an offset in `[-2, 2]` wrapping modulo `M`).
//! A worker that takes a new pathway has no fitness until it has played it for `T`
//! episodes, so nobody copies a genotype on the strength of another one's score.

use super::error::PathNetA3cError;
use pathnet_nn::BadWordPos;
pub use pathnet_nn::SavedRng;
use pathnet_nn::pathnet::ga::{self, Contestant};
use pathnet_nn::pathnet::{PathNetDims, Pathway};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// One worker's genotype and its latest fitness on the current task.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The modules it trains: `N` per layer.
    pub pathway: Pathway,
    /// The mean return of its last `T` episodes on this pathway; `None` until it has played
    /// `T` episodes of it.
    pub fitness: Option<f64>,
}

/// Counters of the current task.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionStats {
    /// Fitness reports received.
    pub reports: u64,
    /// Reports after which the worker took another worker's pathway.
    pub adoptions: u64,
    /// Genotype entries that mutation changed, over all adoptions.
    pub mutated_entries: u64,
}

/// The population of one run: every worker's pathway and fitness, the tournaments between
/// them, seeded. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Evolution {
    dims: PathNetDims,
    tournament_size: usize,
    seed: u64,
    task: usize,
    rng: ChaCha8Rng,
    members: Vec<Member>,
    stats: EvolutionStats,
}

/// An [`Evolution`] as a checkpoint holds it: the task, every member's pathway and latest
/// fitness, the counters and where the tournament's random generator stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedEvolution {
    task: usize,
    members: Vec<SavedMember>,
    stats: EvolutionStats,
    rng: SavedRng,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedMember {
    pathway: Pathway,
    fitness: Option<f64>,
}

/// The generator a state saved; `field` names the state in an error.
pub(super) fn restore_rng(rng: &SavedRng, field: &str) -> Result<ChaCha8Rng, PathNetA3cError> {
    rng.restore().map_err(|BadWordPos(text)| {
        let shown: String = text.chars().take(40).collect();
        PathNetA3cError::config(
            format!("{field}.word_pos"),
            format!("{shown:?}"),
            "a whole number",
        )
    })
}

impl Evolution {
    /// The population as a checkpoint holds it.
    pub fn save(&self) -> SavedEvolution {
        SavedEvolution {
            task: self.task,
            members: self
                .members
                .iter()
                .map(|m| SavedMember {
                    pathway: m.pathway.clone(),
                    fitness: m.fitness,
                })
                .collect(),
            stats: self.stats.clone(),
            rng: SavedRng::of(&self.rng),
        }
    }

    /// Takes the population `saved` holds, which must fit this one's dims and size; errors
    /// name the field (under `evolution.`) that does not fit, and change nothing.
    pub fn load(&mut self, saved: SavedEvolution) -> Result<(), PathNetA3cError> {
        let workers = self.members.len();
        if saved.members.len() != workers {
            return Err(PathNetA3cError::config(
                "evolution.members",
                saved.members.len(),
                format!("one per worker ({workers})"),
            ));
        }
        let mut members = Vec::with_capacity(workers);
        for (i, m) in saved.members.into_iter().enumerate() {
            m.pathway.validate(&self.dims).map_err(|err| {
                PathNetA3cError::config(
                    format!("evolution.members[{i}].pathway"),
                    "",
                    err.to_string(),
                )
            })?;
            if let Some(f) = m.fitness.filter(|f| !f.is_finite()) {
                return Err(PathNetA3cError::config(
                    format!("evolution.members[{i}].fitness"),
                    f,
                    "a finite number",
                ));
            }
            members.push(Member {
                pathway: m.pathway,
                fitness: m.fitness,
            });
        }
        let rng = restore_rng(&saved.rng, "evolution.rng")?;
        self.task = saved.task;
        self.members = members;
        self.stats = saved.stats;
        self.rng = rng;
        Ok(())
    }

    /// A population of `workers` genotypes, set up for task 0 (see [`Evolution::begin_task`]).
    pub fn new(
        dims: PathNetDims,
        workers: usize,
        tournament_size: usize,
        seed: u64,
    ) -> Result<Self, PathNetA3cError> {
        dims.validate()?;
        if workers == 0 {
            return Err(PathNetA3cError::config("workers", 0, "at least 1"));
        }
        let mut evolution = Evolution {
            dims,
            tournament_size,
            seed,
            task: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            members: Vec::new(),
            stats: EvolutionStats::default(),
        };
        evolution.start(0, workers);
        Ok(evolution)
    }

    /// Starts `task`: every worker gets a fresh random pathway and no fitness, and the
    /// counters restart. The draws depend only on the seed and `task`, so a run that starts
    /// at `task` directly (the from-scratch control) gets the same genotypes.
    pub fn begin_task(&mut self, task: usize) {
        self.start(task, self.members.len());
    }

    fn start(&mut self, task: usize, workers: usize) {
        self.task = task;
        self.rng = ChaCha8Rng::seed_from_u64(self.seed);
        self.rng.set_stream(task as u64);
        self.stats = EvolutionStats::default();
        self.members = (0..workers)
            .map(|_| Member {
                pathway: Pathway::random_with(&self.dims, &mut self.rng)
                    .expect("dims validated in new"),
                fitness: None,
            })
            .collect();
    }

    /// The current task's index, 0-based.
    pub fn task(&self) -> usize {
        self.task
    }

    /// The super-network's `L`, `M` and `N` that pathways are drawn in.
    pub fn dims(&self) -> &PathNetDims {
        &self.dims
    }

    /// The population's size, one member per worker.
    pub fn workers(&self) -> usize {
        self.members.len()
    }

    /// Every worker's member, by worker index.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The current task's counters.
    pub fn stats(&self) -> &EvolutionStats {
        &self.stats
    }

    /// `worker`'s current pathway.
    ///
    /// # Errors
    /// [`PathNetA3cError::UnknownWorker`] for an index outside the population.
    pub fn pathway(&self, worker: usize) -> Result<&Pathway, PathNetA3cError> {
        Ok(&self.member(worker)?.pathway)
    }

    /// The pathway with the highest latest fitness on the current task (the lowest worker
    /// index among equals), with its worker and fitness; `None` before any report.
    pub fn best(&self) -> Option<(usize, &Pathway, f64)> {
        let mut best: Option<(usize, &Member, f64)> = None;
        for (worker, member) in self.members.iter().enumerate() {
            if let Some(f) = member.fitness
                && best.is_none_or(|(_, _, b)| f > b)
            {
                best = Some((worker, member, f));
            }
        }
        best.map(|(worker, member, f)| (worker, &member.pathway, f))
    }

    /// The pathway of [`Evolution::best`] alone.
    pub fn best_pathway(&self) -> Option<&Pathway> {
        self.best().map(|(_, pathway, _)| pathway)
    }

    /// Records `worker`'s fitness and runs its tournament. Returns the worker's new pathway
    /// when it lost, `None` when it keeps its own.
    pub fn report_fitness(
        &mut self,
        worker: usize,
        fitness: f64,
    ) -> Result<Option<Pathway>, PathNetA3cError> {
        self.member(worker)?;
        if !fitness.is_finite() {
            return Err(PathNetA3cError::InvalidFitness {
                worker,
                value: fitness,
            });
        }
        self.stats.reports += 1;
        self.members[worker].fitness = Some(fitness);
        let rivals: Vec<usize> = (0..self.members.len())
            .filter(|&w| w != worker && self.members[w].fitness.is_some())
            .collect();
        let count = self.tournament_size.min(rivals.len());
        let mut winner: Option<(usize, f64)> = None;
        for k in sample(&mut self.rng, rivals.len(), count) {
            let rival = rivals[k];
            let f = self.members[rival].fitness.expect("rivals have a fitness");
            if winner.is_none_or(|(w, best)| f > best || (f == best && rival < w)) {
                winner = Some((rival, f));
            }
        }
        let Some((rival, rival_fitness)) = winner else {
            return Ok(None);
        };
        // The reporting worker is the first contestant, so a tie keeps its pathway.
        if ga::tournament(fitness, rival_fitness).winner == Contestant::First {
            return Ok(None);
        }
        let mut child = self.members[rival].pathway.clone();
        let report = ga::mutate(&mut child, &self.dims, &mut self.rng)?;
        self.stats.adoptions += 1;
        self.stats.mutated_entries += report.changed() as u64;
        self.members[worker] = Member {
            pathway: child.clone(),
            fitness: None,
        };
        Ok(Some(child))
    }

    fn member(&self, worker: usize) -> Result<&Member, PathNetA3cError> {
        self.members
            .get(worker)
            .ok_or(PathNetA3cError::UnknownWorker {
                worker,
                workers: self.members.len(),
            })
    }
}

/// Where a worker learns its genotype and reports its fitness: an [`Evolution`] in this
/// process, or a coordinator that owns one.
pub trait PathwaySelection: Send + Sync {
    /// The current task and `worker`'s pathway on it.
    fn assignment(&self, worker: usize) -> Result<(usize, Pathway), PathNetA3cError>;

    /// See [`Evolution::report_fitness`].
    fn report_fitness(
        &self,
        worker: usize,
        fitness: f64,
    ) -> Result<Option<Pathway>, PathNetA3cError>;
}

impl PathwaySelection for Mutex<Evolution> {
    fn assignment(&self, worker: usize) -> Result<(usize, Pathway), PathNetA3cError> {
        let evolution = lock(self);
        Ok((evolution.task(), evolution.pathway(worker)?.clone()))
    }

    fn report_fitness(
        &self,
        worker: usize,
        fitness: f64,
    ) -> Result<Option<Pathway>, PathNetA3cError> {
        lock(self).report_fitness(worker, fitness)
    }
}

fn lock(evolution: &Mutex<Evolution>) -> std::sync::MutexGuard<'_, Evolution> {
    // Every update of the population completes before it is visible; a panicking worker
    // cannot leave it half-written.
    evolution
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
