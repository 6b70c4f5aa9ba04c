//! A fetch never returns a record at or past the log end it reports: `next_offset() <=
//! log_end_offset()`, as Kafka's fetch never returns records past the high watermark in the
//! same response. The log end is read before the segment is, and the segment reader loads the
//! published end again, so a fetch racing an append used to return the new batch with the old
//! end. (Found by the crash campaign's concurrent reader, `consumer/tests/crash_campaign.rs`.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

/// Fetches returning records made at the tail while a writer appends: the race shows up
/// within a few thousand on a two-core machine (the test never waits on it: it checks each).
const FETCHES: usize = 20_000;

#[test]
fn a_fetch_reports_a_log_end_past_every_record_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    let (done, appender_stopped) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        s.spawn(|| {
            let _stopped = common::SetOnDrop(&appender_stopped);
            let mut next = 0;
            while !done.load(Ordering::Relaxed) {
                log.append(&common::batch(next, 1)).unwrap();
                next += 1;
            }
        });
        let _stop = common::SetOnDrop(&done);
        let mut offset = 0;
        let mut fetched = 0;
        while fetched < FETCHES {
            assert!(
                !appender_stopped.load(Ordering::Relaxed),
                "the appender failed"
            );
            let fetch = log.fetch(offset, 1 << 20).unwrap();
            fetched += usize::from(!fetch.is_empty());
            assert!(
                fetch.next_offset() <= fetch.log_end_offset(),
                "fetch at {offset} returned records up to {} with log end {}",
                fetch.next_offset(),
                fetch.log_end_offset()
            );
            for (record, _) in common::records(&fetch) {
                assert!(record < fetch.log_end_offset());
            }
            // Stay at the tail, where the race is: fetch from just below the end.
            offset = (fetch.log_end_offset() - 1).max(0);
        }
    });
}
