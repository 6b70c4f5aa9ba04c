//! The machine's own limits on the same bytes: memcpy, `write()` into the page cache,
//! `read()` from it, and `write()` + `fdatasync` per batch. These move the record values
//! alone, with no framing, index or checksum: no log can beat them by much.
//!
//! The durable limit is an fdatasync that writes data and no metadata. On this machine every
//! journal commit of the shared ext4 filesystem waits on whatever the other processes on it
//! have pending, so a sync that commits the journal (a growing file's size, an extent
//! converted from unwritten) takes milliseconds where one that only writes data and flushes
//! takes tens of microseconds: both are shown.

use std::fs::File;
use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::report::Row;
use crate::{Input, Reader, Writer, FETCH_BYTES};

/// Memory the size of the payload, every page already faulted in.
fn faulted(len: usize) -> Vec<u8> {
    vec![0xA5; len]
}

/// Writes the payload to a fresh file in `dir`, one batch of 100 records per `write()`,
/// calling `after_batch` after each; returns the time taken.
fn write_batches(dir: &Path, input: &Input, after_batch: impl Fn(&File)) -> Duration {
    let mut file = File::create(dir.join("raw.log")).expect("create");
    let start = Instant::now();
    for batch in input.payload.chunks(input.batch_bytes()) {
        file.write_all(batch).expect("write");
        after_batch(&file);
    }
    start.elapsed()
}

pub fn append_writers(input: &Input) -> Vec<Writer<'_>> {
    vec![
        Writer {
            row: Row::raw("memcpy into memory"),
            run: Box::new(move |_dir| {
                let mut memory = faulted(input.payload.len());
                let batch_bytes = input.batch_bytes();
                let start = Instant::now();
                for (to, from) in memory
                    .chunks_mut(batch_bytes)
                    .zip(input.payload.chunks(batch_bytes))
                {
                    to.copy_from_slice(from);
                }
                let took = start.elapsed();
                black_box(&memory);
                took
            }),
        },
        Writer {
            row: Row::limit("write() into the page cache"),
            run: Box::new(move |dir| write_batches(dir, input, |_| {})),
        },
    ]
}

/// `write()` + `fdatasync` of each batch into a file whose blocks were written (and synced)
/// beforehand, untimed: each sync then writes data alone and changes no metadata, so it needs
/// no journal commit, the cheapest durable write this filesystem allows. (Blocks that are
/// only `fallocate`d are unwritten extents: converting them is metadata, and costs as much
/// as growing the file.)
fn sync_over_written_blocks(dir: &Path, input: &Input) -> Duration {
    let mut file = File::create(dir.join("raw.log")).expect("create");
    let zeros = vec![0u8; FETCH_BYTES];
    let mut left = input.payload.len();
    while left > 0 {
        let n = left.min(zeros.len());
        file.write_all(&zeros[..n]).expect("write zeros");
        left -= n;
    }
    file.sync_all().expect("fsync");
    file.seek(SeekFrom::Start(0)).expect("seek");
    let start = Instant::now();
    for batch in input.payload.chunks(input.batch_bytes()) {
        file.write_all(batch).expect("write");
        file.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

pub fn durable_writers(input: &Input) -> Vec<Writer<'_>> {
    vec![
        Writer {
            row: Row::raw("write() + fdatasync per batch, file grows"),
            run: Box::new(move |dir| {
                write_batches(dir, input, |file| file.sync_data().expect("fdatasync"))
            }),
        },
        Writer {
            row: Row::limit("write() + fdatasync per batch, blocks pre-written"),
            run: Box::new(move |dir| sync_over_written_blocks(dir, input)),
        },
    ]
}

pub fn readers(input: &Input) -> Vec<Reader<'_>> {
    vec![
        Reader {
            row: Row::limit("memcpy from memory"),
            setup: Box::new(move |_dir| {
                let mut memory = faulted(input.payload.len());
                Box::new(move || {
                    let start = Instant::now();
                    memory.copy_from_slice(black_box(&input.payload));
                    let took = start.elapsed();
                    black_box(&memory);
                    took
                })
            }),
        },
        Reader {
            row: Row::raw("read() from the page cache"),
            setup: Box::new(move |dir| {
                write_batches(dir, input, |_| {});
                let file = File::open(dir.join("raw.log")).expect("open");
                let mut buffer = faulted(FETCH_BYTES);
                Box::new(move || {
                    let mut position = 0;
                    let start = Instant::now();
                    loop {
                        let n = file.read_at(&mut buffer, position).expect("read");
                        if n == 0 {
                            break;
                        }
                        black_box(&buffer[..n]);
                        position += n as u64;
                    }
                    let took = start.elapsed();
                    assert_eq!(position, input.payload.len() as u64);
                    took
                })
            }),
        },
    ]
}
