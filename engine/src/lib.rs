//! silt-engine: a data directory of topics, each a set of partition logs of segments, with
//! the zero-copy read path, retention and durability.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]
#![warn(missing_docs)]

mod checkpoint;
pub mod config;
mod error;
mod fsutil;
mod metadata;
mod name;

pub use config::{CleanupPolicy, EngineConfig, TopicConfig};
pub use error::{EngineError, Result};
pub use name::validate_topic_name;
