//! Arbitrary bytes through the RecordBatch v2 decoder.
//!
//! Every batch `Batches` yields is validated and its records decoded to the end, whatever the
//! CRC said (the record parser must not rely on it). A batch that the builder could have
//! written (valid, uncompressed, only the transactional/control attribute bits, contiguous
//! offsets, CreateTime timestamps consistent with the header, UTF-8 header keys) is
//! re-encoded with `BatchBuilder`: the result must decode to the same records, never be
//! longer than the original, and be byte-for-byte the original when every varint in it is
//! canonical. The decoder accepts over-long varints and, as Kafka does, ignores the bits of
//! a varint's last byte that lie past 32 (64 for a varlong); the builder writes neither, so
//! those inputs decode fine but re-encode differently.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use silt_segment::batch::{
    Batch, BatchBuilder, BatchConfig, BatchHeader, Batches, Compression, DecompressBuffer, Record,
    RecordHeader, HEADER_SIZE,
};
use silt_segment::{EncodeFault, SegmentError};

/// Bound on one batch's decompressed records: keeps each run fast and small.
const MAX_DECOMPRESSED_BYTES: usize = 1 << 20;

/// Attribute bits `BatchBuilder` sets for an uncompressed CreateTime batch: transactional
/// (bit 4) and control (bit 5). Any other bit (codec, LogAppendTime, delete horizon, the
/// undefined bits 7-15) rules out a byte-for-byte re-encode.
const REENCODABLE_ATTRIBUTES: i16 = (1 << 4) | (1 << 5);

fuzz_target!(|data: &[u8]| {
    let mut buffer = DecompressBuffer::with_limit(MAX_DECOMPRESSED_BYTES);
    let mut batches = Batches::new(data, 0);
    let mut consumed = 0usize;
    for batch in &mut batches {
        let Ok(batch) = batch else { break };
        assert_eq!(
            batch.position(),
            consumed as u64,
            "batches are back to back"
        );
        assert_eq!(batch.size() as u64, batch.header().total_size());
        assert!(batch.size() >= HEADER_SIZE);
        consumed += batch.size();
        check_batch(&batch, &mut buffer);
    }
    assert_eq!(batches.consumed(), consumed);
    assert!(consumed <= data.len());
});

fn check_batch(batch: &Batch<'_>, buffer: &mut DecompressBuffer) {
    let header = batch.header();
    let valid = batch.validate().is_ok();
    let all_records_ok = decode_all(batch, buffer);
    if valid
        && all_records_ok
        && batch.compression() == Compression::None
        && header.attributes.0 & !REENCODABLE_ATTRIBUTES == 0
    {
        check_reencode(batch, &header);
    }
}

/// Decodes every record (keys, values, each header); true if all decoded and the records
/// section held exactly the declared records.
fn decode_all(batch: &Batch<'_>, buffer: &mut DecompressBuffer) -> bool {
    let Ok(records) = batch.records(buffer) else {
        return false;
    };
    let mut decoded = 0u64;
    for record in records {
        let Ok(record) = record else {
            return false;
        };
        decoded += 1;
        black_box((record.offset, record.timestamp, record.key, record.value));
        let mut headers = 0;
        for header in record.headers.iter() {
            black_box((header.key, header.value));
            headers += 1;
        }
        assert_eq!(
            headers,
            record.headers.len(),
            "a decoded record's headers all iterate"
        );
    }
    assert_eq!(
        decoded,
        batch.records_count().max(0) as u64,
        "a records section that decodes cleanly holds exactly recordsCount records"
    );
    true
}

/// A record as the builder takes it.
#[derive(Debug, PartialEq, Eq)]
struct Plain<'a> {
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

/// The records of a valid uncompressed batch, if the builder could have written them: every
/// header key UTF-8 and every record attributes byte 0.
fn plain_records<'a>(records: &[Record<'a>]) -> Option<Vec<Plain<'a>>> {
    records
        .iter()
        .map(|r| {
            if r.attributes != 0 {
                return None;
            }
            let headers = r
                .headers
                .iter()
                .map(|h| std::str::from_utf8(h.key).ok().map(|k| (k, h.value)))
                .collect::<Option<Vec<_>>>()?;
            Some(Plain {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers,
            })
        })
        .collect()
}

fn check_reencode(batch: &Batch<'_>, header: &BatchHeader) {
    let Ok(records) = batch.records_uncompressed() else {
        panic!("a valid uncompressed batch must give its records without a buffer");
    };
    let records: Vec<Record<'_>> = records
        .collect::<Result<_, _>>()
        .expect("records decoded once decode again");
    let Some(plain) = plain_records(&records) else {
        return;
    };
    let (Some(first), count) = (plain.first(), plain.len() as i64) else {
        return; // the builder cannot write an empty batch
    };
    let contiguous = plain
        .iter()
        .zip(header.base_offset..)
        .all(|(r, expected)| r.offset == expected);
    let max_timestamp = plain.iter().map(|r| r.timestamp).max();
    if !contiguous
        || i64::from(header.last_offset_delta) != count - 1
        || header.base_timestamp != first.timestamp
        || Some(header.max_timestamp) != max_timestamp
    {
        return;
    }

    let config = BatchConfig {
        base_offset: header.base_offset,
        partition_leader_epoch: header.partition_leader_epoch,
        compression: Compression::None,
        timestamp_type: header.attributes.timestamp_type(),
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        transactional: header.attributes.is_transactional(),
        control: header.attributes.is_control(),
        ..BatchConfig::default()
    };
    let mut builder = BatchBuilder::new(config);
    for r in &plain {
        let headers: Vec<RecordHeader<'_>> = r
            .headers
            .iter()
            .map(|&(key, value)| RecordHeader { key, value })
            .collect();
        match builder.append(r.timestamp, r.key, r.value, &headers) {
            Ok(()) => {}
            // The decoder adds timestamp deltas wrapping, as Kafka does; a delta that wrapped
            // has no i64 equivalent for the builder.
            Err(SegmentError::Encode(EncodeFault::TimestampRange { .. })) => return,
            Err(e) => panic!("re-encoding a decoded batch failed: {e}"),
        }
    }
    let bytes = builder.finish().expect("finish a non-empty batch");

    let again = Batch::parse(&bytes, 0).expect("the builder's batch parses");
    again.validate().expect("the builder's batch validates");
    assert_eq!(again.size(), bytes.len());
    let decoded: Vec<Record<'_>> = again
        .records_uncompressed()
        .expect("uncompressed")
        .collect::<Result<_, _>>()
        .expect("the builder's records decode");
    assert_eq!(
        plain_records(&decoded).as_deref(),
        Some(&plain[..]),
        "re-encoded records decode to the originals"
    );
    assert!(
        bytes.len() <= batch.size(),
        "re-encoding never grows a batch: {} > {}",
        bytes.len(),
        batch.size()
    );
    if canonical_records(batch.records_bytes(), plain.len()) {
        assert_eq!(
            bytes.as_slice(),
            batch.as_bytes(),
            "a canonically encoded batch re-encodes to the same bytes"
        );
    }
}

/// True if `bytes` holds exactly `count` records whose every varint is the shortest encoding
/// of its value, with no ignored bits. Returns false on anything it cannot parse.
fn canonical_records(bytes: &[u8], count: usize) -> bool {
    let mut pos = 0;
    for _ in 0..count {
        let Some(length) = varint(bytes, &mut pos, 5) else {
            return false;
        };
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&end| end <= bytes.len())
        else {
            return false;
        };
        let Some(body) = bytes.get(..end) else {
            return false;
        };
        if !canonical_record_body(body, &mut pos) || pos != end {
            return false;
        }
    }
    pos == bytes.len()
}

fn canonical_record_body(body: &[u8], pos: &mut usize) -> bool {
    *pos += 1; // attributes
    if varint(body, pos, 10).is_none() || varint(body, pos, 5).is_none() {
        return false; // timestampDelta, offsetDelta
    }
    let field = |pos: &mut usize| -> Option<()> {
        let len = varint(body, pos, 5)?;
        if len >= 0 {
            *pos = pos.checked_add(usize::try_from(len).ok()?)?;
        }
        (*pos <= body.len()).then_some(())
    };
    if field(pos).is_none() || field(pos).is_none() {
        return false; // key, value
    }
    let Some(headers) = varint(body, pos, 5) else {
        return false;
    };
    for _ in 0..headers.max(0) {
        if field(pos).is_none() || field(pos).is_none() {
            return false;
        }
    }
    true
}

/// Reads a zig-zag LEB128 value of at most `max_bytes` bytes, `Some` only if those bytes are
/// exactly what an encoder writes for the value (shortest form, no bits past the type's
/// width, which is 32 bits for 5-byte varints and 64 for 10-byte varlongs).
fn varint(bytes: &[u8], pos: &mut usize, max_bytes: usize) -> Option<i64> {
    let start = *pos;
    let mut raw: u128 = 0;
    for i in 0..max_bytes {
        let b = *bytes.get(start + i)?;
        raw |= u128::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos = start + i + 1;
            let width_bits = if max_bytes == 5 { 32 } else { 64 };
            if raw >> width_bits != 0 {
                return None;
            }
            let mut canonical = Vec::with_capacity(max_bytes);
            let mut v = raw;
            while v >= 0x80 {
                canonical.push((v as u8) | 0x80);
                v >>= 7;
            }
            canonical.push(v as u8);
            if bytes.get(start..*pos)? != canonical.as_slice() {
                return None;
            }
            let raw = raw as u64;
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}
