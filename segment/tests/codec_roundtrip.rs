//! Random record sets round-trip through encode and decode for every codec: empty and
//! large keys and values, nulls, headers with null values, extreme timestamps.

use proptest::prelude::*;
use silt_segment::batch::{
    Batch, BatchBuilder, BatchConfig, Compression, DecompressBuffer, RecordHeader, TimestampType,
};

#[derive(Debug, Clone)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn bytes(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        6 => prop::collection::vec(any::<u8>(), 0..max).prop_map(Some),
        1 => (0..3usize).prop_map(|k| Some(vec![b'z'; 20_000 + k * 50_000])), // large and compressible
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 1_600_000_000_000i64..1_800_000_000_000,
        1 => Just(0i64),
        1 => Just(-1i64),
        1 => any::<i64>().prop_map(|t| t / 4), // wide, but deltas still fit in an i64
    ]
}

fn rec() -> impl Strategy<Value = Rec> {
    let header = (
        "[a-zA-Z0-9é._-]{0,12}",
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
    );
    (
        timestamp(),
        bytes(64),
        bytes(300),
        prop::collection::vec(header, 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| Rec {
            timestamp,
            key,
            value,
            headers,
        })
}

fn config() -> impl Strategy<Value = BatchConfig> {
    let codec = prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Lz4),
        Just(Compression::Zstd)
    ];
    (
        codec,
        1i32..6,
        any::<bool>(),
        any::<bool>(),
        0i64..1 << 40,
        any::<i16>(),
        any::<i32>(),
    )
        .prop_map(
            |(
                compression,
                zstd_level,
                log_append,
                transactional,
                base_offset,
                producer_epoch,
                base_sequence,
            )| BatchConfig {
                base_offset,
                compression,
                zstd_level,
                timestamp_type: if log_append {
                    TimestampType::LogAppendTime
                } else {
                    TimestampType::CreateTime
                },
                transactional,
                producer_id: if transactional { 42 } else { -1 },
                producer_epoch,
                base_sequence,
                ..BatchConfig::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(config in config(), records in prop::collection::vec(rec(), 1..40)) {
        let mut builder = BatchBuilder::new(config);
        for r in &records {
            let headers: Vec<RecordHeader<'_>> = r.headers.iter().map(|(k, v)| RecordHeader { key: k, value: v.as_deref() }).collect();
            builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers).unwrap();
        }
        let bytes = builder.finish().unwrap();
        let batch = Batch::parse(&bytes, 7).unwrap();
        batch.validate().unwrap();
        let h = batch.header();
        prop_assert_eq!(batch.size(), bytes.len());
        prop_assert_eq!(h.base_offset, config.base_offset);
        prop_assert_eq!(h.records_count as usize, records.len());
        prop_assert_eq!(h.last_offset_delta as usize, records.len() - 1);
        prop_assert_eq!(h.attributes.compression(), config.compression);
        prop_assert_eq!(h.attributes.is_transactional(), config.transactional);
        prop_assert_eq!(h.base_timestamp, records[0].timestamp);
        let max = records.iter().map(|r| r.timestamp).max().unwrap();
        prop_assert_eq!(h.max_timestamp, max);

        let mut buffer = DecompressBuffer::new();
        let decoded: Vec<_> = batch.records(&mut buffer).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (d, r)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(d.offset, config.base_offset + i as i64);
            // Under LogAppendTime every record reads the batch's maxTimestamp, as in Kafka.
            let ts = if config.timestamp_type == TimestampType::LogAppendTime { max } else { r.timestamp };
            prop_assert_eq!(d.timestamp, ts);
            prop_assert_eq!(d.key, r.key.as_deref());
            prop_assert_eq!(d.value, r.value.as_deref());
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = d.headers.iter().map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec))).collect();
            let want: Vec<(Vec<u8>, Option<Vec<u8>>)> = r.headers.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect();
            prop_assert_eq!(headers, want);
        }
    }
}

/// The builder is reused across batches without carrying anything over.
#[test]
fn builder_reuse_is_clean() {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression: Compression::Zstd,
        ..BatchConfig::default()
    });
    let mut out = Vec::new();
    for round in 0..3i64 {
        builder.append(round, Some(b"k"), Some(b"v"), &[]).unwrap();
        builder.finish_into(&mut out).unwrap();
    }
    let batches: Vec<_> = silt_segment::batch::Batches::new(&out, 0)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 3);
    for (round, b) in batches.iter().enumerate() {
        b.validate().unwrap();
        assert_eq!(b.records_count(), 1);
        assert_eq!(b.base_timestamp(), round as i64);
    }
    assert!(builder.finish().is_err(), "an empty batch is refused");
}

/// Snappy is neither decoded nor encoded: a clear error each way.
#[test]
fn snappy_is_unsupported() {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression: Compression::Snappy,
        ..BatchConfig::default()
    });
    builder.append(0, None, Some(b"v"), &[]).unwrap();
    assert!(builder.finish().unwrap_err().to_string().contains("snappy"));

    let mut bytes = BatchBuilder::new(BatchConfig::default());
    bytes.append(0, None, Some(b"v"), &[]).unwrap();
    let mut bytes = bytes.finish().unwrap();
    bytes[22] |= 2; // attributes low byte: codec 2 = snappy
    silt_segment::batch::refresh_crc(&mut bytes);
    let batch = Batch::parse(&bytes, 0).unwrap();
    batch.validate().unwrap();
    let err = batch.records(&mut DecompressBuffer::new()).unwrap_err();
    assert!(
        err.to_string().contains("unsupported compression snappy"),
        "{err}"
    );
}

/// A batch that decompresses past the buffer's bound is refused, not allocated.
#[test]
fn decompression_is_bounded() {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression: Compression::Zstd,
        ..BatchConfig::default()
    });
    builder
        .append(0, None, Some(&vec![0u8; 4 << 20]), &[])
        .unwrap();
    let bytes = builder.finish().unwrap();
    assert!(bytes.len() < 4096);
    let batch = Batch::parse(&bytes, 0).unwrap();
    let mut small = DecompressBuffer::with_limit(1 << 20);
    let err = batch.records(&mut small).unwrap_err();
    assert!(
        matches!(
            err,
            silt_segment::SegmentError::DecompressedTooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{err}"
    );
    let mut big = DecompressBuffer::new();
    assert_eq!(batch.records(&mut big).unwrap().count(), 1);
}
