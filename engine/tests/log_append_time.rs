//! `message.timestamp.type=LogAppendTime`: every appended batch is stamped with the append
//! time (attribute bit 3 set, maxTimestamp = the wall clock at the append, the CRC
//! recomputed so the batch stays valid), every record reads back with that timestamp, and
//! `LogAppendInfo::log_append_time` reports it. `CreateTime` topics keep the producer's
//! timestamps untouched.

mod common;

use silt_engine::{Engine, LogAppendInfo, NewTopic, OffsetSpec};
use silt_segment::batch::{Batch, Compression, DecompressBuffer, TimestampType};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn topic(timestamp_type: &str) -> NewTopic {
    NewTopic::new("t", 1)
        .config("message.timestamp.type", timestamp_type)
        .config("retention.ms", "-1")
}

/// Appends `bytes` and returns what the append reported with the wall clock just before
/// and just after it.
fn timed_append(engine: &Engine, bytes: &[u8]) -> (i64, LogAppendInfo, i64) {
    let before = now_ms();
    let info = engine.append("t", 0, bytes).unwrap();
    let after = now_ms();
    (before, info, after)
}

/// (attributes' timestamp type, maxTimestamp, record timestamps) of every stored batch
/// holding offsets `from..to`, after checking each batch's CRC.
fn stored(engine: &Engine, from: i64, to: i64) -> Vec<(TimestampType, i64, Vec<i64>)> {
    let mut out = Vec::new();
    let mut offset = from;
    let mut buffer = DecompressBuffer::new();
    while offset < to {
        let fetch = engine.fetch("t", 0, offset, 1 << 20).unwrap();
        for batch in fetch.batches() {
            let batch: Batch<'_> = batch.unwrap();
            batch.validate().expect("the stored batch's CRC is valid");
            let timestamps: Vec<i64> = fetch
                .records(&batch, &mut buffer)
                .unwrap()
                .map(|r| r.unwrap().timestamp)
                .collect();
            out.push((
                batch.attributes().timestamp_type(),
                batch.max_timestamp(),
                timestamps,
            ));
        }
        offset = fetch.next_offset();
    }
    out
}

#[test]
fn batches_are_stamped_with_the_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("LogAppendTime")).unwrap();
    let producer_ts = common::T0;
    let (before, info, after) = timed_append(&engine, &common::batch(0, 5));

    let stamped = info
        .log_append_time
        .expect("a LogAppendTime topic reports the time");
    assert!(
        (before..=after).contains(&stamped),
        "{before} <= {stamped} <= {after}"
    );
    assert_eq!(info.max_timestamp, stamped);
    assert_eq!((info.first_offset, info.last_offset), (0, 4));
    let batches = stored(&engine, 0, 5);
    assert_eq!(
        batches,
        vec![(TimestampType::LogAppendTime, stamped, vec![stamped; 5])]
    );
    assert!(
        stamped > producer_ts + 4,
        "the producer's timestamps are replaced"
    );
    // Values are untouched.
    let values: Vec<String> = common::values(&engine, "t", 0);
    assert_eq!(
        values,
        (0..5).map(|i| format!("value-{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn every_batch_of_an_append_gets_the_same_time_whatever_its_codec() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("LogAppendTime")).unwrap();
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Gzip,
    ];
    let mut bytes = Vec::new();
    for (i, codec) in codecs.into_iter().enumerate() {
        bytes.extend(common::batch_of(
            i as u64 * 10,
            10,
            common::T0 + i as i64,
            codec,
        ));
    }
    let (before, info, after) = timed_append(&engine, &bytes);
    let stamped = info.log_append_time.unwrap();
    assert!((before..=after).contains(&stamped));
    assert_eq!(info.batches, 4);
    let batches = stored(&engine, 0, 40);
    assert_eq!(batches.len(), 4);
    for (timestamp_type, max, timestamps) in batches {
        assert_eq!(timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(max, stamped);
        assert_eq!(timestamps, vec![stamped; 10]);
    }
    let records = common::read_all(&engine, "t", 0, 0);
    assert_eq!(records.len(), 40);
    for (offset, value) in records {
        assert_eq!(value, format!("value-{offset}"));
    }
}

#[test]
fn later_appends_get_later_or_equal_times() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("LogAppendTime")).unwrap();
    let mut times = Vec::new();
    for i in 0..5u64 {
        let (before, info, after) = timed_append(&engine, &common::batch(i * 3, 3));
        let stamped = info.log_append_time.unwrap();
        assert!((before..=after).contains(&stamped));
        times.push(stamped);
    }
    let batches = stored(&engine, 0, 15);
    let stored_times: Vec<i64> = batches.iter().map(|(_, max, _)| *max).collect();
    assert_eq!(stored_times, times);
}

#[test]
fn create_time_topics_keep_the_producers_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("CreateTime")).unwrap();
    let original = common::batch_of(0, 5, common::T0, Compression::Lz4);
    let info = engine.append("t", 0, &original).unwrap();
    assert_eq!(info.log_append_time, None);
    assert_eq!(info.max_timestamp, common::T0 + 4);
    let batches = stored(&engine, 0, 5);
    let producer: Vec<i64> = (0..5).map(|i| common::T0 + i).collect();
    assert_eq!(
        batches,
        vec![(TimestampType::CreateTime, common::T0 + 4, producer)]
    );
    // The stored batch is the producer's, byte for byte past the base offset.
    let fetch = engine.fetch("t", 0, 0, 1 << 20).unwrap();
    assert_eq!(&fetch.bytes()[8..], &original[8..]);
}

#[test]
fn the_stamp_is_stored_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("LogAppendTime")).unwrap();
    let info = engine.append("t", 0, &common::batch(0, 4)).unwrap();
    let stamped = info.log_append_time.unwrap();
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(dir.path());
    assert_eq!(
        stored(&engine, 0, 4),
        vec![(TimestampType::LogAppendTime, stamped, vec![stamped; 4])]
    );
    // A crash image recovers the stamped batch as valid (its CRC was recomputed).
    engine.append("t", 0, &common::batch(4, 4)).unwrap();
    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    let engine2 = common::open(crashed.path());
    assert_eq!(engine2.open_report().partitions_truncated, 0);
    assert_eq!(common::read_all(&engine2, "t", 0, 0).len(), 8);
}

#[test]
fn switching_to_log_append_time_stamps_only_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("CreateTime")).unwrap();
    engine.append("t", 0, &common::batch(0, 2)).unwrap();
    engine
        .alter_topic_config("t", [("message.timestamp.type", "LogAppendTime")], [])
        .unwrap();
    let info = engine.append("t", 0, &common::batch(2, 2)).unwrap();
    let stamped = info.log_append_time.unwrap();
    assert_eq!(
        stored(&engine, 0, 4),
        vec![
            (
                TimestampType::CreateTime,
                common::T0 + 1,
                vec![common::T0, common::T0 + 1]
            ),
            (TimestampType::LogAppendTime, stamped, vec![stamped; 2]),
        ]
    );
}

#[test]
fn max_timestamp_lookups_use_the_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("LogAppendTime")).unwrap();
    let first = engine.append("t", 0, &common::batch(0, 3)).unwrap();
    let stamped = first.log_append_time.unwrap();
    let max = engine
        .list_offsets("t", 0, OffsetSpec::MaxTimestamp)
        .unwrap()
        .unwrap();
    assert_eq!((max.offset, max.timestamp), (0, stamped));
    // The producer's timestamps are gone: a lookup at them finds the first stamped record.
    let at = engine
        .list_offsets("t", 0, OffsetSpec::Timestamp(common::T0))
        .unwrap()
        .unwrap();
    assert_eq!((at.offset, at.timestamp), (0, stamped));
    let after = engine
        .list_offsets("t", 0, OffsetSpec::Timestamp(stamped + 1_000_000))
        .unwrap();
    assert_eq!(after, None);
}

#[test]
fn a_lookup_at_the_append_time_finds_the_first_record_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic("LogAppendTime").config("index.interval.bytes", "0"))
        .unwrap();
    let mut stamps = Vec::new();
    for i in 0..4u64 {
        let info = engine.append("t", 0, &common::batch(i * 5, 5)).unwrap();
        stamps.push((info.first_offset, info.log_append_time.unwrap()));
    }
    for (first, stamp) in stamps {
        // Kafka's offsetsForTimes: the first offset whose timestamp is >= the target.
        let want = stored_first_at_or_after(&engine, stamp);
        let got = engine
            .list_offsets("t", 0, OffsetSpec::Timestamp(stamp))
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.offset, got.timestamp),
            (want, stamp),
            "batch at {first}"
        );
    }
}

/// The first offset whose stored timestamp is at least `target`, by scanning every record.
fn stored_first_at_or_after(engine: &Engine, target: i64) -> i64 {
    let mut offset = 0;
    for (_, _, timestamps) in stored(engine, 0, 20) {
        for ts in timestamps {
            if ts >= target {
                return offset;
            }
            offset += 1;
        }
    }
    panic!("no record at or after {target}");
}
