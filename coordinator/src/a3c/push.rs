//! One gradient push, split around the pushing itself so that a run kept behind a lock need
//! be held only for the bookkeeping.
//!
//! A run admits a push ([`crate::a3c::A3cRun::begin_exchange`]): the lease is checked and
//! the push's sequence number reserved at once, so a repeat arriving while the push is
//! still being applied is a duplicate, and the push gets a [`PushTicket`] holding the
//! parameter server of its lease's phase. [`PushTicket::apply`] then pushes and copies the
//! parameters without the run: the server is lock-free. The run takes the [`PushDone`] back
//! ([`crate::a3c::A3cRun::finish_exchange`]) to count it; a refused push (malformed
//! gradient) gives its sequence number back, so it leaves the lease as it found it.

use super::{Disposition, ExchangeAnswer, ExchangeError};
use crate::run::{Counters, EvalId};
use ndarray::ArrayD;
use pathnet_rl::{GradientUpdate, ParameterServer, SharedParameters};
use std::sync::Arc;

/// A push its run admitted, to be applied with [`PushTicket::apply`] and handed back.
///
/// It keeps its phase's parameter server alive: a run ends a phase (or completes) only once
/// no ticket of it is out, so the phase's report sees every push that was applied.
pub struct PushTicket {
    lease: EvalId,
    sequence: u64,
    /// The lease's highest sequence number before this push reserved its own; `None` for a
    /// duplicate, which reserved nothing.
    prior: Option<u64>,
    server: Arc<ParameterServer>,
    fitness: Option<f64>,
    /// The parameter tensors a gradient push's answer carries (positions in the list); all
    /// of them when `None`, and always for a fetch or a fitness report.
    answer_tensors: Option<Vec<usize>>,
}

/// A push applied (or refused) on the server, for its run to count.
pub struct PushDone {
    ticket: PushTicket,
    outcome: Result<Pushed, ExchangeError>,
}

struct Pushed {
    disposition: Disposition,
    staleness: u64,
    /// The returns of the episodes a gradient push reported; `None` for a duplicate or a
    /// fetch.
    episodes: Option<Vec<f64>>,
    version: u64,
    parameters: Vec<ArrayD<f32>>,
    /// Positions of `parameters` in the whole list; `None` when they are all of it.
    parameter_indices: Option<Vec<usize>>,
    stop: bool,
}

/// A push counted by its run: its answer (without a pathway) and what the run still
/// records from it.
pub(crate) struct Settled {
    pub answer: ExchangeAnswer,
    pub episodes: Option<Vec<f64>>,
    /// The fitness the push reported, unless it was a duplicate (the original's counted).
    pub fitness: Option<f64>,
}

impl PushTicket {
    /// Admits push `sequence` of lease `lease`, whose highest sequence number so far is
    /// `last_sequence`: a higher one is reserved now, a lower or equal one is a duplicate.
    pub(crate) fn admit(
        server: &Arc<ParameterServer>,
        lease: EvalId,
        last_sequence: &mut u64,
        sequence: u64,
        fitness: Option<f64>,
        answer_tensors: Option<Vec<usize>>,
    ) -> Result<Self, ExchangeError> {
        if sequence == 0 {
            return Err(ExchangeError::ZeroSequence);
        }
        let prior = (sequence > *last_sequence).then(|| std::mem::replace(last_sequence, sequence));
        Ok(PushTicket {
            lease,
            sequence,
            prior,
            server: Arc::clone(server),
            fitness,
            answer_tensors,
        })
    }

    /// The shapes of the parameter tensors, which a gradient must have.
    pub fn shapes(&self) -> &[Vec<usize>] {
        self.server.shapes()
    }

    /// The worker lease that pushed.
    pub fn lease(&self) -> EvalId {
        self.lease
    }

    /// Pushes `update` (`None` for a fetch) unless the push is a duplicate, then copies the
    /// newest parameters. Needs no run: other pushes may be applied meanwhile.
    pub fn apply(self, update: Option<GradientUpdate>) -> PushDone {
        let server = &self.server;
        let subset = match (&update, self.fitness) {
            (Some(_), None) => self.answer_tensors.clone(),
            _ => None,
        };
        let pushed = match (self.prior, update) {
            (None, _) => Ok((Disposition::Duplicate, 0, None)),
            (Some(_), None) => Ok((Disposition::FetchOnly, 0, None)),
            (Some(_), Some(update)) => {
                let staleness = server.version().saturating_sub(update.base_version);
                let episodes = update.episode_returns.clone();
                // `push` checks the whole update before it changes anything.
                server.push(update).map(|outcome| {
                    let disposition = if outcome.applied {
                        Disposition::Applied
                    } else if outcome.stop {
                        Disposition::TrainingOver
                    } else {
                        Disposition::Stale
                    };
                    (disposition, staleness, Some(episodes))
                })
            }
        };
        let outcome = pushed
            .map(|(disposition, staleness, episodes)| {
                // The version is read first, so the parameters may be newer than it says,
                // never older, as with a worker's own fetch.
                let version = server.version();
                let parameters = match &subset {
                    Some(indices) => server.parameters_at(indices),
                    None => server.parameters(),
                };
                Pushed {
                    disposition,
                    staleness,
                    episodes,
                    version,
                    parameters,
                    parameter_indices: subset,
                    stop: server.stop_reason().is_some(),
                }
            })
            .map_err(ExchangeError::from);
        PushDone {
            ticket: self,
            outcome,
        }
    }

    /// Refuses the push without touching the server: its gradient could not be read.
    pub fn refuse(self, why: String) -> PushDone {
        PushDone {
            ticket: self,
            outcome: Err(ExchangeError::Malformed(why)),
        }
    }
}

impl PushDone {
    /// The worker lease that pushed.
    pub fn lease(&self) -> EvalId {
        self.ticket.lease
    }

    /// The parameters the answer carries; empty when the push was refused.
    pub fn parameters(&self) -> &[ArrayD<f32>] {
        self.outcome
            .as_ref()
            .map_or(&[], |pushed| pushed.parameters.as_slice())
    }

    /// Positions of [`PushDone::parameters`] in the whole list; `None` when they are all
    /// of it, in order.
    pub fn parameter_indices(&self) -> Option<&[usize]> {
        self.outcome
            .as_ref()
            .ok()
            .and_then(|pushed| pushed.parameter_indices.as_deref())
    }

    /// Counts the push in `counters`; a refused one gives its reserved sequence number back
    /// to the lease (`None` once the lease is gone) unless a later push reserved another.
    pub(crate) fn settle(
        self,
        last_sequence: Option<&mut u64>,
        counters: &mut Counters,
    ) -> Result<Settled, ExchangeError> {
        let PushDone { ticket, outcome } = self;
        let pushed = match outcome {
            Ok(pushed) => pushed,
            Err(err) => {
                if let (Some(last), Some(prior)) = (last_sequence, ticket.prior)
                    && *last == ticket.sequence
                {
                    *last = prior;
                }
                return Err(err);
            }
        };
        match pushed.disposition {
            Disposition::Applied => {
                counters.results_accepted += 1;
                counters.module_updates += 1;
                if pushed.staleness > 0 {
                    counters.stale_module_updates += 1;
                }
            }
            Disposition::Duplicate | Disposition::Stale => counters.results_refused += 1,
            Disposition::FetchOnly | Disposition::TrainingOver => {}
        }
        let fitness = ticket
            .fitness
            .filter(|_| pushed.disposition != Disposition::Duplicate);
        Ok(Settled {
            answer: ExchangeAnswer {
                disposition: pushed.disposition,
                version: pushed.version,
                parameters: pushed.parameters,
                parameter_indices: pushed.parameter_indices,
                stop: pushed.stop,
                staleness: pushed.staleness,
                pathway: None,
            },
            episodes: pushed.episodes,
            fitness,
        })
    }
}
