//! `pathnet export`: a state's weights as one safetensors file for users' own tools. Only
//! reads the state directory, so it is safe next to a coordinator that is writing it.

use super::{CheckpointError, State, atomic, encode, invalid, io, read};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What an export holds: the safetensors bytes, and what they are for the user to see.
#[derive(Debug, Clone)]
pub struct Exported {
    pub bytes: Vec<u8>,
    pub tensors: usize,
    pub values: usize,
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
        other => {
            return Err(invalid(
                &path,
                format!(
                    "experiment `{}` is of kind `{}`: only `pathnet` experiments can be \
                     exported yet",
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
