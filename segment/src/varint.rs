//! Kafka's variable-length integers: zig-zag, then LEB128 (protobuf's encoding).
//!
//! A varint (32-bit) takes at most 5 bytes and a varlong at most 10, as in Kafka's
//! `ByteUtils`; a longer encoding is an error, never a loop over attacker bytes.

use crate::error::RecordFault;

/// Most bytes a 32-bit varint may take.
pub const MAX_VARINT_BYTES: usize = 5;
/// Most bytes a 64-bit varlong may take.
pub const MAX_VARLONG_BYTES: usize = 10;

/// Bytes `value` takes as a zig-zag varint.
#[inline]
pub fn varint_len(value: i32) -> usize {
    varlong_len(i64::from(value))
}

/// Bytes `value` takes as a zig-zag varlong.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    let zigzag = ((value << 1) ^ (value >> 63)) as u64;
    // Each byte carries 7 bits; a zero still takes one byte. `(9 * bits + 64) / 64` is
    // `bits.div_ceil(7)` for 1..=64 bits, without the division's multiply and correction.
    let bits = 64 - (zigzag | 1).leading_zeros() as usize;
    (9 * bits + 64) / 64
}

/// Appends `value` as a zig-zag varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_varlong(out, i64::from(value));
}

/// Appends `value` as a zig-zag varlong.
#[inline]
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a zig-zag varint at `*pos`, advancing it. Like Kafka, the fifth byte's bits
/// past 32 are dropped and a sixth byte is an error.
#[inline]
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<i32, RecordFault> {
    let raw = get_leb128(bytes, pos, MAX_VARINT_BYTES)? as u32;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zig-zag varlong at `*pos`, advancing it.
#[inline]
pub fn get_varlong(bytes: &[u8], pos: &mut usize) -> Result<i64, RecordFault> {
    let raw = get_leb128(bytes, pos, MAX_VARLONG_BYTES)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[inline]
fn get_leb128(bytes: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, RecordFault> {
    // Fast path: one byte, which is what most lengths and deltas in a batch take.
    let start = *pos;
    let Some(&first) = bytes.get(start) else {
        return Err(RecordFault::VarintCut);
    };
    if first < 0x80 {
        *pos = start + 1;
        return Ok(u64::from(first));
    }
    // Two bytes: 64 to 8191 after zig-zag, what the lengths of 100-byte values and of the
    // records holding them take.
    if let Some(&second) = bytes.get(start + 1) {
        if second < 0x80 {
            *pos = start + 2;
            return Ok(u64::from(first & 0x7f) | (u64::from(second) << 7));
        }
    }
    let mut value = u64::from(first & 0x7f);
    let mut shift = 7u32;
    for i in 1..max_bytes {
        let Some(&b) = bytes.get(start + i) else {
            return Err(RecordFault::VarintCut);
        };
        // Bits shifted past 64 are dropped, as Kafka's reader does.
        value |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b < 0x80 {
            *pos = start + i + 1;
            return Ok(value);
        }
        shift += 7;
    }
    Err(RecordFault::VarintTooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_edges() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            -65,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v), "len of {v}");
            let mut pos = 0;
            assert_eq!(get_varlong(&out, &mut pos).unwrap(), v);
            assert_eq!(pos, out.len());
        }
        for v in [0i32, 1, -1, i32::MAX, i32::MIN, 300, -300] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            let mut pos = 0;
            assert_eq!(get_varint(&out, &mut pos).unwrap(), v);
        }
    }

    #[test]
    fn lengths_match_the_encoding_at_every_bit_width() {
        for bits in 0..64 {
            // The zig-zag values with `bits` significant bits, at both ends, and their signs.
            let low = if bits == 0 { 0u64 } else { 1 << (bits - 1) };
            let high = if bits == 0 { 0 } else { (1u64 << bits) - 1 };
            for zigzag in [low, high] {
                let v = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
                let mut out = Vec::new();
                put_varlong(&mut out, v);
                assert_eq!(varlong_len(v), out.len(), "{bits} bits: {v}");
            }
        }
        for v in [i64::MAX, i64::MIN] {
            assert_eq!(varlong_len(v), MAX_VARLONG_BYTES);
        }
    }

    #[test]
    fn over_long_and_cut() {
        let mut pos = 0;
        assert_eq!(
            get_varint(&[0x80; 6], &mut pos),
            Err(RecordFault::VarintTooLong)
        );
        let mut pos = 0;
        assert_eq!(
            get_varint(&[0x80, 0x80], &mut pos),
            Err(RecordFault::VarintCut)
        );
        let mut pos = 0;
        assert_eq!(
            get_varlong(&[0xff; 11], &mut pos),
            Err(RecordFault::VarintTooLong)
        );
        let mut pos = 0;
        assert_eq!(get_varint(&[], &mut pos), Err(RecordFault::VarintCut));
    }
}
