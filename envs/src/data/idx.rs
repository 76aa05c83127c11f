//! Reader for the IDX format of the MNIST family, raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic number (two zero bytes, an element-type code, the number of
//! dimensions), one big-endian `u32` per dimension, then the elements in row-major order. Only
//! unsigned-byte elements (type `0x08`) exist in the MNIST family, so only those are accepted.
//!
//! The header is never trusted for an allocation: a raw file's declared size is checked against
//! the file's length before anything is allocated, and a gzip file is read incrementally, bounded
//! both by [`MAX_PAYLOAD_BYTES`] and by the most a deflate stream of that length can expand to.
//!
//! Trailing bytes after the declared payload are an error. The published files have none, and
//! extra bytes almost always mean the header and the payload disagree, which silently loading a
//! prefix would hide.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::error::DataError;

/// Largest payload accepted from one file (1 GiB), far above EMNIST's biggest split (~550 MB).
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

/// Deflate cannot expand input by more than this factor, so a gzip file of `n` bytes cannot hold
/// more than `n * GZIP_MAX_RATIO` bytes: a header claiming more is lying.
const GZIP_MAX_RATIO: u64 = 1032;

/// A gzip file's uncompressed size is only known after decoding, so the buffer starts at most
/// this big and grows with the data actually produced.
const GZIP_PREALLOC_LIMIT: u64 = 64 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_UNSIGNED_BYTE: u8 = 0x08;

/// The decoded contents of one IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl IdxArray {
    /// The dimensions from the header, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements in row-major order; its length is the product of [`Self::dims`].
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the elements out without copying.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

/// Reads an unsigned-byte IDX file with exactly `ndim` dimensions.
///
/// Gzip is recognised by its magic bytes rather than by the `.gz` extension, so a renamed file
/// still loads.
pub fn read_idx(path: &Path, ndim: usize) -> Result<IdxArray, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut reader = BufReader::new(file);
    let gzip = reader.fill_buf().map_err(io_err)?.starts_with(&GZIP_MAGIC);
    if gzip {
        decode(
            path,
            MultiGzDecoder::new(reader),
            Encoding::Gzip,
            file_len,
            ndim,
        )
    } else {
        decode(path, reader, Encoding::Raw, file_len, ndim)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Raw,
    Gzip,
}

fn decode(
    path: &Path,
    mut reader: impl Read,
    encoding: Encoding,
    file_len: u64,
    ndim: usize,
) -> Result<IdxArray, DataError> {
    let read_err = |source| match encoding {
        Encoding::Raw => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
        Encoding::Gzip => DataError::Gzip {
            path: path.to_path_buf(),
            source,
        },
    };
    let short_header = |got: usize, need: usize| {
        DataError::format(
            path,
            format!("truncated IDX header: data ends after {got} bytes, the header needs {need}"),
        )
    };

    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic).map_err(read_err)?;
    if got < magic.len() {
        return Err(short_header(got, magic.len()));
    }
    check_magic(path, magic, ndim)?;

    let header_len = 4 + 4 * ndim;
    let mut raw_dims = vec![0u8; 4 * ndim];
    let got = read_full(&mut reader, &mut raw_dims).map_err(read_err)?;
    if got < raw_dims.len() {
        return Err(short_header(4 + got, header_len));
    }
    let dims: Vec<u32> = raw_dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let declared = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
        .filter(|&n| n <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| {
            DataError::format(
                path,
                format!(
                    "header declares dimensions {dims:?}, more than the {MAX_PAYLOAD_BYTES}-byte limit"
                ),
            )
        })?;

    let capacity = match encoding {
        Encoding::Raw => {
            let available = file_len.saturating_sub(header_len as u64);
            check_length(path, &dims, declared, available)?;
            declared
        }
        Encoding::Gzip => {
            let most = file_len.saturating_mul(GZIP_MAX_RATIO);
            if declared > most {
                return Err(DataError::format(
                    path,
                    format!(
                        "header declares dimensions {dims:?} ({declared} bytes of data), more than a \
                         {file_len}-byte gzip file can hold"
                    ),
                ));
            }
            declared.min(GZIP_PREALLOC_LIMIT)
        }
    };

    // One byte beyond the declared size is requested so that trailing data is noticed; for gzip
    // it also drives the decoder to the end of the stream, where the CRC is verified.
    let mut data = Vec::with_capacity(capacity as usize);
    reader
        .take(declared + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    check_length(path, &dims, declared, data.len() as u64)?;

    Ok(IdxArray {
        dims: dims.into_iter().map(|d| d as usize).collect(),
        data,
    })
}

fn check_magic(path: &Path, magic: [u8; 4], ndim: usize) -> Result<(), DataError> {
    if magic[..2] != [0, 0] {
        return Err(DataError::format(
            path,
            format!(
                "bad magic number 0x{:08x}: an IDX file starts with two zero bytes",
                u32::from_be_bytes(magic)
            ),
        ));
    }
    if magic[2] != TYPE_UNSIGNED_BYTE {
        return Err(DataError::format(
            path,
            format!(
                "unsupported element type 0x{:02x} in magic number 0x{:08x}: only unsigned bytes \
                 (0x08) are supported",
                magic[2],
                u32::from_be_bytes(magic)
            ),
        ));
    }
    if usize::from(magic[3]) != ndim {
        return Err(DataError::format(
            path,
            format!(
                "header declares {} dimensions, expected {ndim} (magic number 0x{:08x})",
                magic[3],
                u32::from_be_bytes(magic)
            ),
        ));
    }
    Ok(())
}

fn check_length(path: &Path, dims: &[u32], declared: u64, actual: u64) -> Result<(), DataError> {
    if actual < declared {
        Err(DataError::format(
            path,
            format!(
                "truncated: header declares dimensions {dims:?} ({declared} bytes of data) but \
                 only {actual} bytes follow the header"
            ),
        ))
    } else if actual > declared {
        Err(DataError::format(
            path,
            format!(
                "unexpected trailing bytes after the {declared} bytes of data that dimensions \
                 {dims:?} declare"
            ),
        ))
    } else {
        Ok(())
    }
}

/// Like `read_exact`, but reports how much was read before a clean end of input instead of
/// failing, so that a short file is told apart from a decoder error.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_raw(bytes: &[u8], ndim: usize) -> Result<IdxArray, DataError> {
        decode(
            Path::new("mem.idx"),
            bytes,
            Encoding::Raw,
            bytes.len() as u64,
            ndim,
        )
    }

    fn header(ndim: u8, dims: &[u32]) -> Vec<u8> {
        let mut v = vec![0, 0, TYPE_UNSIGNED_BYTE, ndim];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn decodes_a_small_matrix() {
        let mut bytes = header(2, &[2, 3]);
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let arr = decode_raw(&bytes, 2).unwrap();
        assert_eq!(arr.dims(), &[2, 3]);
        assert_eq!(arr.data(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_wrong_element_type() {
        let mut bytes = header(1, &[1]);
        bytes[2] = 0x0d;
        bytes.push(0);
        let msg = decode_raw(&bytes, 1).unwrap_err().to_string();
        assert!(msg.contains("element type 0x0d"), "{msg}");
    }

    #[test]
    fn rejects_wrong_dimension_count() {
        let mut bytes = header(2, &[1, 1]);
        bytes.push(0);
        let msg = decode_raw(&bytes, 3).unwrap_err().to_string();
        assert!(msg.contains("2 dimensions, expected 3"), "{msg}");
    }

    #[test]
    fn rejects_header_cut_inside_dimensions() {
        let bytes = &header(3, &[1, 1, 1])[..9];
        let msg = decode_raw(bytes, 3).unwrap_err().to_string();
        assert!(msg.contains("truncated IDX header"), "{msg}");
    }

    #[test]
    fn rejects_product_overflowing_u64() {
        let bytes = header(3, &[u32::MAX, u32::MAX, u32::MAX]);
        let msg = decode_raw(&bytes, 3).unwrap_err().to_string();
        assert!(msg.contains("limit"), "{msg}");
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = header(1, &[2]);
        bytes.extend_from_slice(&[1, 2, 3]);
        let msg = decode_raw(&bytes, 1).unwrap_err().to_string();
        assert!(msg.contains("trailing"), "{msg}");
    }
}
