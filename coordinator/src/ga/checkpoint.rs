//! A neuroevolution run as a checkpoint holds it, and back: the GA's whole engine (population
//! genomes as seed lists with their fitness, the ledger of evaluations out and waiting,
//! counters, best genome, solved state, random generator), the run's counters, what the
//! genomes cost on the wire so far, the current generation's fitness sums and the clock. No
//! tensors: genomes are seed lists.
//!
//! Evaluations out with agents when the state was saved are re-queued on restoring, under
//! their ids: whoever held them is gone with the coordinator that leased them, so each is
//! evaluated again and its result counted once.

use super::GaRun;
use crate::run::{Counters, Progress};
use crate::spec::GaSpec;
use pathnet_evo::GaEngine;
use pathnet_evo::engine::SavedEngine;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The run's state (it has no tensors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaRunState {
    engine: SavedEngine,
    counters: Counters,
    genome_bytes_sum: u64,
    genome_bytes_max: u64,
    genomes_sent: u64,
    generation_fitness: (u64, f64, u64),
    /// Seconds the run had been going when saved.
    seconds: f64,
    /// Whether it had finished (solved, out of evaluations or stopped).
    finished: bool,
}

impl GaRun {
    /// The run's state, for a checkpoint.
    pub fn snapshot(&self) -> GaRunState {
        GaRunState {
            engine: self.engine.save(),
            counters: self.counters.clone(),
            genome_bytes_sum: self.genome_bytes_sum,
            genome_bytes_max: self.genome_bytes_max,
            genomes_sent: self.genomes_sent,
            generation_fitness: self.generation_fitness,
            seconds: self
                .seconds
                .unwrap_or_else(|| self.clock.elapsed().as_secs_f64()),
            finished: self.seconds.is_some(),
        }
    }

    /// The run a checkpoint of an experiment on `spec` saved, resumed; with how many
    /// evaluations that were out went back to the queue (counted in
    /// `evaluations_requeued`).
    ///
    /// # Errors
    /// The state does not fit the spec or itself; the message names the field.
    pub fn restore(
        experiment: String,
        spec: GaSpec,
        saved: GaRunState,
    ) -> Result<(Self, usize), String> {
        let mut run = GaRun::new(experiment, spec).map_err(|err| err.to_string())?;
        let (engine, requeued) = GaEngine::restore(&run.spec.config(), saved.engine)
            .map_err(|err| format!("`experiment.run.engine`: {err}"))?;
        if !saved.seconds.is_finite() || saved.seconds < 0.0 {
            return Err(format!(
                "`experiment.run.seconds` = {}: not a duration",
                saved.seconds
            ));
        }
        let seconds = Duration::from_secs_f64(saved.seconds);
        run.engine = engine;
        run.counters = saved.counters;
        run.counters.evaluations_requeued += requeued as u64;
        run.genome_bytes_sum = saved.genome_bytes_sum;
        run.genome_bytes_max = saved.genome_bytes_max;
        run.genomes_sent = saved.genomes_sent;
        run.generation_fitness = saved.generation_fitness;
        run.clock = Instant::now()
            .checked_sub(seconds)
            .unwrap_or_else(Instant::now);
        run.seconds = saved.finished.then_some(saved.seconds);
        if saved.finished {
            // The dashboard's history of a finished run ends with its end.
            run.events.push(Progress::Finished);
        }
        Ok((run, requeued))
    }
}
