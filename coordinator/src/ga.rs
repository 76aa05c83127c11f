//! A neuroevolution experiment (steady-state or truncation GA with safe mutations) on the
//! lease scheduler, with no networking.
//!
//! The neuroevolution crate's engine decides everything; this wraps it with the runtime's
//! ids, counters, progress events and summary, and measures what genomes cost on the wire:
//! every evaluation ships a seed list, never weights.

use crate::kind::{ExperimentKind, Kind};
use crate::local::RunError;
use crate::run::{Counters, EvalId, FitnessEvent, Progress, Run, RunState, RunStatus, Summary};
use crate::spec::{GaSpec, MemoryEstimate, SpecError};
use pathnet_evo::engine::{EngineState as GaState, Refusal};
use pathnet_evo::{EvoError, GaEngine, Job, Outcome};
use serde::Serialize;
use std::fmt;
use std::time::Instant;

mod checkpoint;

pub use checkpoint::GaRunState;

/// The summary of a neuroevolution run, in-process or distributed.
#[derive(Debug, Clone, Serialize)]
pub struct GaSummary {
    /// The experiment's id.
    pub experiment: String,
    /// `neuroevolution`.
    pub kind: &'static str,
    /// The experiment's seed.
    pub seed: u64,
    /// The GA's own summary (best fitness and genome, evaluations, generations...), its
    /// fields at the top level of the JSON.
    #[serde(flatten)]
    pub run: pathnet_evo::Summary,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    /// Completed evaluations over `seconds`.
    pub evaluations_per_second: f64,
    /// Mean encoded size of the genomes sent (the seed list), and of the weights they stand for.
    pub genome_bytes_mean: f64,
    /// The largest encoded genome sent, in bytes.
    pub genome_bytes_max: u64,
    /// Bytes of one network's weights (f32): what sending weights instead would cost.
    pub weight_bytes: u64,
}

/// A neuroevolution run's state: the GA engine, its counters and progress events, driven
/// by whoever evaluates the genomes (the server's agents, or the in-process run).
pub struct GaRun {
    experiment: String,
    spec: GaSpec,
    engine: GaEngine,
    counters: Counters,
    events: Vec<Progress>,
    clock: Instant,
    seconds: Option<f64>,
    weight_bytes: u64,
    genome_bytes_sum: u64,
    genome_bytes_max: u64,
    genomes_sent: u64,
    /// The current generation and the sum and count of its fitnesses so far: the curve's
    /// mean (one point per generation on the dashboard).
    generation_fitness: (u64, f64, u64),
}

impl GaRun {
    /// A run of `spec` under the id `experiment`; an error when the `[ga]` table's
    /// problem cannot be set up.
    pub fn new(experiment: String, spec: GaSpec) -> Result<Self, EvoError> {
        let config = spec.config();
        let engine = GaEngine::new(&config)?;
        let weight_bytes = config.problem().network.weight_bytes() as u64;
        let events = vec![Progress::TaskStarted {
            task: 0,
            name: format!("{:?}", config.task).to_lowercase(),
            max_generations: (config.max_evaluations / config.population as u64) as usize,
        }];
        Ok(GaRun {
            experiment,
            spec,
            engine,
            counters: Counters::default(),
            events,
            clock: Instant::now(),
            seconds: None,
            weight_bytes,
            genome_bytes_sum: 0,
            genome_bytes_max: 0,
            genomes_sent: 0,
            generation_fitness: (0, 0.0, 0),
        })
    }

    /// The experiment's spec.
    pub fn spec(&self) -> &GaSpec {
        &self.spec
    }

    /// Where the GA stands: state, generation, evaluations, best fitness.
    pub fn status(&self) -> pathnet_evo::engine::Status {
        self.engine.status()
    }

    /// The next genome to evaluate; `encoded_genome_bytes` is what its seed list costs on
    /// the wire, counted for the summary.
    pub fn next_evaluation(
        &mut self,
        encoded_genome_bytes: impl Fn(&Job) -> usize,
    ) -> Option<(EvalId, Job)> {
        let request = self.engine.next_evaluation()?;
        let bytes = encoded_genome_bytes(&request.job) as u64;
        self.genome_bytes_sum += bytes;
        self.genome_bytes_max = self.genome_bytes_max.max(bytes);
        self.genomes_sent += 1;
        self.counters.evaluations_issued += 1;
        Some((EvalId(request.id.0), request.job))
    }

    /// Takes the outcome of evaluation `id`. A refusal (never issued, not out, the run over,
    /// a fitness that is not finite) is counted and changes nothing else.
    pub fn complete(&mut self, id: EvalId, outcome: &Outcome) -> Result<(), Refusal> {
        let completed = self.engine.complete(pathnet_evo::EvalId(id.0), outcome);
        if completed.is_err() {
            self.counters.results_refused += 1;
        }
        completed?;
        self.counters.results_accepted += 1;
        let status = self.engine.status();
        let (generation, sum, count) = &mut self.generation_fitness;
        if *generation != status.generation {
            (*generation, *sum, *count) = (status.generation, 0.0, 0);
        }
        *sum += outcome.fitness;
        *count += 1;
        let mean_fitness = *sum / *count as f64;
        self.events.push(Progress::Evaluation(FitnessEvent {
            task: 0,
            generation: status.generation as usize,
            evaluations: status.evaluations_completed,
            fitness: outcome.fitness,
            training_accuracy: 0.0,
            best_fitness: status.best_fitness.unwrap_or(outcome.fitness),
            mean_fitness,
        }));
        if self.state() != RunState::Running {
            self.finish();
        }
        Ok(())
    }

    /// The run's summary as it stands.
    pub fn summary(&self) -> GaSummary {
        let seconds = self
            .seconds
            .unwrap_or_else(|| self.clock.elapsed().as_secs_f64());
        let run = self.engine.summary();
        GaSummary {
            experiment: self.experiment.clone(),
            kind: Kind::Neuroevolution.as_str(),
            seed: self.spec.seed,
            evaluations_per_second: if seconds > 0.0 {
                run.evaluations as f64 / seconds
            } else {
                0.0
            },
            run,
            seconds,
            genome_bytes_mean: if self.genomes_sent == 0 {
                0.0
            } else {
                self.genome_bytes_sum as f64 / self.genomes_sent as f64
            },
            genome_bytes_max: self.genome_bytes_max,
            weight_bytes: self.weight_bytes,
        }
    }

    fn finish(&mut self) {
        self.seconds = Some(self.clock.elapsed().as_secs_f64());
        self.events.push(Progress::Finished);
    }
}

impl Run for GaRun {
    fn kind(&self) -> Kind {
        Kind::Neuroevolution
    }

    fn state(&self) -> RunState {
        match self.engine.status().state {
            GaState::Running => RunState::Running,
            GaState::Solved | GaState::Exhausted => RunState::Completed,
            GaState::Stopped => RunState::Stopped,
        }
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn requeue(&mut self, id: EvalId) {
        if self.engine.requeue(pathnet_evo::EvalId(id.0)) {
            self.counters.evaluations_requeued += 1;
        }
    }

    fn stop(&mut self) {
        let cancelled = self.engine.stop();
        self.counters.evaluations_cancelled += cancelled as u64;
        if self.seconds.is_none() {
            self.finish();
        }
    }

    fn drain_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.events)
    }

    fn summary(&self) -> Summary {
        Summary::Neuroevolution(GaRun::summary(self))
    }

    fn status(&self) -> RunStatus {
        let status = self.engine.status();
        let state = self.state();
        RunStatus {
            state,
            task: 0,
            generation: status.generation,
            best_fitness: status.best_fitness,
            tasks_completed: usize::from(state != RunState::Running),
        }
    }

    fn task_names(&self) -> Vec<String> {
        vec![format!("{:?}", self.spec.ga.task).to_lowercase()]
    }
}

impl ExperimentKind for GaSpec {
    type Summary = GaSummary;

    fn memory_estimate(&self, _input_features: usize) -> Result<MemoryEstimate, SpecError> {
        Ok(GaSpec::memory_estimate(self))
    }

    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<GaSummary, RunError> {
        crate::local::run_neuroevolution(self, observe)
    }
}

impl fmt::Display for GaSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.run;
        let outcome = match r.evaluations_to_solve {
            Some(n) => format!("solved after {n} evaluations"),
            None => "not solved".to_owned(),
        };
        writeln!(
            f,
            "experiment {} (seed {}, {:?} GA, operator {:?}) finished in {:.1} s: {outcome}",
            self.experiment, self.seed, r.algorithm, r.operator, self.seconds
        )?;
        writeln!(
            f,
            "  best fitness {}; {} evaluations ({:.0}/s), {} generations, {} re-queued",
            r.best_fitness
                .map_or_else(|| "none".to_owned(), |f| format!("{f:.4}")),
            r.evaluations,
            self.evaluations_per_second,
            r.generations,
            r.requeued
        )?;
        writeln!(
            f,
            "  genomes on the wire: {:.1} bytes on average (at most {}) instead of {} bytes of weights",
            self.genome_bytes_mean, self.genome_bytes_max, self.weight_bytes
        )
    }
}
