//! One task's evolution: the population, the tournaments in flight and the evaluations
//! waiting to be handed out.
//!
//! A member takes part in at most one tournament at a time, so the genotypes a tournament
//! compares cannot be overwritten by another tournament while their evaluations run; that
//! caps the tournaments in flight at half the population.
//!
//! A fixed-path control uses the same machinery with two members holding the same pathway:
//! a "tournament" is then two successive evaluations of that pathway, its winner the better
//! of the two, and nothing is mutated, so generations count training exactly as PathNet's do.

use crate::run::EvalId;
use pathnet_nn::pathnet::{PathNetDims, PathNetError, Pathway, ga};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize)]
struct Member {
    pathway: Pathway,
    /// Fitness of this genotype's latest evaluation; reset when it is overwritten.
    fitness: Option<f64>,
    busy: bool,
}

#[derive(Serialize, Deserialize)]
struct Tournament {
    members: [usize; 2],
    /// (fitness, training accuracy) of each contestant, once back.
    results: [Option<(f64, f64)>; 2],
}

/// An evaluation of one contestant of a tournament.
#[derive(Serialize, Deserialize)]
struct Pending {
    tournament: u64,
    slot: usize,
    data_seed: u64,
    /// Handed out and not yet completed or re-queued.
    outstanding: bool,
}

/// An evaluation ready to be handed out.
pub(super) struct Issued {
    pub id: EvalId,
    pub pathway: Pathway,
    pub data_seed: u64,
}

/// A tournament that has just been resolved.
pub(super) struct Resolved {
    pub generation: usize,
    pub winner_accuracy: f64,
    /// Which contestant won: 0 for the first issued, 1 for the second.
    pub winner_slot: usize,
}

pub(super) struct TaskRun {
    pub index: usize,
    members: Vec<Member>,
    tournaments: BTreeMap<u64, Tournament>,
    pending: BTreeMap<EvalId, Pending>,
    queue: VecDeque<EvalId>,
    next_tournament: u64,
    pub started: usize,
    pub resolved: usize,
    /// The generation whose winner first reached the threshold; no tournament starts after.
    pub threshold_generation: Option<usize>,
    pub best: Option<(f64, Pathway)>,
    best_fitness: Option<f64>,
    pub accepted: usize,
    pub frozen_modules: usize,
    /// Whether every member holds one fixed pathway that never mutates.
    fixed: bool,
    pub clock: Instant,
}

impl TaskRun {
    /// A random population of `population` pathways, or, with `fixed`, two members holding
    /// that pathway.
    pub(super) fn new(
        index: usize,
        population: usize,
        dims: &PathNetDims,
        frozen_modules: usize,
        fixed: Option<Pathway>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, PathNetError> {
        let member = |pathway| Member {
            pathway,
            fitness: None,
            busy: false,
        };
        let members = match &fixed {
            Some(pathway) => {
                pathway.validate(dims)?;
                vec![member(pathway.clone()), member(pathway.clone())]
            }
            None => (0..population)
                .map(|_| Ok(member(Pathway::random_with(dims, rng)?)))
                .collect::<Result<_, PathNetError>>()?,
        };
        Ok(TaskRun {
            index,
            members,
            tournaments: BTreeMap::new(),
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            next_tournament: 0,
            started: 0,
            resolved: 0,
            threshold_generation: None,
            best: None,
            best_fitness: None,
            accepted: 0,
            frozen_modules,
            fixed: fixed.is_some(),
            clock: Instant::now(),
        })
    }

    /// The next evaluation to hand out: a re-queued or waiting one first, else the first
    /// contestant of a new tournament when `may_start` and two members are free. With
    /// `same_minibatches` both contestants of a new tournament get one data seed.
    pub(super) fn next(
        &mut self,
        may_start: bool,
        same_minibatches: bool,
        ids: &mut u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Issued> {
        if let Some(id) = self.queue.pop_front() {
            return Some(self.issue(id));
        }
        if !may_start {
            return None;
        }
        let free: Vec<usize> = (0..self.members.len())
            .filter(|&m| !self.members[m].busy)
            .collect();
        if free.len() < 2 {
            return None;
        }
        let first = rng.random_range(0..free.len());
        let second = (first + rng.random_range(1..free.len())) % free.len();
        let members = [free[first], free[second]];
        let tournament = self.next_tournament;
        self.next_tournament += 1;
        self.started += 1;
        self.tournaments.insert(
            tournament,
            Tournament {
                members,
                results: [None, None],
            },
        );
        let shared_seed: u64 = rng.random();
        for (slot, &member) in members.iter().enumerate() {
            self.members[member].busy = true;
            // The first contestant takes the seed drawn above either way, so a run with the
            // option off draws the same numbers as before the option existed.
            let data_seed = if same_minibatches || slot == 0 {
                shared_seed
            } else {
                rng.random()
            };
            let id = EvalId(*ids);
            *ids += 1;
            self.pending.insert(
                id,
                Pending {
                    tournament,
                    slot,
                    data_seed,
                    outstanding: false,
                },
            );
            self.queue.push_back(id);
        }
        let id = self
            .queue
            .pop_front()
            .expect("two evaluations were just queued");
        Some(self.issue(id))
    }

    fn issue(&mut self, id: EvalId) -> Issued {
        let pending = self.pending.get_mut(&id).expect("queued ids are pending");
        pending.outstanding = true;
        let member = self.tournaments[&pending.tournament].members[pending.slot];
        Issued {
            id,
            pathway: self.members[member].pathway.clone(),
            data_seed: pending.data_seed,
        }
    }

    /// Whether `id` is handed out and awaited: `None` if this task never issued it or it
    /// was completed already.
    pub(super) fn outstanding(&self, id: EvalId) -> Option<bool> {
        self.pending.get(&id).map(|p| p.outstanding)
    }

    /// The tournament and slot of a pending evaluation.
    pub(super) fn slot(&self, id: EvalId) -> Option<(u64, usize)> {
        self.pending.get(&id).map(|p| (p.tournament, p.slot))
    }

    /// The genotype an issued evaluation trains.
    pub(super) fn pathway(&self, id: EvalId) -> Option<&Pathway> {
        let pending = self.pending.get(&id)?;
        let member = self.tournaments[&pending.tournament].members[pending.slot];
        Some(&self.members[member].pathway)
    }

    /// Puts an outstanding evaluation back at the head of the queue.
    pub(super) fn requeue(&mut self, id: EvalId) -> bool {
        match self.pending.get_mut(&id) {
            Some(pending) if pending.outstanding => {
                pending.outstanding = false;
                self.queue.push_front(id);
                true
            }
            _ => false,
        }
    }

    /// Drops every evaluation; returns how many were handed out.
    pub(super) fn cancel_all(&mut self) -> usize {
        let outstanding = self.pending.values().filter(|p| p.outstanding).count();
        self.pending.clear();
        self.queue.clear();
        self.tournaments.clear();
        for member in &mut self.members {
            member.busy = false;
        }
        outstanding
    }

    pub(super) fn in_flight(&self) -> usize {
        self.tournaments.len()
    }

    /// Records an outstanding evaluation's result; when it completes its tournament, the
    /// winner's genotype overwrites the loser's, mutated.
    pub(super) fn record(
        &mut self,
        id: EvalId,
        fitness: f64,
        accuracy: f64,
        dims: &PathNetDims,
        rng: &mut ChaCha8Rng,
    ) -> Result<Option<Resolved>, PathNetError> {
        let pending = self.pending.remove(&id).expect("caller checked the id");
        self.accepted += 1;
        self.best_fitness = Some(self.best_fitness.map_or(fitness, |b| b.max(fitness)));
        let tournament = self
            .tournaments
            .get_mut(&pending.tournament)
            .expect("pending evaluations belong to a live tournament");
        tournament.results[pending.slot] = Some((fitness, accuracy));
        self.members[tournament.members[pending.slot]].fitness = Some(fitness);
        let [Some(first), Some(second)] = tournament.results else {
            return Ok(None);
        };
        let [a, b] = tournament.members;
        self.tournaments.remove(&pending.tournament);
        let result = if self.fixed {
            ga::tournament(first.0, second.0)
        } else {
            let (left, right) = pair_mut(&mut self.members, a, b);
            ga::tournament_step(
                (&mut left.pathway, first.0),
                (&mut right.pathway, second.0),
                dims,
                rng,
            )?
            .0
        };
        let (winner, loser, winner_accuracy, winner_slot) = match result.winner {
            ga::Contestant::First => (a, b, first.1, 0),
            ga::Contestant::Second => (b, a, second.1, 1),
        };
        self.members[loser].fitness = None;
        self.members[a].busy = false;
        self.members[b].busy = false;
        if self
            .best
            .as_ref()
            .is_none_or(|(best, _)| winner_accuracy >= *best)
        {
            // The loser now holds a mutated copy; the winner's slot still holds what was evaluated.
            self.best = Some((winner_accuracy, self.members[winner].pathway.clone()));
        }
        self.resolved += 1;
        Ok(Some(Resolved {
            generation: self.resolved,
            winner_accuracy,
            winner_slot,
        }))
    }

    pub(super) fn best_fitness(&self) -> Option<f64> {
        self.best_fitness
    }

    /// Every member's current pathway.
    pub(super) fn pathways(&self) -> impl Iterator<Item = &Pathway> {
        self.members.iter().map(|m| &m.pathway)
    }

    /// Mean of the members' latest fitnesses; NaN before any is known.
    pub(super) fn mean_fitness(&self) -> f64 {
        // One pass, nothing allocated: this runs on every accepted result.
        let (sum, known) = self
            .members
            .iter()
            .filter_map(|m| m.fitness)
            .fold((-0.0, 0usize), |(sum, n), f| (sum + f, n + 1));
        sum / known as f64
    }
}

/// A task's evolution as a checkpoint holds it: everything but the clock, which is saved as
/// the seconds it had run.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskState {
    pub(super) index: usize,
    members: Vec<Member>,
    tournaments: Vec<(u64, Tournament)>,
    pending: Vec<(EvalId, Pending)>,
    queue: Vec<EvalId>,
    next_tournament: u64,
    started: usize,
    resolved: usize,
    threshold_generation: Option<usize>,
    pub(super) best: Option<(f64, Pathway)>,
    best_fitness: Option<f64>,
    accepted: usize,
    frozen_modules: usize,
    fixed: bool,
    seconds: f64,
}

impl TaskRun {
    /// The task's state for a checkpoint; [`TaskRun::restore`] reads it back.
    pub(super) fn save(&self) -> TaskState {
        TaskState {
            index: self.index,
            members: self
                .members
                .iter()
                .map(|m| Member {
                    pathway: m.pathway.clone(),
                    fitness: m.fitness,
                    busy: m.busy,
                })
                .collect(),
            tournaments: self
                .tournaments
                .iter()
                .map(|(&id, t)| {
                    let copy = Tournament {
                        members: t.members,
                        results: t.results,
                    };
                    (id, copy)
                })
                .collect(),
            pending: self
                .pending
                .iter()
                .map(|(&id, p)| {
                    let copy = Pending {
                        tournament: p.tournament,
                        slot: p.slot,
                        data_seed: p.data_seed,
                        outstanding: p.outstanding,
                    };
                    (id, copy)
                })
                .collect(),
            queue: self.queue.iter().copied().collect(),
            next_tournament: self.next_tournament,
            started: self.started,
            resolved: self.resolved,
            threshold_generation: self.threshold_generation,
            best: self.best.clone(),
            best_fitness: self.best_fitness,
            accepted: self.accepted,
            frozen_modules: self.frozen_modules,
            fixed: self.fixed,
            seconds: self.clock.elapsed().as_secs_f64(),
        }
    }

    /// The task a checkpoint saved, with every evaluation that was handed out put back at
    /// the head of the queue (whoever held it is gone with the coordinator that leased
    /// it). Returns the task and how many evaluations were re-queued. Everything read is
    /// checked against `dims` and against itself; the error names what is wrong.
    pub(super) fn restore(state: TaskState, dims: &PathNetDims) -> Result<(Self, usize), String> {
        let members = state.members.len();
        for (i, member) in state.members.iter().enumerate() {
            member
                .pathway
                .validate(dims)
                .map_err(|err| format!("`task.members[{i}].pathway`: {err}"))?;
        }
        if let Some((_, pathway)) = &state.best {
            pathway
                .validate(dims)
                .map_err(|err| format!("`task.best`: {err}"))?;
        }
        let tournaments: BTreeMap<u64, Tournament> = state.tournaments.into_iter().collect();
        for (id, t) in &tournaments {
            if t.members.iter().any(|&m| m >= members) || t.members[0] == t.members[1] {
                return Err(format!(
                    "`task.tournaments` {id}: members {:?} of a population of {members}",
                    t.members
                ));
            }
        }
        let mut pending: BTreeMap<EvalId, Pending> = state.pending.into_iter().collect();
        for (id, p) in &pending {
            if !tournaments.contains_key(&p.tournament) || p.slot > 1 {
                return Err(format!(
                    "`task.pending` {id}: tournament {} slot {} does not exist",
                    p.tournament, p.slot
                ));
            }
        }
        if let Some(id) = state.queue.iter().find(|id| !pending.contains_key(id)) {
            return Err(format!("`task.queue`: {id} is not pending"));
        }
        let mut queue: VecDeque<EvalId> = state.queue.into_iter().collect();
        let handed_out: Vec<EvalId> = pending
            .iter()
            .filter(|(_, p)| p.outstanding)
            .map(|(&id, _)| id)
            .collect();
        for &id in handed_out.iter().rev() {
            if let Some(p) = pending.get_mut(&id) {
                p.outstanding = false;
            }
            queue.push_front(id);
        }
        let seconds = Duration::try_from_secs_f64(state.seconds).unwrap_or_default();
        let task = TaskRun {
            index: state.index,
            members: state.members,
            tournaments,
            pending,
            queue,
            next_tournament: state.next_tournament,
            started: state.started,
            resolved: state.resolved,
            threshold_generation: state.threshold_generation,
            best: state.best,
            best_fitness: state.best_fitness,
            accepted: state.accepted,
            frozen_modules: state.frozen_modules,
            fixed: state.fixed,
            clock: Instant::now()
                .checked_sub(seconds)
                .unwrap_or_else(Instant::now),
        };
        Ok((task, handed_out.len()))
    }
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(items: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j, "a tournament needs two different members");
    if i < j {
        let (head, tail) = items.split_at_mut(j);
        (&mut head[i], &mut tail[0])
    } else {
        let (head, tail) = items.split_at_mut(i);
        (&mut tail[0], &mut head[j])
    }
}
