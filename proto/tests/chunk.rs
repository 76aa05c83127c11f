//! Tensor chunking: round trips around chunk boundaries and every malformed input.

use pathnet_proto::v1::{Dtype, TensorChunk};
use pathnet_proto::{ChunkError, Tensor, TensorAssembler, assemble_tensors, split_tensor};

/// Distinct, exactly representable values so a misplaced chunk changes the result.
fn tensor(name: &str, shape: &[u64]) -> Tensor {
    let len: u64 = shape.iter().product();
    Tensor {
        name: name.to_owned(),
        shape: shape.to_vec(),
        data: (0..len).map(|i| i as f32 * 0.5 - 3.0).collect(),
    }
}

fn reassemble(chunks: Vec<TensorChunk>) -> Result<Tensor, ChunkError> {
    let mut iter = chunks.into_iter();
    let mut assembler = TensorAssembler::new(iter.next().expect("at least one chunk"))?;
    for chunk in iter {
        assembler.push(chunk)?;
    }
    assembler.finish()
}

fn chunks_of(t: &Tensor, max_chunk_bytes: usize) -> Vec<TensorChunk> {
    t.split(max_chunk_bytes).expect("valid tensor splits")
}

#[test]
fn round_trips_around_chunk_boundaries() {
    // 4 elements per chunk (16 bytes, or 17..19 rounded down to whole elements).
    for max_chunk_bytes in [4, 16, 17, 19, 20, 1 << 20] {
        for len in [1u64, 3, 4, 5, 7, 8, 9, 16, 17] {
            let t = tensor("weight", &[len]);
            let chunks = chunks_of(&t, max_chunk_bytes);
            let per_chunk = (max_chunk_bytes / 4) as u64;
            assert_eq!(chunks.len() as u64, len.div_ceil(per_chunk), "len {len}");
            assert!(chunks.iter().all(|c| c.data.len() <= max_chunk_bytes));
            assert_eq!(
                reassemble(chunks).unwrap(),
                t,
                "len {len}, limit {max_chunk_bytes}"
            );
        }
    }
}

#[test]
fn round_trips_in_any_order_and_keeps_shape() {
    let t = tensor("conv", &[2, 3, 5]);
    let mut chunks = chunks_of(&t, 12);
    chunks.reverse();
    chunks.swap(1, 4);
    assert_eq!(reassemble(chunks).unwrap(), t);
}

#[test]
fn scalar_and_empty_tensors_round_trip() {
    let scalar = tensor("scale", &[]);
    assert_eq!(scalar.data.len(), 1);
    assert_eq!(reassemble(chunks_of(&scalar, 4)).unwrap(), scalar);

    let empty = tensor("nothing", &[3, 0]);
    let chunks = chunks_of(&empty, 64);
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].data.is_empty());
    assert_eq!(reassemble(chunks).unwrap(), empty);
}

#[test]
fn chunks_are_little_endian_f32() {
    let chunks = split_tensor("b", &[2], &[1.0, -2.5], 64).unwrap();
    assert_eq!(chunks[0].dtype, i32::from(Dtype::F32));
    let mut expected = 1.0f32.to_le_bytes().to_vec();
    expected.extend((-2.5f32).to_le_bytes());
    assert_eq!(chunks[0].data, expected);
}

#[test]
fn assembles_interleaved_tensors_in_first_seen_order() {
    let weight = tensor("weight", &[4, 3]);
    let bias = tensor("bias", &[3]);
    let mut w = chunks_of(&weight, 8).into_iter();
    let mut b = chunks_of(&bias, 4).into_iter();
    let mut mixed = Vec::new();
    mixed.extend(w.next());
    mixed.extend(b.next());
    mixed.extend(w.by_ref().take(2));
    mixed.extend(b);
    mixed.extend(w);
    assert_eq!(assemble_tensors(mixed).unwrap(), vec![weight, bias]);
}

#[test]
fn split_rejects_bad_input() {
    let err = split_tensor("", &[1], &[1.0], 16).unwrap_err();
    assert!(matches!(err, ChunkError::EmptyName));

    let err = split_tensor("w", &[2, 3], &[0.0; 5], 16).unwrap_err();
    assert!(
        matches!(
            err,
            ChunkError::ShapeMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`w`"), "{err}");

    let err = split_tensor("w", &[u64::MAX, 2], &[], 16).unwrap_err();
    assert!(matches!(err, ChunkError::ShapeOverflow { .. }), "{err}");

    let err = split_tensor("w", &[1], &[1.0], 3).unwrap_err();
    assert!(
        matches!(
            err,
            ChunkError::ChunkLimitTooSmall {
                max_chunk_bytes: 3,
                ..
            }
        ),
        "{err}"
    );

    let err = split_tensor("w", &[3], &[1.0, f32::INFINITY, 0.0], 16).unwrap_err();
    assert!(
        matches!(err, ChunkError::NonFinite { index: 1, .. }),
        "{err}"
    );
}

/// Chunks of a 10-element tensor, 4 elements (16 bytes) each: offsets 0, 4, 8.
fn ten() -> Vec<TensorChunk> {
    chunks_of(&tensor("w", &[10]), 16)
}

fn reassemble_err(chunks: Vec<TensorChunk>) -> ChunkError {
    let err = reassemble(chunks).expect_err("malformed chunks must be rejected");
    assert!(
        err.to_string().contains("`w`"),
        "error names the tensor: {err}"
    );
    err
}

#[test]
fn rejects_missing_chunks() {
    let mut chunks = ten();
    chunks.remove(1);
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::Missing {
                start: 4,
                end: 8,
                ..
            }
        ),
        "{err}"
    );

    let mut chunks = ten();
    chunks.pop();
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::Missing {
                start: 8,
                end: 10,
                ..
            }
        ),
        "{err}"
    );

    let mut chunks = ten();
    chunks.remove(0);
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::Missing {
                start: 0,
                end: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rejects_overlapping_and_duplicate_chunks() {
    let mut chunks = ten();
    chunks.push(chunks[1].clone());
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::Overlap {
                start: 4,
                end: 8,
                ..
            }
        ),
        "{err}"
    );

    // Starts inside the first chunk.
    let mut chunks = ten();
    chunks[1].offset = 3;
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::Overlap {
                start: 3,
                other_start: 0,
                other_end: 4,
                ..
            }
        ),
        "{err}"
    );

    // Ends inside a chunk received earlier.
    let mut chunks = ten();
    chunks.swap(0, 1);
    chunks[1].offset = 1;
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::Overlap {
                start: 1,
                end: 5,
                other_start: 4,
                ..
            }
        ),
        "{err}"
    );

    let mut empty = chunks_of(&tensor("w", &[0]), 16);
    empty.push(empty[0].clone());
    assert!(matches!(reassemble_err(empty), ChunkError::Overlap { .. }));
}

#[test]
fn rejects_out_of_bounds_chunks() {
    let mut chunks = ten();
    chunks[2].offset = 8 + 1;
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::OutOfBounds {
                start: 9,
                end: 11,
                len: 10,
                ..
            }
        ),
        "{err}"
    );

    let mut chunks = ten();
    chunks[2].offset = u64::MAX;
    assert!(matches!(
        reassemble_err(chunks),
        ChunkError::OutOfBounds { .. }
    ));
}

#[test]
fn rejects_inconsistent_metadata() {
    let mut chunks = ten();
    chunks[1].shape = vec![2, 5];
    let err = reassemble_err(chunks);
    assert!(
        matches!(err, ChunkError::InconsistentShape { offset: 4, .. }),
        "{err}"
    );

    let mut chunks = ten();
    chunks[2].dtype = i32::from(Dtype::Unspecified);
    let err = reassemble_err(chunks);
    assert!(err.to_string().contains("DTYPE_UNSPECIFIED"), "{err}");

    let mut chunks = ten();
    chunks[0].dtype = 99;
    let err = reassemble_err(chunks);
    assert!(matches!(&err, ChunkError::UnsupportedDtype { dtype, .. } if dtype == "99"));

    let mut chunks = ten();
    chunks[1].tensor_name = "bias".to_owned();
    let err = reassemble_err(chunks);
    assert!(matches!(&err, ChunkError::NameMismatch { found, .. } if found == "bias"));

    let mut chunks = ten();
    for chunk in &mut chunks {
        chunk.tensor_name.clear();
    }
    assert!(matches!(reassemble(chunks), Err(ChunkError::EmptyName)));

    let mut chunks = ten();
    chunks[0].shape = vec![u64::MAX, u64::MAX];
    assert!(matches!(
        reassemble_err(chunks),
        ChunkError::ShapeOverflow { .. }
    ));
}

#[test]
fn rejects_malformed_data() {
    let mut chunks = ten();
    chunks[1].data.pop();
    let err = reassemble_err(chunks);
    assert!(
        matches!(
            err,
            ChunkError::RaggedData {
                offset: 4,
                len: 15,
                ..
            }
        ),
        "{err}"
    );

    let mut chunks = ten();
    chunks[1].data.clear();
    let err = reassemble_err(chunks);
    assert!(
        matches!(err, ChunkError::EmptyChunk { offset: 4, .. }),
        "{err}"
    );

    let mut chunks = ten();
    chunks[2].data[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = reassemble_err(chunks);
    assert!(
        matches!(err, ChunkError::NonFinite { index: 9, .. }),
        "{err}"
    );
}

#[test]
fn assemble_tensors_reports_the_broken_tensor() {
    let mut chunks = chunks_of(&tensor("bias", &[3]), 4);
    chunks.extend(ten().into_iter().skip(1));
    let err = assemble_tensors(chunks).unwrap_err();
    assert!(
        matches!(&err, ChunkError::Missing { tensor, .. } if tensor == "w"),
        "{err}"
    );
}
