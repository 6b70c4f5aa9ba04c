//! Topics: creation, deletion, listing, description, new partitions and config changes, all
//! persisted in `__silt_topics/` and restored on open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::OffsetCheckpoint;
use crate::config::{EngineConfig, TopicConfig};
use crate::engine::{Engine, Inner, OpenReport, LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT};
use crate::error::{io_err, EngineError, Result};
use crate::fsutil::{remove_dir_all_durable, sync_dir};
use crate::log::cleaner::CleanerShared;
use crate::log::segments::SegmentCache;
use crate::log::{LoadContext, Log};
use crate::metadata::{MetadataDir, TopicMetadata};
use crate::name::{topic_collides, validate_topic_name};
use crate::sync::{lock, read, write};

/// Most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 100_000;

/// A topic to create: name, partition count and configuration overrides (Kafka's
/// `NewTopic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    name: String,
    partitions: u32,
    configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic of `partitions` partitions with the engine's default configuration.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    /// Overrides one setting, by its Kafka name (`retention.ms`, `cleanup.policy`, …).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }

    /// Overrides every setting with the values of a typed [`TopicConfig`].
    pub fn topic_config(mut self, config: &TopicConfig) -> Self {
        for (key, value) in config.entries() {
            self.configs.insert(key.to_string(), value);
        }
        self
    }
}

/// One partition, as [`Engine::describe_topic`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// First readable offset.
    pub log_start_offset: i64,
    /// Offset the next record gets.
    pub log_end_offset: i64,
    /// Bytes in all segments.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
}

/// A topic, as [`Engine::describe_topic`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDescription {
    /// The name.
    pub name: String,
    /// When it was created (ms since the epoch).
    pub created_ms: i64,
    /// Its partitions.
    pub partitions: Vec<PartitionDescription>,
    /// The settings the topic overrides.
    pub overrides: BTreeMap<String, String>,
    /// The effective configuration (engine defaults plus overrides).
    pub config: TopicConfig,
}

/// A topic: its metadata and its partition logs. Replaced as a whole when altered.
#[derive(Debug)]
pub(crate) struct Topic {
    meta: TopicMetadata,
    config: Arc<TopicConfig>,
    logs: Vec<Arc<Log>>,
}

impl Topic {
    pub(crate) fn logs(&self) -> &[Arc<Log>] {
        &self.logs
    }

    pub(crate) fn partition(&self, partition: u32) -> Result<&Arc<Log>> {
        self.logs
            .get(partition as usize)
            .ok_or_else(|| EngineError::UnknownPartition {
                topic: self.meta.name.clone(),
                partition,
                partitions: self.logs.len() as u32,
            })
    }
}

/// Everything [`Log::load`] needs from the engine at open.
struct Checkpoints {
    recovery: BTreeMap<(String, u32), i64>,
    log_start: BTreeMap<(String, u32), i64>,
    clean: bool,
}

fn partition_dir(data_dir: &Path, topic: &str, partition: u32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

fn effective_config(
    defaults: &TopicConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<TopicConfig> {
    defaults.with_overrides(overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Opens the logs of partitions `range` of a topic.
fn load_logs(
    data_dir: &Path,
    meta: &TopicMetadata,
    config: &Arc<TopicConfig>,
    (cache, cleaner): (&Arc<SegmentCache>, &Arc<CleanerShared>),
    range: std::ops::Range<u32>,
    checkpoints: &Checkpoints,
    report: &mut OpenReport,
) -> Result<Vec<Arc<Log>>> {
    let mut logs = Vec::with_capacity(range.len());
    for partition in range {
        let key = (meta.name.clone(), partition);
        let (log, load) = Log::load(LoadContext {
            topic: Arc::from(meta.name.as_str()),
            partition,
            dir: partition_dir(data_dir, &meta.name, partition),
            config: Arc::clone(config),
            cache: Arc::clone(cache),
            recovery_point: checkpoints.recovery.get(&key).copied(),
            log_start: checkpoints.log_start.get(&key).copied(),
            clean: checkpoints.clean,
            clean_point: cleaner.clean_point(&meta.name, partition),
            cleaner: Arc::clone(cleaner),
        })?;
        report.partitions += 1;
        report.segments_recovered += load.segments_recovered;
        report.bytes_validated += load.bytes_validated;
        report.partitions_truncated += usize::from(load.truncated);
        logs.push(Arc::new(log));
    }
    Ok(logs)
}

/// Loads every topic recorded in the metadata directory.
pub(crate) fn load_topics(
    data_dir: &Path,
    config: &EngineConfig,
    meta: &MetadataDir,
    cache: &Arc<SegmentCache>,
    cleaner: &Arc<CleanerShared>,
    clean: bool,
) -> Result<(BTreeMap<String, Arc<Topic>>, OpenReport)> {
    let checkpoints = Checkpoints {
        recovery: OffsetCheckpoint::new(data_dir.join(RECOVERY_POINT_CHECKPOINT)).read()?,
        log_start: OffsetCheckpoint::new(data_dir.join(LOG_START_CHECKPOINT)).read()?,
        clean,
    };
    let mut report = OpenReport {
        clean,
        ..OpenReport::default()
    };
    let mut topics = BTreeMap::new();
    for topic_meta in meta.load_all()? {
        let topic_config = Arc::new(effective_config(
            &config.topic_defaults,
            &topic_meta.overrides,
        )?);
        let logs = load_logs(
            data_dir,
            &topic_meta,
            &topic_config,
            (cache, cleaner),
            0..topic_meta.partitions,
            &checkpoints,
            &mut report,
        )?;
        let topic = Topic {
            meta: topic_meta,
            config: topic_config,
            logs,
        };
        topics.insert(topic.meta.name.clone(), Arc::new(topic));
    }
    Ok((topics, report))
}

/// Removes partition directories that belong to no topic (a deletion or a partition
/// addition that a crash interrupted).
pub(crate) fn remove_stray_partitions(inner: &Inner) -> Result<()> {
    let topics = read(&inner.topics);
    let mut removed = false;
    for entry in std::fs::read_dir(&inner.dir).map_err(io_err("list", &inner.dir))? {
        let entry = entry.map_err(io_err("list", &inner.dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some((topic, partition)) = parse_partition_dir(&name) else {
            continue;
        };
        let known = topics
            .get(topic)
            .is_some_and(|t| (partition as usize) < t.logs.len());
        if !known && entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_dir_all_durable(&entry.path())?;
            removed = true;
        }
    }
    if removed {
        sync_dir(&inner.dir)?;
    }
    Ok(())
}

/// `<topic>-<partition>` → (topic, partition), for valid topic names only.
pub(crate) fn parse_partition_dir(name: &str) -> Option<(&str, u32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    validate_topic_name(topic).ok()?;
    Some((topic, partition.parse().ok()?))
}

impl Engine {
    /// Creates a topic: validates the name (as Kafka does, so no name reaches outside the
    /// data directory), the partition count and the configuration, creates the partition
    /// directories and records the topic durably. Segments are created on first append.
    pub fn create_topic(&self, topic: NewTopic) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        validate_topic_name(&topic.name)?;
        check_partitions(&topic.name, topic.partitions, 0)?;
        let config = Arc::new(effective_config(
            &inner.config.topic_defaults,
            &topic.configs,
        )?);
        let _admin = lock(&inner.admin);
        {
            let topics = read(&inner.topics);
            if topics.contains_key(&topic.name) {
                return Err(EngineError::TopicExists { topic: topic.name });
            }
            if let Some(other) = topics.keys().find(|t| topic_collides(t, &topic.name)) {
                return Err(EngineError::InvalidTopicName {
                    name: format!("{} (collides with {other})", topic.name),
                    reason: "'.' and '_' are interchangeable in metric names, so Kafka refuses names that differ only by them",
                });
            }
        }
        let meta = TopicMetadata {
            name: topic.name.clone(),
            partitions: topic.partitions,
            created_ms: crate::log::now_ms(),
            overrides: topic.configs,
        };
        let logs = match self.create_partitions(&meta, &config, 0..meta.partitions) {
            Ok(logs) => logs,
            Err(e) => {
                // Best effort, as below: the next open removes what is left.
                for partition in 0..meta.partitions {
                    let _ =
                        remove_dir_all_durable(&partition_dir(&inner.dir, &meta.name, partition));
                }
                return Err(e);
            }
        };
        if let Err(e) = inner.meta.write(&meta) {
            // Not committed: take the new directories away again (the next open would), and
            // the metadata file, which a failure after its rename (the directory sync) leaves
            // in place, so that the topic does not appear at the next open.
            let _ = inner.meta.remove(&meta.name);
            for log in &logs {
                let _ = remove_dir_all_durable(log.dir());
            }
            return Err(e);
        }
        write(&inner.topics).insert(meta.name.clone(), Arc::new(Topic { meta, config, logs }));
        inner.topics_changed();
        Ok(())
    }

    /// Makes the directories of partitions `range` and opens their (empty) logs.
    fn create_partitions(
        &self,
        meta: &TopicMetadata,
        config: &Arc<TopicConfig>,
        range: std::ops::Range<u32>,
    ) -> Result<Vec<Arc<Log>>> {
        let inner = &self.inner;
        for partition in range.clone() {
            let dir = partition_dir(&inner.dir, &meta.name, partition);
            if dir.exists() {
                remove_dir_all_durable(&dir)?; // left by an interrupted deletion
            }
            std::fs::create_dir(&dir).map_err(io_err("create directory", &dir))?;
        }
        sync_dir(&inner.dir)?;
        let checkpoints = Checkpoints {
            recovery: BTreeMap::new(),
            log_start: BTreeMap::new(),
            clean: true,
        };
        let mut report = OpenReport::default();
        load_logs(
            &inner.dir,
            meta,
            config,
            (&inner.cache, &inner.cleaner),
            range,
            &checkpoints,
            &mut report,
        )
    }

    /// Deletes a topic and all its data. Fetches already made stay readable.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        {
            let _admin = lock(&inner.admin);
            let topic =
                write(&inner.topics)
                    .remove(name)
                    .ok_or_else(|| EngineError::UnknownTopic {
                        topic: name.to_string(),
                    })?;
            inner.topics_changed();
            for log in &topic.logs {
                log.mark_deleted();
                log.forget_clean_point()?;
            }
            // Removing the metadata file is the commit point: after it, a crash leaves only
            // stray directories, which the next open removes.
            inner.meta.remove(name)?;
            for log in &topic.logs {
                log.remove_dir()?; // once no cleaning or retention works in it
            }
        }
        // Drop the topic's recovery points, so a new topic of the same name starts afresh.
        inner.write_checkpoints()
    }

    /// Names of every topic, sorted.
    pub fn list_topics(&self) -> Vec<String> {
        read(&self.inner.topics).keys().cloned().collect()
    }

    /// A topic's partitions, offsets, sizes and configuration.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        let mut partitions = Vec::with_capacity(topic.logs.len());
        for log in &topic.logs {
            partitions.push(PartitionDescription {
                partition: log.partition(),
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset()?,
                size_bytes: log.size_bytes()?,
                segments: log.segment_count(),
            });
        }
        Ok(TopicDescription {
            name: topic.meta.name.clone(),
            created_ms: topic.meta.created_ms,
            partitions,
            overrides: topic.meta.overrides.clone(),
            config: (*topic.config).clone(),
        })
    }

    /// Grows a topic to `total` partitions (Kafka's CreatePartitions: never fewer).
    pub fn add_partitions(&self, name: &str, total: u32) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let _admin = lock(&inner.admin);
        let old = self.topic(name)?;
        check_partitions(name, total, old.meta.partitions)?;
        let mut meta = old.meta.clone();
        meta.partitions = total;
        let mut logs = old.logs.clone();
        logs.extend(self.create_partitions(&meta, &old.config, old.meta.partitions..total)?);
        inner.meta.write(&meta)?;
        let topic = Topic {
            meta,
            config: Arc::clone(&old.config),
            logs,
        };
        write(&inner.topics).insert(name.to_string(), Arc::new(topic));
        inner.topics_changed();
        Ok(())
    }

    /// Kafka's IncrementalAlterConfigs: sets the `set` overrides and removes the `remove`
    /// ones (falling back to the engine default). All or nothing: an unknown key or a bad
    /// value changes nothing. New segment sizes apply from the next roll.
    pub fn alter_topic_config<'a>(
        &self,
        name: &str,
        set: impl IntoIterator<Item = (&'a str, &'a str)>,
        remove: impl IntoIterator<Item = &'a str>,
    ) -> Result<TopicConfig> {
        let inner = &self.inner;
        inner.check_open()?;
        let _admin = lock(&inner.admin);
        let old = self.topic(name)?;
        let mut meta = old.meta.clone();
        for (key, value) in set {
            meta.overrides.insert(key.to_string(), value.to_string());
        }
        for key in remove {
            if !TopicConfig::KEYS.contains(&key) {
                return Err(EngineError::UnknownConfig {
                    key: key.to_string(),
                });
            }
            meta.overrides.remove(key);
        }
        let config = Arc::new(effective_config(
            &inner.config.topic_defaults,
            &meta.overrides,
        )?);
        inner.meta.write(&meta)?;
        for log in &old.logs {
            log.set_config(Arc::clone(&config));
        }
        let topic = Topic {
            meta,
            config: Arc::clone(&config),
            logs: old.logs.clone(),
        };
        write(&inner.topics).insert(name.to_string(), Arc::new(topic));
        inner.topics_changed();
        Ok((*config).clone())
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.inner.check_open()?;
        read(&self.inner.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::UnknownTopic {
                topic: name.to_string(),
            })
    }
}

fn check_partitions(topic: &str, count: u32, current: u32) -> Result<()> {
    let reason = if count == 0 {
        "a topic needs at least one partition"
    } else if count > MAX_PARTITIONS {
        "more than 100000 partitions"
    } else if count <= current && current > 0 {
        "partitions can only be added, never removed"
    } else {
        return Ok(());
    };
    Err(EngineError::InvalidPartitionCount {
        topic: topic.to_string(),
        count,
        reason,
    })
}
