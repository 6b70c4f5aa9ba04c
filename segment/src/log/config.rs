//! Segment settings (Kafka's names and defaults) and roll conditions.

use std::fmt;

use crate::error::{Result, SegmentError};

/// Settings of one segment, with Kafka's topic-config names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    /// `segment.bytes`: size at which the segment rolls, and how much is preallocated
    /// (default 1 GiB; at most `i32::MAX`, as Kafka).
    pub segment_bytes: u32,
    /// `segment.index.bytes`: preallocated size of each index (default 10 MiB).
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: bytes between offset index entries (default 4096).
    pub index_interval_bytes: u32,
    /// `segment.ms`: age (by the first batch's max timestamp) at which the segment rolls
    /// (default 7 days).
    pub segment_ms: i64,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            segment_bytes: 1 << 30,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

impl SegmentConfig {
    /// Smallest accepted `segment.bytes` (Kafka: 14, one empty batch is 61; silt asks for a header).
    pub const MIN_SEGMENT_BYTES: u32 = 61;

    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |key, value: i64, expected| {
            Err(SegmentError::InvalidConfig {
                key,
                value,
                expected,
            })
        };
        if self.segment_bytes < Self::MIN_SEGMENT_BYTES || self.segment_bytes > i32::MAX as u32 {
            return bad(
                "segment.bytes",
                i64::from(self.segment_bytes),
                "between 61 and 2147483647",
            );
        }
        if self.segment_index_bytes < 12 {
            return bad(
                "segment.index.bytes",
                i64::from(self.segment_index_bytes),
                "at least 12 (one time index entry)",
            );
        }
        if self.segment_ms < 1 {
            return bad("segment.ms", self.segment_ms, "at least 1");
        }
        Ok(())
    }
}

/// Why a segment must roll before taking the next batch (Kafka's `LogSegment.shouldRoll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollReason {
    /// The batch would take the segment past `segment.bytes`.
    Size,
    /// The segment is older than `segment.ms`.
    Time,
    /// The offset index or the time index is full.
    IndexFull,
    /// The batch's last offset would not fit in a 32-bit relative offset.
    OffsetOverflow,
}

impl fmt::Display for RollReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RollReason::Size => "segment.bytes reached",
            RollReason::Time => "segment.ms elapsed",
            RollReason::IndexFull => "index full",
            RollReason::OffsetOverflow => "relative offset overflow",
        })
    }
}
