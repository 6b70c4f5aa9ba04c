//! Segments: a `.log` file of RecordBatches with its offset and time indexes.
//!
//! A [`Segment`] is the single writer of one segment; [`SegmentReader`]s, cloned freely
//! across threads, read what the writer has published without taking a lock, and
//! [`SegmentSyncer`]s make it durable from other threads (group commit). Files are named by
//! the segment's base offset in 20 digits, as Kafka names them. A segment keeps no file
//! descriptor open: its files are mapped and closed again.

mod config;
mod file;
mod open;
mod prefault;
mod reader;
mod recovery;
mod scan;
mod segment;
mod shared;
mod tracking;
mod verify;

use std::path::{Path, PathBuf};

pub use config::{RollReason, SegmentConfig};
pub use file::set_append_file_budget;
pub use open::{OpenMode, OpenOptions, OpenReport, RecoveryCause, SealedOpen};
pub use prefault::{Pretoucher, PREFAULT_WINDOW_BYTES};
pub use reader::{ReadSlice, SegmentReader};
pub use recovery::{check_log, LogCheck};
pub use scan::LogScanner;
pub use segment::{AppendInfo, Segment};
pub use shared::{SegmentSyncer, SyncedTo};
pub use silt_index::{IndexCheck, OffsetPosition, RebuildReason, TimestampOffset};
pub use verify::{
    verify_segment, Fault, Problem, SegmentFileKind, SegmentVerification, VerifyOptions,
    MAX_VERIFIED_INDEX_BYTES,
};

use crate::error::{Result, SegmentError};

/// Extension of segment data files.
pub const LOG_SUFFIX: &str = "log";
/// Extension of offset index files.
pub const INDEX_SUFFIX: &str = "index";
/// Extension of time index files.
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `<dir>/<base offset, 20 digits>.<suffix>`, Kafka's file name for a segment's files.
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// The base offset named by a segment file (`00000000000000001234.log` → 1234).
pub fn parse_segment_file(path: &Path) -> Result<i64> {
    let bad = || SegmentError::BadFileName {
        path: path.to_path_buf(),
    };
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(bad)?;
    let (digits, suffix) = name.split_once('.').ok_or_else(bad)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) || suffix != LOG_SUFFIX {
        return Err(bad());
    }
    digits.parse::<i64>().map_err(|_| bad())
}
