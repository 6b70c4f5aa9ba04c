//! A model-based test: random appends, reads at random offsets, rolls, closes and reopens
//! of a segment, checked against an in-memory list of batches.

mod common;

use proptest::prelude::*;
use silt_segment::batch::{Batches, Compression};
use silt_segment::log::{OpenMode, Segment};

#[derive(Debug, Clone)]
enum Op {
    /// Append `n` batches of `records` records each (as one multi-batch append when n > 1).
    Append {
        n: u8,
        records: u8,
        value_len: u16,
        codec: u8,
    },
    /// Read from offset `model_start + pick % span` with `max_bytes`.
    Read { pick: u32, max_bytes: u32 },
    /// Seal, then reopen sealed (read-only) and check; the segment stays sealed.
    SealReopen,
    /// Drop without sealing (a crash) and reopen active.
    CrashReopen,
    /// Seal and reopen as active (a clean restart).
    CleanReopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..4, 1u8..40, 0u16..600, 0u8..3).prop_map(|(n, records, value_len, codec)| Op::Append { n, records, value_len, codec }),
        4 => (any::<u32>(), 1u32..20_000).prop_map(|(pick, max_bytes)| Op::Read { pick, max_bytes }),
        1 => Just(Op::SealReopen),
        1 => Just(Op::CrashReopen),
        1 => Just(Op::CleanReopen),
    ]
}

/// What the model knows of one batch.
#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    last: i64,
    bytes: Vec<u8>,
}

const BASE: i64 = 1_000;

fn check_read(
    seg_reader: &silt_segment::log::SegmentReader,
    model: &[ModelBatch],
    offset: i64,
    max_bytes: usize,
) {
    let got = seg_reader.read(offset, max_bytes).unwrap();
    let first = model.iter().position(|b| b.last >= offset);
    match (got, first) {
        (None, None) => {}
        (Some(slice), Some(i)) => {
            let mut want = model[i].bytes.clone();
            for b in &model[i + 1..] {
                if want.len() + b.bytes.len() > max_bytes {
                    break;
                }
                want.extend_from_slice(&b.bytes);
            }
            assert_eq!(slice.bytes, &want[..], "read({offset}, {max_bytes})");
            let last = Batches::new(slice.bytes, 0)
                .map(|b| b.unwrap().next_offset())
                .last()
                .unwrap();
            assert_eq!(slice.next_offset, last);
        }
        (got, want) => panic!(
            "read({offset}): got {:?}, model says batch {want:?}",
            got.map(|s| s.position)
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn segment_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let config = common::small_config();
        let mut seg = Segment::create(dir.path(), BASE, &config).unwrap();
        let mut model: Vec<ModelBatch> = Vec::new();
        let mut next = BASE;
        let mut id = 0u64;
        for op in ops {
            match op {
                Op::Append { n, records, value_len, codec } => {
                    let codec = [Compression::None, Compression::Lz4, Compression::Zstd][codec as usize];
                    let mut set = Vec::new();
                    let mut pending = Vec::new();
                    for _ in 0..n {
                        id += 1;
                        let b = common::batch(id, u32::from(records), value_len as usize, codec);
                        set.extend_from_slice(&b);
                        pending.push(b);
                    }
                    let fits = seg.roll_reason(set.len(), u32::from(records) * u32::from(n), 0).is_none();
                    match seg.append(&set) {
                        Ok(info) => {
                            prop_assert_eq!(info.base_offset, next);
                            for mut b in pending {
                                b[..8].copy_from_slice(&next.to_be_bytes());
                                let last = next + i64::from(records) - 1;
                                model.push(ModelBatch { base: next, last, bytes: b });
                                next = last + 1;
                            }
                        }
                        Err(e) => prop_assert!(!fits || seg.is_sealed(), "append failed though no roll was due: {}", e),
                    }
                }
                Op::Read { pick, max_bytes } => {
                    let span = (next - BASE + 2) as u32;
                    let offset = BASE - 1 + i64::from(pick % span);
                    check_read(&seg.reader(), &model, offset, max_bytes as usize);
                }
                Op::SealReopen | Op::CleanReopen | Op::CrashReopen => {
                    let mode = if matches!(op, Op::SealReopen) || seg.is_sealed() { OpenMode::Sealed } else { OpenMode::Active };
                    if !matches!(op, Op::CrashReopen) {
                        seg.seal().unwrap();
                    }
                    let before = (seg.offset_index_entries(), seg.time_index_entries());
                    drop(seg);
                    let (reopened, report) = Segment::open(dir.path(), BASE, &config, mode).unwrap();
                    seg = reopened;
                    prop_assert!(report.torn.is_none());
                    if !matches!(op, Op::CrashReopen) {
                        prop_assert!(report.recovered.is_none(), "a sealed segment reopens without recovery: {:?}", report.recovered);
                        prop_assert_eq!(seg.offset_index_entries(), before.0);
                    }
                    prop_assert_eq!(seg.next_offset(), next);
                    prop_assert_eq!(seg.is_sealed(), mode == OpenMode::Sealed);
                }
            }
            let reader = seg.reader();
            prop_assert_eq!(reader.next_offset(), next);
            prop_assert_eq!(reader.size() as usize, model.iter().map(|b| b.bytes.len()).sum::<usize>());
        }
        // Finally every offset reads its own batch, through the index.
        let reader = seg.reader();
        for b in &model {
            for offset in b.base..=b.last {
                let slice = reader.read(offset, 1).unwrap().unwrap();
                prop_assert_eq!(slice.bytes, &b.bytes[..]);
            }
        }
    }
}
