//! Segment append throughput against writing the same bytes with `write(2)` and `memcpy`.
//!
//! Each iteration appends 256 MiB of pre-encoded 16 KiB batches (one batch per call, as a
//! broker appends a produce request) to a fresh file in a fresh temporary directory. File
//! creation, `posix_fallocate`, prefaulting and deletion happen outside the timed region;
//! nothing is synced, so every figure is the page cache's, not the disk's.
//!
//! Targets (from the issue), against `baseline_write` (`File::write_all`, page cache):
//! - `silt_append` (pages fault in as they are first written): >= 1.0x.
//! - `silt_append_prefaulted` (pages populated beforehand, as the pretoucher does): >= 1.5x.
//!
//! `baseline_mmap_prefaulted` (memcpy into populated mapped pages) is the machine's ceiling
//! for (c); `baseline_mmap_faulting` (memcpy into a fresh mapping) is the same for (b).

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use memmap2::{Advice, MmapMut, MmapOptions};
use silt_benches::batch_of_size;
use silt_segment::log::{Segment, SegmentConfig};

const BATCH_BYTES: usize = 16 << 10;
const TOTAL_BYTES: usize = 256 << 20;
const BATCHES_PER_ITER: usize = TOTAL_BYTES / BATCH_BYTES;
/// Distinct source batches, cycled (1 MiB: the source stays cache-warm, as a just-decoded
/// produce request would be).
const SOURCE_BATCHES: usize = 64;
const VALUE_BYTES: usize = 100;

/// Runs `iters` iterations of: `setup` in a fresh temporary directory, then `run` timed,
/// then everything dropped and deleted. Returns the time spent in `run` alone.
fn time_fresh<T>(
    iters: u64,
    mut setup: impl FnMut(&Path) -> T,
    mut run: impl FnMut(&mut T),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut state = setup(dir.path());
        let start = Instant::now();
        run(&mut state);
        total += start.elapsed();
        drop(state);
        dir.close().expect("temporary directory removed");
    }
    total
}

/// A `len`-byte file at `path`, blocks reserved with `posix_fallocate` as silt does, mapped
/// read-write.
fn fallocated_map(path: &Path, len: usize) -> MmapMut {
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .expect("create file");
    // SAFETY: posix_fallocate reads only the descriptor and two integers; `file` is open.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    assert_eq!(rc, 0, "posix_fallocate failed");
    // SAFETY: the file was just created in a private temporary directory; nothing else
    // truncates or writes it while the map lives.
    unsafe { MmapOptions::new().len(len).map_mut(&file) }.expect("mmap")
}

fn segment_append(c: &mut Criterion) {
    let sources: Vec<Vec<u8>> = (0..SOURCE_BATCHES)
        .map(|i| batch_of_size(BATCH_BYTES, VALUE_BYTES, 1 + i as u64))
        .collect();
    assert!(sources.iter().all(|b| b.len() == BATCH_BYTES));
    let batches = || (0..BATCHES_PER_ITER).map(|i| sources[i % SOURCE_BATCHES].as_slice());
    let config = SegmentConfig {
        segment_bytes: TOTAL_BYTES as u32,
        ..SegmentConfig::default()
    };

    let mut group = c.benchmark_group("segment_append");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(TOTAL_BYTES as u64));

    // (a) Baseline: write(2) into a fresh file, page cache only.
    group.bench_function("baseline_write", |b| {
        b.iter_custom(|iters| {
            time_fresh(
                iters,
                |dir| File::create(dir.join("write.log")).expect("create file"),
                |file| {
                    for batch in batches() {
                        file.write_all(batch).expect("write");
                    }
                },
            )
        })
    });

    for prefault in [false, true] {
        // (b) silt: append into a fresh preallocated, mapped segment, pages faulting in as
        // they are first written; (c) the same with every page populated beforehand (what
        // the pretoucher does ahead of the writer).
        let name = if prefault {
            "silt_append_prefaulted"
        } else {
            "silt_append"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                time_fresh(
                    iters,
                    |dir| {
                        let segment = Segment::create(dir, 0, &config).expect("create segment");
                        if prefault {
                            segment.prefault(TOTAL_BYTES);
                        }
                        segment
                    },
                    |segment| {
                        for batch in batches() {
                            black_box(segment.append(batch).expect("append"));
                        }
                    },
                )
            })
        });

        // Ceilings for (b) and (c): memcpy into a fresh shared mapping of a preallocated
        // file, pages faulting in as written or (d) populated beforehand.
        let name = if prefault {
            "baseline_mmap_prefaulted"
        } else {
            "baseline_mmap_faulting"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                time_fresh(
                    iters,
                    |dir| {
                        let map = fallocated_map(&dir.join("mmap.log"), TOTAL_BYTES);
                        if prefault {
                            map.advise(Advice::PopulateWrite)
                                .expect("MADV_POPULATE_WRITE");
                        }
                        map
                    },
                    |map| {
                        for (chunk, batch) in map.chunks_exact_mut(BATCH_BYTES).zip(batches()) {
                            chunk.copy_from_slice(batch);
                        }
                        black_box(&map[..]);
                    },
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, segment_append);
criterion_main!(benches);
