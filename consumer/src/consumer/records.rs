//! What `poll` returns: records borrowed from the engine's maps (uncompressed batches) or
//! from the consumer's decompression buffers, without copying.

use silt_engine::Fetch;
use silt_segment::batch::{Batch, DecompressBuffer, Headers, Records};

/// One record handed out by [`Consumer::poll`](super::Consumer::poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp (CreateTime, or LogAppendTime when the topic stamps append time).
    pub timestamp: i64,
    /// The key, `None` when null.
    pub key: Option<&'a [u8]>,
    /// The value, `None` when null (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: Headers<'a>,
}

/// The records of one batch that one poll hands out: offsets `from..to` of the batch at
/// `start..end` of fetch `fetch`, decompressed (when compressed) into buffer `buffer`.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) fetch: usize,
    pub(crate) topic: usize,
    pub(crate) partition: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) from: i64,
    pub(crate) to: i64,
    pub(crate) buffer: Option<usize>,
}

/// What one poll collected. Kept by the consumer and reused from poll to poll, so a poll
/// allocates nothing once warm.
#[derive(Debug, Default)]
pub(crate) struct PollBuffers {
    pub(crate) fetches: Vec<Fetch>,
    pub(crate) topics: Vec<String>,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) buffers: Vec<DecompressBuffer>,
    pub(crate) buffers_used: usize,
    pub(crate) count: usize,
}

impl PollBuffers {
    pub(crate) fn clear(&mut self) {
        self.fetches.clear();
        self.chunks.clear();
        self.buffers_used = 0;
        self.count = 0;
    }

    /// A free decompression buffer's index.
    pub(crate) fn take_buffer(&mut self) -> usize {
        if self.buffers_used == self.buffers.len() {
            self.buffers.push(DecompressBuffer::new());
        }
        self.buffers_used += 1;
        self.buffers_used - 1
    }

    /// The index of `topic` in the topic table.
    pub(crate) fn topic_index(&mut self, topic: &str) -> usize {
        match self.topics.iter().position(|t| t == topic) {
            Some(i) => i,
            None => {
                self.topics.push(topic.to_string());
                self.topics.len() - 1
            }
        }
    }
}

/// The records of one poll, in partition order, each partition's in offset order.
///
/// ```
/// # use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, TopicPartition};
/// # use silt_engine::{Engine, EngineConfig, NewTopic};
/// # let dir = tempfile::tempdir()?;
/// # let engine = Engine::open(dir.path(), EngineConfig::default())?;
/// # engine.create_topic(NewTopic::new("t", 1))?;
/// let mut consumer = engine.consumer(ConsumerConfig::default())?;
/// consumer.assign(&[TopicPartition::new("t", 0)])?;
/// let records = consumer.poll(std::time::Duration::from_millis(10))?;
/// for record in records.iter() {
///     println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ConsumerRecords<'a> {
    pub(crate) buffers: &'a PollBuffers,
}

impl<'a> ConsumerRecords<'a> {
    /// How many records.
    pub fn len(&self) -> usize {
        self.buffers.count
    }

    /// True when the poll returned nothing.
    pub fn is_empty(&self) -> bool {
        self.buffers.count == 0
    }

    /// The records, in order.
    pub fn iter(&self) -> RecordsIter<'a> {
        RecordsIter {
            buffers: self.buffers,
            chunk: 0,
            open: None,
        }
    }
}

impl<'a> IntoIterator for &ConsumerRecords<'a> {
    type Item = ConsumerRecord<'a>;
    type IntoIter = RecordsIter<'a>;

    fn into_iter(self) -> RecordsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for ConsumerRecords<'a> {
    type Item = ConsumerRecord<'a>;
    type IntoIter = RecordsIter<'a>;

    fn into_iter(self) -> RecordsIter<'a> {
        self.iter()
    }
}

/// Iterator over a poll's records. The batches were checked when polled (their CRC-32C
/// with `check.crcs`, else every record's framing), so iterating cannot fail.
#[derive(Debug)]
pub struct RecordsIter<'a> {
    buffers: &'a PollBuffers,
    chunk: usize,
    open: Option<OpenChunk<'a>>,
}

/// The chunk being iterated, with what every record of it shares looked up once.
#[derive(Debug)]
struct OpenChunk<'a> {
    records: Records<'a>,
    topic: &'a str,
    partition: u32,
    from: i64,
    to: i64,
}

impl<'a> Iterator for RecordsIter<'a> {
    type Item = ConsumerRecord<'a>;

    #[inline]
    fn next(&mut self) -> Option<ConsumerRecord<'a>> {
        loop {
            if let Some(open) = &mut self.open {
                // `next_valid`: the batch was checked when polled, so a record that does not
                // parse cannot happen; were it to, the chunk would end there.
                while let Some(record) = open.records.next_valid() {
                    if record.offset < open.from {
                        continue;
                    }
                    if record.offset >= open.to {
                        break;
                    }
                    return Some(ConsumerRecord {
                        topic: open.topic,
                        partition: open.partition,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                    });
                }
                self.open = None;
            }
            let chunk = self.buffers.chunks.get(self.chunk)?;
            self.chunk += 1;
            self.open = open_chunk(self.buffers, chunk);
        }
    }
}

fn open_chunk<'a>(buffers: &'a PollBuffers, chunk: &Chunk) -> Option<OpenChunk<'a>> {
    let fetch = buffers.fetches.get(chunk.fetch)?;
    let bytes = fetch.bytes().get(chunk.start..chunk.end)?;
    let batch = Batch::parse(bytes, chunk.start as u64).ok()?;
    // The batch borrows `bytes` (from the fetch, alive for 'a); its records borrow the same
    // bytes or the buffer the poll decompressed them into.
    let mut records = match chunk.buffer {
        Some(i) => batch.records_decompressed(buffers.buffers.get(i)?),
        None => batch.records_uncompressed().ok()?,
    };
    // A batch an earlier poll cut: its first records were handed out then.
    if chunk.from > batch.base_offset() {
        records.skip_to(chunk.from);
    }
    Some(OpenChunk {
        records,
        topic: buffers.topics.get(chunk.topic).map_or("", String::as_str),
        partition: chunk.partition,
        from: chunk.from,
        to: chunk.to,
    })
}
