//! Kafka's `__consumer_offsets` record layouts (big-endian, Kafka's generated message
//! classes `OffsetCommitKey`, `OffsetCommitValue` and `GroupMetadataKey`).
//!
//! A key starts with an i16 version: 0 and 1 are `OffsetCommitKey` (group, topic,
//! partition), 2 is `GroupMetadataKey` (group). Strings are an i16 length and UTF-8 bytes.
//! silt writes key version 1 and value version 3 (offset i64, leader epoch i32, metadata
//! string, commit timestamp i64), as Kafka does for commits without an expiry time, and reads
//! value versions 0 to 3. A null value is a tombstone: the committed offset was deleted.

/// The key of a commit: which group committed which partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitKey {
    /// The group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// The value of a commit: the next offset to read, and what the committer attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    /// The committed offset: the next offset the group reads.
    pub offset: i64,
    /// The leader epoch of the last record consumed (-1: unknown; silt has one replica).
    pub leader_epoch: i32,
    /// Free-form metadata given with the commit.
    pub metadata: String,
    /// When the commit was made, in ms since the epoch.
    pub commit_timestamp: i64,
}

/// A decoded key of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsKey {
    /// Versions 0 and 1: a committed offset.
    OffsetCommit(OffsetCommitKey),
    /// Version 2: a group's metadata (members and assignment). silt keeps membership in
    /// memory only, so it reads these keys to know the group exists and skips their values.
    GroupMetadata {
        /// The group.
        group: String,
    },
}

/// Key version silt writes for commits.
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Value version silt writes for commits.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_KEY_VERSION: i16 = 2;

/// Why a record of the offsets log did not decode.
pub type DecodeError = String;

impl OffsetCommitKey {
    /// Appends the key's bytes (version 1) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&OFFSET_COMMIT_KEY_VERSION.to_be_bytes());
        put_string(out, &self.group);
        put_string(out, &self.topic);
        out.extend_from_slice(&self.partition.to_be_bytes());
    }
}

impl OffsetCommitValue {
    /// Appends the value's bytes (version 3) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&OFFSET_COMMIT_VALUE_VERSION.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        put_string(out, &self.metadata);
        out.extend_from_slice(&self.commit_timestamp.to_be_bytes());
    }

    /// Decodes a value of versions 0 to 3.
    pub fn decode(bytes: &[u8]) -> Result<OffsetCommitValue, DecodeError> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        let value = match version {
            0 | 2 => OffsetCommitValue {
                offset: r.i64()?,
                leader_epoch: -1,
                metadata: r.string()?,
                commit_timestamp: r.i64()?,
            },
            1 => {
                let value = OffsetCommitValue {
                    offset: r.i64()?,
                    leader_epoch: -1,
                    metadata: r.string()?,
                    commit_timestamp: r.i64()?,
                };
                r.i64()?; // expireTimestamp: silt keeps offsets until deleted
                value
            }
            3 => OffsetCommitValue {
                offset: r.i64()?,
                leader_epoch: r.i32()?,
                metadata: r.string()?,
                commit_timestamp: r.i64()?,
            },
            v => return Err(format!("unsupported OffsetCommitValue version {v}")),
        };
        r.end()?;
        Ok(value)
    }
}

impl OffsetsKey {
    /// Decodes a key of versions 0 to 2.
    pub fn decode(bytes: &[u8]) -> Result<OffsetsKey, DecodeError> {
        let mut r = Reader(bytes);
        let key = match r.i16()? {
            0 | 1 => OffsetsKey::OffsetCommit(OffsetCommitKey {
                group: r.string()?,
                topic: r.string()?,
                partition: r.i32()?,
            }),
            GROUP_METADATA_KEY_VERSION => OffsetsKey::GroupMetadata { group: r.string()? },
            v => return Err(format!("unsupported key version {v}")),
        };
        r.end()?;
        Ok(key)
    }

    /// The group the key belongs to.
    pub fn group(&self) -> &str {
        match self {
            OffsetsKey::OffsetCommit(key) => &key.group,
            OffsetsKey::GroupMetadata { group } => group,
        }
    }
}

/// Java's `String.hashCode`: `s[0]·31^(n-1) + … + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition of `group`: Kafka's
/// `Utils.abs(groupId.hashCode()) % partitions`, where `abs(i32::MIN)` is 0.
pub fn partition_for(group: &str, partitions: u32) -> u32 {
    let hash = java_string_hash_code(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    (abs as u32) % partitions.max(1)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Commits are checked before they are encoded (`check_commit`: group ids of at most
    // 32767 bytes, valid topic names, metadata of at most 4096 bytes), so nothing is cut.
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes().get(..len as usize).unwrap_or_default());
}

/// A bounds-checked big-endian reader: every length is checked against what is left.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let Some((head, rest)) = self.0.split_first_chunk::<N>() else {
            return Err(format!(
                "truncated: needed {N} bytes, {} left",
                self.0.len()
            ));
        };
        self.0 = rest;
        Ok(*head)
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.take().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.take().map(i64::from_be_bytes)
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| format!("string length {len}"))?;
        if len > self.0.len() {
            return Err(format!("string of {len} bytes, {} left", self.0.len()));
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
    fn end(&self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(format!("{n} trailing bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_code_matches_java() {
        // Values computed by java.lang.String.hashCode.
        assert_eq!(java_string_hash_code(""), 0);
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(java_string_hash_code("hello"), 99_162_322);
        assert_eq!(java_string_hash_code("my-group"), -1_906_497_762);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
    }

    #[test]
    fn key_and_value_round_trip_with_kafka_bytes() {
        let key = OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let mut bytes = Vec::new();
        key.encode(&mut bytes);
        assert_eq!(bytes, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(
            OffsetsKey::decode(&bytes).unwrap(),
            OffsetsKey::OffsetCommit(key)
        );
        let value = OffsetCommitValue {
            offset: 42,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 7,
        };
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        let mut expected = vec![0, 3];
        expected.extend_from_slice(&42i64.to_be_bytes());
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.extend_from_slice(&[0, 0]);
        expected.extend_from_slice(&7i64.to_be_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), value);
        for cut in 0..bytes.len() {
            assert!(OffsetCommitValue::decode(&bytes[..cut]).is_err());
        }
    }
}
