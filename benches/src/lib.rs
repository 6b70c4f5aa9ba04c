//! Shared workloads for silt's criterion benchmarks.
//!
//! Every bench measures silt beside a baseline on the same bytes in the same run (see
//! `DESIGN.md`, "Measuring"); the inputs they share are built here, deterministically, so
//! that two runs compare the same work: a xorshift PRNG, text-like records, and batches
//! encoded from them.
#![warn(missing_docs)]

use std::ops::Range;

use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
use silt_segment::batch::{Batch, BatchBuilder, BatchConfig, Batches};

pub mod produce;

/// Timestamp of the first generated record (2023-11-14, a realistic CreateTime).
pub const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// Marsaglia's xorshift64: deterministic, dependency-free, fast enough to not matter.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator seeded with `seed` (0 is replaced, xorshift never leaves it).
    pub fn new(seed: u64) -> Self {
        XorShift64(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..bound` (`bound > 0`); the modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// Words the values are made of: a small vocabulary gives the repetition real payloads
/// (JSON, logs) have, so lz4 and zstd find matches without the data being trivial.
const WORDS: &[&str] = &[
    "user",
    "order",
    "id",
    "status",
    "created",
    "updated",
    "amount",
    "currency",
    "EUR",
    "USD",
    "pending",
    "shipped",
    "delivered",
    "cancelled",
    "customer",
    "address",
    "street",
    "city",
    "country",
    "item",
    "sku",
    "quantity",
    "price",
    "total",
    "discount",
    "session",
    "click",
    "view",
    "page",
    "home",
    "cart",
    "checkout",
    "payment",
    "card",
    "visa",
    "true",
    "false",
    "null",
    "event",
    "source",
    "mobile",
    "web",
    "api",
    "region",
    "eu-west-1",
    "us-east-1",
    "latency",
    "ms",
    "ok",
    "error",
    "retry",
    "timeout",
    "GET",
    "POST",
    "/v1/orders",
    "/v1/users",
    "200",
    "404",
    "500",
    "kafka",
    "topic",
    "partition",
    "offset",
    "lag",
];

/// Records to encode, stored flat: keys and values live in one buffer.
#[derive(Debug, Clone)]
pub struct RecordSet {
    data: Vec<u8>,
    records: Vec<RecordSpec>,
}

#[derive(Debug, Clone)]
struct RecordSpec {
    timestamp_ms: i64,
    key: Range<usize>,
    value: Range<usize>,
}

/// One generated record, borrowed from its [`RecordSet`].
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// CreateTime in milliseconds.
    pub timestamp_ms: i64,
    /// Key bytes (8 to 16 bytes).
    pub key: &'a [u8],
    /// Value bytes.
    pub value: &'a [u8],
}

impl RecordSet {
    /// `count` records with 8–16 byte keys (`user-` and a hex id), `value_bytes`-byte
    /// text-like values, and timestamps rising 0–3 ms per record from
    /// [`BASE_TIMESTAMP_MS`], from seed `seed`.
    pub fn generate(count: usize, value_bytes: usize, seed: u64) -> Self {
        let mut rng = XorShift64::new(seed);
        let mut data = Vec::with_capacity(count * (value_bytes + 16));
        let mut records = Vec::with_capacity(count);
        let mut timestamp_ms = BASE_TIMESTAMP_MS;
        for _ in 0..count {
            timestamp_ms += rng.below(4) as i64;
            let key_start = data.len();
            let key_bytes = 8 + rng.below(9) as usize;
            data.extend_from_slice(b"user-");
            let id = rng.next_u64();
            for i in 0..key_bytes - 5 {
                let nibble = (id >> (4 * (i % 16))) & 0xF;
                data.push(b"0123456789abcdef"[nibble as usize]);
            }
            let value_start = data.len();
            fill_text(&mut data, value_bytes, &mut rng);
            records.push(RecordSpec {
                timestamp_ms,
                key: key_start..value_start,
                value: value_start..data.len(),
            });
        }
        RecordSet { data, records }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> Option<RecordRef<'_>> {
        let spec = self.records.get(i)?;
        Some(RecordRef {
            timestamp_ms: spec.timestamp_ms,
            key: self.data.get(spec.key.clone())?,
            value: self.data.get(spec.value.clone())?,
        })
    }

    /// The records in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + '_ {
        self.records.iter().map(|spec| RecordRef {
            timestamp_ms: spec.timestamp_ms,
            key: self.data.get(spec.key.clone()).unwrap_or_default(),
            value: self.data.get(spec.value.clone()).unwrap_or_default(),
        })
    }
}

/// Appends exactly `len` bytes of space-separated words to `out`.
fn fill_text(out: &mut Vec<u8>, len: usize, rng: &mut XorShift64) {
    let end = out.len() + len;
    while out.len() < end {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes();
        let take = word.len().min(end - out.len());
        out.extend_from_slice(&word[..take]);
        if out.len() < end {
            out.push(b' ');
        }
    }
}

/// Encodes `records` into batches of `per_batch` records (the last may be shorter), back
/// to back in one buffer, with `builder` (reused: the bench's own hot loop is this).
pub fn encode_into(
    builder: &mut BatchBuilder,
    records: &RecordSet,
    per_batch: usize,
    out: &mut Vec<u8>,
) -> silt_segment::Result<()> {
    let mut in_batch = 0;
    for r in records.iter() {
        builder.append(r.timestamp_ms, Some(r.key), Some(r.value), &[])?;
        in_batch += 1;
        if in_batch == per_batch {
            builder.finish_into(out)?;
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        builder.finish_into(out)?;
    }
    Ok(())
}

/// `records` encoded into batches of `per_batch` records with `config`.
pub fn encode_batches(records: &RecordSet, per_batch: usize, config: BatchConfig) -> Vec<u8> {
    let mut builder = BatchBuilder::new(config);
    let mut out = Vec::new();
    encode_into(&mut builder, records, per_batch, &mut out).expect("generated records encode");
    out
}

/// The byte range of every batch in `bytes` (batches back to back).
pub fn batch_ranges(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for batch in Batches::new(bytes, 0) {
        let size = batch.expect("well-formed batches").size();
        ranges.push(start..start + size);
        start += size;
    }
    ranges
}

/// The records section of every batch in `bytes`, copied out (for codec baselines that
/// compress exactly what silt compresses).
pub fn records_sections(bytes: &[u8]) -> Vec<Vec<u8>> {
    Batches::new(bytes, 0)
        .map(|batch| batch.expect("well-formed batches").records_bytes().to_vec())
        .collect()
}

/// The lz4 frame settings Kafka uses (and silt's encoder uses): 64 KB independent blocks,
/// no checksums. Baselines compress with these, so they do the work silt's lz4 does.
pub fn kafka_lz4_frame() -> FrameInfo {
    FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .content_checksum(false)
        .block_checksums(false)
}

/// Room a batch being filled keeps for its last, padding record (or none at all). Record
/// sizes skip a value where a varint grows (no record is 65 or 129 bytes long), so the
/// padding record is kept between 256 and ~400 bytes, where no varint in it changes width.
const MIN_PADDING_BYTES: usize = 256;

/// One uncompressed batch of exactly `batch_bytes` bytes, filled with `value_bytes`-byte
/// records from `seed` and one last record sized to take what is left.
pub fn batch_of_size(batch_bytes: usize, value_bytes: usize, seed: u64) -> Vec<u8> {
    let records = RecordSet::generate(batch_bytes / value_bytes + 1, value_bytes, seed);
    let mut builder = BatchBuilder::new(BatchConfig::default());
    let mut last = None;
    for r in records.iter() {
        let size = builder.record_size(r.timestamp_ms, Some(r.key), Some(r.value), &[]);
        let after = builder.uncompressed_size() + size;
        if after != batch_bytes && after + MIN_PADDING_BYTES > batch_bytes {
            last = Some(r);
            break;
        }
        builder
            .append(r.timestamp_ms, Some(r.key), Some(r.value), &[])
            .expect("generated record encodes");
    }
    let left = batch_bytes.saturating_sub(builder.uncompressed_size());
    if let (Some(r), true) = (last, left > 0) {
        let filler = vec![b'x'; left];
        let n = (0..left)
            .find(|&n| {
                builder.record_size(r.timestamp_ms, Some(r.key), Some(&filler[..n]), &[]) == left
            })
            .unwrap_or_else(|| panic!("no padding record of {left} bytes"));
        builder
            .append(r.timestamp_ms, Some(r.key), Some(&filler[..n]), &[])
            .expect("padding record encodes");
    }
    let batch = builder.finish().expect("batch encodes");
    debug_assert_eq!(batch.len(), batch_bytes);
    debug_assert!(Batch::parse(&batch, 0).is_ok_and(|b| b.validate().is_ok()));
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use silt_segment::batch::DecompressBuffer;

    #[test]
    fn records_have_the_promised_shape() {
        let set = RecordSet::generate(1000, 100, 7);
        assert_eq!(set.len(), 1000);
        let mut last = BASE_TIMESTAMP_MS;
        for r in set.iter() {
            assert!((8..=16).contains(&r.key.len()));
            assert_eq!(r.value.len(), 100);
            assert!(r.timestamp_ms >= last);
            last = r.timestamp_ms;
        }
    }

    #[test]
    fn batches_round_trip() {
        let set = RecordSet::generate(250, 100, 1);
        let bytes = encode_batches(&set, 100, BatchConfig::default());
        let ranges = batch_ranges(&bytes);
        assert_eq!(ranges.len(), 3);
        let mut buffer = DecompressBuffer::new();
        let mut n = 0;
        for batch in Batches::new(&bytes, 0) {
            let batch = batch.unwrap();
            batch.validate().unwrap();
            for record in batch.records(&mut buffer).unwrap() {
                let record = record.unwrap();
                assert_eq!(record.value, Some(set.get(n).unwrap().value));
                n += 1;
            }
        }
        assert_eq!(n, 250);
    }

    #[test]
    fn sized_batches_are_exact() {
        for seed in 1..200 {
            for size in [4 << 10, 16 << 10] {
                let batch = batch_of_size(size, 100, seed);
                assert_eq!(batch.len(), size, "seed {seed}");
                Batch::parse(&batch, 0).unwrap().validate().unwrap();
            }
        }
    }
}
