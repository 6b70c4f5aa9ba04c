//! Arbitrary files opened as a segment: `Segment::open` must never panic, and what it opens
//! must be consistent.
//!
//! Input layout, read from the end so that a raw `.log` file (e.g. a Kafka test vector) is a
//! meaningful input as it is:
//!
//! - last byte: flags. Bit 0: open `Sealed` (else `Active`); bit 1: force recovery on the
//!   first open; bit 2: write an offset index file; bit 3: write a time index file.
//! - for each index file asked for (offset index first): one more byte from the end gives its
//!   length `n`, and the `n` bytes before it (fewer if the input is shorter) are its contents.
//! - everything left is the `.log` file.
//!
//! Properties checked when the open succeeds:
//! - recovered: every batch from position 0 parses and validates, offsets are contiguous,
//!   the batches end exactly at the segment's size and the next offset follows the last one;
//!   reading each batch's base offset finds that batch.
//! - trusted (the cheap open, which by design checks headers only from the last offset index
//!   entry on): those headers chain to the end and give the next offset.
//! - active: a fresh batch appends at the next offset and reads back unchanged.
//! - a forced recovery afterwards succeeds, and if the segment was clean (every batch valid
//!   from position 0) it finds the same next offset and no torn tail.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use silt_segment::batch::{
    Batch, BatchBuilder, BatchConfig, Batches, DecompressBuffer, RecordHeader, HEADER_SIZE,
};
use silt_segment::log::{
    segment_file, OpenMode, RollReason, Segment, SegmentConfig, SegmentReader, INDEX_SUFFIX,
    LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use silt_segment::SegmentError;

const BASE_OFFSET: i64 = 0;

fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 4096,
        index_interval_bytes: 64,
        ..SegmentConfig::default()
    }
}

struct Input<'a> {
    mode: OpenMode,
    force_recovery: bool,
    log: &'a [u8],
    offset_index: Option<&'a [u8]>,
    time_index: Option<&'a [u8]>,
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Self {
        let (flags, mut rest) = match data.split_last() {
            Some((&flags, rest)) => (flags, rest),
            None => (0, data),
        };
        let mut take_file = |wanted: bool| -> Option<&'a [u8]> {
            if !wanted {
                return None;
            }
            let (&len, before) = rest.split_last().unwrap_or((&0, rest));
            let cut = before.len() - (len as usize).min(before.len());
            let (log, file) = before.split_at(cut);
            rest = log;
            Some(file)
        };
        let offset_index = take_file(flags & 0b0100 != 0);
        let time_index = take_file(flags & 0b1000 != 0);
        Input {
            mode: if flags & 0b0001 != 0 {
                OpenMode::Sealed
            } else {
                OpenMode::Active
            },
            force_recovery: flags & 0b0010 != 0,
            log: rest,
            offset_index,
            time_index,
        }
    }
}

/// What a walk of batch headers found.
#[derive(Debug, Default)]
struct Walk {
    /// Every batch parsed, chaining exactly to the end of the bytes.
    reaches_end: bool,
    /// Also: every batch validates, offsets are contiguous from at least the base offset and
    /// stay within 32-bit relative range (what recovery accepts).
    clean: bool,
    /// Offset after the last batch.
    next_offset: Option<i64>,
    /// Positions and base offsets of the batches.
    batches: Vec<(u64, i64)>,
}

fn walk(bytes: &[u8], from: usize) -> Walk {
    let tail = bytes.get(from..).unwrap_or_default();
    let mut walk = Walk {
        clean: true,
        ..Walk::default()
    };
    let mut batches = Batches::new(tail, from as u64);
    for batch in &mut batches {
        let Ok(batch) = batch else {
            walk.clean = false;
            return walk;
        };
        let contiguous = match walk.next_offset {
            Some(next) => batch.base_offset() == next,
            None => batch.base_offset() >= BASE_OFFSET,
        };
        if batch.validate().is_err()
            || !contiguous
            || batch.last_offset() - BASE_OFFSET > i64::from(i32::MAX)
        {
            walk.clean = false;
        }
        walk.batches.push((batch.position(), batch.base_offset()));
        walk.next_offset = Some(batch.next_offset());
    }
    walk.reaches_end = batches.consumed() == tail.len();
    walk.clean &= walk.reaches_end;
    walk
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write input file");
}

fuzz_target!(|data: &[u8]| {
    let input = Input::parse(data);
    let dir = silt_fuzz::scratch_dir();
    let dir = dir.path();
    write(&segment_file(dir, BASE_OFFSET, LOG_SUFFIX), input.log);
    if let Some(bytes) = input.offset_index {
        write(&segment_file(dir, BASE_OFFSET, INDEX_SUFFIX), bytes);
    }
    if let Some(bytes) = input.time_index {
        write(&segment_file(dir, BASE_OFFSET, TIME_INDEX_SUFFIX), bytes);
    }
    let config = config();

    // Bad contents are never an error (they are recovered); only the file system may fail.
    let (mut segment, report) =
        match Segment::open_with(dir, BASE_OFFSET, &config, input.mode, input.force_recovery) {
            Ok(opened) => opened,
            Err(SegmentError::Io { .. }) => return,
            Err(e) => panic!("opening arbitrary contents failed: {e}"),
        };
    let reader = segment.reader();
    assert_eq!(reader.next_offset(), segment.next_offset());
    assert_eq!(reader.size(), segment.size());
    let bytes = reader.bytes();
    assert_eq!(bytes.len(), reader.size() as usize);
    let from_start = walk(bytes, 0);

    if report.recovered.is_some() {
        assert!(
            from_start.clean,
            "a recovered segment holds only valid, contiguous batches ({report:?})"
        );
        assert_eq!(report.valid_end, reader.size());
        assert_eq!(
            reader.next_offset(),
            from_start.next_offset.unwrap_or(BASE_OFFSET),
            "recovered next offset"
        );
        check_reads(&reader, &from_start);
    } else {
        // Trusted: the cheap check walked headers from the last offset index entry.
        let last_entry = reader.index_lookup(i64::MAX);
        let tail = walk(bytes, last_entry.position as usize);
        assert!(
            tail.reaches_end,
            "a trusted segment's headers chain from its last index entry to its end"
        );
        assert_eq!(
            reader.next_offset(),
            tail.next_offset.unwrap_or(BASE_OFFSET),
            "trusted next offset"
        );
    }
    let mut buffer = DecompressBuffer::with_limit(1 << 20);
    for timestamp in [i64::MIN, -1, 0, segment.max_timestamp().0, i64::MAX] {
        let _ = reader.find_by_timestamp(timestamp, &mut buffer);
    }

    let mut expected_next = reader.next_offset();
    if input.mode == OpenMode::Active {
        expected_next = append_and_read_back(&mut segment, &reader);
    }
    drop(reader);
    drop(segment);

    let (segment, report) = Segment::open_with(dir, BASE_OFFSET, &config, input.mode, true)
        .unwrap_or_else(|e| panic!("forced recovery of a segment that opened failed: {e}"));
    if from_start.clean {
        assert_eq!(
            segment.next_offset(),
            expected_next,
            "forced recovery of a clean segment keeps its end ({report:?})"
        );
        assert!(
            report.torn.is_none(),
            "clean segment, torn tail: {report:?}"
        );
    }
});

/// Reading each batch's base offset finds that batch (recovered segments only: a trusted one
/// keeps whatever index it had).
fn check_reads(reader: &SegmentReader, walk: &Walk) {
    for &(position, base_offset) in &walk.batches {
        let slice = reader
            .read(base_offset, 0)
            .expect("read a recovered segment")
            .expect("an offset below the next offset is found");
        assert_eq!(u64::from(slice.position), position, "read({base_offset})");
    }
    let past_end = reader.read(reader.next_offset(), 1 << 20);
    assert!(
        matches!(past_end, Ok(None)),
        "read past the end: {past_end:?}"
    );
}

/// Appends a small fresh batch and reads it back; returns the segment's new next offset.
fn append_and_read_back(segment: &mut Segment, reader: &SegmentReader) -> i64 {
    let next = segment.next_offset();
    let mut builder = BatchBuilder::new(BatchConfig::default());
    let header = [RecordHeader {
        key: "h",
        value: Some(b"v"),
    }];
    builder
        .append(1_700_000_000_000, Some(b"k0"), Some(b"v0"), &[])
        .and_then(|()| builder.append(1_700_000_000_001, None, Some(b"v1"), &header))
        .expect("build a batch");
    let batch = builder.finish().expect("finish a batch");
    let info = match segment.append(&batch) {
        Ok(info) => info,
        Err(SegmentError::SegmentFull {
            reason: RollReason::OffsetOverflow,
            ..
        }) if next + 1 - BASE_OFFSET > i64::from(i32::MAX) => return next,
        Err(e) => panic!("append of a fresh batch at offset {next} failed: {e}"),
    };
    assert_eq!(info.base_offset, next);
    assert_eq!(info.last_offset, next + 1);
    assert_eq!(reader.next_offset(), next + 2);
    let slice = reader
        .read(next, 1 << 20)
        .expect("read the appended batch")
        .expect("the appended batch is there");
    assert_eq!(slice.position, info.position);
    let read = Batch::parse(slice.bytes, 0).expect("parse the appended batch");
    assert_eq!(read.base_offset(), next);
    read.validate().expect("the appended batch validates");
    assert_eq!(
        read.records_bytes(),
        &batch[HEADER_SIZE..],
        "the records read back unchanged"
    );
    next + 2
}
