//! `pathnet export`: a state's weights as one safetensors file for users' own tools. Only
//! reads the state directory, so it is safe next to a coordinator that is writing it.

use super::{CheckpointError, State, atomic, encode, invalid, io, read};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What an export holds: the safetensors bytes, and what they are for the user to see.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The safetensors file, ready to write.
    pub bytes: Vec<u8>,
    /// Tensors in it.
    pub tensors: usize,
    /// Numbers in all tensors together (each an f32).
    pub values: usize,
    /// The file's metadata header: the experiment and what the tensors are.
    pub metadata: BTreeMap<String, String>,
}

/// How often a read is tried again when a running coordinator replaced the tensors file
/// between the manifest's read and the tensors' (each save removes the previous file).
const READ_TRIES: usize = 5;

/// The state in `dir` exported: the best pathway's modules and the task heads, or every
/// module with `all_modules`; see [`crate::pathnet::export`].
///
/// # Errors
/// No state in `dir`, a state that cannot be read, a kind that has no export yet, or no best
/// pathway yet (without `all_modules`); the message names which.
pub fn export(dir: &Path, all_modules: bool) -> Result<Exported, CheckpointError> {
    let state = read_settled(dir)?;
    let path = dir.join(super::MANIFEST);
    let Some(experiment) = state.manifest.experiment else {
        return Err(invalid(
            &path,
            "no experiment was saved in it: nothing to export",
        ));
    };
    let (tensors, metadata) = match experiment.kind.as_str() {
        "pathnet" => {
            let spec = serde_json::from_value(experiment.spec)
                .map_err(|err| invalid(&path, format!("`experiment.spec`: {err}")))?;
            let run = serde_json::from_value(experiment.run)
                .map_err(|err| invalid(&path, format!("`experiment.run`: {err}")))?;
            crate::pathnet::export(&experiment.id, &spec, &run, state.tensors, all_modules)
                .map_err(|err| invalid(&path, err))?
        }
        "a3c" => {
            let spec: crate::spec::A3cSpec = serde_json::from_value(experiment.spec)
                .map_err(|err| invalid(&path, format!("`experiment.spec`: {err}")))?;
            a3c_export(&experiment.id, &spec, &experiment.run, state.tensors)
                .map_err(|err| invalid(&path, err))?
        }
        other => {
            return Err(invalid(
                &path,
                format!(
                    "experiment `{}` is of kind `{}`: only `pathnet` and `a3c` experiments \
                     can be exported yet",
                    experiment.id,
                    pathnet_proto::quote(other)
                ),
            ));
        }
    };
    let values = tensors.iter().map(|(_, t)| t.len()).sum();
    let header: HashMap<String, String> = metadata.clone().into_iter().collect();
    let bytes = encode(&tensors, header).map_err(|err| invalid(&path, err))?;
    Ok(Exported {
        bytes,
        tensors: tensors.len(),
        values,
        metadata,
    })
}

/// An A3C state's policy: its parameters (`a3c.parameters.NNNN`, in the policy's order),
/// with the environment, the policy's settings and the updates they hold as metadata.
fn a3c_export(
    experiment: &str,
    spec: &crate::spec::A3cSpec,
    run: &serde_json::Value,
    tensors: super::Tensors,
) -> Result<(super::Tensors, BTreeMap<String, String>), String> {
    let tensors: super::Tensors = tensors
        .into_iter()
        .filter(|(name, _)| name.starts_with("a3c.parameters."))
        .collect();
    if tensors.is_empty() {
        return Err("no `a3c.parameters.*` tensors in the state".into());
    }
    let policy = serde_json::to_string(&spec.a3c.policy).map_err(|err| err.to_string())?;
    let server = &run["server"];
    let mut meta = BTreeMap::new();
    meta.insert("format".into(), "pathnet-export".into());
    meta.insert("format_version".into(), "1".into());
    meta.insert("kind".into(), "a3c".into());
    meta.insert("experiment".into(), experiment.to_owned());
    meta.insert("seed".into(), spec.seed.to_string());
    meta.insert("env".into(), spec.a3c.env.clone());
    meta.insert("policy".into(), policy);
    meta.insert("updates_applied".into(), server["version"].to_string());
    meta.insert("env_steps".into(), server["env_steps"].to_string());
    Ok((tensors, meta))
}

/// The state in `dir`, read again while a running coordinator's save pulled the tensors
/// file from under the read.
fn read_settled(dir: &Path) -> Result<State, CheckpointError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match read(dir) {
            Ok(Some(state)) => return Ok(state),
            Ok(None) => {
                return Err(invalid(
                    dir,
                    "no coordinator state in it (no state.json): nothing to export",
                ));
            }
            Err(CheckpointError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && tries < READ_TRIES => {}
            Err(err) => return Err(err),
        }
    }
}

/// Writes an export to `out` atomically (a temporary file beside it, then a rename), so a
/// tool never reads a half-written file.
pub fn write_export(out: &Path, exported: &Exported) -> Result<(), CheckpointError> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| invalid(out, "not a file name"))?;
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    atomic::write(dir, name, &exported.bytes).map_err(io(out))
}
