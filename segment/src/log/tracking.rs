//! What the batches of a segment leave for the writer: the end, the next offset, the
//! timestamps and the index rule's byte count. Appends, recovery and truncation count the
//! batches through [`Tracking::observe`], so they agree on every index entry.

/// The writer-side state derived from a segment's bytes (by a scan or a tail walk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recovered {
    pub end: u32,
    pub next_offset: i64,
    pub tracking: Tracking,
}

impl Recovered {
    pub(crate) fn empty(base_offset: i64) -> Self {
        Recovered {
            end: 0,
            next_offset: base_offset,
            tracking: Tracking::empty(base_offset),
        }
    }
}

/// What the batches so far leave for the next one: the largest timestamp and the offset of
/// its batch (for the time index and retention), the first batch's max timestamp (what
/// `segment.ms` is measured from), and the bytes since the last offset index entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracking {
    pub bytes_since_index_entry: u32,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    pub rolling_timestamp: Option<i64>,
}

impl Tracking {
    pub(crate) fn empty(base_offset: i64) -> Self {
        Tracking {
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp: None,
        }
    }

    /// Counts a batch's max timestamp.
    pub(crate) fn see_timestamp(&mut self, max_timestamp: i64, last_offset: i64) {
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
    }

    /// Counts one batch, in order, and says whether it gets an index entry: Kafka's rule, an
    /// entry once more than `index.interval.bytes` were appended since the last one. Appends,
    /// recovery and truncation all go through here, so they agree on every entry.
    pub(crate) fn observe(
        &mut self,
        size: u32,
        last_offset: i64,
        max_timestamp: i64,
        interval: u32,
    ) -> bool {
        self.rolling_timestamp.get_or_insert(max_timestamp);
        self.see_timestamp(max_timestamp, last_offset);
        let due = self.bytes_since_index_entry > interval;
        if due {
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry = self.bytes_since_index_entry.saturating_add(size);
        due
    }
}
