//! Malformed batches give typed errors naming the position; nothing panics, and no length
//! is trusted before it is checked against the bytes present.

use silt_segment::batch::{
    Batch, BatchBuilder, BatchConfig, Batches, Compression, DecompressBuffer, RecordHeader,
};
use silt_segment::{RecordFault, SegmentError};

fn sample(compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression,
        ..BatchConfig::default()
    });
    for i in 0..8u8 {
        let headers = [
            RecordHeader {
                key: "h",
                value: Some(&[i]),
            },
            RecordHeader {
                key: "n",
                value: None,
            },
        ];
        builder
            .append(
                1_000 + i64::from(i),
                Some(&[i; 3]),
                Some(&[i; 20]),
                &headers,
            )
            .unwrap();
    }
    builder.finish().unwrap()
}

/// Runs the whole decode path; returns whether the batch was accepted.
fn decode_all(bytes: &[u8]) -> Result<usize, SegmentError> {
    let mut n = 0;
    let mut buffer = DecompressBuffer::with_limit(1 << 20);
    for batch in Batches::new(bytes, 0) {
        let batch = batch?;
        batch.validate()?;
        for r in batch.records(&mut buffer)? {
            let r = r?;
            n += r.headers.iter().count();
        }
    }
    Ok(n)
}

/// Every single-bit flip inside the CRC-covered bytes, and in the length and magic, is
/// detected. (baseOffset and partitionLeaderEpoch lie outside the CRC by design; segment
/// recovery checks the base offset by contiguity.)
#[test]
fn bit_flips_are_detected() {
    for codec in [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Gzip,
    ] {
        let good = sample(codec);
        assert_eq!(decode_all(&good).unwrap(), 16);
        for byte in (8..12).chain(16..good.len()) {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    decode_all(&bad).is_err(),
                    "{codec}: flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }
}

/// Every prefix of a batch is reported incomplete (a torn tail), never decoded or panicked on.
#[test]
fn every_prefix_is_incomplete() {
    let good = sample(Compression::None);
    for len in 0..good.len() {
        match Batch::parse(&good[..len], 100) {
            Err(SegmentError::Incomplete {
                position: 100,
                available,
                ..
            }) => assert_eq!(available, len as u64),
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
}

/// A record whose length field disagrees with its contents is refused with its index and
/// byte offset, even with a valid CRC.
#[test]
fn record_length_mismatch_names_the_record() {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    builder.append(0, Some(b"a"), Some(b"b"), &[]).unwrap();
    builder.append(0, Some(b"c"), Some(b"d"), &[]).unwrap();
    let mut bytes = builder.finish().unwrap();
    // Each record is 8 bytes after its 1-byte length (varint 16 = 8 zig-zagged).
    let second = 61 + 9;
    assert_eq!(bytes[second], 16);
    bytes[second] = 14; // declares 7 bytes: one fewer than its fields take
    silt_segment::batch::refresh_crc(&mut bytes);
    let batch = Batch::parse(&bytes, 0).unwrap();
    batch.validate().unwrap();
    let errors: Vec<_> = batch
        .records_uncompressed()
        .unwrap()
        .filter_map(Result::err)
        .collect();
    match &errors[..] {
        [SegmentError::InvalidRecord {
            index: 1,
            offset: 9,
            fault,
            ..
        }] => {
            assert!(
                matches!(
                    fault,
                    RecordFault::VarintCut | RecordFault::LengthMismatch { .. }
                ),
                "{fault:?}"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// Over-long varints and negative header counts are refused.
#[test]
fn overlong_varint_and_negative_header_count() {
    // A batch whose single record is hand-built.
    fn with_record(record: &[u8]) -> Vec<u8> {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        builder.append(0, None, None, &[]).unwrap();
        let mut bytes = builder.finish().unwrap();
        bytes.truncate(61);
        bytes.extend_from_slice(record);
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        silt_segment::batch::refresh_crc(&mut bytes);
        bytes
    }
    // length 6: attributes 0, ts delta 0, offset delta 0, key -1, value -1, header count -1
    let negative_headers = with_record(&[12, 0, 0, 0, 1, 1, 1]);
    let err = decode_all(&negative_headers).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::InvalidRecord {
                fault: RecordFault::BadHeaderCount(-1),
                ..
            }
        ),
        "{err}"
    );
    // ts delta as a 10-byte varlong followed by an 11th continuation byte
    let mut overlong = vec![32, 0];
    overlong.extend_from_slice(&[0x80; 11]);
    overlong.extend_from_slice(&[0, 1, 1, 0]);
    let err = decode_all(&with_record(&overlong)).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::InvalidRecord {
                fault: RecordFault::VarintTooLong,
                ..
            }
        ),
        "{err}"
    );
}

/// A records count larger than what lastOffsetDelta allows is refused; more records than
/// declared leaves trailing bytes, fewer runs out.
#[test]
fn records_count_must_match() {
    let good = sample(Compression::None);
    let mut more = good.clone();
    more[57..61].copy_from_slice(&9i32.to_be_bytes());
    silt_segment::batch::refresh_crc(&mut more);
    assert!(matches!(
        decode_all(&more),
        Err(SegmentError::InvalidHeader { .. })
    ));
    let mut fewer = good;
    fewer[57..61].copy_from_slice(&7i32.to_be_bytes());
    silt_segment::batch::refresh_crc(&mut fewer);
    assert!(matches!(
        decode_all(&fewer),
        Err(SegmentError::InvalidHeader { .. })
    ));
}
