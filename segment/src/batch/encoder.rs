//! Writing batches: `BatchBuilder` turns records into exactly Kafka's bytes.

use std::mem::MaybeUninit;

use super::compression::Compressor;
use super::header::{
    Attributes, BatchHeader, Compression, TimestampType, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2,
};
use crate::error::{EncodeFault, Result, SegmentError};
use crate::varint::{put_varint, varint_len, varlong_len};

/// A header to write with a record: a UTF-8 key and a value that may be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// Header key.
    pub key: &'a str,
    /// Header value, `None` for null.
    pub value: Option<&'a [u8]>,
}

/// Batch-wide settings. The defaults are a plain, non-idempotent CreateTime batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Base offset written in the header (the segment writer stamps the real one).
    pub base_offset: i64,
    /// partitionLeaderEpoch (-1 when unknown; Kafka's producer writes -1... the broker stamps it).
    pub partition_leader_epoch: i32,
    /// Codec of the records section.
    pub compression: Compression,
    /// zstd level (`compression.zstd.level`, Kafka's default 3).
    pub zstd_level: i32,
    /// CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// Producer id, -1 for none.
    pub producer_id: i64,
    /// Producer epoch, -1 for none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 for none.
    pub base_sequence: i32,
    /// Transactional bit.
    pub transactional: bool,
    /// Control bit.
    pub control: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            zstd_level: 3,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
        }
    }
}

/// Builds one RecordBatch v2 at a time, reusing its buffers.
///
/// Records are encoded as they are appended (so `append` does the per-record work once and
/// allocates nothing after warm-up); `finish_into` writes the header, compresses the records
/// section if asked, and computes the CRC. The base timestamp is the first record's
/// timestamp, as Kafka's producer writes it.
///
/// ```
/// use silt_segment::batch::{Batch, BatchBuilder, BatchConfig, DecompressBuffer};
///
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
/// let bytes = builder.finish()?;
///
/// let batch = Batch::parse(&bytes, 0)?;
/// batch.validate()?;
/// let mut buffer = DecompressBuffer::new();
/// let record = batch.records(&mut buffer)?.next().unwrap()?;
/// assert_eq!(record.value, Some(&b"value"[..]));
/// # Ok::<(), silt_segment::SegmentError>(())
/// ```
pub struct BatchBuilder {
    config: BatchConfig,
    batch: BatchBuffer,
    compressor: Compressor,
}

impl std::fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("config", &self.config)
            .field("records", &self.batch.len())
            .field("bytes", &self.batch.size())
            .finish()
    }
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new(config: BatchConfig) -> Self {
        BatchBuilder {
            config,
            batch: BatchBuffer::new(Vec::new()),
            compressor: Compressor::new(),
        }
    }

    /// The settings of the batch being built.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Changes the settings; only allowed while empty (returns false otherwise).
    pub fn set_config(&mut self, config: BatchConfig) -> bool {
        if !self.batch.is_empty() {
            return false;
        }
        self.config = config;
        true
    }

    /// Records appended so far.
    pub fn len(&self) -> u32 {
        self.batch.len()
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Size of the batch if finished uncompressed now: header plus encoded records.
    pub fn uncompressed_size(&self) -> usize {
        self.batch.size()
    }

    /// Encoded size of a record with these fields at the next offset delta of this batch
    /// (what [`append`](Self::append) would add), for callers deciding when to seal.
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> usize {
        self.batch.record_size(timestamp, key, value, headers)
    }

    /// Appends a record. Its offset delta is its index in the batch.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<()> {
        self.batch.append(timestamp, key, value, headers)
    }

    /// Appends the finished batch to `out` and resets the builder for the next batch
    /// (keeping its buffers). Fails on an empty builder.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let batch = std::mem::replace(&mut self.batch, BatchBuffer::new(Vec::new()));
        let bytes = batch.finish(&self.config, &mut self.compressor)?;
        out.extend_from_slice(&bytes);
        self.batch = BatchBuffer::new(bytes);
        Ok(())
    }

    /// The finished batch as a new vector (see [`finish_into`](Self::finish_into)).
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        let batch = std::mem::replace(&mut self.batch, BatchBuffer::new(Vec::new()));
        batch.finish(&self.config, &mut self.compressor)
    }
}

/// What [`BatchBuffer::append_if_fits`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Appended; it took this many bytes.
    Appended(usize),
    /// Not appended: the batch would outgrow the limit with it.
    NoRoom,
    /// Not appended: [`BatchBuffer::try_append`] would refuse it with an error.
    Refused,
}

/// One batch being encoded into a buffer its caller owns: the header's 61 bytes are
/// reserved at the front, records are encoded behind them as they are appended, and
/// [`finish`](Self::finish) fills in the header (compressing the records in place if asked)
/// and hands the buffer back as the finished batch.
///
/// This is the producer's building block: the buffer comes from (and returns to) a pool, a
/// batch is never copied between its first record and the segment, and the compression
/// state ([`Compressor`]) is shared by every open batch of one thread.
///
/// ```
/// use silt_segment::batch::{Batch, BatchBuffer, BatchConfig, Compression, Compressor};
///
/// let mut batch = BatchBuffer::new(Vec::with_capacity(16384));
/// batch.append(1_700_000_000_000, None, Some(b"v1"), &[])?;
/// batch.append(1_700_000_000_001, None, Some(b"v2"), &[])?;
/// let config = BatchConfig { compression: Compression::Lz4, ..BatchConfig::default() };
/// let bytes = batch.finish(&config, &mut Compressor::new())?;
/// let batch = Batch::parse(&bytes, 0)?;
/// batch.validate()?;
/// assert_eq!(batch.records_count(), 2);
/// # Ok::<(), silt_segment::SegmentError>(())
/// ```
#[derive(Debug)]
pub struct BatchBuffer {
    buf: Vec<u8>,
    count: u32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuffer {
    /// An empty batch in `buf` (cleared; its capacity is kept).
    pub fn new(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.resize(HEADER_SIZE, 0);
        BatchBuffer {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Records appended so far.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the batch if finished uncompressed now: header plus encoded records.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Capacity of the buffer: records fit without reallocating while `size()` plus their
    /// [`record_size`](Self::record_size) stays within it.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Timestamp of the first record (0 while empty).
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// Encoded size of a record with these fields at the next offset delta (what
    /// [`append`](Self::append) would add).
    #[inline]
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> usize {
        let ts_delta = if self.count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        };
        let body = body_size(ts_delta, self.count as i32, key, value, headers);
        varint_len(body as i32) + body
    }

    /// Encoded size of a record with these fields as the first of a batch (offset and
    /// timestamp deltas 0): with [`HEADER_SIZE`], the size of a batch holding it alone.
    #[inline]
    pub fn first_record_size(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> usize {
        let body = body_size(0, 0, key, value, headers);
        varint_len(body as i32) + body
    }

    /// Appends a record. Its offset delta is its index in the batch.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<()> {
        self.try_append(timestamp, key, value, headers, usize::MAX)
            .map(drop)
    }

    /// Appends a record if the batch's [`size`](Self::size) stays within `limit` with it:
    /// returns the bytes it took, or `None` (and appends nothing) if it does not fit. Sizes
    /// the record once, so it is the cheaper way to fill a batch up to a limit than
    /// [`record_size`](Self::record_size) then [`append`](Self::append).
    #[inline]
    pub fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
        limit: usize,
    ) -> Result<Option<usize>> {
        match self.append_if_fits(timestamp, key, value, headers, limit) {
            Fit::Appended(size) => Ok(Some(size)),
            Fit::NoRoom => Ok(None),
            Fit::Refused => Err(self.refusal(timestamp, key, value, headers)),
        }
    }

    /// [`try_append`](Self::try_append) answered in a word, for a caller on a hot path: a
    /// record it would refuse with an error is [`Fit::Refused`], and nothing is appended;
    /// `try_append` with the same arguments then says why.
    #[inline]
    pub fn append_if_fits(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
        limit: usize,
    ) -> Fit {
        if self.count == i32::MAX as u32 {
            return Fit::Refused;
        }
        let Some(ts_delta) = timestamp.checked_sub(self.base_timestamp_for(timestamp)) else {
            return Fit::Refused;
        };
        let offset_delta = self.count as i32;
        let body = body_size(ts_delta, offset_delta, key, value, headers);
        let size = body + varint_len(i32::try_from(body).unwrap_or(i32::MAX));
        let start = self.buf.len();
        let total = start as u64 + size as u64;
        // A record that does not fit is the caller's to place elsewhere (or to refuse as too
        // large for any batch), whatever else is wrong with it.
        if total > limit as u64 {
            return Fit::NoRoom;
        }
        let Ok(body_i32) = i32::try_from(body) else {
            return Fit::Refused;
        };
        if total > i32::MAX as u64 || !fields_fit_i32(key, value, headers) {
            return Fit::Refused;
        }

        // Exactly the record's size: a caller that checked it fits the capacity gets no
        // reallocation.
        self.buf.reserve(size);
        // Straight into the reserved bytes, one store per byte: staged in a local array and
        // copied from there, each byte would be a load that cannot be forwarded; pushed, each
        // byte would check the capacity and update the length.
        let mut out = RecordWriter::new(self.buf.spare_capacity_mut());
        out.varlong(i64::from(body_i32));
        out.byte(0); // record attributes: unused
        out.varlong(ts_delta);
        out.varlong(i64::from(offset_delta));
        out.field(key);
        out.field(value);
        out.varlong(headers.len() as i64);
        for h in headers {
            out.field(Some(h.key.as_bytes()));
            out.field(h.value);
        }
        if out.written() != size {
            return Fit::Refused;
        }
        // SAFETY: the writer wrote each byte it moved past, and moved past exactly `size`
        // bytes of the spare capacity (checked just above; `reserve` made it at least
        // `size` long), so `start + size` bytes are initialised and within the capacity.
        unsafe { self.buf.set_len(start + size) };

        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Fit::Appended(size)
    }

    /// The batch's base timestamp once a record stamped `timestamp` is in it: the first
    /// record's, as Kafka's producer writes it.
    #[inline]
    fn base_timestamp_for(&self, timestamp: i64) -> i64 {
        if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        }
    }

    /// Why [`append_if_fits`](Self::append_if_fits) refused a record with these fields, in
    /// the order `try_append` reports it.
    #[cold]
    #[inline(never)]
    pub fn refusal(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> SegmentError {
        if self.count == i32::MAX as u32 {
            return SegmentError::Encode(EncodeFault::TooManyRecords);
        }
        let base = self.base_timestamp_for(timestamp);
        let Some(ts_delta) = timestamp.checked_sub(base) else {
            return SegmentError::Encode(EncodeFault::TimestampRange { timestamp, base });
        };
        let fields = [("key", key), ("value", value)]
            .into_iter()
            .chain(headers.iter().flat_map(|h| {
                [
                    ("header key", Some(h.key.as_bytes())),
                    ("header value", h.value),
                ]
            }));
        for (field, bytes) in fields {
            if let Some(b) = bytes.filter(|b| b.len() > i32::MAX as usize) {
                return SegmentError::Encode(EncodeFault::FieldTooLong {
                    field,
                    len: b.len(),
                });
            }
        }
        let body = body_size(ts_delta, self.count as i32, key, value, headers);
        if i32::try_from(body).is_err() {
            return SegmentError::Encode(EncodeFault::FieldTooLong {
                field: "record",
                len: body,
            });
        }
        let size = body + varint_len(body as i32);
        let total = self.buf.len() as u64 + size as u64;
        if total > i32::MAX as u64 {
            return SegmentError::Encode(EncodeFault::BatchTooLarge(total));
        }
        SegmentError::Encode(EncodeFault::SizeMismatch { sized: size })
    }

    /// Finishes the batch: compresses the records section in place per `config`, writes the
    /// header and the CRC, and returns the buffer holding exactly the batch. Fails on an empty
    /// batch (and then, like on every error, the buffer is dropped).
    pub fn finish(self, config: &BatchConfig, compressor: &mut Compressor) -> Result<Vec<u8>> {
        if self.count == 0 {
            return Err(SegmentError::Encode(EncodeFault::Empty));
        }
        let c = config;
        let mut buf = self.buf;
        if c.compression == Compression::Lz4 {
            let records = buf.get(HEADER_SIZE..).unwrap_or_default();
            let frame = compressor
                .lz4(records)
                .map_err(|source| SegmentError::Compress {
                    codec: Compression::Lz4,
                    source,
                })?;
            buf.truncate(HEADER_SIZE);
            buf.extend_from_slice(frame);
        } else if c.compression != Compression::None {
            let mut scratch = std::mem::take(&mut compressor.scratch);
            scratch.clear();
            let records = buf.get(HEADER_SIZE..).unwrap_or_default();
            let compressed =
                compressor.compress(c.compression, c.zstd_level, records, &mut scratch);
            if compressed.is_ok() {
                buf.truncate(HEADER_SIZE);
                buf.extend_from_slice(&scratch);
            }
            compressor.scratch = scratch;
            compressed?;
        }
        let batch_length = i32::try_from(buf.len() - LOG_OVERHEAD)
            .map_err(|_| SegmentError::Encode(EncodeFault::BatchTooLarge(buf.len() as u64)))?;
        let header = BatchHeader {
            base_offset: c.base_offset,
            batch_length,
            partition_leader_epoch: c.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes: Attributes::new(
                c.compression,
                c.timestamp_type,
                c.transactional,
                c.control,
            ),
            last_offset_delta: self.count as i32 - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: c.producer_id,
            producer_epoch: c.producer_epoch,
            base_sequence: c.base_sequence,
            records_count: self.count as i32,
        };
        write_header(&mut buf, &header);
        Ok(buf)
    }
}

/// Writes `header` over the first 61 bytes of `batch` and sets the CRC over the rest.
pub(crate) fn write_header(batch: &mut [u8], header: &BatchHeader) {
    if let Some(head) = batch.first_chunk_mut::<HEADER_SIZE>() {
        header.write(head);
    }
    refresh_crc(batch);
}

/// Recomputes and stores the CRC-32C of a batch (after a covered field changed).
pub fn refresh_crc(batch: &mut [u8]) {
    use super::header::field;
    let crc = crate::checksum::crc32c(batch.get(field::ATTRIBUTES..).unwrap_or_default());
    if let Some(slot) = batch.get_mut(field::CRC..field::CRC + 4) {
        slot.copy_from_slice(&crc.to_be_bytes());
    }
}

/// Stamps the base offset of a batch in place. It lies outside the CRC, so the checksum
/// stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(head) = batch.first_chunk_mut::<8>() {
        *head = base_offset.to_be_bytes();
    }
}

/// Turns a batch into a LogAppendTime batch stamped `append_time_ms`: sets attribute bit 3
/// and maxTimestamp, then recomputes the CRC (both fields are covered by it), as Kafka's
/// broker does for topics with `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], append_time_ms: i64) {
    let Some(head) = batch.first_chunk_mut::<HEADER_SIZE>() else {
        return;
    };
    let mut header = BatchHeader::read(head);
    header.attributes = Attributes(header.attributes.0 | (1 << 3));
    header.max_timestamp = append_time_ms;
    header.write(head);
    refresh_crc(batch);
}

/// Whether every length a record writes fits the i32 varint Kafka gives it.
#[inline(always)]
fn fields_fit_i32(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[RecordHeader<'_>]) -> bool {
    let fits = |bytes: Option<&[u8]>| bytes.is_none_or(|b| b.len() <= i32::MAX as usize);
    fits(key)
        && fits(value)
        && headers
            .iter()
            .all(|h| fits(Some(h.key.as_bytes())) && fits(h.value))
}

#[inline]
pub(crate) fn bytes_size(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

/// Size of a record after its length varint (Kafka's `DefaultRecord.sizeOfBodyInBytes`).
#[inline(always)]
fn body_size(
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader<'_>],
) -> usize {
    let mut size =
        1 + varlong_len(ts_delta) + varint_len(offset_delta) + bytes_size(key) + bytes_size(value);
    size += varint_len(headers.len() as i32);
    for h in headers {
        size += bytes_size(Some(h.key.as_bytes())) + bytes_size(h.value);
    }
    size
}

/// Writes one record, front to back, into the uninitialised spare capacity of a batch
/// buffer. Every method writes each byte it moves past, or, past the end of `dst`, writes
/// nothing and moves past it anyway: a record sized wrong shows in [`written`](Self::written)
/// and is refused before any of it counts as written.
struct RecordWriter<'a> {
    dst: &'a mut [MaybeUninit<u8>],
    pos: usize,
}

impl<'a> RecordWriter<'a> {
    #[inline(always)]
    fn new(dst: &'a mut [MaybeUninit<u8>]) -> Self {
        RecordWriter { dst, pos: 0 }
    }

    /// Bytes moved past so far.
    #[inline(always)]
    fn written(&self) -> usize {
        self.pos
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.dst.get_mut(self.pos) {
            slot.write(b);
        }
        self.pos += 1;
    }

    /// A zig-zag varlong. The lengths, deltas and counts of a batch's records mostly take
    /// one or two bytes, written here without a loop.
    #[inline(always)]
    fn varlong(&mut self, value: i64) {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        if v < 0x80 {
            self.byte(v as u8);
            return;
        }
        if v < 0x4000 {
            if let Some([low, high]) = self.dst.get_mut(self.pos..self.pos + 2) {
                low.write((v as u8) | 0x80);
                high.write((v >> 7) as u8);
            }
            self.pos += 2;
            return;
        }
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// A bytes field: its length (-1 for null), then the bytes.
    #[inline(always)]
    fn field(&mut self, bytes: Option<&[u8]>) {
        self.varlong(bytes_len(bytes));
        let Some(src) = bytes else {
            return;
        };
        if let Some(dst) = self.dst.get_mut(self.pos..self.pos + src.len()) {
            // SAFETY: `dst` is exactly `src.len()` bytes long, and a `&mut` slice cannot
            // overlap the shared `src`; `MaybeUninit<u8>` has the layout of `u8`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src.as_ptr(),
                    dst.as_mut_ptr().cast::<u8>(),
                    src.len(),
                );
            }
        }
        self.pos += src.len();
    }
}

/// The length a bytes field is written with: -1 for null.
#[inline]
fn bytes_len(bytes: Option<&[u8]>) -> i64 {
    bytes.map_or(-1, |b| b.len() as i64)
}

#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}
