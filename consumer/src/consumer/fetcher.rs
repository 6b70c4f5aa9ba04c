//! Filling one poll: whole batches fetched from each assigned partition's log, checked
//! once, and cut at `max.poll.records`.

use silt_engine::Fetch;
use silt_segment::batch::{Batch, Compression};

use super::records::{Chunk, PollBuffers};
use crate::error::Result;

/// Adds the records of `fetch` at or after `position` to `out`, at most `budget` of them;
/// returns the position after the last record taken.
///
/// Each batch is checked (CRC-32C with `check_crcs`, and every record's framing) before any
/// of its records is handed out, so iterating a poll cannot fail. A batch is taken whole
/// when it fits the budget and its CRC was checked (its next offset is then known from the
/// header); the batch that crosses the budget, or the first one after a seek into its middle,
/// is walked to find where to cut.
pub(crate) fn take_records(
    fetch: Fetch,
    topic: &str,
    partition: u32,
    mut position: i64,
    budget: &mut usize,
    check_crcs: bool,
    out: &mut PollBuffers,
) -> Result<i64> {
    let fetch_index = out.fetches.len();
    let topic = out.topic_index(topic);
    let mut chunks = std::mem::take(&mut out.chunks);
    let result = (|| {
        for batch in fetch.batches() {
            if *budget == 0 {
                break;
            }
            let batch = batch?;
            if batch.last_offset() < position {
                continue;
            }
            if check_crcs {
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
            let whole = batch.records_count().max(0) as usize;
            let (to, count) = if check_crcs && batch.base_offset() >= position && whole <= *budget {
                // The CRC covers the records, which were checked when appended: take the
                // batch whole, knowing its end from the header.
                (batch.next_offset(), whole)
            } else {
                cut(
                    &batch,
                    buffer.and_then(|i| out.buffers.get(i)),
                    position,
                    *budget,
                )?
            };
            if count > 0 {
                let start = (batch.position() - fetch_position(&fetch)) as usize;
                chunks.push(Chunk {
                    fetch: fetch_index,
                    topic,
                    partition,
                    start,
                    end: start + batch.size(),
                    from: position,
                    to,
                    buffer,
                });
                *budget -= count;
                out.count += count;
            }
            position = to;
        }
        Ok(position)
    })();
    out.chunks = chunks;
    out.fetches.push(fetch);
    result
}

fn fetch_position(fetch: &Fetch) -> u64 {
    fetch.file_region().map_or(0, |(_, position)| position)
}

/// Where to stop in `batch`: the offset after the last record taken, and how many records
/// (at or after `position`) are taken, at most `budget`. Every record is walked once, which
/// validates its framing.
fn cut(
    batch: &Batch<'_>,
    buffer: Option<&silt_segment::batch::DecompressBuffer>,
    position: i64,
    budget: usize,
) -> Result<(i64, usize)> {
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
