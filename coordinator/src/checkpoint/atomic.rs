//! Writing a file so that a crash at any moment leaves either its old content or its new
//! content under its name, never a torn mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Prefix of the temporary files [`write`] uses; a crash can leave one behind, and readers
/// ignore (and [`super::StateDir::open`] removes) every file that has it.
pub(super) const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `dir/name`: to a temporary file first, flushed to disk, then renamed
/// over `name`, and the directory flushed so that the rename itself survives a power cut.
pub(super) fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let written = File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(err) = written.and_then(|()| fs::rename(&temp, dir.join(name))) {
        // A full disk is the likely cause: give back what the attempt took. What cannot be
        // removed now is removed when the directory is next opened.
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    sync_dir(dir)
}

/// Flushes a directory's entries (creations, renames, removals) to disk.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
