//! Property tests of tensor reassembly, the decoder every parameter message goes through:
//! random tensors split at random sizes come back exactly in any order, and random or
//! mutated chunks (overlaps, NaN and infinities, huge declared shapes, long names, bytes that
//! are not a message at all) give an error that names the tensor, never a panic, and never a
//! message longer than a reply can carry.
//!
//! `PROPTEST_CASES` sets the cases per property (proptest's default, 256, takes about a
//! second); a failing case is saved under `proptest-regressions/` to be replayed first.

use pathnet_proto::v1::{Dtype, TensorChunk};
use pathnet_proto::{Tensor, assemble_tensors, split_tensor};
use proptest::prelude::*;
use prost::Message;

/// Longest error message any property accepts: far below any message limit.
const MAX_ERROR_BYTES: usize = 2048;

fn tensor() -> impl Strategy<Value = Tensor> {
    ("[a-z]{1,8}", proptest::collection::vec(0u64..5, 0..4)).prop_flat_map(|(name, shape)| {
        let len = shape.iter().product::<u64>() as usize;
        proptest::collection::vec(-1e6f32..1e6, len).prop_map(move |data| Tensor {
            name: name.clone(),
            shape: shape.clone(),
            data,
        })
    })
}

fn any_chunk() -> impl Strategy<Value = TensorChunk> {
    (
        prop_oneof![
            "[a-z0-9]{0,4}".prop_map(String::from),
            Just("n".repeat(100_000)),
        ],
        prop_oneof![
            proptest::collection::vec(any::<u64>(), 0..6),
            proptest::collection::vec(0u64..4, 0..4),
            Just(vec![1u64; 100_000]),
        ],
        prop_oneof![Just(i32::from(Dtype::F32)), any::<i32>()],
        prop_oneof![0u64..8, any::<u64>()],
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(tensor_name, shape, dtype, offset, data)| TensorChunk {
            tensor_name,
            shape,
            dtype,
            offset,
            data,
        })
}

/// A chunk's elements replaced by one special value at `at`.
fn with_value(mut chunk: TensorChunk, at: usize, value: f32) -> TensorChunk {
    let elements = chunk.data.len() / 4;
    if elements > 0 {
        let i = (at % elements) * 4;
        chunk.data[i..i + 4].copy_from_slice(&value.to_le_bytes());
    }
    chunk
}

proptest! {
    #[test]
    fn split_tensors_come_back_exactly_in_any_order(
        t in tensor(),
        chunk_bytes in 4usize..64,
        order in any::<u64>(),
    ) {
        let mut chunks = split_tensor(&t.name, &t.shape, &t.data, chunk_bytes).unwrap();
        // A permutation drawn from `order`: rotate, then reverse when odd.
        let len = chunks.len();
        chunks.rotate_left((order % len as u64) as usize);
        if order % 2 == 1 {
            chunks.reverse();
        }
        let back = assemble_tensors(chunks).unwrap();
        prop_assert_eq!(back, vec![t]);
    }

    #[test]
    fn overlapping_repeated_or_non_finite_chunks_are_refused(
        t in tensor().prop_filter("non-empty", |t| !t.data.is_empty()),
        chunk_bytes in 4usize..64,
        pick in any::<usize>(),
        special in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        shift in 1u64..3,
    ) {
        let chunks = split_tensor(&t.name, &t.shape, &t.data, chunk_bytes).unwrap();
        let i = pick % chunks.len();

        let mut repeated = chunks.clone();
        repeated.push(chunks[i].clone());
        let err = assemble_tensors(repeated).unwrap_err().to_string();
        prop_assert!(err.contains(&t.name) && err.contains("overlaps"), "{}", err);

        let mut shifted = chunks.clone();
        let mut moved = chunks[i].clone();
        moved.offset = moved.offset.saturating_add(shift);
        shifted[i] = moved;
        prop_assert!(assemble_tensors(shifted).is_err());

        let mut poisoned = chunks.clone();
        poisoned[i] = with_value(chunks[i].clone(), pick, special);
        let err = assemble_tensors(poisoned).unwrap_err().to_string();
        prop_assert!(err.contains("not a finite number"), "{}", err);
    }

    #[test]
    fn random_chunks_give_bounded_errors_naming_the_tensor(
        chunks in proptest::collection::vec(any_chunk(), 1..6),
    ) {
        if let Err(err) = assemble_tensors(chunks) {
            let message = err.to_string();
            prop_assert!(message.len() <= MAX_ERROR_BYTES, "{} bytes", message.len());
            prop_assert!(message.starts_with("tensor"), "{}", message);
        }
    }

    #[test]
    fn random_bytes_decode_to_an_error_or_a_chunk_that_assembles_or_fails_cleanly(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Ok(chunk) = TensorChunk::decode(bytes.as_slice())
            && let Err(err) = assemble_tensors([chunk])
        {
            prop_assert!(err.to_string().len() <= MAX_ERROR_BYTES);
        }
    }
}

#[test]
fn a_name_that_is_not_utf8_is_a_decode_error() {
    let chunk = TensorChunk {
        tensor_name: "ab".into(),
        ..TensorChunk::default()
    };
    let mut bytes = chunk.encode_to_vec();
    let at = bytes.iter().position(|&b| b == b'a').unwrap();
    bytes[at] = 0xff;
    assert!(TensorChunk::decode(bytes.as_slice()).is_err());
}

#[test]
fn a_huge_declared_shape_allocates_nothing_and_is_reported_missing() {
    let chunk = TensorChunk {
        tensor_name: "w".into(),
        shape: vec![1 << 20, 1 << 20],
        dtype: Dtype::F32.into(),
        offset: 0,
        data: vec![0; 16],
    };
    let err = assemble_tensors([chunk]).unwrap_err().to_string();
    assert!(err.contains("never received"), "{err}");
}
