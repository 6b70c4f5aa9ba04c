//! Compressing and decompressing the records section (only the records are compressed;
//! the 61-byte header never is).
//!
//! LZ4 is the LZ4 *frame* format with independent 64 KiB blocks and no checksums, as
//! Kafka's `KafkaLZ4BlockOutputStream` writes it; zstd is a plain zstd frame; gzip is
//! decoded (real Kafka clients send it) and encoded on request; snappy is neither.

use std::io::{Read, Write};

use zstd::stream::raw::{Decoder as ZstdDecoder, InBuffer, Operation, OutBuffer};

use super::header::Compression;
use crate::error::{EncodeFault, Result, SegmentError};

/// Default bound on the decompressed size of one batch's records (256 MiB): a hostile
/// or corrupt batch cannot make the decoder allocate more than this.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// A reusable buffer (and decompression context) for reading compressed batches.
///
/// Keep one per reader and pass it to every [`Batch::records`](super::Batch::records)
/// call: after warm-up no batch allocates.
pub struct DecompressBuffer {
    pub(crate) bytes: Vec<u8>,
    zstd: Option<ZstdDecoder<'static>>,
    max_bytes: usize,
}

impl Default for DecompressBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DecompressBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecompressBuffer")
            .field("capacity", &self.bytes.capacity())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl DecompressBuffer {
    /// A buffer bounded by [`DEFAULT_MAX_DECOMPRESSED_BYTES`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// A buffer that refuses batches whose records decompress past `max_bytes`.
    pub fn with_limit(max_bytes: usize) -> Self {
        DecompressBuffer {
            bytes: Vec::new(),
            zstd: None,
            max_bytes,
        }
    }

    /// The bound on one batch's decompressed records.
    pub fn limit(&self) -> usize {
        self.max_bytes
    }

    /// Decompresses `input` (a records section) into the buffer, replacing its contents.
    pub(crate) fn decompress(
        &mut self,
        codec: Compression,
        input: &[u8],
        position: u64,
    ) -> Result<&[u8]> {
        self.bytes.clear();
        let limit = self.max_bytes;
        let io = match codec {
            Compression::Lz4 => read_bounded(
                lz4_flex::frame::FrameDecoder::new(input),
                &mut self.bytes,
                limit,
            ),
            Compression::Gzip => read_bounded(
                flate2::read::MultiGzDecoder::new(input),
                &mut self.bytes,
                limit,
            ),
            Compression::Zstd => {
                let decoder = match &mut self.zstd {
                    Some(d) => d,
                    none => none.insert(ZstdDecoder::new().map_err(|source| {
                        SegmentError::Decompress {
                            position,
                            codec,
                            source,
                        }
                    })?),
                };
                zstd_bounded(decoder, input, &mut self.bytes, limit)
            }
            Compression::None | Compression::Snappy | Compression::Unknown(_) => {
                return Err(SegmentError::UnsupportedCompression { position, codec });
            }
        };
        match io {
            Ok(()) => Ok(&self.bytes),
            Err(Bounded::TooLarge) => Err(SegmentError::DecompressedTooLarge { position, limit }),
            Err(Bounded::Io(source)) => Err(SegmentError::Decompress {
                position,
                codec,
                source,
            }),
        }
    }
}

enum Bounded {
    TooLarge,
    Io(std::io::Error),
}

fn read_bounded(reader: impl Read, out: &mut Vec<u8>, limit: usize) -> Result<(), Bounded> {
    let mut reader = reader.take(limit as u64 + 1);
    reader.read_to_end(out).map_err(Bounded::Io)?;
    if out.len() > limit {
        return Err(Bounded::TooLarge);
    }
    Ok(())
}

/// Streams one or more zstd frames into `out`, growing it in steps and never past `limit`.
fn zstd_bounded(
    decoder: &mut ZstdDecoder<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), Bounded> {
    decoder.reinit().map_err(Bounded::Io)?;
    let mut src = InBuffer::around(input);
    let mut hint = 1;
    // Every pass consumes input or fills output; both are finite, so this ends.
    while src.pos < input.len() || hint != 0 {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(Bounded::TooLarge);
            }
            let grow = out.capacity().max(64 << 10).min(limit - out.len());
            out.reserve(grow);
        }
        let before = (src.pos, out.len());
        {
            // `OutBuffer` over a `Vec` sets the vector's length to what was written.
            let mut dst = OutBuffer::around_pos(out, before.1);
            hint = decoder.run(&mut src, &mut dst).map_err(Bounded::Io)?;
        }
        if hint == 0 && src.pos < input.len() {
            decoder.reinit().map_err(Bounded::Io)?; // a second frame follows
            hint = 1;
        }
        if (src.pos, out.len()) == before && out.len() < out.capacity() {
            // No progress with room to write: the input ended inside a frame.
            return Err(Bounded::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "zstd frame is incomplete",
            )));
        }
    }
    Ok(())
}

/// Reusable state for compressing records sections: a zstd context and a scratch buffer.
/// Keep one per thread that finishes batches; after warm-up compressing allocates nothing.
#[derive(Default)]
pub struct Compressor {
    zstd: Option<(i32, zstd::bulk::Compressor<'static>)>,
    /// Where [`BatchBuffer::finish`](super::BatchBuffer::finish) compresses records before
    /// copying them back behind the header.
    pub(crate) scratch: Vec<u8>,
    /// Where an LZ4 frame is built: kept at its largest size, so it is zeroed once rather
    /// than per frame, and blocks are compressed straight into it.
    lz4_frame: Vec<u8>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("zstd_level", &self.zstd.as_ref().map(|(level, _)| *level))
            .finish()
    }
}

impl Compressor {
    /// A compressor with no context yet (the zstd one is made on first use).
    pub fn new() -> Self {
        Compressor::default()
    }

    /// Appends `records` compressed with `codec` to `out`.
    pub(crate) fn compress(
        &mut self,
        codec: Compression,
        zstd_level: i32,
        records: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let fail = |source| SegmentError::Compress { codec, source };
        match codec {
            Compression::None => out.extend_from_slice(records),
            Compression::Lz4 => out.extend_from_slice(self.lz4(records).map_err(fail)?),
            Compression::Zstd => {
                let zstd = match &mut self.zstd {
                    Some((level, c)) if *level == zstd_level => c,
                    slot => {
                        &mut slot
                            .insert((
                                zstd_level,
                                zstd::bulk::Compressor::new(zstd_level).map_err(fail)?,
                            ))
                            .1
                    }
                };
                // `compress_to_buffer` writes from the start of a `Vec`, so give it the
                // tail of `out` as a slice and cut it back to what was written.
                let start = out.len();
                out.resize(start + zstd::zstd_safe::compress_bound(records.len()), 0);
                let tail = out.get_mut(start..).unwrap_or_default();
                let written = zstd.compress_to_buffer(records, tail).map_err(fail)?;
                out.truncate(start + written);
            }
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
                enc.write_all(records).map_err(fail)?;
                enc.finish().map_err(fail)?;
            }
            Compression::Snappy | Compression::Unknown(_) => {
                return Err(SegmentError::Encode(EncodeFault::Codec(codec)));
            }
        }
        Ok(())
    }
}

/// LZ4 block size Kafka's producer uses (`BD` = 64 KiB).
const LZ4_BLOCK: usize = 64 << 10;

/// Writes `records` as one LZ4 frame, as Kafka's `KafkaLZ4BlockOutputStream` does:
/// independent 64 KiB blocks, no block or content checksums, no content size. Each block is
/// compressed straight into `out` with the block API (no per-call frame encoder, no copy of
/// the input); a block that would not shrink is stored raw (size word's high bit set), as
/// the frame format allows.
impl Compressor {
    /// `records` as an LZ4 frame (Kafka's: independent 64 KiB blocks, no checksums), built
    /// in the compressor's frame buffer, blocks compressed straight into it. A block that
    /// does not shrink is stored raw.
    pub(crate) fn lz4(&mut self, records: &[u8]) -> std::io::Result<&[u8]> {
        let header = lz4_frame_header()?;
        let bound = header.len()
            + records
                .chunks(LZ4_BLOCK)
                .map(|block| 4 + lz4_flex::block::get_maximum_output_size(block.len()))
                .sum::<usize>()
            + 4;
        let frame = &mut self.lz4_frame;
        if frame.len() < bound {
            frame.resize(bound, 0);
        }
        let mut at = put(frame, 0, header)?;
        for block in records.chunks(LZ4_BLOCK) {
            let room = frame.get_mut(at + 4..).ok_or_else(past_bound)?;
            at = match lz4_flex::block::compress_into(block, room) {
                Ok(n) if n < block.len() => put(frame, at, &(n as u32).to_le_bytes())? + n,
                _ => {
                    let raw = block.len() as u32 | 0x8000_0000;
                    let at = put(frame, at, &raw.to_le_bytes())?;
                    put(frame, at, block)?
                }
            };
        }
        let end = put(frame, at, &[0; 4])?; // end mark
        frame.get(..end).ok_or_else(past_bound)
    }
}

/// Copies `bytes` into `frame` at `at`; returns where they end.
fn put(frame: &mut [u8], at: usize, bytes: &[u8]) -> std::io::Result<usize> {
    frame
        .get_mut(at..at + bytes.len())
        .ok_or_else(past_bound)?
        .copy_from_slice(bytes);
    Ok(at + bytes.len())
}

fn past_bound() -> std::io::Error {
    std::io::Error::other("lz4 frame past its bound")
}

/// The 7-byte frame header (magic, FLG, BD, header checksum) for those settings, taken
/// once from `lz4_flex`'s own frame encoder so its checksum byte is the library's.
fn lz4_frame_header() -> std::io::Result<&'static [u8]> {
    static HEADER: std::sync::OnceLock<Option<[u8; 7]>> = std::sync::OnceLock::new();
    let header = HEADER.get_or_init(|| {
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent)
            .content_checksum(false)
            .block_checksums(false);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&[]).ok()?;
        let frame = enc.finish().ok()?;
        frame.first_chunk::<7>().copied()
    });
    header
        .as_ref()
        .map(|h| &h[..])
        .ok_or_else(|| std::io::Error::other("lz4_flex wrote no frame header"))
}

#[cfg(test)]
mod lz4_tests {
    use super::*;

    /// Incompressible blocks are stored raw, compressible ones compressed, across several
    /// 64 KiB blocks; the frame decodes back to the input (with lz4_flex's frame decoder,
    /// the one reads use).
    #[test]
    fn frames_of_raw_and_compressed_blocks_decode() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut input: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        input.extend(std::iter::repeat_n(b'k', 150_000));
        let mut compressor = Compressor::new();
        let frame = compressor.lz4(&input).unwrap().to_vec();
        assert!(frame.len() < input.len(), "the repeated part compresses");
        let mut decoded = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&frame[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
        // The first block is random: stored raw, flagged by the size word's high bit.
        let first = u32::from_le_bytes(frame[7..11].try_into().unwrap());
        assert_eq!(first, 0x8000_0000 | (64 << 10));
    }
}
