//! `commit_sync` of one partition's offset (issue 5), without fsync (the offsets topic
//! keeps Kafka's `flush.messages` default: never), beside what a commit fundamentally is,
//! in the same run.
//!
//! - `silt_commit_sync`: a consumer of group `g` (`assign`, no group management, so the
//!   commit is accepted while the group has no members) seeks and commits one partition:
//!   the group's checks, one OffsetCommitKey/Value record encoded into a batch, appended to
//!   `__consumer_offsets` through the validating path, and the in-memory table updated.
//!   Target: median ≤ 20 µs.
//! - `engine_append_small_batch`: `Engine::append` of one pre-built batch holding the same
//!   record (key and value from the same codec): the append a commit cannot avoid.
//! - `engine_encode_and_append_small_batch`: the same, encoding the record and the batch
//!   each time, as a commit does.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use silt_consumer::offsets::codec::{OffsetCommitKey, OffsetCommitValue};
use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::{Engine, EngineConfig, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig};

const T0: i64 = 1_700_000_000_000;

/// The commit record `group` makes for `t-0` at `offset`: (key, value).
fn commit_record(offset: i64) -> (Vec<u8>, Vec<u8>) {
    let (mut key, mut value) = (Vec::new(), Vec::new());
    OffsetCommitKey {
        group: "g".to_string(),
        topic: "t".to_string(),
        partition: 0,
    }
    .encode(&mut key);
    OffsetCommitValue {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: T0,
    }
    .encode(&mut value);
    (key, value)
}

fn encode_batch(builder: &mut BatchBuilder, key: &[u8], value: &[u8]) -> Vec<u8> {
    builder
        .append(T0, Some(key), Some(value), &[])
        .expect("record");
    builder.finish().expect("batch")
}

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), EngineConfig::default()).expect("open");
    engine.create_topic(NewTopic::new("t", 1)).expect("topic t");
    // The baseline's topic: compacted, with the offsets topic's segment size, like
    // `__consumer_offsets`.
    engine
        .create_topic(
            NewTopic::new("b", 1)
                .config("cleanup.policy", "compact")
                .config("segment.bytes", (100u32 << 20).to_string()),
        )
        .expect("topic b");
    let tp = TopicPartition::new("t", 0);
    let config = ConsumerConfig {
        enable_auto_commit: false,
        ..ConsumerConfig::with_group("g")
    }
    .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = engine.consumer(config).expect("consumer");
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    // The first commit creates `__consumer_offsets`: outside the measurement.
    consumer.seek(&tp, 0).expect("seek");
    consumer.commit_sync().expect("first commit");
    let (key, value) = commit_record(42);
    let batch = encode_batch(&mut BatchBuilder::new(BatchConfig::default()), &key, &value);

    let mut group = c.benchmark_group("consumer_commit");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(4));
    let mut offset = 0;
    group.bench_function("silt_commit_sync", |b| {
        b.iter(|| {
            offset += 1;
            consumer.seek(&tp, offset).expect("seek");
            consumer.commit_sync().expect("commit")
        })
    });
    group.bench_function("engine_append_small_batch", |b| {
        b.iter(|| engine.append("b", 0, black_box(&batch)).expect("append"))
    });
    let mut offset = 0;
    group.bench_function("engine_encode_and_append_small_batch", |b| {
        b.iter(|| {
            offset += 1;
            let (key, value) = commit_record(offset);
            let mut builder = BatchBuilder::new(BatchConfig::default());
            let batch = encode_batch(&mut builder, &key, &value);
            engine.append("b", 0, &batch).expect("append")
        })
    });
    group.finish();
    let committed = consumer.committed(&[tp]).expect("committed");
    assert!(committed
        .values()
        .all(|c| c.as_ref().is_some_and(|c| c.offset > 0)));
}

criterion_group!(benches, commit);
criterion_main!(benches);
