//! Runs an engine in this process: `threads` workers pull evaluations, execute them against
//! one shared [`RebuildCache`] and hand the results back.
//!
//! With one thread a run is a pure function of its configuration. With several, results
//! arrive in an order that depends on timing, and so does the run (as on a cluster).

use crate::EvoError;
use crate::config::SafeMutationConfig;
use crate::engine::{GaEngine, Summary};
use crate::executor::evaluate;
use crate::rebuild::RebuildCache;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The summary of an in-process run and how long it took.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The engine's summary at the end.
    pub summary: Summary,
    /// Wall-clock time of the run, from starting the workers to the last of them finishing.
    pub wall: Duration,
}

/// Runs `config` to its end on `threads` worker threads (at least 1), with a rebuild cache
/// of `cache_capacity` genomes. Sets `pathnet_nn::set_threads(1)`: the workers are the
/// parallelism, and single-threaded kernels keep rebuilds bit-identical.
pub fn run(
    config: &SafeMutationConfig,
    threads: usize,
    cache_capacity: usize,
) -> Result<RunReport, EvoError> {
    let engine = GaEngine::new(config)?;
    pathnet_nn::set_threads(1);
    let started = Instant::now();
    let shared = Shared {
        engine: Mutex::new(engine),
        changed: Condvar::new(),
        failure: Mutex::new(None),
    };
    let cache = RebuildCache::new(cache_capacity);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| work(&shared, &cache));
        }
    });
    if let Some(e) = shared
        .failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(e);
    }
    let engine = shared
        .engine
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok(RunReport {
        summary: engine.summary(),
        wall: started.elapsed(),
    })
}

struct Shared {
    engine: Mutex<GaEngine>,
    /// Signalled whenever a result is handed back or the run ends.
    changed: Condvar,
    failure: Mutex<Option<EvoError>>,
}

fn work(shared: &Shared, cache: &RebuildCache) {
    loop {
        let request = {
            let mut engine = shared.engine.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if !engine.is_running() {
                    return;
                }
                if let Some(request) = engine.next_evaluation() {
                    break request;
                }
                // Nothing to start until another worker's result comes back.
                engine = shared
                    .changed
                    .wait(engine)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let outcome = evaluate(&request.job, cache);
        let mut engine = shared.engine.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(outcome) => {
                // A refusal here means the run ended while this evaluation was out; there is
                // nothing left to do with its result.
                let _ = engine.complete(request.id, &outcome);
            }
            Err(e) => {
                shared
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                engine.stop();
            }
        }
        shared.changed.notify_all();
    }
}
