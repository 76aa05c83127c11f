//! A PathNet checkpoint as weights for users' own tools: the best pathway's modules and
//! every task head, or every module, with metadata saying which pathway, task and arm they
//! are, so that a user can rebuild the network's forward pass without this code.

use super::checkpoint::{EngineState, KEPT};
use super::plan::{self, Start};
use crate::checkpoint::Tensors;
use crate::spec::ExperimentSpec;
use pathnet_nn::pathnet::PathNetDims;
use std::collections::BTreeMap;

/// The pathway an export is about: the best one of a task as one arm learnt it.
struct Chosen {
    task: usize,
    arm: super::Arm,
    pathway: Vec<Vec<usize>>,
    train_accuracy: f64,
}

/// The tensors of a PathNet checkpoint to export and their metadata (string pairs, as the
/// safetensors header holds them).
///
/// Without `all_modules`: the modules of the best pathway of the phase whose parameters the
/// state holds (the current phase once one of its tournaments was resolved; else the phase
/// before, when the current one started by freezing its best pathway), and every task head.
///
/// # Errors
/// The state does not fit its spec, or (without `all_modules`) no pathway has won yet.
pub fn export(
    experiment: &str,
    spec: &ExperimentSpec,
    state: &EngineState,
    tensors: Tensors,
    all_modules: bool,
) -> Result<(Tensors, BTreeMap<String, String>), String> {
    let p = &spec.pathnet;
    let dims = PathNetDims::new(p.layers, p.modules_per_layer, p.max_active)
        .map_err(|err| format!("`experiment.spec.pathnet`: {err}"))?;
    let plan = plan::plan(spec, &dims).map_err(|err| format!("`experiment.spec`: {err}"))?;
    let phase = plan.get(state.phase).ok_or_else(|| {
        format!(
            "`experiment.run.phase` = {}: the spec has {} phases",
            state.phase,
            plan.len()
        )
    })?;
    let chosen = match (&state.task.best, state.summaries.last()) {
        (Some((accuracy, pathway)), _) => Some(Chosen {
            task: state.task.index,
            arm: phase.arm,
            pathway: pathway.layers().to_vec(),
            train_accuracy: *accuracy,
        }),
        (None, Some(last)) if phase.start == Start::Transfer => Some(Chosen {
            task: last.task,
            arm: last.arm,
            pathway: last.best_pathway.clone(),
            train_accuracy: last.best_train_accuracy,
        }),
        (None, _) => None,
    };
    if let Some(chosen) = &chosen {
        pathnet_nn::pathnet::Pathway::new(chosen.pathway.clone(), &dims)
            .map_err(|err| format!("the saved best pathway: {err}"))?;
    }
    let keep = |name: &str| -> bool {
        if name.starts_with(KEPT) {
            return false;
        }
        if all_modules || name.starts_with("heads.") {
            return true;
        }
        let Some(chosen) = &chosen else { return false };
        module_of(name).is_some_and(|(layer, module)| {
            chosen
                .pathway
                .get(layer)
                .is_some_and(|active| active.contains(&module))
        })
    };
    if chosen.is_none() && !all_modules {
        let task = &spec.tasks[phase.task].name;
        return Err(format!(
            "no pathway of task `{task}` ({}) has won a tournament yet, so there is no best \
             pathway to export: export again once one has, or export every module with \
             --all-modules",
            phase.arm
        ));
    }
    let tensors: Tensors = tensors.into_iter().filter(|(name, _)| keep(name)).collect();
    let mut modules: Vec<String> = tensors
        .iter()
        .filter_map(|(name, _)| name.rsplit_once(".param").map(|(m, _)| m.to_owned()))
        .collect();
    modules.dedup();
    let json = |v: serde_json::Value| v.to_string();
    let mut meta = BTreeMap::new();
    meta.insert("format".into(), "pathnet-export".into());
    meta.insert("format_version".into(), "1".into());
    meta.insert("kind".into(), "pathnet".into());
    meta.insert("experiment".into(), experiment.to_owned());
    meta.insert("seed".into(), spec.seed.to_string());
    meta.insert("layers".into(), p.layers.to_string());
    meta.insert("modules_per_layer".into(), p.modules_per_layer.to_string());
    meta.insert("module_units".into(), p.module_units.to_string());
    let task_names: Vec<&str> = spec.tasks.iter().map(|t| t.name.as_str()).collect();
    meta.insert("tasks".into(), json(serde_json::json!(task_names)));
    meta.insert("modules".into(), json(serde_json::json!(modules)));
    meta.insert("all_modules".into(), all_modules.to_string());
    if let Some(chosen) = chosen {
        meta.insert("task".into(), chosen.task.to_string());
        meta.insert("task_name".into(), spec.tasks[chosen.task].name.clone());
        meta.insert("arm".into(), chosen.arm.to_string());
        meta.insert("pathway".into(), json(serde_json::json!(chosen.pathway)));
        meta.insert(
            "best_train_accuracy".into(),
            chosen.train_accuracy.to_string(),
        );
    }
    Ok((tensors, meta))
}

/// `(layer, module)` of a shared module's tensor name, `layers.L.modules.M.paramI`.
fn module_of(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("layers.")?;
    let (layer, rest) = rest.split_once(".modules.")?;
    let (module, _) = rest.split_once('.')?;
    Some((layer.parse().ok()?, module.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::module_of;

    #[test]
    fn module_names_parse() {
        assert_eq!(module_of("layers.2.modules.13.param1"), Some((2, 13)));
        assert_eq!(module_of("heads.0.param0"), None);
        assert_eq!(module_of("kept.layers.0.modules.1.param0"), None);
    }
}
