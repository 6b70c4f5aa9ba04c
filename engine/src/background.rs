//! The engine's one background thread: `flush.ms`, retention, recovery point checkpoints and
//! log compaction.
//!
//! Each tick does bounded work: at most `silt.retention.max.segments.per.tick` segments are
//! deleted per retention pass, and a cleaner pass (every `log.cleaner.backoff.ms`, when
//! `log.cleaner.enable`) cleans one log, the dirtiest eligible one. The thread holds only a weak reference to the engine, so
//! dropping the last `Engine` handle stops it.

use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use crate::config::EngineConfig;
use crate::engine::Inner;
use crate::error::{io_err, Result};
use crate::sync::lock;

/// The running background thread.
pub(crate) struct Background {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

/// When each job next runs.
struct Schedule {
    every: [Duration; 4],
    next: [Instant; 4],
    cleaner_enable: bool,
}

const FLUSH: usize = 0;
const RETENTION: usize = 1;
const CHECKPOINT: usize = 2;
const CLEANER: usize = 3;

impl Background {
    pub(crate) fn start(inner: Weak<Inner>, config: &EngineConfig) -> Result<Background> {
        let (stop, stopped) = bounded::<()>(1);
        let every = [
            config.flush_scheduler_interval_ms,
            config.retention_check_interval_ms,
            config.flush_offset_checkpoint_interval_ms,
            config.cleaner_backoff_ms,
        ]
        .map(|ms| Duration::from_millis(ms.max(1)));
        let budget = config.retention_max_segments_per_tick;
        let cleaner_enable = config.cleaner_enable;
        let handle = std::thread::Builder::new()
            .name("silt-background".into())
            .spawn(move || {
                let now = Instant::now();
                let mut schedule = Schedule {
                    every,
                    next: every.map(|d| now + d),
                    cleaner_enable,
                };
                loop {
                    let due = schedule.next.iter().min().copied().unwrap_or(now);
                    match stopped.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let Some(inner) = inner.upgrade() else { return };
                    if let Err(e) = schedule.run_due(&inner, budget) {
                        *lock(&inner.background_error) = Some(e);
                    }
                }
            })
            .map_err(io_err("spawn thread", "silt-background"))?;
        Ok(Background { stop, handle })
    }

    /// Stops the thread and waits for it, unless called from the thread itself (when it held
    /// the last engine handle).
    pub(crate) fn stop(self) {
        let _ = self.stop.try_send(());
        if self.handle.thread().id() != std::thread::current().id() {
            let _ = self.handle.join();
        }
    }
}

impl Schedule {
    fn run_due(&mut self, inner: &Inner, budget: usize) -> Result<()> {
        let now = Instant::now();
        let due = |i: usize, s: &Schedule| s.next.get(i).is_some_and(|n| *n <= now);
        let run = [
            due(FLUSH, self),
            due(RETENTION, self),
            due(CHECKPOINT, self),
            due(CLEANER, self),
        ];
        for (i, ran) in run.iter().enumerate() {
            if let (true, Some(next), Some(every)) = (*ran, self.next.get_mut(i), self.every.get(i))
            {
                *next = now + *every;
            }
        }
        // A job that fails (a full disk, a partition gone offline) does not hold up the other
        // partitions or the other jobs: each runs, and the first error is reported.
        let mut first_error = None;
        let mut note = |result: Result<()>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        if run[FLUSH] {
            let now_ms = crate::log::now_ms();
            for log in inner.all_logs() {
                note(log.flush_if_due(now_ms));
            }
        }
        if run[RETENTION] {
            note(inner.retention_pass(budget).map(drop));
        }
        if run[CHECKPOINT] {
            note(inner.write_checkpoints());
        }
        if run[CLEANER] && self.cleaner_enable {
            note(inner.clean_dirtiest().map(drop));
        }
        first_error.map_or(Ok(()), Err)
    }
}
