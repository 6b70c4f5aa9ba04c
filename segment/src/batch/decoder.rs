//! Reading batches: a copy-free `Batch` view over validated bytes, an iterator over
//! batches laid back to back, and the record iterator.

use super::compression::DecompressBuffer;
use super::header::{
    field, Attributes, BatchHeader, Compression, TimestampType, HEADER_SIZE, LOG_OVERHEAD,
};
use super::record::{parse_record, Record};
use crate::error::{HeaderFault, RecordFault, Result, SegmentError};
use crate::varint::get_varint;

/// Largest batchLength the decoder accepts by default (i32::MAX, as Kafka's format allows);
/// callers bound it tighter with [`Batch::parse_bounded`] (a segment by its size, a
/// consumer by `max.message.bytes`).
pub const MAX_BATCH_LENGTH: i32 = i32::MAX;

/// A RecordBatch v2 whose header has been checked against the bytes present.
///
/// Header fields are read from the bytes on demand; nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    bytes: &'a [u8],
    position: u64,
}

impl<'a> Batch<'a> {
    /// Parses the batch at the start of `bytes`. `position` is where `bytes` starts in the
    /// caller's file or buffer, and is what errors report.
    ///
    /// Checks the magic, that batchLength is sane *and* that that many bytes are present
    /// (a shortfall is [`SegmentError::Incomplete`]), and that counts are not negative.
    /// It does not check the CRC: see [`Batch::validate`].
    #[inline]
    pub fn parse(bytes: &'a [u8], position: u64) -> Result<Self> {
        Self::parse_bounded(bytes, position, MAX_BATCH_LENGTH)
    }

    /// As [`Batch::parse`], refusing a batchLength above `max_length`.
    #[inline]
    pub fn parse_bounded(bytes: &'a [u8], position: u64, max_length: i32) -> Result<Self> {
        let available = bytes.len() as u64;
        let Some(head) = bytes.first_chunk::<HEADER_SIZE>() else {
            // Too short for a header: say what the length field promises if it is there.
            if let Some(start) = bytes.first_chunk::<LOG_OVERHEAD>() {
                let length = i32::from_be_bytes([start[8], start[9], start[10], start[11]]);
                if !(super::header::MIN_BATCH_LENGTH..=max_length).contains(&length) {
                    return Err(SegmentError::InvalidLength {
                        position,
                        length,
                        min: super::header::MIN_BATCH_LENGTH,
                        max: max_length,
                    });
                }
                let needed = LOG_OVERHEAD as u64 + length as u64;
                return Err(SegmentError::Incomplete {
                    position,
                    needed,
                    available,
                });
            }
            return Err(SegmentError::Incomplete {
                position,
                needed: HEADER_SIZE as u64,
                available,
            });
        };
        let header = BatchHeader::read(head);
        header.check(position, max_length)?;
        let size = header.total_size();
        if size > available {
            return Err(SegmentError::Incomplete {
                position,
                needed: size,
                available,
            });
        }
        let bytes = bytes.get(..size as usize).ok_or(SegmentError::Incomplete {
            position,
            needed: size,
            available,
        })?;
        Ok(Batch { bytes, position })
    }

    /// The whole batch, header included, exactly as stored.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where the batch starts (as given to `parse`).
    #[inline]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Size in bytes, header included.
    #[inline]
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The header fields, copied out.
    #[inline]
    pub fn header(&self) -> BatchHeader {
        // `parse` guaranteed at least HEADER_SIZE bytes.
        self.bytes
            .first_chunk::<HEADER_SIZE>()
            .map(BatchHeader::read)
            .unwrap_or_else(unreachable_header)
    }

    #[inline]
    fn i64_at(&self, at: usize) -> i64 {
        self.bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .unwrap_or_default()
    }

    #[inline]
    fn i32_at(&self, at: usize) -> i32 {
        self.bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
            .unwrap_or_default()
    }

    /// Offset of the first record.
    #[inline]
    pub fn base_offset(&self) -> i64 {
        self.i64_at(field::BASE_OFFSET)
    }

    /// Offset of the last record.
    #[inline]
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.i32_at(field::LAST_OFFSET_DELTA))
    }

    /// Offset after the last record.
    #[inline]
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Number of records the header declares.
    pub fn records_count(&self) -> i32 {
        self.i32_at(field::RECORDS_COUNT)
    }

    /// Largest timestamp of the batch.
    #[inline]
    pub fn max_timestamp(&self) -> i64 {
        self.i64_at(field::MAX_TIMESTAMP)
    }

    /// Timestamp of the first record.
    pub fn base_timestamp(&self) -> i64 {
        self.i64_at(field::BASE_TIMESTAMP)
    }

    /// The attributes.
    pub fn attributes(&self) -> Attributes {
        let a = self
            .bytes
            .get(field::ATTRIBUTES..field::ATTRIBUTES + 2)
            .unwrap_or(&[0, 0]);
        Attributes(i16::from_be_bytes([
            a.first().copied().unwrap_or(0),
            a.get(1).copied().unwrap_or(0),
        ]))
    }

    /// The records codec.
    pub fn compression(&self) -> Compression {
        self.attributes().compression()
    }

    /// The stored CRC.
    pub fn stored_crc(&self) -> u32 {
        self.i32_at(field::CRC) as u32
    }

    /// CRC-32C of the bytes the CRC covers (attributes to the end).
    pub fn compute_crc(&self) -> u32 {
        crate::checksum::crc32c(self.bytes.get(field::ATTRIBUTES..).unwrap_or_default())
    }

    /// Checks the CRC and that an uncompressed batch's count agrees with lastOffsetDelta.
    /// The records themselves are checked as they are iterated.
    pub fn validate(&self) -> Result<()> {
        let stored = self.stored_crc();
        let computed = self.compute_crc();
        if stored != computed {
            return Err(SegmentError::CrcMismatch {
                position: self.position,
                stored,
                computed,
            });
        }
        let header = self.header();
        // Compaction may remove records from a batch while keeping its offsets, so the count
        // can be below lastOffsetDelta + 1; above it never.
        if i64::from(header.records_count) > i64::from(header.last_offset_delta) + 1 {
            return Err(SegmentError::InvalidHeader {
                position: self.position,
                fault: HeaderFault::CountMismatch {
                    count: header.records_count,
                    last_offset_delta: header.last_offset_delta,
                },
            });
        }
        Ok(())
    }

    /// The records section exactly as stored (compressed or not).
    pub fn records_bytes(&self) -> &'a [u8] {
        self.bytes.get(field::RECORDS..).unwrap_or_default()
    }

    /// Iterates the records. Uncompressed records borrow from the batch; compressed ones are
    /// first decompressed into `buffer`, whose storage is reused from call to call.
    pub fn records<'s>(&'s self, buffer: &'s mut DecompressBuffer) -> Result<Records<'s>>
    where
        'a: 's,
    {
        let header = self.header();
        let codec = header.attributes.compression();
        let (bytes, section) = match codec {
            Compression::None => (self.records_bytes(), ""),
            other => (
                buffer.decompress(other, self.records_bytes(), self.position)?,
                "decompressed ",
            ),
        };
        Ok(Records::new(bytes, &header, self.position, section))
    }

    /// Decompresses the records section into `buffer` (replacing what it held), so that
    /// [`Batch::records_decompressed`] can iterate them later through a shared borrow.
    /// A reader that hands out records of many compressed batches at once (a consumer's
    /// poll) keeps one buffer per batch and decompresses each once, up front.
    pub fn decompress_into(&self, buffer: &mut DecompressBuffer) -> Result<()> {
        match self.compression() {
            Compression::None => {
                buffer.bytes.clear();
                Ok(())
            }
            codec => buffer
                .decompress(codec, self.records_bytes(), self.position)
                .map(|_| ()),
        }
    }

    /// The records of this batch: borrowed from the batch when it is uncompressed, else from
    /// `buffer`, which [`Batch::decompress_into`] must have filled from this same batch.
    pub fn records_decompressed<'s>(&self, buffer: &'s DecompressBuffer) -> Records<'s>
    where
        'a: 's,
    {
        let header = self.header();
        match header.attributes.compression() {
            Compression::None => Records::new(self.records_bytes(), &header, self.position, ""),
            _ => Records::new(&buffer.bytes, &header, self.position, "decompressed "),
        }
    }

    /// Iterates the records of an uncompressed batch without a buffer. Fails with
    /// [`SegmentError::UnsupportedCompression`] on a compressed batch.
    pub fn records_uncompressed(&self) -> Result<Records<'a>> {
        let header = self.header();
        match header.attributes.compression() {
            Compression::None => Ok(Records::new(
                self.records_bytes(),
                &header,
                self.position,
                "",
            )),
            codec => Err(SegmentError::UnsupportedCompression {
                position: self.position,
                codec,
            }),
        }
    }
}

#[cold]
fn unreachable_header() -> BatchHeader {
    BatchHeader::read(&[0; HEADER_SIZE])
}

/// Iterator over the records of one batch, validating each as it goes.
///
/// After the declared number of records it checks that no bytes are left over; the first
/// error ends the iteration.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    index: u32,
    count: u32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    prev_delta: i64,
    last_offset_delta: i64,
    batch_position: u64,
    section: &'static str,
    done: bool,
}

impl<'a> Records<'a> {
    pub(crate) fn new(
        bytes: &'a [u8],
        header: &BatchHeader,
        batch_position: u64,
        section: &'static str,
    ) -> Self {
        let log_append_time = match header.attributes.timestamp_type() {
            TimestampType::LogAppendTime => Some(header.max_timestamp),
            TimestampType::CreateTime => None,
        };
        Records {
            bytes,
            pos: 0,
            index: 0,
            count: header.records_count.max(0) as u32,
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time,
            prev_delta: -1,
            last_offset_delta: i64::from(header.last_offset_delta),
            batch_position,
            section,
            done: false,
        }
    }

    /// Records not yet returned, by the header's count.
    pub fn remaining(&self) -> u32 {
        self.count - self.index
    }

    /// The next record, or `None` after the last one *or at the first malformed one*:
    /// iteration then stops, as it does after an error of the iterator, and the error
    /// itself is not reported. For readers that validated the batch before (a consumer
    /// hands out records of batches it checked when it polled) and would only stop at an
    /// error: the record comes back in registers, without the iterator's `Result` around it
    /// (whose error variant is large), which makes it the fastest way through a batch.
    #[inline]
    pub fn next_valid(&mut self) -> Option<Record<'a>> {
        match self.step() {
            Ok(record) => record,
            Err(_) => {
                self.done = true;
                None
            }
        }
    }

    /// Moves past the records before `offset`. In a batch without offset gaps (its i-th
    /// record is at base + i, as every batch but a compacted one) only their lengths are
    /// read; otherwise they are parsed. A record that does not parse ends the iteration, as
    /// in [`Records::next_valid`]; one skipped by its length alone is not checked (a reader
    /// that checked the batch's CRC skips with this; records read after are checked).
    pub fn skip_to(&mut self, offset: i64) {
        let gap_free = i64::from(self.count) == self.last_offset_delta + 1;
        if !gap_free {
            loop {
                let before = self.clone();
                match self.next_valid() {
                    Some(record) if record.offset < offset => {}
                    Some(_) => {
                        *self = before;
                        return;
                    }
                    None => return,
                }
            }
        }
        let target = (offset - self.base_offset).clamp(0, i64::from(self.count)) as u32;
        while self.index < target && !self.done {
            let mut pos = self.pos;
            let skipped = get_varint(self.bytes, &mut pos)
                .ok()
                .and_then(|length| usize::try_from(length).ok())
                .and_then(|length| pos.checked_add(length))
                .filter(|&end| end <= self.bytes.len());
            match skipped {
                Some(end) => {
                    self.pos = end;
                    self.prev_delta = i64::from(self.index);
                    self.index += 1;
                }
                None => self.done = true,
            }
        }
    }

    /// One step: the next record, `Ok(None)` at a clean end (or once done), or why the
    /// batch is malformed (small, so the common case stays cheap to return).
    #[inline(always)]
    fn step(&mut self) -> std::result::Result<Option<Record<'a>>, Stop> {
        if self.done {
            return Ok(None);
        }
        if self.index == self.count {
            self.done = true;
            let left = self.bytes.len() - self.pos.min(self.bytes.len());
            return match left {
                0 => Ok(None),
                _ => Err(Stop::TrailingBytes(left as u64)),
            };
        }
        if self.pos >= self.bytes.len() {
            return Err(Stop::RecordsMissing);
        }
        let start = self.pos;
        let raw = match parse_record(self.bytes, &mut self.pos) {
            Ok(raw) => raw,
            Err(fault) => {
                self.pos = start;
                return Err(Stop::Record(fault));
            }
        };
        // Offsets rise inside a batch and end at lastOffsetDelta (compaction may leave gaps).
        let delta = i64::from(raw.offset_delta);
        if delta <= self.prev_delta || delta > self.last_offset_delta {
            self.pos = start;
            return Err(Stop::Record(RecordFault::OffsetDelta {
                expected: self.prev_delta + 1,
                found: delta,
            }));
        }
        self.prev_delta = delta;
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(raw.timestamp_delta),
        };
        self.index += 1;
        Ok(Some(Record {
            offset: self.base_offset + delta,
            timestamp,
            attributes: raw.attributes,
            key: raw.key,
            value: raw.value,
            headers: raw.headers,
        }))
    }

    /// The error a [`Stop`] is reported as; iteration ends with it.
    #[cold]
    fn error(&mut self, stop: Stop) -> SegmentError {
        self.done = true;
        match stop {
            Stop::Record(fault) => SegmentError::InvalidRecord {
                position: self.batch_position,
                index: self.index,
                offset: self.pos as u64,
                section: self.section,
                fault,
            },
            Stop::RecordsMissing => SegmentError::InvalidHeader {
                position: self.batch_position,
                fault: HeaderFault::RecordsMissing {
                    count: self.count as i32,
                    found: self.index,
                },
            },
            Stop::TrailingBytes(left) => SegmentError::InvalidHeader {
                position: self.batch_position,
                fault: HeaderFault::TrailingBytes(left),
            },
        }
    }
}

/// Why [`Records`] stopped before the declared count.
#[derive(Debug)]
enum Stop {
    /// A record is malformed.
    Record(RecordFault),
    /// The bytes ended before the declared count of records.
    RecordsMissing,
    /// Bytes are left after the declared count of records.
    TrailingBytes(u64),
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(record) => record.map(Ok),
            Err(stop) => Some(Err(self.error(stop))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining() as usize + 1))
    }
}

/// Iterator over batches laid back to back (a `.log` file, a fetch response).
///
/// Yields each batch after [`Batch::parse`]; stops at the end of the bytes, or after the
/// first error (an incomplete tail is [`SegmentError::Incomplete`]).
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    bytes: &'a [u8],
    pos: usize,
    base_position: u64,
    failed: bool,
}

impl<'a> Batches<'a> {
    /// Batches in `bytes`, which start at `base_position` of their file.
    pub fn new(bytes: &'a [u8], base_position: u64) -> Self {
        Batches {
            bytes,
            pos: 0,
            base_position,
            failed: false,
        }
    }

    /// Bytes consumed by the batches returned so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<Batch<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match Batch::parse(rest, self.base_position + self.pos as u64) {
            Ok(batch) => {
                self.pos += batch.size();
                Some(Ok(batch))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
