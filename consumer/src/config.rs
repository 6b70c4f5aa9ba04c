//! `ConsumerConfig`: the Java consumer's settings, with Kafka's names and defaults.

use std::sync::Arc;

use crate::assignor::{self, Assignor, RebalanceProtocol};
use crate::error::{ConsumerError, Result};

/// Where a consumer starts when it has no valid position (Kafka's `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset (Kafka's default): only records produced from now on.
    Latest,
    /// Fail with [`ConsumerError::NoOffsetForPartition`] / [`ConsumerError::OffsetOutOfRange`].
    None,
}

/// A consumer's settings. Build with struct update syntax from `Default`, with the chained
/// setters, or from Kafka's `key=value` strings through [`ConsumerConfig::set`] and
/// [`ConsumerConfig::from_map`].
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `group.id`: the consumer group (needed by `subscribe` and commits).
    pub group_id: Option<String>,
    /// `group.instance.id`: makes the member static (KIP-345).
    pub group_instance_id: Option<String>,
    /// `client.id`: prefix of the member id.
    pub client_id: String,
    /// `max.poll.records` (500).
    pub max_poll_records: usize,
    /// `enable.auto.commit` (true).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (5000).
    pub auto_commit_interval_ms: u64,
    /// `auto.offset.reset` (latest).
    pub auto_offset_reset: OffsetReset,
    /// `session.timeout.ms` (45000).
    pub session_timeout_ms: u64,
    /// `heartbeat.interval.ms` (3000), below the session timeout.
    pub heartbeat_interval_ms: u64,
    /// `max.poll.interval.ms` (300000).
    pub max_poll_interval_ms: u64,
    /// `partition.assignment.strategy` (`range,cooperative-sticky`, Kafka's default since 3.0:
    /// range is used until every member offers cooperative-sticky).
    pub partition_assignment_strategy: Vec<Arc<dyn Assignor>>,
    /// `max.partition.fetch.bytes` (1 MiB): bytes read from one partition per fetch.
    pub max_partition_fetch_bytes: usize,
    /// `check.crcs` (true): every batch's CRC-32C is checked before its records are used.
    pub check_crcs: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            group_instance_id: None,
            client_id: "consumer".to_string(),
            max_poll_records: 500,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5000,
            auto_offset_reset: OffsetReset::Latest,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 3000,
            max_poll_interval_ms: 300_000,
            partition_assignment_strategy: strategies("range,cooperative-sticky")
                .unwrap_or_default(),
            max_partition_fetch_bytes: 1 << 20,
            check_crcs: true,
        }
    }
}

/// Every key [`ConsumerConfig::set`] accepts.
pub const KEYS: &[&str] = &[
    "group.id",
    "group.instance.id",
    "client.id",
    "max.poll.records",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "max.partition.fetch.bytes",
    "check.crcs",
];

impl ConsumerConfig {
    /// A config in `group`.
    pub fn with_group(group: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: Some(group.into()),
            ..ConsumerConfig::default()
        }
    }

    /// Sets one setting by its Kafka name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |reason: &str| ConsumerError::InvalidConfig {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let int = |min: u64| -> Result<u64> {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= min && *v <= i32::MAX as u64)
                .ok_or_else(|| bad(&format!("expected an integer in [{min}, {}]", i32::MAX)))
        };
        let boolean = || match value.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad("expected true or false")),
        };
        let name =
            || -> Option<String> { Some(value.trim().to_string()).filter(|v| !v.is_empty()) };
        match key {
            "group.id" => self.group_id = name(),
            "group.instance.id" => self.group_instance_id = name(),
            "client.id" => self.client_id = value.trim().to_string(),
            "max.poll.records" => self.max_poll_records = int(1)? as usize,
            "enable.auto.commit" => self.enable_auto_commit = boolean()?,
            "auto.commit.interval.ms" => self.auto_commit_interval_ms = int(0)?,
            "auto.offset.reset" => {
                self.auto_offset_reset = match value.trim() {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    _ => return Err(bad("expected earliest, latest or none")),
                }
            }
            "session.timeout.ms" => self.session_timeout_ms = int(1)?,
            "heartbeat.interval.ms" => self.heartbeat_interval_ms = int(1)?,
            "max.poll.interval.ms" => self.max_poll_interval_ms = int(1)?,
            "partition.assignment.strategy" => {
                self.partition_assignment_strategy = strategies(value).map_err(|e| bad(&e))?
            }
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = int(1)? as usize,
            "check.crcs" => self.check_crcs = boolean()?,
            _ => {
                return Err(ConsumerError::InvalidConfig {
                    key: key.to_string(),
                    value: value.to_string(),
                    reason: format!("unknown consumer setting; known: {}", KEYS.join(", ")),
                })
            }
        }
        Ok(())
    }

    /// One setting, as Kafka would print it.
    pub fn get(&self, key: &str) -> Result<String> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        Ok(match key {
            "group.id" => opt(&self.group_id),
            "group.instance.id" => opt(&self.group_instance_id),
            "client.id" => self.client_id.clone(),
            "max.poll.records" => self.max_poll_records.to_string(),
            "enable.auto.commit" => self.enable_auto_commit.to_string(),
            "auto.commit.interval.ms" => self.auto_commit_interval_ms.to_string(),
            "auto.offset.reset" => match self.auto_offset_reset {
                OffsetReset::Earliest => "earliest",
                OffsetReset::Latest => "latest",
                OffsetReset::None => "none",
            }
            .to_string(),
            "session.timeout.ms" => self.session_timeout_ms.to_string(),
            "heartbeat.interval.ms" => self.heartbeat_interval_ms.to_string(),
            "max.poll.interval.ms" => self.max_poll_interval_ms.to_string(),
            "partition.assignment.strategy" => self
                .partition_assignment_strategy
                .iter()
                .map(|a| a.name().to_string())
                .collect::<Vec<_>>()
                .join(","),
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes.to_string(),
            "check.crcs" => self.check_crcs.to_string(),
            _ => {
                return Err(ConsumerError::InvalidConfig {
                    key: key.to_string(),
                    value: String::new(),
                    reason: format!("unknown consumer setting; known: {}", KEYS.join(", ")),
                })
            }
        })
    }

    /// A config from Kafka properties; unknown keys and bad values are errors.
    pub fn from_map<K: AsRef<str>, V: AsRef<str>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ConsumerConfig> {
        let mut config = ConsumerConfig::default();
        for (k, v) in entries {
            config.set(k.as_ref(), v.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings against each other, as the Java client does at construction.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(ConsumerError::InvalidConfig {
                key: key.to_string(),
                value,
                reason: reason.to_string(),
            })
        };
        if self.heartbeat_interval_ms >= self.session_timeout_ms {
            return bad(
                "heartbeat.interval.ms",
                self.heartbeat_interval_ms.to_string(),
                "must be lower than session.timeout.ms",
            );
        }
        if self.partition_assignment_strategy.is_empty() {
            return bad(
                "partition.assignment.strategy",
                String::new(),
                "needs at least one assignor",
            );
        }
        if self.max_poll_records == 0 {
            return bad("max.poll.records", "0".into(), "must be at least 1");
        }
        if let Some(group) = &self.group_id {
            // Kafka refuses an empty group id to group members (InvalidGroupIdException);
            // the offsets log holds ids of at most a Kafka string's 32767 bytes.
            if group.is_empty() {
                return bad("group.id", String::new(), "must not be empty");
            }
            if group.len() > crate::offsets::MAX_GROUP_ID_BYTES {
                return bad(
                    "group.id",
                    format!("<{} bytes>", group.len()),
                    "must be at most 32767 bytes",
                );
            }
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return bad("group.instance.id", String::new(), "needs group.id");
        }
        Ok(())
    }

    /// The protocol this consumer follows: cooperative only if every assignor it offers
    /// supports it (Kafka's rule: a consumer offering `range,cooperative-sticky` is eager).
    pub(crate) fn rebalance_protocol(&self) -> RebalanceProtocol {
        let all = self.partition_assignment_strategy.iter().all(|a| {
            a.supported_protocols()
                .contains(&RebalanceProtocol::Cooperative)
        });
        if all {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }

    /// Sets `group.id`.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// Sets `group.instance.id`.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// Sets `auto.offset.reset`.
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// Sets `enable.auto.commit`.
    pub fn enable_auto_commit(mut self, on: bool) -> Self {
        self.enable_auto_commit = on;
        self
    }

    /// Sets `partition.assignment.strategy` by Kafka names (`range`, `roundrobin`, `sticky`,
    /// `cooperative-sticky`, comma-separated; Java class names are accepted too).
    pub fn assignment_strategy(mut self, names: &str) -> Result<Self> {
        self.set("partition.assignment.strategy", names)?;
        Ok(self)
    }
}

/// Parses a strategy list: Kafka names or the Java class names users have in their
/// properties files.
fn strategies(value: &str) -> std::result::Result<Vec<Arc<dyn Assignor>>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            let short = match name.rsplit('.').next().unwrap_or(name) {
                "RangeAssignor" => "range",
                "RoundRobinAssignor" => "roundrobin",
                "StickyAssignor" => "sticky",
                "CooperativeStickyAssignor" => "cooperative-sticky",
                _ => name,
            };
            assignor::by_name(short).ok_or_else(|| format!("unknown assignor {name:?}"))
        })
        .collect()
}
