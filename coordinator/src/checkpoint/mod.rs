//! The coordinator's state on disk, so that a coordinator killed at any moment resumes its
//! experiment where the last checkpoint left it: a small versioned JSON manifest
//! (`state.json`) and a safetensors file with every tensor, which the manifest names.
//!
//! A write is atomic: the tensors go to a new file first, then the manifest naming it
//! replaces the old one (each through a temporary file, fsync, rename and an fsync of the
//! directory). The manifest's rename is the commit point, so a crash at any moment leaves
//! the old state or the new one, never a mix; what a crash leaves half-written is ignored
//! and removed. Networking-free: the server decides when to write, each kind what its run
//! is on disk. Why these formats: docs/decisions/0004-checkpoint-format.md.

mod atomic;
mod diff;
mod export;
mod tensors;

pub use diff::first_difference;
pub use export::{Exported, export, write_export};
pub use tensors::{Tensors, decode, encode};

use crate::lease::LeaseCounters;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `format` says in every manifest.
pub const FORMAT: &str = "pathnet-coordinator-state";
/// The manifest layout this coordinator writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name in the state directory.
pub const MANIFEST: &str = "state.json";
const TENSORS_PREFIX: &str = "tensors-";
const TENSORS_SUFFIX: &str = ".safetensors";

/// The manifest: everything but tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`]: tells a state file from other JSON.
    pub format: String,
    /// The manifest's layout, [`FORMAT_VERSION`]; another version is refused on reading.
    pub format_version: u32,
    /// How many times a coordinator has started on this directory; part of every agent and
    /// work id it hands out, so that no id of an earlier run can match a later one.
    pub incarnation: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub written_unix_ms: u64,
    /// The number the next experiment's id gets.
    pub next_experiment: u64,
    /// The experiment in the coordinator's slot; `None` when it had none.
    pub experiment: Option<SavedExperiment>,
}

/// The experiment in the coordinator's slot, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedExperiment {
    /// The experiment's id, `<name>-<number>`.
    pub id: String,
    /// The kind's name, as specs write it.
    pub kind: String,
    /// The spec, as JSON.
    pub spec: serde_json::Value,
    /// When the experiment started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// The lease counters over every run of the coordinator; leases live when this was
    /// written are counted as ended by a restart, which is what they are on resuming.
    pub leases: LeaseCounters,
    /// Tensor bytes agents pulled from the coordinator (parameters), over every run.
    pub bytes_pulled: u64,
    /// Tensor bytes agents pushed to it (deltas, gradients), over every run.
    pub bytes_pushed: u64,
    /// The run's own state, shaped by its kind.
    pub run: serde_json::Value,
    /// The safetensors file, in the same directory, with the run's tensors.
    pub tensors: String,
}

/// A state read back: the manifest and the experiment's tensors (empty without one).
#[derive(Debug, Clone)]
pub struct State {
    /// The manifest, checked.
    pub manifest: Manifest,
    /// The named tensors of the file the manifest names.
    pub tensors: Tensors,
}

/// Why a state directory could not be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or directory could not be read, written, renamed or removed.
    #[error("state directory {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file is not what the coordinator wrote (unparseable, inconsistent, tensors missing)
    /// or holds nothing to export.
    #[error("state {}: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The manifest is of another `format_version` than this coordinator reads.
    #[error(
        "state {}: `format_version` = {found}: this coordinator reads only version \
         {FORMAT_VERSION} (written by another release of pathnet?); keep the directory and \
         use that release, or start afresh with another --state-dir",
        .path.display()
    )]
    Version {
        /// The manifest.
        path: PathBuf,
        /// The version it has, as written.
        found: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// What one write took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteStats {
    /// Bytes of the manifest and the tensors file.
    pub bytes: u64,
    /// Wall-clock seconds the write took, fsyncs included.
    pub seconds: f64,
}

/// A state directory this process writes to.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// The tensors file the manifest on disk names, removed once a newer one is committed.
    committed: Option<String>,
    writes: u64,
}

impl StateDir {
    /// Opens `dir` (created if missing) and reads the state in it, if any. Files a crash left
    /// half-written, and tensors files no manifest names, are removed.
    pub fn open(dir: &Path) -> Result<(StateDir, Option<State>), CheckpointError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let state = read(dir)?;
        let committed = state
            .as_ref()
            .and_then(|s| s.manifest.experiment.as_ref())
            .map(|e| e.tensors.clone());
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale_tensors = name.starts_with(TENSORS_PREFIX)
                && name.ends_with(TENSORS_SUFFIX)
                && Some(&name) != committed.as_ref();
            if name.starts_with(atomic::TEMP_PREFIX) || stale_tensors {
                fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        let state_dir = StateDir {
            dir: dir.to_path_buf(),
            committed,
            writes: 0,
        };
        Ok((state_dir, state))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `manifest` with `tensors` as the new state, atomically; the experiment's
    /// `tensors` field is set to the file written.
    pub fn write(
        &mut self,
        mut manifest: Manifest,
        tensors: &Tensors,
    ) -> Result<WriteStats, CheckpointError> {
        let started = Instant::now();
        let mut bytes = 0;
        let mut written = None;
        if let Some(experiment) = manifest.experiment.as_mut() {
            self.writes += 1;
            let name = format!(
                "{TENSORS_PREFIX}{}-{}{TENSORS_SUFFIX}",
                manifest.incarnation, self.writes
            );
            let encoded = encode(tensors, HashMap::new()).map_err(|e| invalid(&self.dir, e))?;
            atomic::write(&self.dir, &name, &encoded).map_err(io(&self.dir))?;
            bytes += encoded.len() as u64;
            experiment.tensors = name.clone();
            written = Some(name);
        }
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| invalid(&self.dir, e))?;
        if let Err(err) = atomic::write(&self.dir, MANIFEST, &json) {
            // The old manifest, and the tensors it names, are still the state; the new
            // tensors are garbage that would otherwise fill the disk one failed save at a time.
            if let Some(name) = &written {
                let _ = fs::remove_file(self.dir.join(name));
            }
            return Err(io(&self.dir)(err));
        }
        bytes += json.len() as u64;
        // The new manifest is on disk: the tensors the old one named are garbage now.
        if let Some(old) = std::mem::replace(&mut self.committed, written)
            && Some(&old) != self.committed.as_ref()
        {
            let path = self.dir.join(old);
            fs::remove_file(&path).map_err(io(&path))?;
        }
        Ok(WriteStats {
            bytes,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The state in `dir`, `None` if no manifest was ever committed there.
pub fn read(dir: &Path) -> Result<Option<State>, CheckpointError> {
    let path = dir.join(MANIFEST);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io(&path)(err)),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| invalid(&path, format!("not JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(invalid(
            &path,
            format!("`format` is not \"{FORMAT}\": not a coordinator's state"),
        ));
    }
    match value.get("format_version") {
        Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
        other => {
            let found = other.map_or("missing".to_owned(), |v| {
                pathnet_proto::quote(&v.to_string())
            });
            return Err(CheckpointError::Version { path, found });
        }
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| invalid(&path, format!("manifest: {e}")))?;
    let tensors = match &manifest.experiment {
        None => Vec::new(),
        Some(experiment) => {
            let name = &experiment.tensors;
            if name.contains(['/', '\\']) || !name.starts_with(TENSORS_PREFIX) {
                return Err(invalid(
                    &path,
                    format!(
                        "`experiment.tensors` = {}: not a tensors file name",
                        pathnet_proto::quote(name)
                    ),
                ));
            }
            let file = dir.join(name);
            let bytes = fs::read(&file).map_err(io(&file))?;
            decode(&bytes).map_err(|e| invalid(&file, e))?.0
        }
    };
    Ok(Some(State { manifest, tensors }))
}
