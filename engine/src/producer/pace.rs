//! With `linger.ms=0`: whether a sending thread keeps up with what it sends, or is saturated.
//!
//! A thread that keeps up pauses between sends (it waits for work, sleeps, computes), and
//! each of its records is sealed into a batch of its own and appended at once. A thread
//! that sends back to back for [`SATURATED_RUN_US`] is saturated: its records then gather
//! into batches (see the accumulator), which amortizes the per-batch work over many
//! records, as Kafka's sender batches whatever accumulated while it was busy. The bursts of
//! a thread that keeps up, even a bursty one (a sleep's granularity is ~50-100 µs), are far
//! shorter.
//!
//! A pause of the thread is not always its own: when, during a long pause, it was preempted
//! and never blocked (no voluntary context switch: it did not sleep or wait), the pause is
//! taken out of the run rather than ending it, so that a saturated thread on a busy machine
//! stays saturated (catching up is when batching helps most), while a thread that keeps up,
//! preempted once, does not count the preemption as sending.

use super::clock::Ticks;

/// The pause between two sends of a thread (from the end of one to the start of the next)
/// that ends a run of back-to-back sends.
const PAUSE_US: u64 = 1;

/// A pause this long is checked against the thread's context switches (one `getrusage`, so
/// only for pauses long enough to make it negligible).
const LONG_PAUSE_US: u64 = 20;

/// How long a run of back-to-back sends lasts before the thread counts as saturated.
pub(crate) const SATURATED_RUN_US: u64 = 1000;

/// One shard's view of its sending thread's pace.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    /// When (in [`Ticks`]) the current run of back-to-back sends began.
    run_start: u64,
    /// The thread's (voluntary, involuntary) context switches at the last long pause.
    switches: (i64, i64),
}

impl Pace {
    /// At the start of a send, `now`, after a send that ended at `last_end` (both in
    /// `ticks`): whether the thread is saturated.
    #[inline]
    pub(crate) fn saturated(&mut self, ticks: Ticks, now: u64, last_end: u64) -> bool {
        // Wrapping: another thread of the shard may have stored a later end.
        let pause = now.wrapping_sub(last_end);
        if pause > ticks.of_us(PAUSE_US) {
            self.paused(ticks, now, pause);
        }
        now.wrapping_sub(self.run_start) > ticks.of_us(SATURATED_RUN_US)
    }

    #[cold]
    fn paused(&mut self, ticks: Ticks, now: u64, pause: u64) {
        if pause > ticks.of_us(LONG_PAUSE_US) && pause < ticks.of_us(SATURATED_RUN_US) * 100 {
            let switches = context_switches();
            let (voluntary, involuntary) = self.switches;
            self.switches = switches;
            if switches.0 == voluntary && switches.1 != involuntary {
                self.run_start = self.run_start.wrapping_add(pause);
                return;
            }
        }
        self.run_start = now;
    }
}

/// The calling thread's (voluntary, involuntary) context switches so far (0 where unknown).
#[cfg(target_os = "linux")]
fn context_switches() -> (i64, i64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is valid for writes of one `rusage`, all getrusage writes; it only
    // reads the calling thread's counters.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return (0, 0);
    }
    // SAFETY: zero-initialized (a valid `rusage`: plain integers), then filled by getrusage.
    let usage = unsafe { usage.assume_init() };
    (usage.ru_nvcsw, usage.ru_nivcsw)
}

#[cfg(not(target_os = "linux"))]
fn context_switches() -> (i64, i64) {
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKS: Ticks = Ticks::NANOS;
    const US: u64 = 1000;

    #[test]
    fn back_to_back_sends_saturate_after_a_run() {
        let mut pace = Pace::default();
        let mut now = 1_000_000;
        assert!(!pace.saturated(TICKS, now, 0), "a first send starts a run");
        // Sends of 300 ns, back to back, for just over the run.
        let mut saturated = false;
        for _ in 0..(SATURATED_RUN_US * US / 300 + 2) {
            let end = now + 250;
            now = end + 50;
            saturated = pace.saturated(TICKS, now, end);
        }
        assert!(saturated);
        // A pause (the thread slept: no involuntary switch) ends the run.
        let end = now + 250;
        now = end + 5 * US;
        assert!(!pace.saturated(TICKS, now, end));
    }

    #[test]
    fn a_thread_that_pauses_between_sends_never_saturates() {
        let mut pace = Pace::default();
        let mut now = 1_000_000;
        for _ in 0..10_000 {
            let end = now + 500;
            now = end + 2 * US;
            assert!(!pace.saturated(TICKS, now, end));
        }
    }

    #[test]
    fn a_sleep_is_a_voluntary_context_switch() {
        let before = context_switches();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let after = context_switches();
        if cfg!(target_os = "linux") {
            assert!(after.0 > before.0, "{before:?} {after:?}");
        }
        assert!(after.1 >= before.1);
    }
}
