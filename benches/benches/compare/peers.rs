//! The peers' rows: the `commitlog` crate (an append-only log of messages, Kafka-like) and
//! fjall (an LSM-tree key-value store) used as a queue, each with its own normal mechanisms.
//!
//! commitlog's offset index is sized for the whole run and its segment (1 GB) never rolls,
//! as in the producer bench: the peer at its best. fjall keeps its defaults (lz4 blocks, its
//! worker threads); records are one keyspace keyed by big-endian u64 sequence numbers, so a
//! range scan reads them in order.

use std::fs::File;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::report::Row;
use crate::{touch, Input, Reader, Writer, BATCH_RECORDS, FETCH_BYTES};

/// A fresh commitlog in `dir` that holds `records` without rolling.
fn commitlog(dir: &Path, records: usize) -> CommitLog {
    let mut options = LogOptions::new(dir);
    options.index_max_items(records.max(1));
    CommitLog::new(options).expect("commitlog")
}

/// The file commitlog writes messages to: its first (and, here, only) segment.
fn commitlog_segment(dir: &Path) -> File {
    File::open(dir.join(format!("{:020}.log", 0))).expect("commitlog segment")
}

/// What the commitlog durable rows do after each batch's append.
#[derive(Clone, Copy)]
enum CommitlogSync {
    /// Nothing: the page cache (the `acks=1` workload).
    None,
    /// `CommitLog::flush`: an msync of the offset index; the segment's `File::flush` does
    /// nothing, so the messages stay in the page cache.
    Flush,
    /// `CommitLog::flush` and an fdatasync of the segment through a second descriptor.
    FlushAndSegmentFdatasync,
}

/// Appends the input to a fresh commitlog in `dir` in `MessageBuf`s of [`BATCH_RECORDS`],
/// syncing after each as `sync` says; returns the log and the time taken.
fn commitlog_append(dir: &Path, input: &Input, sync: CommitlogSync) -> (CommitLog, Duration) {
    let mut log = commitlog(dir, input.records);
    let segment = commitlog_segment(dir);
    let mut buf = MessageBuf::default();
    let start = Instant::now();
    for first in (0..input.records).step_by(BATCH_RECORDS) {
        for i in first..(first + BATCH_RECORDS).min(input.records) {
            buf.push(input.values.get(i)).expect("push");
        }
        log.append(&mut buf).expect("append");
        buf.clear();
        match sync {
            CommitlogSync::None => {}
            CommitlogSync::Flush => log.flush().expect("flush"),
            CommitlogSync::FlushAndSegmentFdatasync => {
                log.flush().expect("flush");
                segment.sync_data().expect("fdatasync segment");
            }
        }
    }
    let took = start.elapsed();
    assert_eq!(log.next_offset(), input.records as u64);
    (log, took)
}

/// Reads the whole log 1 MiB at a time, touching every payload (hashes not checked: that
/// is commitlog's default).
fn commitlog_read_all(log: &CommitLog) -> (usize, u64) {
    let (mut count, mut sum) = (0, 0);
    let end = log.next_offset();
    let mut offset = 0;
    while offset < end {
        let set = log
            .read(offset, ReadLimit::max_bytes(FETCH_BYTES))
            .expect("read");
        for m in set.iter() {
            sum += touch(m.payload());
            count += 1;
            offset = m.offset() + 1;
        }
    }
    (count, sum)
}

/// A fresh fjall database in `dir` and its queue keyspace.
fn fjall(dir: &Path) -> (Database, Keyspace) {
    let db = Database::builder(dir).open().expect("fjall database");
    let queue = db
        .keyspace("queue", KeyspaceCreateOptions::default)
        .expect("fjall keyspace");
    (db, queue)
}

/// Appends the input to `queue` in write batches of [`BATCH_RECORDS`], each committed with
/// `durability` (`None`: fjall's default, the journal `write()`n to the page cache).
fn fjall_append(db: &Database, queue: &Keyspace, input: &Input, durability: Option<PersistMode>) {
    for first in (0..input.records).step_by(BATCH_RECORDS) {
        let mut batch = db.batch().durability(durability);
        for i in first..(first + BATCH_RECORDS).min(input.records) {
            let key = (i as u64).to_be_bytes();
            batch.insert(queue, &key[..], input.values.get(i));
        }
        batch.commit().expect("commit");
    }
}

/// Checks that the queue's last key is the last record's sequence number.
fn fjall_check(queue: &Keyspace, records: usize) {
    let last = queue.last_key_value().expect("records").key().expect("key");
    assert_eq!(&*last, &(records as u64 - 1).to_be_bytes()[..]);
}

/// A fjall turn: a fresh database, the input appended with `durability`, checked, dropped.
fn fjall_writer(
    input: &Input,
    durability: Option<PersistMode>,
) -> impl FnMut(&Path) -> Duration + '_ {
    move |dir| {
        let (db, queue) = fjall(dir);
        let start = Instant::now();
        fjall_append(&db, &queue, input, durability);
        let took = start.elapsed();
        fjall_check(&queue, input.records);
        // Dropping the database stops its workers (flushes, compactions) before the next
        // system's turn.
        drop(queue);
        drop(db);
        took
    }
}

pub fn append_writers(input: &Input) -> Vec<Writer<'_>> {
    vec![
        Writer {
            row: Row::peer("commitlog 0.2, batches of 100"),
            run: Box::new(move |dir| commitlog_append(dir, input, CommitlogSync::None).1),
        },
        Writer {
            row: Row::peer("fjall 3, batches of 100"),
            run: Box::new(fjall_writer(input, None)),
        },
    ]
}

pub fn durable_writers(input: &Input) -> Vec<Writer<'_>> {
    vec![
        Writer {
            row: Row::peer("commitlog 0.2, flush() + fdatasync per batch"),
            run: Box::new(move |dir| {
                commitlog_append(dir, input, CommitlogSync::FlushAndSegmentFdatasync).1
            }),
        },
        Writer {
            row: Row::peer("commitlog 0.2, flush() per batch")
                .not_comparable("not durable: flush() msyncs the index, not the segment"),
            run: Box::new(move |dir| commitlog_append(dir, input, CommitlogSync::Flush).1),
        },
        Writer {
            row: Row::peer("fjall 3, commit with SyncData per batch"),
            run: Box::new(fjall_writer(input, Some(PersistMode::SyncData))),
        },
    ]
}

pub fn readers(input: &Input) -> Vec<Reader<'_>> {
    vec![
        Reader {
            row: Row::peer("commitlog 0.2, read"),
            setup: Box::new(move |dir| {
                let (mut log, _) = commitlog_append(dir, input, CommitlogSync::None);
                log.flush().expect("flush");
                Box::new(move || {
                    let start = Instant::now();
                    let (count, sum) = commitlog_read_all(&log);
                    let took = start.elapsed();
                    assert_eq!((count, black_box(sum)), (input.records, input.checksum));
                    took
                })
            }),
        },
        Reader {
            row: Row::peer("fjall 3, range scan"),
            setup: Box::new(move |dir| {
                let (db, queue) = fjall(dir);
                fjall_append(&db, &queue, input, None);
                // A queue's backlog lies in tables, not in the memtable.
                queue.rotate_memtable_and_wait().expect("flush memtable");
                fjall_check(&queue, input.records);
                Box::new(move || {
                    // The database must outlive the scans: its drop stops its workers.
                    let _db = &db;
                    let (mut count, mut sum) = (0, 0);
                    let start = Instant::now();
                    for item in queue.range(0u64.to_be_bytes()..) {
                        let value = item.value().expect("value");
                        sum += touch(&value);
                        count += 1;
                    }
                    let took = start.elapsed();
                    assert_eq!((count, black_box(sum)), (input.records, input.checksum));
                    took
                })
            }),
        },
    ]
}
