//! Broken and hostile IDX files must give an error that names the file and the problem, never a
//! panic or a huge allocation.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use pathnet_envs::data::{DataError, Dataset, Split};

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("pathnet-envs-data-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.0.join(name), bytes).unwrap();
    }

    fn load(&self) -> Result<Dataset, DataError> {
        Dataset::load(&self.0, Split::Train)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn idx(ndim_code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, ndim_code];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Three 2x2 images with labels 0, 1, 2.
fn images() -> Vec<u8> {
    idx(3, &[3, 2, 2], &[0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8])
}

fn labels() -> Vec<u8> {
    idx(1, &[3], &[0, 1, 2])
}

/// Asserts an error whose message names `file` and contains every one of `words`.
fn assert_err(result: Result<Dataset, DataError>, file: &str, words: &[&str]) {
    let msg = match result {
        Ok(_) => panic!("expected an error about {file}, got a dataset"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains(file), "message does not name {file}: {msg}");
    for w in words {
        assert!(msg.contains(w), "message lacks {w:?}: {msg}");
    }
}

#[test]
fn valid_raw_and_gzip_files_load_identically() {
    let raw = TempDir::new("valid-raw");
    raw.write(IMAGES, &images());
    raw.write(LABELS, &labels());
    let raw = raw.load().unwrap();
    assert_eq!((raw.len(), raw.rows(), raw.cols()), (3, 2, 2));
    assert_eq!(&raw.image(0), &[0.0, 1.0, 0.2, 0.4]);
    assert_eq!(raw.labels(), &[0, 1, 2]);

    let gz = TempDir::new("valid-gz");
    gz.write(&format!("{IMAGES}.gz"), &gzip(&images()));
    gz.write(&format!("{LABELS}.gz"), &gzip(&labels()));
    assert_eq!(gz.load().unwrap(), raw);
}

#[test]
fn missing_files_are_named() {
    let dir = TempDir::new("missing");
    assert_err(dir.load(), IMAGES, &["neither", ".gz"]);
    dir.write(IMAGES, &images());
    assert_err(dir.load(), LABELS, &["neither"]);
}

#[test]
fn wrong_magic_is_rejected_raw_and_gzip() {
    let dir = TempDir::new("magic");
    dir.write(IMAGES, b"GARBAGE GARBAGE GARBAGE");
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["bad magic number 0x47415242"]);

    let dir = TempDir::new("magic-gz");
    let mut bad = images();
    bad[3] = 2;
    dir.write(&format!("{IMAGES}.gz"), &gzip(&bad));
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["2 dimensions, expected 3"]);
}

#[test]
fn truncated_gzip_is_rejected() {
    let dir = TempDir::new("truncated-gz");
    // Incompressible pixels, so that half the gzip file is within what it could expand to and
    // the cut is found by the decoder, not by the size bound.
    let mut state = 1u32;
    let pixels: Vec<u8> = (0..200 * 784)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let gz = gzip(&idx(3, &[200, 28, 28], &pixels));
    dir.write(&format!("{IMAGES}.gz"), &gz[..gz.len() / 2]);
    dir.write(LABELS, &labels());
    let err = dir.load();
    assert!(matches!(err, Err(DataError::Gzip { .. })), "{err:?}");
    assert_err(err, IMAGES, &["corrupt or truncated gzip"]);
}

#[test]
fn corrupted_gzip_checksum_is_rejected() {
    let dir = TempDir::new("crc-gz");
    let mut gz = gzip(&images());
    let crc_at = gz.len() - 8;
    gz[crc_at] ^= 0xff;
    dir.write(&format!("{IMAGES}.gz"), &gz);
    dir.write(LABELS, &labels());
    assert!(matches!(dir.load(), Err(DataError::Gzip { .. })));
}

#[test]
fn truncated_raw_payload_is_rejected() {
    let dir = TempDir::new("truncated-raw");
    let full = images();
    dir.write(IMAGES, &full[..full.len() - 3]);
    dir.write(LABELS, &labels());
    assert_err(
        dir.load(),
        IMAGES,
        &["truncated", "[3, 2, 2]", "12 bytes", "only 9"],
    );
}

#[test]
fn short_header_is_rejected() {
    let dir = TempDir::new("short-header");
    dir.write(IMAGES, &[0, 0, 8]);
    dir.write(LABELS, &labels());
    assert_err(
        dir.load(),
        IMAGES,
        &["truncated IDX header", "after 3 bytes"],
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    let dir = TempDir::new("trailing");
    let mut bytes = images();
    bytes.extend_from_slice(b"junk");
    dir.write(&format!("{IMAGES}.gz"), &gzip(&bytes));
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["trailing"]);
}

#[test]
fn a_billion_images_claimed_by_a_small_file_are_rejected() {
    let billion = 1_000_000_000;
    let dir = TempDir::new("billion-raw");
    dir.write(IMAGES, &idx(3, &[billion, 28, 28], &[0; 784]));
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["limit"]);

    // Under the size limit: refused from the file's length before anything is allocated.
    let dir = TempDir::new("billion-small-raw");
    dir.write(IMAGES, &idx(3, &[billion, 1, 1], &[0; 784]));
    dir.write(LABELS, &labels());
    assert_err(
        dir.load(),
        IMAGES,
        &["truncated", "1000000000 bytes", "only 784"],
    );

    // Under the size limit, but more than the gzip file could possibly expand to.
    let dir = TempDir::new("million-gz");
    dir.write(
        &format!("{IMAGES}.gz"),
        &gzip(&idx(3, &[1_000_000, 28, 28], &[0; 784])),
    );
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["gzip file can hold"]);

    // Under both bounds: found out by reading, with memory growing only with the real data.
    let dir = TempDir::new("thousand-raw");
    dir.write(IMAGES, &idx(3, &[1_000, 28, 28], &[0; 784]));
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["truncated", "784000 bytes"]);
}

#[test]
fn label_count_must_match_image_count() {
    let dir = TempDir::new("count");
    dir.write(IMAGES, &images());
    dir.write(LABELS, &idx(1, &[2], &[0, 1]));
    let err = dir.load();
    assert!(matches!(
        err,
        Err(DataError::CountMismatch {
            images: 3,
            labels: 2,
            ..
        })
    ));
    assert_err(err, LABELS, &[IMAGES, "3 images", "2 labels"]);
}

#[test]
fn labels_out_of_range_are_rejected() {
    let dir = TempDir::new("label-range");
    dir.write(IMAGES, &images());
    dir.write(LABELS, &idx(1, &[3], &[0, 10, 2]));
    assert_err(dir.load(), LABELS, &["label 10 at index 1", "0..10"]);
}

#[test]
fn empty_image_dimensions_are_rejected() {
    let dir = TempDir::new("empty");
    dir.write(IMAGES, &idx(3, &[3, 0, 2], &[]));
    dir.write(LABELS, &labels());
    assert_err(dir.load(), IMAGES, &["empty image set"]);
}

#[test]
fn a_directory_in_place_of_a_file_is_an_error() {
    let dir = TempDir::new("dir-as-file");
    fs::create_dir(dir.0.join(IMAGES)).unwrap();
    fs::create_dir(dir.0.join(format!("{IMAGES}.gz"))).unwrap();
    assert_err(dir.load(), IMAGES, &["neither"]);
    let err = Dataset::from_idx_files(&dir.0.join(IMAGES), Path::new("x"), 10).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}
