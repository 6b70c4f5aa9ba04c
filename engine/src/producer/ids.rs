//! Producer ids for idempotent producers: unique within a data directory, across restarts.
//!
//! Like Kafka's `ProducerIdManager`, ids are reserved in blocks: the file
//! `producer-id-block` holds the first id not yet reserved, written atomically before any
//! id of the new block is handed out, so a crash can skip ids but never reuse one.

use std::path::Path;

use crate::error::{EngineError, Result};
use crate::fsutil::{read_bounded, write_atomic};

/// File in the data directory holding the next unreserved producer id (decimal, newline).
pub const PRODUCER_ID_BLOCK_FILE: &str = "producer-id-block";

/// Ids reserved per write of [`PRODUCER_ID_BLOCK_FILE`] (Kafka reserves 1000 at a time).
const BLOCK_SIZE: i64 = 1000;

/// The ids reserved and not yet handed out: `next..end`.
#[derive(Debug, Default)]
pub(crate) struct ProducerIdBlock {
    next: i64,
    end: i64,
}

impl ProducerIdBlock {
    /// The next producer id, reserving a new block on disk first when this one is used up.
    pub(crate) fn allocate(&mut self, data_dir: &Path) -> Result<i64> {
        if self.next >= self.end {
            let path = data_dir.join(PRODUCER_ID_BLOCK_FILE);
            let start = match read_bounded(&path, 64)? {
                None => 0,
                Some(bytes) => parse(&bytes).ok_or_else(|| EngineError::CorruptMetadata {
                    path: path.clone(),
                    line: 1,
                    reason: "expected a non-negative decimal producer id".into(),
                })?,
            };
            let start = start.max(self.end);
            let end =
                start
                    .checked_add(BLOCK_SIZE)
                    .ok_or_else(|| EngineError::CorruptMetadata {
                        path: path.clone(),
                        line: 1,
                        reason: "producer ids are exhausted".into(),
                    })?;
            write_atomic(&path, format!("{end}\n").as_bytes())?;
            (self.next, self.end) = (start, end);
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

/// Reads `path` (a `producer-id-block` file) as the allocator does, writing nothing: the
/// first unreserved id, `None` when the file does not exist. For read-only tools.
pub(crate) fn read_block_file(path: &Path) -> Result<Option<i64>> {
    match read_bounded(path, 64)? {
        None => Ok(None),
        Some(bytes) => parse(&bytes)
            .map(Some)
            .ok_or_else(|| EngineError::CorruptMetadata {
                path: path.to_path_buf(),
                line: 1,
                reason: "expected a non-negative decimal producer id".into(),
            }),
    }
}

fn parse(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts_and_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut block = ProducerIdBlock::default();
        let first: Vec<i64> = (0..1500)
            .map(|_| block.allocate(dir.path()).unwrap())
            .collect();
        assert_eq!(first, (0..1500).collect::<Vec<_>>());
        // A restart reserves a fresh block after the last one written.
        let mut again = ProducerIdBlock::default();
        assert_eq!(again.allocate(dir.path()).unwrap(), 2000);
    }

    #[test]
    fn a_corrupt_block_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PRODUCER_ID_BLOCK_FILE), b"12x\n").unwrap();
        let err = ProducerIdBlock::default().allocate(dir.path()).unwrap_err();
        assert!(
            matches!(err, EngineError::CorruptMetadata { .. }),
            "{err:?}"
        );
    }
}
