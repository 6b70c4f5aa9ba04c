//! Read-only access to the engine's own files, for tools that check a data directory
//! without opening it (`silt verify`).
//!
//! [`Engine::open`](crate::Engine::open) is not a way to look at a directory: it takes the
//! lock, removes the clean-shutdown marker, recovers and truncates logs, and deletes stray
//! files. The functions here read one file each, with the same bounded reads and the same
//! checks as the engine (so they refuse exactly what opening would refuse, naming the line),
//! and write nothing. File layouts are in `docs/FORMAT.md`, "Engine files".
//!
//! ```
//! use silt_engine::{inspect, Engine, EngineConfig, NewTopic, RECOVERY_POINT_CHECKPOINT};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default())?;
//! engine.create_topic(NewTopic::new("orders", 3))?;
//! engine.close()?;
//!
//! let meta = inspect::read_topic_metadata(&dir.path().join(inspect::TOPICS_DIR).join("orders.topic"))?;
//! assert_eq!(meta.map(|m| m.partitions), Some(3));
//! let checkpoint = inspect::read_offset_checkpoint(&dir.path().join(RECOVERY_POINT_CHECKPOINT))?;
//! assert!(checkpoint.is_some());
//! assert!(dir.path().join(inspect::CLEAN_SHUTDOWN_FILE).exists());
//! assert_eq!(inspect::parse_partition_dir("orders-2"), Some(("orders", 2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::OffsetCheckpoint;
use crate::error::{io_err, Result};

/// The directory of topic metadata files in a data directory.
pub const TOPICS_DIR: &str = crate::metadata::TOPICS_DIR;

/// Extension of a topic metadata file (`<topic>.topic`).
pub const TOPIC_FILE_SUFFIX: &str = crate::metadata::EXTENSION;

/// The clean-shutdown marker: present only after a clean close.
pub const CLEAN_SHUTDOWN_FILE: &str = crate::checkpoint::CLEAN_SHUTDOWN_FILE;

/// Ending of the temporary files of an atomic write (`.<crc>.tmp`), which readers ignore
/// and opening removes.
pub const TMP_SUFFIX: &str = crate::fsutil::TMP_SUFFIX;

/// One topic's metadata file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicMetadataFile {
    /// The topic's name.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// When it was created (ms since the epoch).
    pub created_ms: i64,
    /// Its configuration overrides.
    pub overrides: BTreeMap<String, String>,
}

/// Reads and checks one topic metadata file (`__silt_topics/<topic>.topic`): its CRC, its
/// keys, and that its name matches the file name. `None` when the file does not exist.
///
/// # Errors
///
/// [`EngineError::CorruptMetadata`](crate::EngineError::CorruptMetadata) naming the line
/// for anything opening the engine would refuse (a file name that is not `<topic>.topic`
/// among them); [`EngineError::Io`](crate::EngineError::Io) when it cannot be read.
pub fn read_topic_metadata(path: &Path) -> Result<Option<TopicMetadataFile>> {
    Ok(
        crate::metadata::read_file(path)?.map(|meta| TopicMetadataFile {
            name: meta.name,
            partitions: meta.partitions,
            created_ms: meta.created_ms,
            overrides: meta.overrides,
        }),
    )
}

/// Reads and checks an offset checkpoint file (`recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`): (topic, partition) →
/// offset. `None` when the file does not exist.
///
/// # Errors
///
/// As [`read_topic_metadata`].
pub fn read_offset_checkpoint(path: &Path) -> Result<Option<BTreeMap<(String, u32), i64>>> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("stat", path)(e)),
    }
    OffsetCheckpoint::new(path).read().map(Some)
}

/// Reads and checks `producer-id-block`: the first producer id not yet reserved. `None`
/// when the file does not exist.
///
/// # Errors
///
/// As [`read_topic_metadata`].
pub fn read_producer_id_block(path: &Path) -> Result<Option<i64>> {
    crate::producer::read_producer_id_block(path)
}

/// `<topic>-<partition>` → (topic, partition), for valid topic names only: whether a
/// directory entry is a partition directory.
pub fn parse_partition_dir(name: &str) -> Option<(&str, u32)> {
    crate::topic::parse_partition_dir(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig, EngineError, NewTopic, LOG_START_CHECKPOINT};

    #[test]
    fn missing_files_are_none_and_corrupt_ones_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_START_CHECKPOINT);
        assert_eq!(read_offset_checkpoint(&path).unwrap(), None);
        std::fs::write(&path, "0\n2\nt 0 5\n").unwrap();
        let err = read_offset_checkpoint(&path).unwrap_err();
        assert!(
            matches!(err, EngineError::CorruptMetadata { line: 4, .. }),
            "{err}"
        );
        let block = dir.path().join(crate::producer::PRODUCER_ID_BLOCK_FILE);
        assert_eq!(read_producer_id_block(&block).unwrap(), None);
        std::fs::write(&block, "12x\n").unwrap();
        assert!(read_producer_id_block(&block).is_err());
        std::fs::write(&block, "2000\n").unwrap();
        assert_eq!(read_producer_id_block(&block).unwrap(), Some(2000));
    }

    #[test]
    fn topic_metadata_reads_as_the_engine_wrote_it_and_a_flipped_bit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        engine
            .create_topic(NewTopic::new("t", 2).config("retention.ms", "1000"))
            .unwrap();
        engine.close().unwrap();
        let path = dir.path().join(TOPICS_DIR).join("t.topic");
        let meta = read_topic_metadata(&path).unwrap().unwrap();
        assert_eq!((meta.name.as_str(), meta.partitions), ("t", 2));
        assert_eq!(meta.overrides.get("retention.ms").unwrap(), "1000");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            read_topic_metadata(&path).unwrap_err(),
            EngineError::CorruptMetadata { .. }
        ));
        assert_eq!(
            read_topic_metadata(&dir.path().join(TOPICS_DIR).join("u.topic")).unwrap(),
            None
        );
    }
}
