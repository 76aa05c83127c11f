//! The in-process [`SharedParameters`]: the master copy of the parameters, updated Hogwild
//! style by many workers with shared RMSProp statistics, as in A3C, plus the bookkeeping the
//! coordinator reports (versions, staleness, steps, episode returns) and the stop rule.
//!
//! Nothing on the update path takes a lock: parameters and RMSProp statistics are
//! [`AtomicTensors`] and counters are atomics. Only pushes that carry finished episodes take a
//! short mutex around the window of recent returns. Concurrent updates of one element may
//! lose one of them, which Hogwild accepts; with one worker everything is deterministic.

use crate::config::{A3cConfig, StopConfig};
use crate::error::RlError;
use crate::shared_parameters::{GradientUpdate, PushOutcome, SharedParameters};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use pathnet_nn::{AtomicTensors, RmsProp, RmsPropConfig};
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicU8, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex};

/// What the server needs from an experiment's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The shared optimiser; `lr` is the starting rate when annealing.
    pub rmsprop: RmsPropConfig,
    /// Anneal the rate linearly to 0 at `stop.max_env_steps`.
    pub anneal_learning_rate: bool,
    /// Pushes computed against parameters more than this many versions old are dropped.
    pub max_staleness: u64,
    /// When training ends; checked on every push.
    pub stop: StopConfig,
}

impl From<&A3cConfig> for ServerConfig {
    fn from(c: &A3cConfig) -> Self {
        ServerConfig {
            rmsprop: c.rmsprop(),
            anneal_learning_rate: c.anneal_learning_rate,
            max_staleness: c.max_staleness,
            stop: c.stop.clone(),
        }
    }
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The mean return over the last `stop.window` episodes reached `stop.target_return`.
    TargetReturn,
    /// `stop.max_env_steps` environment steps were taken.
    EnvStepBudget,
    /// [`ParameterServer::request_stop`] was called.
    Requested,
}

impl StopReason {
    const NONE: u8 = 0;

    fn code(self) -> u8 {
        match self {
            StopReason::TargetReturn => 1,
            StopReason::EnvStepBudget => 2,
            StopReason::Requested => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(StopReason::TargetReturn),
            2 => Some(StopReason::EnvStepBudget),
            3 => Some(StopReason::Requested),
            _ => None,
        }
    }
}

/// A snapshot of the counters. Under concurrent pushes the fields are each current but not
/// necessarily from the same instant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServerStats {
    /// Updates applied so far; the version of the parameters.
    pub version: u64,
    /// Updates applied so far: the same number as `version`, under the name worker reports use.
    pub updates_applied: u64,
    /// Updates dropped for being more than `max_staleness` versions old.
    pub dropped_stale: u64,
    /// Updates that arrived after the stop rule held.
    pub dropped_after_stop: u64,
    /// Environment steps reported by every push, applied or dropped.
    pub env_steps: u64,
    /// Episodes finished, over every push.
    pub episodes: u64,
    /// Mean undiscounted return of the last `window` episodes (fewer while fewer finished).
    pub mean_return: Option<f64>,
    /// Staleness (versions between fetch and push) over every push received.
    pub max_staleness: u64,
    /// Mean staleness over every push received; 0 before the first.
    pub mean_staleness: f64,
    /// The learning rate the next update would use.
    pub learning_rate: f64,
    /// Why training stopped; `None` while it goes on.
    pub stop: Option<StopReason>,
}

/// A parameter server's whole state, for a checkpoint: [`ParameterServer::snapshot`] takes
/// it, [`ParameterServer::restore`] builds a server that goes on from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSnapshot {
    /// The global parameters, in the policy's parameter order.
    pub parameters: Vec<ArrayD<f32>>,
    /// The shared RMSProp statistics, in parameter order.
    pub rmsprop_statistics: Vec<ArrayD<f32>>,
    /// The counters and episode window at `counters.version`.
    pub counters: ServerCounters,
}

/// A parameter server's counters and episode window. The learning rate's schedule is a
/// function of `env_steps`, so it resumes where it was.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerCounters {
    /// Updates applied: every one of them is in the snapshot's parameters and statistics.
    pub version: u64,
    /// Environment steps reported by every push; the annealed learning rate follows it.
    pub env_steps: u64,
    /// Episodes finished.
    pub episodes: u64,
    /// Updates dropped as too stale.
    pub dropped_stale: u64,
    /// Updates dropped because the stop rule held.
    pub dropped_after_stop: u64,
    /// Pushes received, applied or dropped (the denominator of the mean staleness).
    pub pushes: u64,
    /// Staleness summed over every push.
    pub staleness_sum: u64,
    /// The largest staleness of any push.
    pub staleness_max: u64,
    /// Why training stopped, if it has: a restored server stays stopped.
    pub stop: Option<StopReason>,
    /// The returns of the stop rule's window, oldest first.
    pub recent_returns: Vec<f64>,
}

#[derive(Debug, Default)]
struct EpisodeWindow {
    recent: VecDeque<f64>,
}

/// The in-process shared parameters: lock-free Hogwild updates with shared RMSProp, the
/// staleness bound and the stop rule. See the module docs.
#[derive(Debug)]
pub struct ParameterServer {
    config: ServerConfig,
    params: AtomicTensors<f32>,
    rmsprop: RmsProp<f32>,
    version: AtomicU64,
    env_steps: AtomicU64,
    episodes: AtomicU64,
    dropped_stale: AtomicU64,
    dropped_after_stop: AtomicU64,
    pushes: AtomicU64,
    staleness_sum: AtomicU64,
    staleness_max: AtomicU64,
    stop: AtomicU8,
    window: Mutex<EpisodeWindow>,
}

impl ParameterServer {
    /// A server whose parameters start as copies of `initial` (e.g. a fresh policy's
    /// `params()`), with zero RMSProp statistics.
    pub fn new(config: ServerConfig, initial: &[ArrayViewD<'_, f32>]) -> Result<Self, RlError> {
        config.rmsprop.validate().map_err(|e| {
            let field = match e.field {
                "lr" => "learning_rate",
                "alpha" => "rmsprop_alpha",
                _ => "rmsprop_eps",
            };
            RlError::config(field, e.value, e.expected)
        })?;
        config.stop.validate()?;
        let params = AtomicTensors::from_views(initial);
        let rmsprop =
            RmsProp::new(config.rmsprop, params.shapes()).expect("settings validated just above");
        Ok(ParameterServer {
            config,
            params,
            rmsprop,
            version: AtomicU64::new(0),
            env_steps: AtomicU64::new(0),
            episodes: AtomicU64::new(0),
            dropped_stale: AtomicU64::new(0),
            dropped_after_stop: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            staleness_sum: AtomicU64::new(0),
            staleness_max: AtomicU64::new(0),
            stop: AtomicU8::new(StopReason::NONE),
            window: Mutex::new(EpisodeWindow::default()),
        })
    }

    /// The settings it runs under.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Every parameter tensor's shape, in parameter order.
    pub fn shapes(&self) -> &[Vec<usize>] {
        self.params.shapes()
    }

    /// Updates applied so far: the parameters' version, which pushes compare staleness to.
    pub fn version(&self) -> u64 {
        self.version.load(Relaxed)
    }

    /// A copy of the current parameters.
    pub fn parameters(&self) -> Vec<ArrayD<f32>> {
        self.params.to_arrays()
    }

    /// A copy of the current parameter tensors at `indices` (each below `shapes().len()`).
    pub fn parameters_at(&self, indices: &[usize]) -> Vec<ArrayD<f32>> {
        indices.iter().map(|&i| self.params.to_array(i)).collect()
    }

    /// The shared RMSProp statistics (mean squared gradients), in parameter order.
    pub fn rmsprop_statistics(&self) -> Vec<ArrayD<f32>> {
        self.rmsprop.statistics().to_arrays()
    }

    /// Why training stopped; `None` while it goes on.
    pub fn stop_reason(&self) -> Option<StopReason> {
        StopReason::from_code(self.stop.load(Relaxed))
    }

    /// The server's state, taken while pushes may be applied. The version is read first
    /// (acquiring what every counted update wrote before it was counted), then the
    /// statistics and parameters are copied: every update counted in `version` is in the
    /// copies; an update in flight may be partly in them and is not counted (Hogwild takes
    /// such a torn update as it takes racing writes).
    pub fn snapshot(&self) -> ServerSnapshot {
        let version = self.version.load(Acquire);
        let counters = ServerCounters {
            version,
            env_steps: self.env_steps.load(Relaxed),
            episodes: self.episodes.load(Relaxed),
            dropped_stale: self.dropped_stale.load(Relaxed),
            dropped_after_stop: self.dropped_after_stop.load(Relaxed),
            pushes: self.pushes.load(Relaxed),
            staleness_sum: self.staleness_sum.load(Relaxed),
            staleness_max: self.staleness_max.load(Relaxed),
            stop: self.stop_reason(),
            recent_returns: self.lock_window().recent.iter().copied().collect(),
        };
        ServerSnapshot {
            rmsprop_statistics: self.rmsprop.statistics().to_arrays(),
            parameters: self.params.to_arrays(),
            counters,
        }
    }

    /// A server that goes on from `snapshot` under `config`.
    ///
    /// # Errors
    /// The settings are invalid, or the snapshot does not fit itself (statistics of other
    /// shapes than the parameters, more returns than the window holds, non-finite values);
    /// the error names what.
    pub fn restore(config: ServerConfig, snapshot: &ServerSnapshot) -> Result<Self, RlError> {
        let views: Vec<ArrayViewD<'_, f32>> =
            snapshot.parameters.iter().map(|p| p.view()).collect();
        let server = ParameterServer::new(config, &views)?;
        let stats = &snapshot.rmsprop_statistics;
        if stats.len() != views.len() {
            return Err(RlError::TensorCount {
                what: "RMSProp statistics",
                expected: views.len(),
                got: stats.len(),
            });
        }
        for (index, (s, p)) in stats.iter().zip(&snapshot.parameters).enumerate() {
            if s.shape() != p.shape() {
                return Err(RlError::Shape {
                    what: "RMSProp statistics",
                    index,
                    expected: p.shape().to_vec(),
                    got: s.shape().to_vec(),
                });
            }
        }
        let non_finite =
            |ts: &[ArrayD<f32>]| ts.iter().position(|t| t.iter().any(|v| !v.is_finite()));
        for (field, tensors) in [
            ("parameters", &snapshot.parameters),
            ("rmsprop_statistics", stats),
        ] {
            if let Some(index) = non_finite(tensors) {
                return Err(RlError::config(
                    field,
                    format!("tensor {index} with a non-finite value"),
                    "finite values",
                ));
            }
        }
        let c = &snapshot.counters;
        if c.recent_returns.len() > server.config.stop.window
            || c.recent_returns.iter().any(|r| !r.is_finite())
        {
            return Err(RlError::config(
                "recent_returns",
                format!("{} returns", c.recent_returns.len()),
                format!(
                    "at most `window` = {} finite returns",
                    server.config.stop.window
                ),
            ));
        }
        let stat_views: Vec<ArrayViewD<'_, f32>> = stats.iter().map(|s| s.view()).collect();
        server.rmsprop.statistics().store_from(&stat_views);
        server.version.store(c.version, Relaxed);
        server.env_steps.store(c.env_steps, Relaxed);
        server.episodes.store(c.episodes, Relaxed);
        server.dropped_stale.store(c.dropped_stale, Relaxed);
        server
            .dropped_after_stop
            .store(c.dropped_after_stop, Relaxed);
        server.pushes.store(c.pushes, Relaxed);
        server.staleness_sum.store(c.staleness_sum, Relaxed);
        server.staleness_max.store(c.staleness_max, Relaxed);
        if let Some(reason) = c.stop {
            server.set_stop(reason);
        }
        server.lock_window().recent = c.recent_returns.iter().copied().collect();
        Ok(server)
    }

    /// Ends training: every later push is dropped and answered with `stop`.
    pub fn request_stop(&self) {
        self.set_stop(StopReason::Requested);
    }

    /// A snapshot of the counters, for reports and dashboards.
    pub fn stats(&self) -> ServerStats {
        let pushes = self.pushes.load(Relaxed);
        let version = self.version.load(Relaxed);
        ServerStats {
            version,
            updates_applied: version,
            dropped_stale: self.dropped_stale.load(Relaxed),
            dropped_after_stop: self.dropped_after_stop.load(Relaxed),
            env_steps: self.env_steps.load(Relaxed),
            episodes: self.episodes.load(Relaxed),
            mean_return: mean(&self.lock_window().recent),
            max_staleness: self.staleness_max.load(Relaxed),
            mean_staleness: if pushes == 0 {
                0.0
            } else {
                self.staleness_sum.load(Relaxed) as f64 / pushes as f64
            },
            learning_rate: self.learning_rate(self.env_steps.load(Relaxed)),
            stop: self.stop_reason(),
        }
    }

    /// The rate after `env_steps` steps: linearly annealed to 0 at `stop.max_env_steps`.
    fn learning_rate(&self, env_steps: u64) -> f64 {
        let lr = self.config.rmsprop.lr;
        if !self.config.anneal_learning_rate {
            return lr;
        }
        let max = self.config.stop.max_env_steps as f64;
        lr * (1.0 - env_steps as f64 / max).max(0.0)
    }

    fn set_stop(&self, reason: StopReason) {
        // The first reason sticks.
        let _ = self
            .stop
            .compare_exchange(StopReason::NONE, reason.code(), Relaxed, Relaxed);
    }

    fn lock_window(&self) -> std::sync::MutexGuard<'_, EpisodeWindow> {
        // A panic elsewhere while holding the lock leaves a valid deque; keep going.
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records finished episodes; returns the window mean once the window is full.
    fn record_episodes(&self, returns: &[f64]) -> Option<f64> {
        if returns.is_empty() {
            return None;
        }
        self.episodes.fetch_add(returns.len() as u64, Relaxed);
        let window = self.config.stop.window;
        let mut w = self.lock_window();
        for &r in returns {
            if w.recent.len() == window {
                w.recent.pop_front();
            }
            w.recent.push_back(r);
        }
        (w.recent.len() == window)
            .then(|| mean(&w.recent))
            .flatten()
    }

    fn check(&self, update: &GradientUpdate) -> Result<(), RlError> {
        let shapes = self.params.shapes();
        if update.grads.len() != shapes.len() {
            return Err(RlError::TensorCount {
                what: "gradient update",
                expected: shapes.len(),
                got: update.grads.len(),
            });
        }
        for (index, (g, shape)) in update.grads.iter().zip(shapes).enumerate() {
            if g.shape() != shape.as_slice() {
                return Err(RlError::Shape {
                    what: "gradient update",
                    index,
                    expected: shape.clone(),
                    got: g.shape().to_vec(),
                });
            }
            // A fold rather than `any`: no early exit, so it vectorises.
            let finite = match g.as_slice_memory_order() {
                Some(s) => s.iter().fold(true, |ok, v| ok & v.is_finite()),
                None => g.iter().all(|v| v.is_finite()),
            };
            if !finite {
                return Err(RlError::NonFiniteGradient { index });
            }
        }
        if let Some(r) = update.episode_returns.iter().find(|r| !r.is_finite()) {
            return Err(RlError::NonFiniteReturn { value: *r });
        }
        Ok(())
    }
}

fn mean(values: &VecDeque<f64>) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

impl SharedParameters for ParameterServer {
    fn fetch(&self, into: &mut [ArrayViewMutD<'_, f32>]) -> Result<u64, RlError> {
        let shapes = self.params.shapes();
        if into.len() != shapes.len() {
            return Err(RlError::TensorCount {
                what: "parameter fetch",
                expected: shapes.len(),
                got: into.len(),
            });
        }
        if let Some(index) = into
            .iter()
            .zip(shapes)
            .position(|(t, s)| t.shape() != s.as_slice())
        {
            return Err(RlError::Shape {
                what: "parameter fetch",
                index,
                expected: shapes[index].clone(),
                got: into[index].shape().to_vec(),
            });
        }
        // The version is read first, so parameters may be newer than it says, never older:
        // staleness is over- rather than underestimated.
        let version = self.version.load(Relaxed);
        self.params.load_into(into);
        Ok(version)
    }

    fn push(&self, update: GradientUpdate) -> Result<PushOutcome, RlError> {
        self.check(&update)?;
        let current = self.version.load(Relaxed);
        if update.base_version > current {
            return Err(RlError::FutureVersion {
                base_version: update.base_version,
                current,
            });
        }
        let staleness = current - update.base_version;
        self.pushes.fetch_add(1, Relaxed);
        self.staleness_sum.fetch_add(staleness, Relaxed);
        self.staleness_max.fetch_max(staleness, Relaxed);
        let env_steps = self.env_steps.fetch_add(update.env_steps, Relaxed) + update.env_steps;
        let window_mean = self.record_episodes(&update.episode_returns);

        if env_steps >= self.config.stop.max_env_steps {
            self.set_stop(StopReason::EnvStepBudget);
        }
        if let (Some(mean), Some(target)) = (window_mean, self.config.stop.target_return)
            && mean >= target
        {
            self.set_stop(StopReason::TargetReturn);
        }
        // Once the rule holds nothing more is applied, so the final parameters are those the
        // deciding episodes were played with (up to updates already in flight).
        let applied = if self.stop_reason().is_some() {
            self.dropped_after_stop.fetch_add(1, Relaxed);
            false
        } else if staleness > self.config.max_staleness {
            self.dropped_stale.fetch_add(1, Relaxed);
            false
        } else {
            let lr = self.learning_rate(env_steps);
            let rmsprop = RmsPropConfig {
                lr,
                ..self.config.rmsprop
            };
            // Sharing the statistics, only the rate differs from the server's optimiser.
            RmsProp::with_statistics(rmsprop, Arc::clone(self.rmsprop.statistics()))
                .expect("validated settings; the annealed rate is positive before the budget")
                .step_shared(&self.params, &update.grads);
            // Released after the update's writes: a snapshot that acquires this count
            // copies them (see `snapshot`).
            self.version.fetch_add(1, Release);
            true
        };
        Ok(PushOutcome {
            applied,
            stop: self.stop_reason().is_some(),
            version: self.version.load(Relaxed),
        })
    }
}
