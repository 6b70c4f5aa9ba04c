//! Records inside a batch: the borrowed `Record` view, its headers, and the parser.
//!
//! Record: length varint · attributes i8 · timestampDelta varlong · offsetDelta varint ·
//! keyLength varint (-1 null) · key · valueLength varint (-1 null) · value ·
//! headerCount varint · headers (keyLength varint, key, valueLength varint, value).

use crate::error::RecordFault;
use crate::varint::{get_varint, get_varlong};

/// One record, borrowed from a batch (uncompressed) or from a decompression buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Absolute offset: the batch's base offset plus the record's offset delta.
    pub offset: i64,
    /// Timestamp: base timestamp plus delta, or the batch's maxTimestamp under LogAppendTime.
    pub timestamp: i64,
    /// The record's attributes byte (unused by Kafka today).
    pub attributes: i8,
    /// The key, `None` when null.
    pub key: Option<&'a [u8]>,
    /// The value, `None` when null.
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: Headers<'a>,
}

/// A record header as encoded: key bytes (UTF-8 by Kafka's contract), value possibly null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key.
    pub key: &'a [u8],
    /// Header value, `None` when null.
    pub value: Option<&'a [u8]>,
}

/// The headers of one record: already validated bytes, parsed lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    bytes: &'a [u8],
    count: u32,
}

impl<'a> Headers<'a> {
    /// The encoded headers (each key and value with its length varint), without the count.
    pub(crate) fn raw(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates the headers.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter {
            bytes: self.bytes,
            pos: 0,
            remaining: self.count,
        }
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// Iterator over validated headers.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // The bytes were validated when the record was parsed; a failure here cannot
        // happen, and ends the iteration rather than panicking.
        let key = read_field(self.bytes, &mut self.pos, self.bytes.len(), "header key").ok()??;
        let value = read_field(self.bytes, &mut self.pos, self.bytes.len(), "header value").ok()?;
        Some(Header { key, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

/// A length-prefixed field (varint length, -1 for null) ending no later than `end`.
#[inline]
fn read_field<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
    end: usize,
    field: &'static str,
) -> Result<Option<&'a [u8]>, RecordFault> {
    let len = get_varint(bytes, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let bad = RecordFault::BadFieldLength {
        field,
        length: i64::from(len),
    };
    let len = usize::try_from(len).map_err(|_| bad)?;
    let stop = pos.checked_add(len).filter(|&s| s <= end).ok_or(bad)?;
    let field = bytes.get(*pos..stop).ok_or(bad)?;
    *pos = stop;
    Ok(Some(field))
}

/// The fields of a record before the batch's base offset and timestamp are applied.
pub(crate) struct RawRecord<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Headers<'a>,
}

/// Parses the record at `*pos` of `bytes`, checking every length against what is
/// present and that the fields fill exactly the declared record length.
#[inline]
pub(crate) fn parse_record<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
) -> Result<RawRecord<'a>, RecordFault> {
    let length = get_varint(bytes, pos)?;
    let remaining = bytes.len().saturating_sub(*pos);
    let bad_length = RecordFault::BadLength {
        length: i64::from(length),
        remaining: remaining as u64,
    };
    let length = usize::try_from(length).map_err(|_| bad_length)?;
    if length > remaining {
        return Err(bad_length);
    }
    let start = *pos;
    let end = start + length;
    // Parse inside the record's own bytes, so no field can reach past its end.
    let body = bytes.get(..end).ok_or(bad_length)?;
    let attributes = *body.get(*pos).ok_or(RecordFault::LengthMismatch {
        declared: length as u64,
        used: length as u64 + 1,
    })? as i8;
    *pos += 1;
    let timestamp_delta = get_varlong(body, pos)?;
    let offset_delta = get_varint(body, pos)?;
    let key = read_field(body, pos, end, "key")?;
    let value = read_field(body, pos, end, "value")?;
    let header_count = get_varint(body, pos)?;
    // Each header takes at least two bytes (two length varints), which bounds the count
    // by the bytes left before anything is trusted.
    let left = end - *pos;
    let header_count = u32::try_from(header_count)
        .ok()
        .filter(|&c| c as usize <= left / 2)
        .ok_or(RecordFault::BadHeaderCount(i64::from(header_count)))?;
    let headers_start = *pos;
    for _ in 0..header_count {
        if read_field(body, pos, end, "header key")?.is_none() {
            return Err(RecordFault::NullHeaderKey);
        }
        read_field(body, pos, end, "header value")?;
    }
    if *pos != end {
        return Err(RecordFault::LengthMismatch {
            declared: length as u64,
            used: (*pos - start) as u64,
        });
    }
    let headers = Headers {
        bytes: body.get(headers_start..end).unwrap_or_default(),
        count: header_count,
    };
    Ok(RawRecord {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}
