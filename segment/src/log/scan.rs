//! [`LogScanner`]: reads a `.log` file batch by batch through `read` calls, for tools that
//! inspect files they do not own (`silt dump-log`, `silt verify`).
//!
//! A segment is normally mapped, but a tool looking at somebody else's files should not
//! map them: a file truncated by its owner while mapped raises SIGBUS on the next access,
//! and a 1 GiB segment need not be resident to be checked. The scanner holds one batch at
//! a time in a buffer it reuses, so memory is bounded by the largest batch, and a length
//! field is checked against the bytes left in the file before anything is allocated for
//! it (`bad_length.bin`'s 2 GiB batch costs nothing).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::file::io_err;
use crate::batch::{Batch, BatchHeader, HEADER_SIZE, MAX_BATCH_LENGTH};
use crate::error::{Result, SegmentError};

/// Bytes read at a time when checking that the rest of a file is zeros.
const ZERO_CHECK_CHUNK_BYTES: usize = 64 * 1024;

/// Reads the batches of a `.log` file (or any batches laid back to back) one at a time.
///
/// [`next_batch`](Self::next_batch) returns each batch after [`Batch::parse`]'s header
/// checks, borrowed from the scanner's buffer; the CRC and the records are the caller's to
/// check ([`Batch::validate`], [`Batch::records`]). The first framing error (a header that
/// is not a batch, or a batch cut short) ends the scan; [`position`](Self::position) is then
/// where it occurred, and [`rest_is_zeros`](Self::rest_is_zeros) tells preallocated space
/// from garbage.
///
/// ```
/// use silt_segment::batch::{BatchBuilder, BatchConfig};
/// use silt_segment::log::LogScanner;
///
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, None, Some(b"hello"), &[])?;
/// let bytes = builder.finish()?.to_vec();
/// let len = bytes.len() as u64;
/// let mut scanner = LogScanner::new(std::io::Cursor::new(bytes), len, "in-memory");
/// let batch = scanner.next_batch().expect("one batch")?;
/// assert_eq!(batch.records_count(), 1);
/// assert!(scanner.next_batch().is_none());
/// assert_eq!(scanner.position(), len);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LogScanner<R> {
    reader: R,
    path: PathBuf,
    /// Start of the next batch: the bytes before it are whole batches.
    position: u64,
    file_len: u64,
    buffer: Vec<u8>,
    failed: bool,
}

impl LogScanner<BufReader<File>> {
    /// Opens `path` read-only for scanning from its start.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(io_err("open", path))?;
        let file_len = file.metadata().map_err(io_err("stat", path))?.len();
        Ok(LogScanner::new(BufReader::new(file), file_len, path))
    }
}

impl<R: Read + Seek> LogScanner<R> {
    /// Scans `reader`, positioned at its start and `file_len` bytes long. `path` names it
    /// in I/O errors.
    pub fn new(reader: R, file_len: u64, path: impl Into<PathBuf>) -> Self {
        LogScanner {
            reader,
            path: path.into(),
            position: 0,
            file_len,
            buffer: Vec::new(),
            failed: false,
        }
    }

    /// Where the next batch starts; after a framing error, where the error is. The bytes
    /// before it are whole batches.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Length of the file being scanned.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The next batch, `None` at the end of the file or after an error.
    ///
    /// A batch whose length runs past the end of the file is
    /// [`SegmentError::Incomplete`] (a torn tail), found without reading or allocating the
    /// length it claims; other framing errors are those of [`Batch::parse`]. I/O errors are
    /// [`SegmentError::Io`]. After any error the scan is over.
    pub fn next_batch(&mut self) -> Option<Result<Batch<'_>>> {
        if self.failed || self.position >= self.file_len {
            return None;
        }
        match self.read_batch() {
            Ok(()) => {
                let position = self.position;
                self.position += self.buffer.len() as u64;
                Some(Batch::parse(&self.buffer, position))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// Reads the batch at `self.position` into the buffer, checking its header first.
    fn read_batch(&mut self) -> Result<()> {
        let position = self.position;
        let remaining = self.file_len - position;
        let head_len = remaining.min(HEADER_SIZE as u64) as usize;
        self.buffer.clear();
        self.buffer.resize(head_len, 0);
        self.read_exact_at_cursor()?;
        let Some(head) = self.buffer.first_chunk::<HEADER_SIZE>() else {
            // Less than a header left: parse says what is wrong (a cut-off header, or a
            // length field that cannot be).
            return Batch::parse(&self.buffer, position).map(drop);
        };
        let header = BatchHeader::read(head);
        header.check(position, MAX_BATCH_LENGTH)?;
        let size = header.total_size();
        if size > remaining {
            return Err(SegmentError::Incomplete {
                position,
                needed: size,
                available: remaining,
            });
        }
        // `size <= remaining`, and the file exists, so this is a real allocation bound.
        let size = usize::try_from(size).map_err(|_| SegmentError::FileTooLarge {
            path: self.path.clone(),
            len: self.file_len,
        })?;
        self.buffer.resize(size, 0);
        let rest = self.buffer.get_mut(HEADER_SIZE..).unwrap_or_default();
        self.reader
            .read_exact(rest)
            .map_err(io_err("read", &self.path))
    }

    fn read_exact_at_cursor(&mut self) -> Result<()> {
        self.reader
            .read_exact(&mut self.buffer)
            .map_err(io_err("read", &self.path))
    }

    /// Whether every byte from [`position`](Self::position) to the end of the file is zero:
    /// after a framing error, preallocated space that was never written (a segment that was
    /// not closed) rather than a torn or corrupt batch. Reads the rest of the file.
    pub fn rest_is_zeros(&mut self) -> Result<bool> {
        self.reader
            .seek(SeekFrom::Start(self.position))
            .map_err(io_err("seek", &self.path))?;
        let mut chunk = vec![0u8; ZERO_CHECK_CHUNK_BYTES];
        let mut left = self.file_len - self.position;
        while left > 0 {
            let want = left.min(ZERO_CHECK_CHUNK_BYTES as u64) as usize;
            let part = chunk.get_mut(..want).unwrap_or_default();
            self.reader
                .read_exact(part)
                .map_err(io_err("read", &self.path))?;
            if part.iter().any(|&b| b != 0) {
                return Ok(false);
            }
            left -= want as u64;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::batch::{BatchBuilder, BatchConfig};

    fn batch(values: &[&[u8]]) -> Vec<u8> {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        for v in values {
            builder
                .append(1_700_000_000_000, None, Some(v), &[])
                .unwrap();
        }
        builder.finish().unwrap().to_vec()
    }

    fn scanner(bytes: Vec<u8>) -> LogScanner<Cursor<Vec<u8>>> {
        let len = bytes.len() as u64;
        LogScanner::new(Cursor::new(bytes), len, "test.log")
    }

    #[test]
    fn scans_batches_back_to_back_with_their_positions() {
        let mut bytes = batch(&[b"a", b"b"]);
        let first = bytes.len() as u64;
        bytes.extend(batch(&[b"c"]));
        let mut s = scanner(bytes);
        let positions: Vec<(u64, i32)> = std::iter::from_fn(|| {
            s.next_batch()
                .map(|b| b.map(|b| (b.position(), b.records_count())).unwrap())
        })
        .collect();
        assert_eq!(positions, vec![(0, 2), (first, 1)]);
        assert_eq!(s.position(), s.file_len());
    }

    #[test]
    fn a_torn_tail_is_incomplete_and_stops_the_scan() {
        let mut bytes = batch(&[b"a"]);
        let whole = bytes.len() as u64;
        let second = batch(&[b"b"]);
        bytes.extend(&second[..second.len() - 3]);
        let mut s = scanner(bytes);
        assert!(s.next_batch().unwrap().is_ok());
        let err = s.next_batch().unwrap().unwrap_err();
        assert!(
            matches!(err, SegmentError::Incomplete { position, .. } if position == whole),
            "{err}"
        );
        assert!(s.next_batch().is_none());
        assert_eq!(s.position(), whole);
        assert!(!s.rest_is_zeros().unwrap());
    }

    #[test]
    fn a_huge_length_is_refused_before_it_is_allocated() {
        let mut bytes = batch(&[b"a"]);
        bytes[8..12].copy_from_slice(&0x7fff_fff0_i32.to_be_bytes());
        let mut s = scanner(bytes);
        let err = s.next_batch().unwrap().unwrap_err();
        assert!(matches!(err, SegmentError::Incomplete { .. }), "{err}");
        assert!(s.buffer.capacity() < 1024);
    }

    #[test]
    fn preallocated_zeros_are_told_from_garbage() {
        let mut bytes = batch(&[b"a"]);
        let end = bytes.len() as u64;
        bytes.extend(vec![0u8; 200_000]);
        let mut s = scanner(bytes.clone());
        assert!(s.next_batch().unwrap().is_ok());
        assert!(s.next_batch().unwrap().is_err());
        assert_eq!(s.position(), end);
        assert!(s.rest_is_zeros().unwrap());

        let last = bytes.len() - 1;
        bytes[last] = 1;
        let mut s = scanner(bytes);
        s.next_batch();
        s.next_batch();
        assert!(!s.rest_is_zeros().unwrap());
    }

    #[test]
    fn short_tails_report_what_parse_reports() {
        for cut in [1usize, 11, 12, 60] {
            let bytes = batch(&[b"a"])[..cut].to_vec();
            let mut s = scanner(bytes);
            let err = s.next_batch().unwrap().unwrap_err();
            assert!(
                matches!(err, SegmentError::Incomplete { position: 0, .. }),
                "cut {cut}: {err}"
            );
        }
    }
}
