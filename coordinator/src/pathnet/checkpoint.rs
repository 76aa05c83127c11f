//! The engine as a checkpoint holds it, and back: everything a resumed engine needs to go on
//! exactly as the saved one would have (parameters with their versions and frozen flags,
//! the phase, the population and tournaments, counters, summaries, the random generator),
//! split into JSON-able state and named tensors.
//!
//! Evaluations handed out when the checkpoint was taken are re-queued on restoring, with
//! their data seeds: whoever held them is gone with the coordinator that leased them, so
//! each is evaluated again and its result counted once.

use super::plan;
use super::population::{TaskRun, TaskState};
use super::report::TaskSummary;
use super::store::ParameterStore;
use super::{Engine, EngineError, TestEvaluator};
use crate::checkpoint::Tensors;
use crate::run::{Counters, RunState};
use crate::spec::ExperimentSpec;
use ndarray::ArrayD;
use pathnet_nn::pathnet::{ModuleId, PathNet, PathNetDims, PathNetError, Pathway};
use pathnet_work::{Architecture, ModuleDelta};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The engine's state but its tensors.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineState {
    state: RunState,
    pub(super) phase: usize,
    next_id: u64,
    counters: Counters,
    pub(super) summaries: Vec<TaskSummary>,
    rng: RngState,
    modules: Vec<SavedModule>,
    /// Whether parameters were kept for a later phase (tensors `kept.*`).
    kept: bool,
    /// The best pathway kept with them.
    #[serde(default)]
    kept_best: Option<Pathway>,
    /// Deltas held until their tournament resolves (`winner_only_updates`; tensors
    /// `held.T.S.<module tensor>`).
    #[serde(default)]
    held: Vec<HeldDeltas>,
    pub(super) task: TaskState,
    seconds: f64,
}

/// Where the engine's ChaCha8 generator stands, so it goes on with the same numbers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RngState {
    seed: [u8; 32],
    stream: u64,
    /// A 68-bit position, as a decimal string: JSON numbers do not carry it exactly.
    word_pos: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldDeltas {
    tournament: u64,
    slot: usize,
    /// (module, base version) of each delta, in the order it came.
    modules: Vec<(ModuleId, u64)>,
}

fn held_prefix(tournament: u64, slot: usize) -> String {
    format!("held.{tournament}.{slot}.")
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedModule {
    id: ModuleId,
    version: u64,
    frozen: bool,
}

/// The name of parameter tensor `param` of module `id` in a checkpoint or an export:
/// `layers.L.modules.M.paramI` for shared modules, `heads.T.paramI` for task heads.
pub fn tensor_name(net: &PathNet<f32>, id: ModuleId, param: usize) -> String {
    if net.is_head(id) {
        format!("heads.{}.param{param}", id.index)
    } else {
        format!("layers.{}.modules.{}.param{param}", id.layer, id.index)
    }
}

pub(super) const KEPT: &str = "kept.";

fn restore_error(message: impl std::fmt::Display) -> EngineError {
    EngineError::Restore(message.to_string())
}

impl Engine {
    /// The engine's state and tensors, for a checkpoint.
    pub fn snapshot(&self) -> Result<(EngineState, Tensors), PathNetError> {
        let net = self.store.net();
        let mut tensors = Tensors::new();
        let mut modules = Vec::new();
        for id in net.module_ids() {
            for (i, param) in net.params(id)?.iter().enumerate() {
                tensors.push((tensor_name(net, id, i), param.to_owned()));
            }
            modules.push(SavedModule {
                id,
                version: net.version(id)?,
                frozen: net.is_frozen(id)?,
            });
        }
        if let Some(kept) = &self.kept {
            for (id, params) in kept {
                for (i, param) in params.iter().enumerate() {
                    tensors.push((format!("{KEPT}{}", tensor_name(net, *id, i)), param.clone()));
                }
            }
        }
        let mut held = Vec::new();
        for (&(tournament, slot), deltas) in &self.held {
            let prefix = held_prefix(tournament, slot);
            for delta in deltas {
                for (i, tensor) in delta.tensors.iter().enumerate() {
                    let name = format!("{prefix}{}", tensor_name(net, delta.id, i));
                    tensors.push((name, tensor.clone()));
                }
            }
            held.push(HeldDeltas {
                tournament,
                slot,
                modules: deltas.iter().map(|d| (d.id, d.base_version)).collect(),
            });
        }
        let state = EngineState {
            state: self.state,
            phase: self.phase,
            next_id: self.next_id,
            counters: self.counters.clone(),
            summaries: self.summaries.clone(),
            rng: RngState {
                seed: self.rng.get_seed(),
                stream: self.rng.get_stream(),
                word_pos: self.rng.get_word_pos().to_string(),
            },
            modules,
            kept: self.kept.is_some(),
            kept_best: self.kept_best.clone(),
            held,
            task: self.task.save(),
            seconds: self.clock.elapsed().as_secs_f64(),
        };
        Ok((state, tensors))
    }

    /// The engine a checkpoint of an experiment on `spec` saved, resumed. Evaluations that
    /// were handed out are re-queued (and counted so: `evaluations_requeued`); returns the
    /// engine and how many there were.
    ///
    /// # Errors
    /// [`EngineError::Restore`] naming what in the checkpoint does not fit the spec or itself.
    pub fn restore(
        experiment: impl Into<String>,
        spec: ExperimentSpec,
        input_features: usize,
        evaluator: Option<Box<dyn TestEvaluator>>,
        saved: EngineState,
        tensors: Tensors,
    ) -> Result<(Self, usize), EngineError> {
        spec.validate()?;
        let p = &spec.pathnet;
        let architecture = Architecture {
            dims: PathNetDims::new(p.layers, p.modules_per_layer, p.max_active)?,
            module_units: p.module_units,
            input_features,
            head_classes: vec![2; spec.tasks.len()],
        };
        let mut store = ParameterStore::new(architecture.build(spec.seed)?)?;
        let mut tensors: HashMap<String, ArrayD<f32>> = tensors.into_iter().collect();
        let ids: Vec<ModuleId> = store.net().module_ids().collect();
        if saved.modules.len() != ids.len() {
            return Err(restore_error(format!(
                "`modules`: {} saved, the spec's network has {}",
                saved.modules.len(),
                ids.len()
            )));
        }
        let mut take = |net: &PathNet<f32>, id: ModuleId, prefix: &str| {
            (0..net.params(id)?.len())
                .map(|i| {
                    let name = format!("{prefix}{}", tensor_name(net, id, i));
                    tensors
                        .remove(&name)
                        .ok_or_else(|| restore_error(format!("tensor `{name}` is missing")))
                })
                .collect::<Result<Vec<_>, EngineError>>()
        };
        for module in &saved.modules {
            if !ids.contains(&module.id) {
                return Err(restore_error(format!(
                    "module {} is not in the spec's network",
                    module.id
                )));
            }
            let params = take(store.net(), module.id, "")?;
            store
                .load(module.id, &params, module.version, module.frozen)
                .map_err(|err| restore_error(format!("module {}: {err}", module.id)))?;
        }
        let kept = if saved.kept {
            let net = store.net();
            Some(
                ids.iter()
                    .map(|&id| Ok((id, take(net, id, KEPT)?)))
                    .collect::<Result<Vec<_>, EngineError>>()?,
            )
        } else {
            None
        };
        let mut held = BTreeMap::new();
        for entry in &saved.held {
            let prefix = held_prefix(entry.tournament, entry.slot);
            let mut deltas = Vec::with_capacity(entry.modules.len());
            for &(id, base_version) in &entry.modules {
                if !ids.contains(&id) {
                    return Err(restore_error(format!(
                        "`held` tournament {} slot {}: module {id} is not in the spec's network",
                        entry.tournament, entry.slot
                    )));
                }
                let tensors = take(store.net(), id, &prefix)?;
                deltas.push(ModuleDelta {
                    id,
                    base_version,
                    tensors,
                });
            }
            held.insert((entry.tournament, entry.slot), deltas);
        }
        if let Some(pathway) = &saved.kept_best {
            pathway
                .validate(&architecture.dims)
                .map_err(|err| restore_error(format!("`kept_best`: {err}")))?;
        }
        let plan = plan::plan(&spec, &architecture.dims)?;
        if saved.phase >= plan.len() {
            return Err(restore_error(format!(
                "`phase` = {}: the spec has {} phases",
                saved.phase,
                plan.len()
            )));
        }
        let word_pos: u128 = saved.rng.word_pos.parse().map_err(|_| {
            restore_error(format!(
                "`rng.word_pos` = {}: not a number",
                pathnet_proto::quote(&saved.rng.word_pos)
            ))
        })?;
        let mut rng = ChaCha8Rng::from_seed(saved.rng.seed);
        rng.set_stream(saved.rng.stream);
        rng.set_word_pos(word_pos);
        let (task, requeued) =
            TaskRun::restore(saved.task, &architecture.dims).map_err(restore_error)?;
        if task.index != plan[saved.phase].task {
            return Err(restore_error(format!(
                "`task.index` = {}: phase {} learns task {}",
                task.index, saved.phase, plan[saved.phase].task
            )));
        }
        let mut counters = saved.counters;
        counters.evaluations_requeued += requeued as u64;
        let seconds = Duration::try_from_secs_f64(saved.seconds).unwrap_or_default();
        let engine = Engine {
            experiment: experiment.into(),
            spec,
            architecture,
            store,
            rng,
            evaluator,
            plan,
            phase: saved.phase,
            kept,
            kept_best: saved.kept_best,
            held,
            task,
            summaries: saved.summaries,
            state: saved.state,
            next_id: saved.next_id,
            counters,
            events: Vec::new(),
            clock: Instant::now()
                .checked_sub(seconds)
                .unwrap_or_else(Instant::now),
        };
        Ok((engine, requeued))
    }
}
