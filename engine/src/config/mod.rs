//! Configuration with Kafka's names and defaults: per-topic settings ([`TopicConfig`]) and
//! engine-wide settings ([`EngineConfig`]).
//!
//! Both can be set from Kafka's `key=value` strings (`TopicConfig::set`, `EngineConfig::set`,
//! `EngineConfig::from_map`) or with typed values through a builder; either way every value
//! is checked against Kafka's range for its key. Each struct keeps one table of its keys
//! (name, bounds, field), so parsing, rendering and validation cannot drift apart.

/// An [`parse::IntSlot`] reading and writing `$field` of the table's config struct, bounded
/// by `[$min, $max]`.
macro_rules! int_slot {
    ($field:ident in $min:expr, $max:expr) => {
        $crate::config::parse::IntSlot {
            min: $min,
            max: $max,
            get: |config| $crate::config::parse::widen(config.$field),
            set: |config, value| {
                config.$field = $crate::config::parse::narrow(value, config.$field)
            },
        }
    };
}

/// One builder method per field: `fn $field(self, $ty) -> Self`, documented with its key.
macro_rules! builder_setters {
    ($config:ident { $($field:ident: $ty:ty => $key:literal),* $(,)? }) => {
        $(
            #[doc = concat!(
                "Sets `", $key, "` (see [`", stringify!($config), "::", stringify!($field), "`])."
            )]
            pub fn $field(mut self, value: $ty) -> Self {
                self.config.$field = value;
                self
            }
        )*
    };
}

mod engine;
mod parse;
mod producer;
mod topic;

pub use engine::{EngineConfig, EngineConfigBuilder};
pub use producer::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use topic::{CleanupPolicy, TopicConfig, TopicConfigBuilder};
