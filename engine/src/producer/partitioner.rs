//! Kafka's choice of partition: an explicit partition, else murmur2 of the key, else the
//! uniform sticky partitioner of KIP-794 (with adaptive partitioning); or a custom
//! [`Partitioner`].

use silt_segment::murmur2::partition_for_key;

/// A user's choice of partition (Kafka's `partitioner.class`).
///
/// Called in the sending thread for every record sent without an explicit partition, so it
/// must be cheap. Returning `None` hands the record to Kafka's built-in sticky partitioner
/// (as a Java partitioner returning `RecordMetadata.UNKNOWN_PARTITION` does); a partition
/// outside `0..partitions` fails the send with
/// [`EngineError::UnknownPartition`](crate::EngineError::UnknownPartition).
///
/// ```
/// use silt_engine::producer::Partitioner;
///
/// /// Every record of a tenant (the key's prefix up to ':') on one partition.
/// struct ByTenant;
///
/// impl Partitioner for ByTenant {
///     fn partition(&self, _topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>, partitions: u32) -> Option<u32> {
///         let tenant = key?.split(|&b| b == b':').next()?;
///         Some(silt_segment::murmur2::partition_for_key(tenant, partitions))
///     }
/// }
/// ```
pub trait Partitioner: Send + Sync {
    /// The partition of a record of `topic` (which has `partitions` partitions), or `None`
    /// for the built-in sticky choice.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: u32,
    ) -> Option<u32>;
}

/// The Java client's partition for a keyed record: `(murmur2(key) & 0x7fffffff) % partitions`.
#[inline]
pub fn key_partition(key: &[u8], partitions: u32) -> u32 {
    partition_for_key(key, partitions)
}

/// What adaptive partitioning reads of a partition: how many batches it has on the way.
pub(crate) trait QueueLength {
    fn queue_length(&self) -> u32;
}

/// The uniform sticky partitioner of KIP-794, for one sending thread and one topic: records
/// without a key stay on one partition until about `batch.size` bytes went to it, then move
/// to another, chosen at random, weighted toward partitions with fewer batches queued
/// (adaptive partitioning).
#[derive(Debug)]
pub(crate) struct Sticky {
    current: Option<u32>,
    produced: usize,
}

impl Sticky {
    pub(crate) fn new() -> Self {
        Sticky {
            current: None,
            produced: 0,
        }
    }

    /// The sticky partition, choosing a new one if there is none.
    #[inline]
    pub(crate) fn partition(
        &mut self,
        queues: &[impl QueueLength],
        adaptive: bool,
        rng: &mut Rng,
    ) -> u32 {
        match self.current {
            Some(p) if (p as usize) < queues.len() => p,
            _ => {
                let p = next_partition(queues, adaptive, rng);
                self.current = Some(p);
                self.produced = 0;
                p
            }
        }
    }

    /// Counts `bytes` sent to the sticky partition and moves on when it has had its batch
    /// (Kafka's `updatePartitionInfo`): once the partition's batch `filled` up, or once at
    /// least `batch_size` bytes went to it and no batch is left `open` there (with
    /// `linger.ms=0` every batch seals at once), or in any case after twice `batch_size`.
    #[inline]
    pub(crate) fn produced(&mut self, bytes: usize, batch_size: usize, filled: bool, open: bool) {
        self.produced += bytes;
        if filled || (self.produced >= batch_size && !open) || self.produced >= 2 * batch_size {
            self.switch();
        }
    }

    /// Moves to another partition with the next record.
    /// The partition it is on, if it has chosen one.
    #[inline]
    pub(crate) fn current(&self) -> Option<u32> {
        self.current
    }

    #[inline]
    pub(crate) fn switch(&mut self) {
        self.current = None;
    }
}

/// Picks a partition at random; with `adaptive`, partition `p` is chosen with weight
/// `max_queue + 1 - queue[p]`, so the partitions whose writers are behind get fewer new
/// batches (Kafka's `BuiltInPartitioner.nextPartition` with its load statistics).
/// Topics with very many partitions skip the statistics (reading them would cost more than
/// they save) and choose uniformly.
fn next_partition(queues: &[impl QueueLength], adaptive: bool, rng: &mut Rng) -> u32 {
    const MAX_ADAPTIVE_PARTITIONS: usize = 1024;
    let n = queues.len().max(1) as u32;
    if !adaptive || queues.len() > MAX_ADAPTIVE_PARTITIONS {
        return rng.below(n);
    }
    let mut max = 0u32;
    let mut min = u32::MAX;
    for q in queues {
        let q = q.queue_length();
        max = max.max(q);
        min = min.min(q);
    }
    if max == min {
        return rng.below(n);
    }
    let total: u64 = queues
        .iter()
        .map(|q| u64::from(max + 1 - q.queue_length().min(max)))
        .sum();
    let mut pick = rng.below_u64(total);
    for (p, q) in queues.iter().enumerate() {
        let weight = u64::from(max + 1 - q.queue_length().min(max));
        if pick < weight {
            return p as u32;
        }
        pick -= weight;
    }
    n - 1 // the queues moved while we read them
}

/// A small, fast generator (xorshift64*) for partition choices; one per sending thread.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * u64::from(n.max(1))) >> 32) as u32
    }

    fn below_u64(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Queue(u32);

    impl QueueLength for Queue {
        fn queue_length(&self) -> u32 {
            self.0
        }
    }

    fn queues(sizes: &[u32]) -> Vec<Queue> {
        sizes.iter().map(|&s| Queue(s)).collect()
    }

    #[test]
    fn sticky_moves_after_a_batch_worth_of_bytes() {
        let q = queues(&[0; 8]);
        let mut rng = Rng::seeded(7);
        let mut sticky = Sticky::new();
        let first = sticky.partition(&q, true, &mut rng);
        for _ in 0..15 {
            assert_eq!(sticky.partition(&q, true, &mut rng), first);
            sticky.produced(100, 1000, false, true);
        }
        // Past a batch's worth with a batch still open, it stays until that batch fills.
        assert_eq!(sticky.current, Some(first));
        sticky.produced(100, 1000, true, false);
        assert!(sticky.current.is_none(), "a full batch moves it on");
        let second = sticky.partition(&q, true, &mut rng);
        for _ in 0..10 {
            assert_eq!(sticky.partition(&q, true, &mut rng), second);
            sticky.produced(100, 1000, false, false);
        }
        assert!(
            sticky.current.is_none(),
            "batch.size bytes, nothing open: it moves on"
        );
    }

    #[test]
    fn adaptive_choice_avoids_the_longest_queue() {
        let q = queues(&[0, 0, 0, 1000]);
        let mut rng = Rng::seeded(11);
        let mut counts = [0u32; 4];
        for _ in 0..10_000 {
            counts[next_partition(&q, true, &mut rng) as usize] += 1;
        }
        // Weights 1001, 1001, 1001, 1: partition 3 is chosen about 1 time in 3004.
        assert!(counts[3] < 30, "{counts:?}");
        assert!(counts[..3].iter().all(|&c| c > 3000), "{counts:?}");
        let uniform = (0..10_000)
            .map(|_| next_partition(&q, false, &mut rng))
            .filter(|&p| p == 3)
            .count();
        assert!(
            uniform > 2000,
            "without adaptive partitioning the choice is uniform"
        );
    }
}
