//! Opening a partition's directory (Kafka's `LogLoader`).
//!
//! After a clean stop nothing is read but the directory listing: closed segments stay
//! unmapped until a read needs them, and the last segment is mapped on first use. After an
//! unclean stop, the segments from the one holding the last offset below the recovery point
//! onward are validated batch by batch (CRC-32C, offsets), cut at the first invalid byte, and
//! synced; a segment cut short makes every later segment unreachable, so those are deleted,
//! as Kafka does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use silt_segment::log::{
    parse_segment_file, OpenMode, OpenOptions, SealedOpen, Segment, SegmentReader, INDEX_SUFFIX,
    LOG_SUFFIX, TIME_INDEX_SUFFIX,
};

use super::append::remove_segment_files;
use super::cleaner::{recover_swaps, CleanerShared};
use super::segments::{ClosedSegment, SegmentCache};
use super::{Log, View, Writer};
use crate::config::TopicConfig;
use crate::error::{io_err, Result};
use crate::fsutil::sync_dir;
use crate::sync::write;

/// What the engine knows about a partition before opening it.
pub(crate) struct LoadContext {
    pub topic: Arc<str>,
    pub partition: u32,
    pub dir: PathBuf,
    pub config: Arc<TopicConfig>,
    pub cache: Arc<SegmentCache>,
    /// From `recovery-point-offset-checkpoint`.
    pub recovery_point: Option<i64>,
    /// From `log-start-offset-checkpoint`.
    pub log_start: Option<i64>,
    /// Whether the last stop was clean.
    pub clean: bool,
    /// From `cleaner-offset-checkpoint`: the partition's first dirty offset.
    pub clean_point: Option<i64>,
    /// The engine's cleaner and its checkpoint.
    pub cleaner: Arc<CleanerShared>,
}

impl LoadContext {
    /// Whether the log's segments may hold offset gaps: its topic is compacted, or it was
    /// cleaned before (a topic switched from `compact` to `delete` keeps its gaps).
    fn offset_gaps(&self) -> bool {
        self.config.cleanup_policy.compact || self.clean_point.is_some()
    }
}

/// What opening a partition did.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadReport {
    /// Segments validated batch by batch.
    pub segments_recovered: usize,
    /// Bytes of valid batches those segments held.
    pub bytes_validated: u64,
    /// Whether any bytes other than preallocated zeros were cut off.
    pub truncated: bool,
    /// Segments deleted because an earlier one was cut short.
    pub segments_deleted: usize,
}

impl Log {
    /// Opens (or, for a new partition, creates) the partition directory.
    pub(crate) fn load(ctx: LoadContext) -> Result<(Log, LoadReport)> {
        std::fs::create_dir_all(&ctx.dir).map_err(io_err("create directory", &ctx.dir))?;
        recover_swaps(&ctx.dir)?;
        let mut segments = list_segments(&ctx.dir)?;
        let mut report = LoadReport::default();
        if !ctx.clean {
            recover(&ctx, &mut segments, &mut report)?;
        }
        let dir: Arc<Path> = Arc::from(ctx.dir.as_path());
        let gaps = ctx.offset_gaps();
        let last_base = segments.last().map(|&(base, _)| base);
        let first_base = segments.first().map(|&(base, _)| base);
        let closed: Vec<Arc<ClosedSegment>> = match segments.split_last() {
            Some((_, rest)) => rest
                .iter()
                .map(|&(base, size)| ClosedSegment::unmapped(Arc::clone(&dir), base, size, gaps))
                .collect(),
            None => Vec::new(),
        };
        // Each closed segment ends where the next begins (without gaps) or before it (with
        // compaction's gaps): never past it.
        for (segment, &(next_base, _)) in closed.iter().zip(segments.iter().skip(1)) {
            segment.expect_next_base(next_base);
        }
        let log_start = match (ctx.log_start, first_base) {
            (Some(checkpoint), Some(first)) => checkpoint.max(first),
            (checkpoint, first) => checkpoint.or(first).unwrap_or(0),
        };
        let recovery_point = ctx.recovery_point.unwrap_or(log_start);
        let log = Log {
            topic: ctx.topic,
            partition: ctx.partition,
            dir,
            config: RwLock::new(ctx.config),
            cache: ctx.cache,
            writer: Mutex::new(Writer {
                active: None,
                last_base,
                scratch: Vec::new(),
                decompress: silt_segment::batch::DecompressBuffer::new(),
                unflushed_messages: 0,
            }),
            view: RwLock::new(View {
                closed,
                active: None,
            }),
            log_start: AtomicI64::new(log_start),
            recovery_point: AtomicI64::new(recovery_point),
            flush_lock: Mutex::new(()),
            retention_lock: Mutex::new(()),
            syncs: AtomicU64::new(0),
            unflushed_since_ms: AtomicI64::new(i64::MAX),
            closed: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            failure: std::sync::OnceLock::new(),
            first_dirty: AtomicI64::new(ctx.clean_point.unwrap_or(-1)),
            offset_gaps: AtomicBool::new(gaps),
            delete_horizon_ms: AtomicI64::new(i64::MAX),
            cleaner: ctx.cleaner,
            appends: super::Notify::new(),
        };
        if report.segments_recovered > 0 {
            // Recovery synced everything it kept: the whole log is durable.
            let end = log.log_end_offset()?;
            log.recovery_point.store(end, Ordering::Release);
        }
        Ok((log, report))
    }

    /// How this log's segments are opened: offset gaps accepted once it may hold any.
    pub(super) fn open_options(&self, force_recovery: bool) -> OpenOptions {
        OpenOptions {
            force_recovery,
            offset_gaps: self.offset_gaps.load(Ordering::Acquire),
        }
    }

    /// Maps the last segment for reading if nothing has (read-only: no preallocation).
    pub(super) fn map_last_segment(&self, writer: &mut Writer) -> Result<()> {
        if write(&self.view).active.is_some() {
            return Ok(());
        }
        let Some(base) = writer.last_base else {
            return Ok(());
        };
        let config = self.config().segment_config();
        let options = self.open_options(false);
        let reader =
            match SegmentReader::open_sealed_with_options(&self.dir, base, &config, options)? {
                SealedOpen::Trusted(reader) if last_batch_valid(&reader) => reader,
                SealedOpen::Trusted(_) | SealedOpen::NeedsRecovery(_) => {
                    return self.ensure_active(writer)
                }
            };
        write(&self.view).active = Some(reader);
        Ok(())
    }

    /// Opens the last segment for appending (preallocating it back to `segment.bytes`), or
    /// creates the first segment, if that was not done yet.
    pub(super) fn ensure_active(&self, writer: &mut Writer) -> Result<()> {
        if writer.active.is_some() {
            return Ok(());
        }
        self.check_open()?;
        let config = self.config().segment_config();
        let segment = match writer.last_base {
            Some(base) => {
                let options = self.open_options(false);
                Segment::open_with_options(&self.dir, base, &config, OpenMode::Active, options)?.0
            }
            None => {
                let segment = Segment::create(&self.dir, self.log_start_offset(), &config)?;
                sync_dir(&self.dir)?;
                segment
            }
        };
        writer.last_base = Some(segment.base_offset());
        write(&self.view).active = Some(segment.reader());
        writer.active = Some(segment);
        Ok(())
    }
}

/// Whether the last batch of a segment passes its CRC-32C. Its header gives the segment's
/// next offset, which for the last segment is the log end, and lastOffsetDelta lies inside
/// the CRC only: a damaged one is the active segment's torn tail, which opening it for
/// appends recovers (cuts).
fn last_batch_valid(reader: &SegmentReader) -> bool {
    let last = reader.next_offset() - 1;
    if last < reader.base_offset() {
        return true; // no batch
    }
    matches!(reader.locate(last), Ok(Some((_, batch))) if batch.validate().is_ok())
}

/// The `.log` files of `dir` as (base offset, size), sorted; removes leftovers that belong to
/// no segment (index files without a `.log`, temporary files).
fn list_segments(dir: &Path) -> Result<Vec<(i64, u64)>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".tmp") {
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
        } else if name.ends_with(&format!(".{LOG_SUFFIX}")) {
            let base = parse_segment_file(&path)?;
            let size = entry.metadata().map_err(io_err("stat", &path))?.len();
            logs.push((base, size));
        } else if name.ends_with(&format!(".{INDEX_SUFFIX}"))
            || name.ends_with(&format!(".{TIME_INDEX_SUFFIX}"))
        {
            indexes.push(path);
        }
    }
    logs.sort_unstable();
    for path in indexes {
        let base = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i64>().ok());
        if base.is_none_or(|b| logs.binary_search_by_key(&b, |&(l, _)| l).is_err()) {
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
        }
    }
    Ok(logs)
}

/// Validates the segments from the one holding the last offset below the recovery point
/// onward (all of them when there is no recovery point), rewriting `segments` to what
/// remains.
///
/// The last offset below it, not the recovery point itself: a flush can sync the whole
/// active segment, moving the recovery point to its end, and a roll then creates the next
/// segment (based at that end) before it seals this one. Killed in between, the process
/// leaves a segment wholly below the recovery point that was never sealed (preallocated
/// zeros after its batches, indexes untrimmed); it is validated (cut and trimmed) here.
fn recover(
    ctx: &LoadContext,
    segments: &mut Vec<(i64, u64)>,
    report: &mut LoadReport,
) -> Result<()> {
    let recovery_point = ctx.recovery_point.unwrap_or(i64::MIN);
    let first = segments
        .partition_point(|&(base, _)| base < recovery_point)
        .saturating_sub(1);
    let config = ctx.config.segment_config();
    let mut keep = segments.len();
    for i in first..segments.len() {
        let Some(&(base, size)) = segments.get(i) else {
            break;
        };
        let options = OpenOptions {
            force_recovery: true,
            offset_gaps: ctx.offset_gaps(),
        };
        let mode = OpenMode::Sealed;
        let (segment, open) = Segment::open_with_options(&ctx.dir, base, &config, mode, options)?;
        drop(segment); // recovery fdatasynced what it kept
        report.segments_recovered += 1;
        report.bytes_validated += u64::from(open.valid_end);
        if let Some(entry) = segments.get_mut(i) {
            entry.1 = u64::from(open.valid_end);
        }
        if open.torn.is_some() {
            report.truncated = true;
        }
        if u64::from(open.valid_end) < size && open.torn.is_some() {
            keep = i + 1;
            break;
        }
    }
    for &(base, _) in segments.get(keep..).unwrap_or_default() {
        remove_segment_files(&ctx.dir, base)?;
        report.segments_deleted += 1;
    }
    segments.truncate(keep);
    if report.segments_recovered > 0 {
        sync_dir(&ctx.dir)?;
    }
    Ok(())
}
