//! The result of a fetch: whole batches borrowed from a segment's map.

use std::path::Path;

use silt_segment::batch::{Batch, Batches, DecompressBuffer, Record, Records};
use silt_segment::log::SegmentReader;

use crate::error::Result;

/// Whole batches read from one segment, borrowed from its map without copying.
///
/// The `Fetch` holds the segment's reader, and with it the map: the bytes stay valid after
/// the segment rolls, is deleted by retention, or its topic is deleted. The batches are the
/// stored bytes, unchanged ([`Fetch::bytes`]), ready for a network server; records come from
/// [`Fetch::records`] or [`Fetch::for_each_record`], which check each batch's CRC-32C and skip
/// the records before the fetch offset.
///
/// ```
/// use silt_engine::{Engine, EngineConfig, NewTopic};
/// use silt_segment::batch::{BatchBuilder, BatchConfig, DecompressBuffer};
///
/// let dir = tempfile::tempdir()?;
/// let engine = Engine::open(dir.path(), EngineConfig::default())?;
/// engine.create_topic(NewTopic::new("events", 1).config("segment.bytes", "1048576"))?;
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[])?;
/// engine.append("events", 0, &builder.finish()?)?;
///
/// let fetch = engine.fetch("events", 0, 0, 1 << 20)?;
/// let mut buffer = DecompressBuffer::new();
/// let mut values = Vec::new();
/// fetch.for_each_record(&mut buffer, |record| values.push(record.value.map(<[u8]>::to_vec)))?;
/// assert_eq!(values, vec![Some(b"v".to_vec())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fetch {
    reader: Option<SegmentReader>,
    position: u32,
    len: u32,
    fetch_offset: i64,
    next_offset: i64,
    log_start: i64,
    log_end: i64,
}

impl Fetch {
    pub(crate) fn new(
        reader: SegmentReader,
        (position, len, next_offset): (u32, u32, i64),
        fetch_offset: i64,
        log_start: i64,
        log_end: i64,
    ) -> Self {
        Fetch {
            reader: Some(reader),
            position,
            len,
            fetch_offset,
            next_offset,
            log_start,
            log_end,
        }
    }

    pub(crate) fn empty(fetch_offset: i64, log_start: i64, log_end: i64) -> Self {
        Fetch {
            reader: None,
            position: 0,
            len: 0,
            fetch_offset,
            next_offset: fetch_offset,
            log_start,
            log_end,
        }
    }

    /// The batches exactly as stored in the segment file.
    pub fn bytes(&self) -> &[u8] {
        let Some(reader) = self.reader.as_ref() else {
            return &[];
        };
        let start = self.position as usize;
        reader
            .bytes()
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }

    /// True when the fetch returned no batch (the offset is the log end).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `.log` file the batches lie in, and their position in it (for `sendfile`).
    pub fn file_region(&self) -> Option<(&Path, u64)> {
        let reader = self.reader.as_ref()?;
        Some((reader.path(), u64::from(self.position)))
    }

    /// The offset asked for.
    pub fn fetch_offset(&self) -> i64 {
        self.fetch_offset
    }

    /// The offset after the last batch returned: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// The log start offset when the fetch was made.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start
    }

    /// The log end offset when the fetch was made (Kafka's high watermark, with one replica):
    /// never below [`Fetch::next_offset`], so every record returned lies below it.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end
    }

    /// The batches, parsed (headers checked, CRC not yet).
    pub fn batches(&self) -> Batches<'_> {
        Batches::new(self.bytes(), u64::from(self.position))
    }

    /// The records of `batch` (one of [`Fetch::batches`]) at or after the fetch offset, after
    /// checking the batch's CRC-32C. Uncompressed records borrow from the map; compressed ones
    /// are decompressed into `buffer`.
    pub fn records<'s>(
        &self,
        batch: &'s Batch<'s>,
        buffer: &'s mut DecompressBuffer,
    ) -> Result<FetchedRecords<'s>> {
        batch.validate()?;
        Ok(FetchedRecords {
            records: batch.records(buffer)?,
            from: self.fetch_offset,
        })
    }

    /// Calls `f` with every record at or after the fetch offset, in order; returns how many.
    /// Stops at the first invalid batch or record with its error.
    pub fn for_each_record(
        &self,
        buffer: &mut DecompressBuffer,
        mut f: impl FnMut(Record<'_>),
    ) -> Result<usize> {
        let mut count = 0;
        for batch in self.batches() {
            let batch = batch?;
            if batch.last_offset() < self.fetch_offset {
                continue;
            }
            for record in self.records(&batch, buffer)? {
                f(record?);
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Records of one fetched batch, from the fetch offset on.
#[derive(Debug)]
pub struct FetchedRecords<'a> {
    records: Records<'a>,
    from: i64,
}

impl<'a> Iterator for FetchedRecords<'a> {
    type Item = Result<Record<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.records.next()? {
                Ok(record) if record.offset < self.from => continue,
                Ok(record) => return Some(Ok(record)),
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}
