//! Results reports as gzipped JSON files: written whole or not at all (a temporary file
//! renamed into place), so a run killed while writing never leaves half a report to merge.

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Writes `value` to `dir/name.json.gz`, creating `dir`; returns the path.
pub fn write_gz_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.json.gz"));
    let temp = dir.join(format!(".{name}.json.gz.tmp"));
    let file =
        std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let mut gz = GzEncoder::new(file, Compression::default());
    serde_json::to_writer(&mut gz, value)?;
    gz.finish()?.flush()?;
    std::fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reads a report that [`write_gz_json`] wrote.
pub fn read_gz_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    GzDecoder::new(file)
        .read_to_string(&mut text)
        .with_context(|| format!("{}: not a gzip file", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a report", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_written_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("report-file-{}", std::process::id()));
        let value = serde_json::json!({"seeds": [1, 2, 3], "name": "r"});
        let path = write_gz_json(&dir, "r", &value).unwrap();
        assert_eq!(path, dir.join("r.json.gz"));
        let back: serde_json::Value = read_gz_json(&path).unwrap();
        assert_eq!(back, value);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["r.json.gz"]);
        assert!(read_gz_json::<serde_json::Value>(&dir.join("missing.json.gz")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
