//! What the parent knows, and the checks it makes after every kill.
//!
//! The [`Model`] is what must survive: per partition of `events`, every record acknowledged
//! or seen by an earlier check (offset → id), with the log start and end the last check
//! saw; per key of `compacted`, its last record acknowledged or seen; the group's last
//! acknowledged commit. A check reopens the engine and holds the data directory to it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use silt_consumer::{ConsumerConfig, ConsumerExt, TopicPartition};
use silt_engine::{Engine, Log};
use silt_segment::log::{verify_segment, VerifyOptions};

use super::parent::Said;
use super::records::{
    key, read_log, Id, COMPACTED, COMPACTED_PARTITIONS, EVENTS, EVENTS_PARTITIONS,
    EVENTS_RETENTION_BYTES, GROUP,
};
use super::{all_partitions, Ctx, Figures};

#[derive(Debug, Default)]
struct EventsPartition {
    /// Records that must be present at or above the log start: offset → id.
    known: BTreeMap<i64, Id>,
    start_floor: i64,
    end_floor: i64,
}

#[derive(Debug, Default)]
struct CompactedPartition {
    /// The last record of each key that must still be its last, or be followed by a later one.
    latest: HashMap<Vec<u8>, (i64, Id)>,
    start_floor: i64,
    end_floor: i64,
}

/// What must survive.
#[derive(Debug)]
pub struct Model {
    events: Vec<EventsPartition>,
    compacted: Vec<CompactedPartition>,
    committed: BTreeMap<TopicPartition, i64>,
}

/// What one child said, as the check needs it.
#[derive(Debug, Default)]
pub struct Absorbed {
    /// Every record acknowledged in this cycle: where it was placed.
    placed: HashMap<Id, (&'static str, u32, i64)>,
    /// The commit the child began and was not told was done.
    pending_commit: Option<BTreeMap<TopicPartition, i64>>,
    /// Partitions of `events` whose `delete_records` began and was not told was done.
    pending_delete: HashSet<u32>,
    ready: bool,
}

impl Model {
    pub fn new() -> Model {
        Model {
            events: (0..EVENTS_PARTITIONS).map(|_| Default::default()).collect(),
            compacted: (0..COMPACTED_PARTITIONS)
                .map(|_| Default::default())
                .collect(),
            committed: BTreeMap::new(),
        }
    }

    /// Takes in what the child said, checking what can be checked from its words alone:
    /// no offset is acknowledged twice, and none below the log end the last check saw.
    pub fn absorb(&mut self, said: &[Said], ctx: &Ctx, figures: &mut Figures) -> Absorbed {
        let mut absorbed = Absorbed::default();
        for s in said {
            match s {
                Said::Ready => absorbed.ready = true,
                Said::Ack {
                    topic,
                    partition,
                    offset,
                    id,
                } => {
                    figures.records_acked += 1;
                    let (p, offset) = (*partition as usize, *offset);
                    let end_floor = if *topic == EVENTS {
                        self.events[p].end_floor
                    } else {
                        self.compacted[p].end_floor
                    };
                    assert!(
                        offset >= end_floor,
                        "{ctx}: {topic}/{p}: record {id} acknowledged at offset {offset}, below \
                         the log end {end_floor} the last check saw (an offset given twice)"
                    );
                    let before = absorbed.placed.insert(*id, (*topic, *partition, offset));
                    assert!(before.is_none(), "{ctx}: record {id} acknowledged twice");
                    if *topic == EVENTS {
                        let known = &mut self.events[p].known;
                        if let Some(other) = known.insert(offset, *id) {
                            panic!(
                                "{ctx}: {topic}/{p} offset {offset} acknowledged for {other} \
                                 and for {id}"
                            );
                        }
                    } else {
                        let latest = &mut self.compacted[p].latest;
                        let entry = latest.entry(key(COMPACTED, *id)).or_insert((offset, *id));
                        if entry.0 < offset {
                            *entry = (offset, *id);
                        }
                    }
                }
                Said::Begin { op, partition } => {
                    *figures.ops_begun.entry(op.clone()).or_default() += 1;
                    if let Some(p) = partition {
                        absorbed.pending_delete.insert(*p);
                    }
                }
                Said::DeleteRecords {
                    partition,
                    before,
                    new_start,
                } => {
                    assert!(
                        new_start >= before,
                        "{ctx}: delete_records({before}) on events/{partition} returned log \
                         start {new_start}"
                    );
                    let floor = &mut self.events[*partition as usize].start_floor;
                    *floor = (*floor).max(*new_start);
                    absorbed.pending_delete.remove(partition);
                }
                Said::Try { n, offsets } => {
                    assert!(
                        absorbed.pending_commit.is_none(),
                        "{ctx}: commit {n} overlaps"
                    );
                    *figures.ops_begun.entry("commit".into()).or_default() += 1;
                    absorbed.pending_commit = Some(offsets.clone());
                }
                Said::Committed(n) => {
                    let offsets = absorbed
                        .pending_commit
                        .take()
                        .unwrap_or_else(|| panic!("{ctx}: commit {n} done but never begun"));
                    self.committed.extend(offsets);
                    figures.commits_acked += 1;
                }
                Said::Scanned(records) => {
                    figures.child_scans += 1;
                    figures.child_scanned_records += records;
                }
                Said::Bug(what) => panic!("{ctx}: the child read {what}"),
            }
        }
        figures.commits_in_flight_at_kill += u64::from(absorbed.pending_commit.is_some());
        absorbed
    }
}

/// Every check of one reopened engine, in order; `model` then holds what it found.
pub fn check(engine: &Engine, model: &mut Model, absorbed: &Absorbed, ctx: &Ctx, f: &mut Figures) {
    if absorbed.ready {
        assert!(
            !engine.open_report().clean,
            "{ctx}: the child opened the engine and was killed: no clean-shutdown marker"
        );
    }
    let topics = engine.list_topics();
    let mut check = Check {
        absorbed,
        ctx,
        f,
        ids: HashSet::new(),
    };
    if topics.iter().any(|t| t == EVENTS) {
        for (p, m) in model.events.iter_mut().enumerate() {
            check.events(&engine.log(EVENTS, p as u32).unwrap(), m);
        }
    } else {
        check.nothing_acknowledged(EVENTS);
    }
    if topics.iter().any(|t| t == COMPACTED) {
        for (p, m) in model.compacted.iter_mut().enumerate() {
            check.compacted(&engine.log(COMPACTED, p as u32).unwrap(), m);
        }
    } else {
        check.nothing_acknowledged(COMPACTED);
    }
    check.commits(engine, model);
    check_no_leftovers(engine.data_dir(), ctx);
    verify_all(&segments(engine), ctx, f, true);
}

/// One check's state: what the child said, and every id read so far.
struct Check<'a> {
    absorbed: &'a Absorbed,
    ctx: &'a Ctx,
    f: &'a mut Figures,
    ids: HashSet<Id>,
}

impl Check<'_> {
    fn nothing_acknowledged(&self, topic: &str) {
        assert!(
            self.absorbed.placed.values().all(|(t, _, _)| *t != topic),
            "{}: records of {topic} were acknowledged, and the topic is gone",
            self.ctx
        );
    }

    /// The offsets acknowledged in this cycle in `log`.
    fn acknowledged_in<'s>(&'s self, log: &'s Log) -> impl Iterator<Item = i64> + 's {
        let (topic, p) = (log.topic(), log.partition());
        self.absorbed
            .placed
            .values()
            .filter(move |(t, placed_p, _)| *t == topic && *placed_p == p)
            .map(|(_, _, offset)| *offset)
    }

    /// Bounds a partition's offsets: the log start and end never go back.
    fn bounds(&self, log: &Log, start_floor: i64, end_floor: i64) -> (i64, i64) {
        let (ctx, topic, p) = (self.ctx, log.topic(), log.partition());
        let start = log.log_start_offset();
        let end = log.log_end_offset().unwrap();
        assert!(
            start >= start_floor,
            "{ctx}: {topic}/{p}: log start {start} went back below {start_floor}"
        );
        assert!(
            end >= end_floor,
            "{ctx}: {topic}/{p}: log end {end} went back below {end_floor}"
        );
        assert!(
            start <= end,
            "{ctx}: {topic}/{p}: log start {start} past the log end {end}"
        );
        (start, end)
    }

    /// Reads every record of `log` (see [`read_log`]) and checks what every reading must
    /// show: ids unique across the engine, each thread's records in the order it sent them,
    /// and the records acknowledged in this cycle at the offsets they were acknowledged with.
    /// (offset, id) of each record, in order.
    fn read(&mut self, log: &Log, start: i64, end: i64) -> Vec<(i64, Id)> {
        let (ctx, topic, p) = (self.ctx, log.topic(), log.partition());
        let mut records = Vec::new();
        match read_log(log, start, end, |offset, id| records.push((offset, id))) {
            Ok(batches) => self.f.batches_read += batches,
            Err(e) => panic!("{ctx}: {e:?}"),
        }
        self.f.records_read += records.len() as u64;
        let mut last_of_thread: HashMap<u64, Id> = HashMap::new();
        for &(offset, id) in &records {
            assert!(self.ids.insert(id), "{ctx}: record {id} is stored twice");
            if let Some(last) = last_of_thread.insert(id.thread(), id) {
                assert!(
                    last < id,
                    "{ctx}: {topic}/{p}: record {id} at offset {offset} after {last}, sent later"
                );
            }
            if let Some(&(t, placed_p, placed_offset)) = self.absorbed.placed.get(&id) {
                assert!(
                    (t, placed_p, placed_offset) == (topic, p, offset),
                    "{ctx}: record {id} read at {topic}/{p} offset {offset}, acknowledged at \
                     {t}/{placed_p} offset {placed_offset}"
                );
            }
        }
        records
    }

    /// `events`: every known record at or above the log start at its offset, offsets
    /// contiguous from the log start to the log end, and the log start moved only as far as
    /// retention and `delete_records` may move it.
    fn events(&mut self, log: &Log, m: &mut EventsPartition) {
        let (ctx, p) = (self.ctx, log.partition());
        let (start, end) = self.bounds(log, m.start_floor, m.end_floor);
        if let Some((&last, id)) = m.known.last_key_value() {
            assert!(
                end > last,
                "{ctx}: events/{p}: log end {end} went back past acknowledged {id} at {last}"
            );
        }
        if start > m.start_floor && !self.absorbed.pending_delete.contains(&p) {
            // Only retention moved it (a finished delete_records raised the floor): it
            // deletes whole segments while at least retention.bytes stay.
            let size = log.size_bytes().unwrap();
            assert!(
                size >= EVENTS_RETENTION_BYTES,
                "{ctx}: events/{p}: retention moved the log start to {start} and left {size} \
                 bytes"
            );
        }
        let records = self.read(log, start, end);
        for (i, (offset, id)) in records.iter().enumerate() {
            assert_eq!(
                *offset,
                start + i as i64,
                "{ctx}: events/{p}: record {id} breaks the offsets' sequence"
            );
        }
        assert_eq!(
            records.len() as i64,
            end - start,
            "{ctx}: events/{p}: records missing at the end"
        );
        for (&offset, &id) in m.known.range(start..) {
            let found = records.get((offset - start) as usize).map(|(_, id)| *id);
            assert_eq!(
                found,
                Some(id),
                "{ctx}: events/{p}: acknowledged record {id} at offset {offset} lost"
            );
        }
        let (verified, below): (Vec<i64>, Vec<i64>) = self
            .acknowledged_in(log)
            .partition(|&offset| offset >= start);
        self.f.acked_verified += verified.len() as u64;
        self.f.acked_below_log_start += below.len() as u64;
        m.known = records.into_iter().collect();
        m.start_floor = start;
        m.end_floor = end;
    }

    /// `compacted`: every key's last known record is still its last, or a later one is.
    fn compacted(&mut self, log: &Log, m: &mut CompactedPartition) {
        let (ctx, p) = (self.ctx, log.partition());
        let (start, end) = self.bounds(log, m.start_floor, m.end_floor);
        let records = self.read(log, start, end);
        let mut last: HashMap<Vec<u8>, (i64, Id)> = HashMap::new();
        for &(offset, id) in &records {
            last.insert(key(COMPACTED, id), (offset, id));
        }
        for (k, &(offset, id)) in &m.latest {
            let k_str = String::from_utf8_lossy(k);
            let Some(&(found_offset, found_id)) = last.get(k) else {
                panic!("{ctx}: compacted/{p}: key {k_str} lost (its last record {id} at {offset})");
            };
            assert!(
                found_offset >= offset,
                "{ctx}: compacted/{p}: key {k_str} reads {found_id} at {found_offset}, older \
                 than {id} at {offset}"
            );
            if found_offset == offset {
                assert_eq!(
                    found_id, id,
                    "{ctx}: compacted/{p}: key {k_str} at {offset}"
                );
            }
        }
        let (verified, replaced): (Vec<i64>, Vec<i64>) = self
            .acknowledged_in(log)
            .partition(|offset| records.binary_search_by_key(offset, |(o, _)| *o).is_ok());
        self.f.acked_verified += verified.len() as u64;
        self.f.acked_compacted_away += replaced.len() as u64;
        m.latest = last;
        m.start_floor = start;
        m.end_floor = end;
    }

    /// The group's committed offsets are its last acknowledged commit, or the one it began
    /// after it, whole.
    fn commits(&mut self, engine: &Engine, model: &mut Model) {
        let ctx = self.ctx;
        let consumer = engine
            .consumer(ConsumerConfig::with_group(GROUP).enable_auto_commit(false))
            .unwrap();
        let found: BTreeMap<TopicPartition, i64> = consumer
            .committed(&all_partitions())
            .unwrap_or_else(|e| panic!("{ctx}: committed offsets: {e}"))
            .into_iter()
            .filter_map(|(tp, c)| Some((tp, c?.offset)))
            .collect();
        let acknowledged = &model.committed;
        let later = self.absorbed.pending_commit.as_ref().map(|pending| {
            let mut later = acknowledged.clone();
            later.extend(pending.iter().map(|(tp, o)| (tp.clone(), *o)));
            later
        });
        assert!(
            found == *acknowledged || Some(&found) == later.as_ref(),
            "{ctx}: committed offsets {found:?}; last acknowledged commit {acknowledged:?}, \
             the one begun after it {later:?}"
        );
        self.f.commit_checks += 1;
        consumer.close().unwrap();
        model.committed = found;
    }
}

/// Suffixes of the files a crash can leave half-done: cleaner output (`.cleaned`, `.swap`),
/// files being deleted (`.deleted`), temporary files of an atomic replacement (`.tmp`).
const HALF_DONE: [&str; 4] = [".cleaned", ".swap", ".deleted", ".tmp"];

/// The suffixes of [`HALF_DONE`] that files under `dir` have (each once).
pub fn half_done_files(dir: &Path) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            for suffix in HALF_DONE {
                if name.ends_with(suffix) && !found.contains(&suffix) {
                    found.push(suffix);
                }
            }
        }
    }
    found
}

/// Opening removed every file a crash can leave half-done.
fn check_no_leftovers(dir: &Path, ctx: &Ctx) {
    let found = half_done_files(dir);
    assert!(
        found.is_empty(),
        "{ctx}: files {found:?} left after open in {}",
        dir.display()
    );
}

/// One segment of a partition, to verify.
#[derive(Debug)]
pub struct SegmentFiles {
    dir: PathBuf,
    base: i64,
    gaps: bool,
    /// The partition's last segment (still open, unless the engine was closed).
    last: bool,
}

/// Every segment of every partition of every topic (`__consumer_offsets` included).
pub fn segments(engine: &Engine) -> Vec<SegmentFiles> {
    let mut out = Vec::new();
    for topic in engine.list_topics() {
        let partitions = engine.describe_topic(&topic).unwrap().partitions.len() as u32;
        for p in 0..partitions {
            let log = engine.log(&topic, p).unwrap();
            let gaps = log.config().cleanup_policy.compact;
            let bases = log.segment_base_offsets().unwrap();
            for (i, &base) in bases.iter().enumerate() {
                out.push(SegmentFiles {
                    dir: log.dir().to_path_buf(),
                    base,
                    gaps,
                    last: i + 1 == bases.len(),
                });
            }
        }
    }
    out
}

/// `verify_segment` finds nothing wrong with any segment, and each segment of a partition
/// starts where the one before it ends (at or past it, where compaction leaves gaps): no two
/// segments hold the same offsets. While the engine is open the last segment of each
/// partition is still open too (preallocated, indexes untrimmed), so it is left out; after
/// the engine's clean close, all are checked.
pub fn verify_all(segments: &[SegmentFiles], ctx: &Ctx, f: &mut Figures, engine_open: bool) {
    let mut previous: Option<(&Path, i64, i64)> = None; // partition, base, next offset
    for segment in segments {
        if segment.last && engine_open {
            previous = None;
            continue;
        }
        let options = VerifyOptions {
            offset_gaps: segment.gaps,
        };
        let (dir, base) = (segment.dir.as_path(), segment.base);
        let report = verify_segment(dir, base, options)
            .unwrap_or_else(|e| panic!("{ctx}: verify {}: {e}", dir.display()));
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            problems.is_empty(),
            "{ctx}: segment {base} of {}: {problems:#?}",
            dir.display()
        );
        if let Some((_, before, end)) = previous.filter(|(d, _, _)| *d == dir) {
            let follows = if segment.gaps {
                base >= end
            } else {
                base == end
            };
            assert!(
                follows,
                "{ctx}: {}: segment {base} does not follow segment {before}, which ends before \
                 offset {end}",
                dir.display()
            );
        }
        previous = Some((dir, base, report.next_offset.unwrap_or(base)));
        f.segments_verified += 1;
    }
}
