//! Seeded mutations of a file's bytes: flipped bits, zeroed ranges, truncation, and
//! extension with zeros or garbage. Where the file has structure (batches, index entries)
//! half of the positions are drawn inside it (a batch header, an entry boundary), so the
//! fields that matter are hit often.

/// A deterministic xorshift64* generator (no `rand` dependency).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What the campaign knows of a file's layout, to aim mutations.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A `.log` file: (position, size) of each valid batch, and whether to also change
    /// records under a recomputed CRC.
    Log {
        batches: Vec<(u64, u64)>,
        recrc: bool,
    },
    /// An index: its entry size.
    Index(u64),
    /// A text file, or an empty one.
    Text,
}

/// One mutation of a file.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Bits flipped: (byte position, bit).
    FlipBits(Vec<(u64, u8)>),
    /// `len` bytes from `start` set to zero.
    Zero { start: u64, len: u64 },
    /// The file cut to `len` bytes.
    Truncate { len: u64 },
    /// `len` zero bytes appended.
    ExtendZeros { len: u64 },
    /// These bytes appended.
    ExtendGarbage { bytes: Vec<u8>, what: &'static str },
    /// Bits flipped in the records of the batch at `batch` = (position, size), whose CRC is
    /// then recomputed: what a faulty writer leaves, which no checksum can see.
    Recrc {
        batch: (u64, u64),
        bits: Vec<(u64, u8)>,
    },
}

impl Mutation {
    /// Short name, for the tallies.
    pub fn op(&self) -> &'static str {
        match self {
            Mutation::FlipBits(_) => "flip",
            Mutation::Zero { .. } => "zero",
            Mutation::Truncate { .. } => "truncate",
            Mutation::ExtendZeros { .. } => "extend-zeros",
            Mutation::ExtendGarbage { .. } => "extend-garbage",
            Mutation::Recrc { .. } => "recrc",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mutation::FlipBits(bits) => format!("flip bits (byte, bit) {bits:?}"),
            Mutation::Zero { start, len } => format!("zero {len} bytes at {start}"),
            Mutation::Truncate { len } => format!("truncate to {len} bytes"),
            Mutation::ExtendZeros { len } => format!("extend with {len} zero bytes"),
            Mutation::ExtendGarbage { bytes, what } => {
                format!("extend with {} bytes of {what}", bytes.len())
            }
            Mutation::Recrc { batch, bits } => {
                format!(
                    "flip bits {bits:?} in the records of the batch at {} and fix its CRC",
                    batch.0
                )
            }
        }
    }

    /// The mutated bytes.
    pub fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        match self {
            Mutation::FlipBits(bits) => {
                for &(at, bit) in bits {
                    if let Some(b) = out.get_mut(at as usize) {
                        *b ^= 1 << bit;
                    }
                }
            }
            Mutation::Zero { start, len } => {
                let end = (start + len).min(out.len() as u64) as usize;
                for b in &mut out[(*start as usize).min(end)..end] {
                    *b = 0;
                }
            }
            Mutation::Truncate { len } => out.truncate(*len as usize),
            Mutation::ExtendZeros { len } => out.resize(out.len() + *len as usize, 0),
            Mutation::ExtendGarbage { bytes, .. } => out.extend_from_slice(bytes),
            Mutation::Recrc { batch, bits } => {
                for &(at, bit) in bits {
                    out[at as usize] ^= 1 << bit;
                }
                let (start, size) = (batch.0 as usize, batch.1 as usize);
                let crc = crc32c::crc32c(&out[start + 21..start + size]);
                out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
            }
        }
        out
    }
}

/// First byte position where `after` differs from `before` (a shorter or longer file
/// differs at the shorter length); `None` when they are equal.
pub fn first_change(before: &[u8], after: &[u8]) -> Option<u64> {
    let common = before.len().min(after.len());
    match before.iter().zip(after).position(|(a, b)| a != b) {
        Some(i) => Some(i as u64),
        None if before.len() != after.len() => Some(common as u64),
        None => None,
    }
}

/// Draws a mutation that changes `bytes`.
pub fn generate(rng: &mut Rng, bytes: &[u8], shape: &Shape) -> Mutation {
    loop {
        let mutation = draw(rng, bytes, shape);
        if first_change(bytes, &mutation.apply(bytes)).is_some() {
            return mutation;
        }
    }
}

fn draw(rng: &mut Rng, bytes: &[u8], shape: &Shape) -> Mutation {
    let len = bytes.len() as u64;
    let recrc = matches!(shape, Shape::Log { recrc: true, batches } if !batches.is_empty());
    let op = if len == 0 {
        3 + rng.below(2)
    } else {
        rng.below(if recrc { 6 } else { 5 })
    };
    match op {
        0 => {
            let n = if rng.chance(60) { 1 } else { rng.range(2, 4) };
            let bits = (0..n)
                .map(|_| (aim(rng, len, shape), rng.below(8) as u8))
                .collect();
            Mutation::FlipBits(bits)
        }
        1 => {
            let start = aim(rng, len, shape);
            let max = match rng.below(3) {
                0 => 8,
                1 => 64,
                _ => 1024,
            };
            Mutation::Zero {
                start,
                len: rng.range(1, max),
            }
        }
        2 => Mutation::Truncate {
            len: truncation(rng, len, shape),
        },
        5 => {
            let Shape::Log { batches, .. } = shape else {
                unreachable!("recrc is drawn for logs only")
            };
            let &(position, size) = rng.pick(batches);
            let n = if rng.chance(60) { 1 } else { rng.range(2, 4) };
            let bits = (0..n)
                .map(|_| (position + 61 + rng.below(size - 61), rng.below(8) as u8))
                .collect();
            Mutation::Recrc {
                batch: (position, size),
                bits,
            }
        }
        3 => Mutation::ExtendZeros {
            len: if rng.chance(50) {
                rng.range(1, 16)
            } else {
                rng.range(61, 4096)
            },
        },
        _ => garbage(rng, bytes, shape),
    }
}

/// A byte position: inside a batch header or an index entry boundary half the time.
fn aim(rng: &mut Rng, len: u64, shape: &Shape) -> u64 {
    match shape {
        Shape::Log { batches, .. } if !batches.is_empty() && rng.chance(50) => {
            let &(position, size) = rng.pick(batches);
            position + rng.below(size.min(61))
        }
        _ => rng.below(len),
    }
}

fn truncation(rng: &mut Rng, len: u64, shape: &Shape) -> u64 {
    match shape {
        Shape::Log { batches, .. } if !batches.is_empty() && rng.chance(50) => {
            let &(position, size) = rng.pick(batches);
            if rng.chance(50) {
                position // a batch boundary: what is left is valid
            } else {
                position + rng.below(size)
            }
        }
        Shape::Index(entry) if rng.chance(50) => rng.below(len / entry + 1) * entry,
        _ => rng.below(len),
    }
}

fn garbage(rng: &mut Rng, bytes: &[u8], shape: &Shape) -> Mutation {
    if let Shape::Log { batches, .. } = shape {
        if !batches.is_empty() && rng.chance(40) {
            // A valid batch again: right framing and CRC, offsets that do not follow.
            let &(position, size) = rng.pick(batches);
            let copy = bytes[position as usize..(position + size) as usize].to_vec();
            return Mutation::ExtendGarbage {
                bytes: copy,
                what: "an earlier batch copied",
            };
        }
    }
    let n = rng.range(1, 300);
    Mutation::ExtendGarbage {
        bytes: (0..n).map(|_| rng.next() as u8).collect(),
        what: "random bytes",
    }
}
