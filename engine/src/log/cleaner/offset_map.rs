//! The cleaner's key → latest offset map (Kafka's `SkimpyOffsetMap`).
//!
//! A flat open-addressing table of 24-byte slots: a 128-bit hash of the key (MurmurHash3
//! x64-128) and the offset. Keys themselves are not stored, which is what makes the map
//! "skimpy": its size depends on the number of keys, not their length, so a bounded buffer
//! (`silt.log.cleaner.dedupe.buffer.bytes`, Kafka's `log.cleaner.dedupe.buffer.size`) holds a
//! known number of them. The price is that two keys with the same 128-bit hash are taken for
//! one, and the older record of either would be removed. Kafka accepts the same trade with
//! a 16-byte MD5 digest; with n keys the chance of any collision is about n² / 2^129, below
//! 10^-25 for the 5.6 million keys that fit in 128 MiB. The hash is not keyed: keys are
//! written by the topic's producers, who could lose only their own older records by
//! crafting collisions, which they can do anyway by writing the same key.
//!
//! The table starts small and doubles (rehashing) up to the limit, so a small log never pays
//! for the whole buffer; at the limit it is filled up to Kafka's load factor (0.9) and then
//! reports itself full. Probing is linear from a position taken from the hash's high word.

/// Bytes one slot takes: a 128-bit hash and an offset.
pub(crate) const SLOT_BYTES: usize = 24;

/// Fill ratio at which a table at its largest size counts as full (Kafka's
/// `log.cleaner.io.buffer.load.factor`).
const MAX_LOAD: f64 = 0.9;

/// Slots of a new table; it doubles from there.
const INITIAL_SLOTS: usize = 1024;

/// How many keys ahead of its walk a batch of lookups loads slots: enough misses in flight
/// to overlap, few enough that the lines are still cached when their walk comes.
pub(crate) const PREFETCH_DISTANCE: usize = 8;

/// Marks an empty slot: offsets are never negative.
const EMPTY: i64 = -1;

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: [u64; 2],
    offset: i64,
}

const EMPTY_SLOT: Slot = Slot {
    hash: [0, 0],
    offset: EMPTY,
};

/// Key hash → the largest offset seen for it, in a bounded amount of memory.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    slots: Vec<Slot>,
    entries: usize,
    /// Most slots the memory limit allows.
    max_slots: usize,
    /// Entries at which the map is full.
    max_entries: usize,
}

impl OffsetMap {
    /// A map that will use at most `limit_bytes` (at least one initial table).
    pub(crate) fn new(limit_bytes: usize) -> Self {
        let max_slots = (limit_bytes / SLOT_BYTES).max(INITIAL_SLOTS);
        OffsetMap {
            slots: Vec::new(),
            entries: 0,
            max_slots,
            max_entries: ((max_slots as f64) * MAX_LOAD) as usize,
        }
    }

    /// Empties the map, keeping its table for the next cleaning.
    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY_SLOT);
        self.entries = 0;
    }

    /// Keys in the map.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// Whether no new key can be added.
    #[cfg(test)]
    pub(crate) fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// Records `offset` as the latest for `key`. Returns false, changing nothing, when the
    /// key is new and the map is full.
    #[cfg(test)]
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_hashed(hash128(key), offset)
    }

    /// [`put`](Self::put) of the key whose [`hash128`] is `hash`.
    pub(crate) fn put_hashed(&mut self, hash: [u64; 2], offset: i64) -> bool {
        if self.slots.is_empty() || (self.entries + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let index = self.probe(hash);
        let Some(slot) = self.slots.get_mut(index) else {
            return false;
        };
        if slot.offset == EMPTY {
            if self.entries >= self.max_entries {
                return false;
            }
            self.entries += 1;
            *slot = Slot { hash, offset };
        } else {
            slot.offset = slot.offset.max(offset);
        }
        true
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.get_hashed(hash128(key))
    }

    /// [`get`](Self::get) of the key whose [`hash128`] is `hash`.
    pub(crate) fn get_hashed(&self, hash: [u64; 2]) -> Option<i64> {
        if self.slots.is_empty() {
            return None;
        }
        let slot = self.slots.get(self.probe(hash))?;
        (slot.offset != EMPTY).then_some(slot.offset)
    }

    /// [`put_hashed`](Self::put_hashed) of each `(hash, offset)` in order, loading slots a
    /// few entries ahead of the walks ([`prefetch`](Self::prefetch)). Returns the offset of
    /// the first entry that did not fit (the map is full), if one did not.
    pub(crate) fn put_all(&mut self, entries: &[([u64; 2], i64)]) -> Option<i64> {
        for &(hash, _) in entries.iter().take(PREFETCH_DISTANCE) {
            self.prefetch(hash);
        }
        for (i, &(hash, offset)) in entries.iter().enumerate() {
            if let Some(&(ahead, _)) = entries.get(i + PREFETCH_DISTANCE) {
                self.prefetch(ahead);
            }
            if !self.put_hashed(hash, offset) {
                return Some(offset);
            }
        }
        None
    }

    /// Starts loading the slot where a `put` or `get` of `hash` begins its walk. The table is
    /// a few MiB and read at random, so nearly every walk starts with a cache miss; a caller
    /// that hashes the keys of a batch first and then looks them up overlaps those misses
    /// instead of taking them one after another.
    #[inline]
    pub(crate) fn prefetch(&self, hash: [u64; 2]) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            prefetch_read(std::ptr::from_ref(slot).cast());
        }
    }

    /// Where the walk for `hash` starts: multiply-shift maps the hash onto the table without
    /// a division (Lemire).
    #[inline]
    fn home(&self, hash: [u64; 2]) -> usize {
        ((u128::from(hash[0]) * self.slots.len() as u128) >> 64) as usize
    }

    /// The slot holding `hash`, or the empty slot where it would go. The table is never
    /// full (at most `MAX_LOAD` of it is used), so the walk ends.
    fn probe(&self, hash: [u64; 2]) -> usize {
        let len = self.slots.len();
        let mut index = self.home(hash);
        for _ in 0..len {
            match self.slots.get(index) {
                Some(slot) if slot.offset == EMPTY || slot.hash == hash => return index,
                _ => index = if index + 1 == len { 0 } else { index + 1 },
            }
        }
        index
    }

    /// Doubles the table (up to the limit), moving every entry.
    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).clamp(INITIAL_SLOTS, self.max_slots);
        if new_len <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; new_len]);
        for slot in old.into_iter().filter(|s| s.offset != EMPTY) {
            let index = self.probe(slot.hash);
            if let Some(target) = self.slots.get_mut(index) {
                *target = slot;
            }
        }
    }
}

/// A hint to load the cache line at `address` (a no-op off x86-64).
#[inline(always)]
fn prefetch_read(address: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is only a hint: it never faults and reads nothing into the
    // program's state, whatever the address (here always one inside the table). SSE, which
    // provides it, is part of the x86-64 baseline, so the target feature is always there.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// MurmurHash3 x64-128 of `data` with seed 0 (Austin Appleby's reference `MurmurHash3_x64_128`).
///
/// It runs twice per record of a cleaning (building the map, then filtering), so the tail is
/// read with at most two overlapping loads rather than copied into a zeroed block: the copy
/// cost a `memset` and a `memcpy` call per key and a stalled load behind them, which made
/// hashing most of the cleaner's CPU time for short keys.
#[inline]
pub(crate) fn hash128(data: &[u8]) -> [u64; 2] {
    let (h1, h2, tail) = mix_blocks(data);
    let (k1, k2) = match tail.split_at_checked(8) {
        Some((low, high)) => (le_u64(low, 0), load_partial(high)),
        None => (load_partial(tail), 0),
    };
    finish(h1, h2, (k1, k2), tail.len(), data.len())
}

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

/// MurmurHash3's body: the state after every whole 16-byte block, and the tail left.
#[inline(always)]
fn mix_blocks(data: &[u8]) -> (u64, u64, &[u8]) {
    let (mut h1, mut h2) = (0u64, 0u64);
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let (k1, k2) = (le_u64(block, 0), le_u64(block, 8));
        h1 ^= mix_k1(k1, C1, C2);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(k2, C1, C2);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    (h1, h2, blocks.remainder())
}

/// MurmurHash3's tail and finalization: `words` are the tail's bytes as two little-endian
/// words, zero-padded; `len` is the whole key's length.
#[inline(always)]
fn finish(mut h1: u64, mut h2: u64, words: (u64, u64), tail_len: usize, len: usize) -> [u64; 2] {
    if tail_len > 8 {
        h2 ^= mix_k2(words.1, C1, C2);
    }
    if tail_len > 0 {
        h1 ^= mix_k1(words.0, C1, C2);
    }
    let len = len as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    [h1, h2]
}

/// The little-endian word at `at` of `bytes` (which holds at least `at + 8` bytes).
#[inline(always)]
fn le_u64(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The 1 to 8 bytes of `bytes` as a little-endian word, zero above them: MurmurHash3's tail
/// word. Two overlapping loads cover any length (a byte they both load lands at the same
/// place in either, so or-ing them is exact).
#[inline(always)]
fn load_partial(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes)
    };
    let byte_at = |at: usize| bytes.get(at).map_or(0, |&b| u64::from(b));
    match n {
        8 => le_u64(bytes, 0),
        4..=7 => u64::from(u32_at(0)) | (u64::from(u32_at(n - 4)) << ((n - 4) * 8)),
        1..=3 => byte_at(0) | (byte_at(n / 2) << (n / 2 * 8)) | (byte_at(n - 1) << ((n - 1) * 8)),
        _ => 0,
    }
}

#[inline]
fn mix_k1(k1: u64, c1: u64, c2: u64) -> u64 {
    k1.wrapping_mul(c1).rotate_left(31).wrapping_mul(c2)
}

#[inline]
fn mix_k2(k2: u64, c1: u64, c2: u64) -> u64 {
    k2.wrapping_mul(c2).rotate_left(33).wrapping_mul(c1)
}

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of MurmurHash3_x64_128 with seed 0 (as Python's `mmh3.hash64`).
    #[test]
    fn hash_matches_the_reference() {
        assert_eq!(hash128(b""), [0, 0]);
        assert_eq!(
            hash128(b"hello"),
            [0xcbd8_a7b3_41bd_9b02, 0x5b1e_906a_48ae_1d19]
        );
    }

    /// The reference's tail handling (a zero-padded copy of the tail), to check the
    /// overlapping loads against.
    fn reference_hash128(data: &[u8]) -> [u64; 2] {
        let (h1, h2, tail) = mix_blocks(data);
        let mut padded = [0u8; 16];
        padded[..tail.len()].copy_from_slice(tail);
        let words = (le_u64(&padded, 0), le_u64(&padded, 8));
        finish(h1, h2, words, tail.len(), data.len())
    }

    #[test]
    fn every_tail_length_matches_the_reference() {
        let data: Vec<u8> = (0..80u32).map(|i| (i * 37 + 11) as u8).collect();
        for start in 0..3 {
            for end in start..data.len() {
                let key = &data[start..end];
                assert_eq!(hash128(key), reference_hash128(key), "length {}", key.len());
            }
        }
    }

    #[test]
    fn put_all_is_put_in_order_and_stops_where_the_map_fills() {
        let entries: Vec<([u64; 2], i64)> = (0..6000i64)
            .map(|i| (hash128(format!("k{}", i % 4500).as_bytes()), i))
            .collect();
        let mut one_by_one = OffsetMap::new(INITIAL_SLOTS * SLOT_BYTES * 4);
        let full_at = entries
            .iter()
            .find(|&&(hash, offset)| !one_by_one.put_hashed(hash, offset))
            .map(|&(_, offset)| offset);
        let mut batched = OffsetMap::new(INITIAL_SLOTS * SLOT_BYTES * 4);
        assert_eq!(batched.put_all(&entries), full_at);
        assert!(full_at.is_some(), "4500 keys do not fit in 4096 slots");
        for i in 0..4500 {
            let key = format!("k{i}");
            assert_eq!(batched.get(key.as_bytes()), one_by_one.get(key.as_bytes()));
        }
    }

    #[test]
    fn keeps_the_latest_offset_and_reports_full() {
        let mut map = OffsetMap::new(INITIAL_SLOTS * SLOT_BYTES * 4);
        for i in 0..3000i64 {
            assert!(map.put(format!("k{}", i % 1000).as_bytes(), i));
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map.get(b"k7"), Some(2007));
        assert_eq!(map.get(b"absent"), None);
        let mut i = 0;
        while map.put(format!("new{i}").as_bytes(), i) {
            i += 1;
        }
        assert!(map.is_full());
        assert_eq!(map.len(), (4.0 * INITIAL_SLOTS as f64 * MAX_LOAD) as usize);
        assert!(
            map.put(b"k7", 9999),
            "a known key is updated even when full"
        );
        map.clear();
        assert_eq!((map.len(), map.get(b"k7")), (0, None));
    }
}
