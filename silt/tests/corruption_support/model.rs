//! What a template holds, read from its files with [`LogScanner`] (not through the engine
//! under test): every partition's segments, batches and records, and its log start.

use std::collections::BTreeMap;
use std::path::Path;

use silt::batch::DecompressBuffer;
use silt::log::LogScanner;
use silt_engine::inspect;

/// One record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Rec {
    pub fn of(record: &silt::batch::Record<'_>) -> Rec {
        Rec::new(record.timestamp, record.key, record.value, record.headers)
    }

    pub fn new(
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: silt::batch::Headers<'_>,
    ) -> Rec {
        Rec {
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: headers
                .iter()
                .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

/// One valid batch of a segment.
#[derive(Debug, Clone)]
pub struct BatchInfo {
    pub position: u64,
    pub size: u64,
    pub base_offset: i64,
    pub last_offset: i64,
}

/// One segment: its base offset, files and batches.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub base: i64,
    /// Length of the `.log` file (past `valid_end` only in an unclosed segment: zeros).
    pub log_len: u64,
    pub valid_end: u64,
    pub batches: Vec<BatchInfo>,
}

impl SegmentInfo {
    /// The batch holding byte `position`, by index; `None` past the last batch.
    pub fn batch_at(&self, position: u64) -> Option<usize> {
        self.batches
            .iter()
            .position(|b| position < b.position + b.size)
    }
}

/// One partition.
#[derive(Debug, Clone)]
pub struct PartitionModel {
    pub topic: String,
    pub partition: u32,
    pub segments: Vec<SegmentInfo>,
    pub records: BTreeMap<i64, Rec>,
    pub log_start: i64,
    pub log_end: i64,
    /// From `recovery-point-offset-checkpoint`.
    pub recovery_point: Option<i64>,
}

impl PartitionModel {
    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Whether the partition's segments may hold offset gaps.
    pub fn compacted(&self) -> bool {
        self.topic != "events"
    }
}

/// Every partition of a data directory.
#[derive(Debug, Clone)]
pub struct Model {
    pub partitions: Vec<PartitionModel>,
}

impl Model {
    pub fn read(dir: &Path) -> Model {
        let log_starts = checkpoint(dir, silt_engine::LOG_START_CHECKPOINT);
        let recovery = checkpoint(dir, silt_engine::RECOVERY_POINT_CHECKPOINT);
        let mut names: Vec<(String, u32)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                inspect::parse_partition_dir(&name).map(|(t, p)| (t.to_string(), p))
            })
            .collect();
        names.sort();
        let partitions = names
            .into_iter()
            .map(|(topic, partition)| {
                let key = (topic.clone(), partition);
                let mut p = read_partition(&dir.join(format!("{topic}-{partition}")));
                let first = p.segments.first().map_or(0, |s| s.base);
                p.log_start = log_starts.get(&key).copied().unwrap_or(first).max(first);
                p.recovery_point = recovery.get(&key).copied();
                p.topic = topic;
                p.partition = partition;
                p
            })
            .collect();
        Model { partitions }
    }

    pub fn partition(&self, name: &str) -> Option<&PartitionModel> {
        self.partitions.iter().find(|p| p.name() == name)
    }
}

fn checkpoint(dir: &Path, name: &str) -> BTreeMap<(String, u32), i64> {
    inspect::read_offset_checkpoint(&dir.join(name))
        .unwrap()
        .unwrap_or_default()
}

/// Base offsets of the `.log` files of a partition directory, sorted.
pub fn segment_bases(dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let is_log = path.extension().is_some_and(|x| x == "log");
            let stem = path.file_stem()?.to_str()?.to_string();
            is_log.then(|| stem.parse().ok()).flatten()
        })
        .collect();
    bases.sort_unstable();
    bases
}

fn read_partition(dir: &Path) -> PartitionModel {
    let mut model = PartitionModel {
        topic: String::new(),
        partition: 0,
        segments: Vec::new(),
        records: BTreeMap::new(),
        log_start: 0,
        log_end: 0,
        recovery_point: None,
    };
    let mut buffer = DecompressBuffer::new();
    for base in segment_bases(dir) {
        let log = silt::log::segment_file(dir, base, "log");
        let mut scanner = LogScanner::open(&log).unwrap();
        let mut segment = SegmentInfo {
            base,
            log_len: scanner.file_len(),
            valid_end: 0,
            batches: Vec::new(),
        };
        while let Some(Ok(batch)) = scanner.next_batch() {
            batch.validate().unwrap();
            for record in batch.records(&mut buffer).unwrap() {
                let record = record.unwrap();
                model.records.insert(record.offset, Rec::of(&record));
            }
            segment.batches.push(BatchInfo {
                position: batch.position(),
                size: batch.size() as u64,
                base_offset: batch.base_offset(),
                last_offset: batch.last_offset(),
            });
            model.log_end = batch.next_offset();
        }
        segment.valid_end = segment.batches.last().map_or(0, |b| b.position + b.size);
        if segment.valid_end < segment.log_len {
            assert!(scanner.rest_is_zeros().unwrap(), "{}", log.display());
        }
        model.log_end = model.log_end.max(base);
        model.segments.push(segment);
    }
    model
}
