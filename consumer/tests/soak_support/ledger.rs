//! What was acknowledged and what was read: per partition of [`PLAIN`](super::records::PLAIN),
//! one entry per offset (the id acknowledged there, the id first read there, how many reads);
//! per key of [`COMPACTED`](super::records::COMPACTED), its last acknowledged record.
//!
//! A record may be read before its producer hears of its acknowledgment (an `acks=all`
//! record is readable once appended, acknowledged once synced): whichever of the two comes
//! second is checked against the first.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::records::{describe_id, PLAIN_PARTITIONS};
use super::rng::Rng;

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    /// The id acknowledged at this offset (0: none yet).
    acked: u64,
    /// The id first read at this offset (0: not read).
    seen: u64,
    reads: u32,
}

#[derive(Default)]
struct Partition {
    entries: Vec<Entry>,
    /// Highest acknowledged offset.
    max_acked: Option<i64>,
    /// Every offset below it (and at or above the log start when checked) was read.
    read_cursor: i64,
}

impl Partition {
    fn entry(&mut self, offset: i64) -> &mut Entry {
        let i = usize::try_from(offset).expect("offsets are not negative");
        if self.entries.len() <= i {
            self.entries.resize(i + 1, Entry::default());
        }
        &mut self.entries[i]
    }
}

/// The last acknowledged record of one key of the compacted topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAck {
    pub partition: u32,
    pub offset: i64,
    pub id: u64,
}

pub struct Ledger {
    plain: Vec<Mutex<Partition>>,
    keys: Mutex<BTreeMap<String, KeyAck>>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            plain: (0..PLAIN_PARTITIONS)
                .map(|_| Mutex::new(Partition::default()))
                .collect(),
            keys: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Ledger {
    fn partition(&self, p: u32) -> std::sync::MutexGuard<'_, Partition> {
        self.plain[p as usize].lock().unwrap()
    }

    /// Records that `id` was acknowledged at `offset`: no offset is acknowledged twice, and a
    /// read made before agrees.
    pub fn ack(&self, p: u32, offset: i64, id: u64) -> Result<(), String> {
        let mut part = self.partition(p);
        part.max_acked = part.max_acked.max(Some(offset));
        let e = part.entry(offset);
        if e.acked != 0 {
            return Err(format!(
                "offset {p}@{offset} acknowledged twice: {} and {}",
                describe_id(e.acked),
                describe_id(id)
            ));
        }
        e.acked = id;
        if e.seen != 0 && e.seen != id {
            return Err(format!(
                "{p}@{offset} was read as {} before {} was acknowledged there",
                describe_id(e.seen),
                describe_id(id)
            ));
        }
        Ok(())
    }

    /// Records a read of `id` at `offset`: it agrees with the acknowledgment and with every
    /// earlier read.
    pub fn read(&self, p: u32, offset: i64, id: u64) -> Result<(), String> {
        let mut part = self.partition(p);
        let e = part.entry(offset);
        e.reads = e.reads.saturating_add(1);
        let expected = if e.acked != 0 { e.acked } else { e.seen };
        if e.seen == 0 {
            e.seen = id;
        }
        if expected != 0 && expected != id {
            return Err(format!(
                "{p}@{offset} read as {}, but {} is the record there",
                describe_id(id),
                describe_id(expected)
            ));
        }
        Ok(())
    }

    /// The id acknowledged at `offset`, if any yet.
    pub fn acked(&self, p: u32, offset: i64) -> Option<u64> {
        let part = self.partition(p);
        let e = part.entries.get(usize::try_from(offset).ok()?)?;
        (e.acked != 0).then_some(e.acked)
    }

    pub fn max_acked(&self, p: u32) -> Option<i64> {
        self.partition(p).max_acked
    }

    /// Up to `n` random acknowledged (offset, id) of partition `p` at or above `from`.
    pub fn sample(&self, p: u32, from: i64, n: usize, rng: &mut Rng) -> Vec<(i64, u64)> {
        let part = self.partition(p);
        let len = part.entries.len() as i64;
        let from = from.clamp(0, len);
        if from == len {
            return Vec::new();
        }
        (0..n)
            .filter_map(|_| {
                let offset = from + rng.below((len - from) as u64) as i64;
                let e = part.entries[offset as usize];
                (e.acked != 0).then_some((offset, e.acked))
            })
            .collect()
    }

    /// Checks that every offset in `[max(cursor, from), to)` was read at least once, and moves
    /// the cursor to `to`; returns how many offsets it checked.
    pub fn check_read_below(&self, p: u32, from: i64, to: i64) -> Result<u64, String> {
        let mut part = self.partition(p);
        let start = part.read_cursor.max(from);
        for offset in start..to {
            let reads = part.entries.get(offset as usize).map_or(0, |e| e.reads);
            if reads == 0 {
                return Err(format!(
                    "{p}@{offset} lies below a committed offset ({to}) but no member read it"
                ));
            }
        }
        part.read_cursor = part.read_cursor.max(to);
        Ok((to - start).max(0) as u64)
    }

    /// At the end: every offset below `end` was acknowledged, and every record read was one
    /// acknowledged; every offset in `[start, end)` was read at least once. Returns the
    /// number of records checked.
    pub fn check_final(&self, p: u32, start: i64, end: i64) -> Result<u64, String> {
        let part = self.partition(p);
        if part.entries.len() as i64 > end {
            return Err(format!(
                "partition {p}: offsets up to {} were acknowledged or read, but the log ends at {end}",
                part.entries.len() - 1
            ));
        }
        for offset in 0..end {
            let e = part
                .entries
                .get(offset as usize)
                .copied()
                .unwrap_or_default();
            if e.acked == 0 {
                return Err(format!(
                    "{p}@{offset} is below the log end but was never acknowledged"
                ));
            }
            if offset >= start && e.reads == 0 {
                return Err(format!(
                    "{p}@{offset} ({}) is in the log [{start}, {end}) but the group never read it",
                    describe_id(e.acked)
                ));
            }
        }
        Ok(end.max(0) as u64)
    }

    /// Records the acknowledgment of `id` for `key` of the compacted topic.
    pub fn ack_key(&self, key: &str, ack: KeyAck) -> Result<(), String> {
        let mut keys = self.keys.lock().unwrap();
        match keys.get(key) {
            Some(last) if last.partition != ack.partition => Err(format!(
                "key {key} went to partition {} and to {}",
                last.partition, ack.partition
            )),
            Some(last) if last.offset >= ack.offset => Err(format!(
                "key {key}: {} acknowledged at {} after {} at {}",
                describe_id(ack.id),
                ack.offset,
                describe_id(last.id),
                last.offset
            )),
            _ => {
                keys.insert(key.to_string(), ack);
                Ok(())
            }
        }
    }

    /// The last acknowledged record of every key so far.
    pub fn keys(&self) -> BTreeMap<String, KeyAck> {
        self.keys.lock().unwrap().clone()
    }
}
