//! Filling one poll: whole batches fetched from each assigned partition's log, checked
//! once, and cut at `max.poll.records`.
//!
//! A fetch reads up to `max.partition.fetch.bytes` of batches, far more than one poll hands
//! out (500 records of 100 bytes are ~60 KB of a 1 MiB fetch). What a poll leaves is kept
//! as the partition's [`Pending`] fetch (Kafka's consumer keeps its "completed fetch" the
//! same way) and the next polls take from it, so the log is looked up once per fetch, not
//! once per poll, and a batch cut by `max.poll.records` is checked once, not once per poll
//! that takes from it. Like any [`Fetch`], a pending one holds its segment's map: what a
//! consumer fetched before retention deleted the segment is still handed out, as Kafka's
//! consumer hands out what it already fetched.

use silt_engine::Fetch;
use silt_segment::batch::{Batch, Batches, Compression, DecompressBuffer};

use super::records::{Chunk, PollBuffers};
use crate::error::Result;

/// A partition's fetched batches that polls have not yet handed out in full.
#[derive(Debug)]
pub(crate) struct Pending {
    fetch: Fetch,
    /// Where, in the fetch's bytes, the first batch not yet handed out in full starts.
    cursor: usize,
    /// The partition position the next poll continues from: the fetch is used only while
    /// the position is still this one (a seek drops it).
    position: i64,
    /// The batch at `cursor` was checked already (the poll before cut it).
    checked: bool,
}

impl Pending {
    /// A fresh fetch made at `position`.
    pub(crate) fn new(fetch: Fetch, position: i64) -> Self {
        Pending {
            fetch,
            cursor: 0,
            position,
            checked: false,
        }
    }

    /// The position the fetch continues from.
    pub(crate) fn position(&self) -> i64 {
        self.position
    }
}

/// Adds records of `pending` at or after its position to `out`, at most `budget` of them.
/// Returns the position after the last record taken, and the fetch again if it still holds
/// batches (the budget ran out first).
///
/// Each batch is checked (CRC-32C with `check_crcs`, else every record's framing) before
/// any of its records is handed out, so iterating a poll cannot fail. With `check_crcs`
/// the records were checked when appended, and the CRC says they are still what was
/// checked: a batch is then cut by arithmetic on its offsets (records of a batch without
/// offset gaps are at base, base + 1, …), with no record walked; a batch with gaps (a
/// compacted one), or any batch without `check_crcs`, is walked.
pub(crate) fn take_records(
    pending: Pending,
    topic: &str,
    partition: u32,
    budget: &mut usize,
    check_crcs: bool,
    out: &mut PollBuffers,
) -> Result<(i64, Option<Pending>)> {
    let fetch_index = out.fetches.len();
    let topic = out.topic_index(topic);
    let mut chunks = std::mem::take(&mut out.chunks);
    let first_chunk = chunks.len();
    let Pending {
        fetch,
        mut cursor,
        mut position,
        mut checked,
    } = pending;
    let result = (|| -> Result<bool> {
        let fetch_start = fetch.file_region().map_or(0, |(_, start)| start);
        let rest = fetch.bytes().get(cursor..).unwrap_or_default();
        for batch in Batches::new(rest, fetch_start + cursor as u64) {
            if *budget == 0 {
                return Ok(false);
            }
            let batch = batch?;
            let start = cursor;
            if batch.last_offset() < position {
                cursor += batch.size();
                checked = false;
                continue;
            }
            if check_crcs && !checked {
                batch.validate()?;
            }
            let buffer = match batch.compression() {
                Compression::None => None,
                _ => {
                    let i = out.take_buffer();
                    if let Some(b) = out.buffers.get_mut(i) {
                        batch.decompress_into(b)?;
                    }
                    Some(i)
                }
            };
            let from = position;
            let (to, count) = cut(
                &batch,
                buffer.and_then(|i| out.buffers.get(i)),
                position,
                *budget,
                check_crcs,
            )?;
            if count > 0 {
                chunks.push(Chunk {
                    fetch: fetch_index,
                    topic,
                    partition,
                    start,
                    end: start + batch.size(),
                    from,
                    to,
                    buffer,
                });
                *budget -= count;
                out.count += count;
            }
            position = to;
            if to < batch.next_offset() {
                // Cut by the budget: the next poll starts inside this batch.
                checked = true;
                return Ok(false);
            }
            cursor += batch.size();
            checked = false;
        }
        Ok(true)
    })();
    if chunks.len() > first_chunk {
        out.fetches.push(fetch.clone());
    }
    out.chunks = chunks;
    let exhausted = result?;
    let pending = (!exhausted).then_some(Pending {
        fetch,
        cursor,
        position,
        checked,
    });
    Ok((position, pending))
}

/// Where to stop in `batch`: the offset after the last record taken, and how many records
/// (at or after `position`) are taken, at most `budget`. `crc_checked`: the batch's CRC
/// was checked, so its records need not be walked when its offsets have no gaps.
fn cut(
    batch: &Batch<'_>,
    buffer: Option<&DecompressBuffer>,
    position: i64,
    budget: usize,
    crc_checked: bool,
) -> Result<(i64, usize)> {
    let gap_free = i64::from(batch.records_count()) == batch.next_offset() - batch.base_offset();
    if crc_checked && gap_free {
        let from = position.max(batch.base_offset());
        let count = ((batch.next_offset() - from).max(0) as usize).min(budget);
        return Ok((from + count as i64, count));
    }
    // Walked with the validating iterator: every record's framing is checked.
    let records = match buffer {
        Some(b) => batch.records_decompressed(b),
        None => batch.records_uncompressed()?,
    };
    let mut count = 0;
    for record in records {
        let record = record?;
        if record.offset < position {
            continue;
        }
        if count == budget {
            return Ok((record.offset, count));
        }
        count += 1;
    }
    Ok((batch.next_offset(), count))
}
