//! State that crates built on the engine attach to one engine.
//!
//! Dependencies point one way (`engine ← consumer`), yet a consumer group's coordinator must
//! be one per group *per engine*: every consumer of a data directory has to meet the same
//! coordinator. So the engine keeps one value per type for the crates above it, created on
//! first use and dropped with the engine.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::EngineError;
use crate::sync::lock;
use crate::Engine;

/// Values attached to an engine, one per type.
#[derive(Default)]
pub(crate) struct Extensions {
    values: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Engine {
    /// The value of type `T` attached to this engine, created by `init` on first use.
    ///
    /// Crates built on the engine keep their per-engine state here: `silt-consumer` keeps its
    /// group coordinators and committed offsets, so every consumer of this engine meets the
    /// same ones. `init` runs once, under a lock that only other `extension` calls take; if it
    /// fails, nothing is attached and the next call tries again. A value must not hold an
    /// `Engine` handle (that would keep the engine alive forever); it receives one per call.
    ///
    /// ```
    /// use silt_engine::{Engine, EngineConfig};
    ///
    /// #[derive(Default)]
    /// struct Counter(std::sync::atomic::AtomicU32);
    ///
    /// let dir = tempfile::tempdir()?;
    /// let engine = Engine::open(dir.path(), EngineConfig::default())?;
    /// let a = engine.extension(|_| Ok::<_, silt_engine::EngineError>(Counter::default()))?;
    /// a.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    /// let b = engine.extension(|_| Ok::<_, silt_engine::EngineError>(Counter::default()))?;
    /// assert_eq!(b.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn extension<T, E>(&self, init: impl FnOnce(&Engine) -> Result<T, E>) -> Result<Arc<T>, E>
    where
        T: Any + Send + Sync,
        E: From<EngineError>,
    {
        self.inner.check_open()?;
        let mut values = lock(&self.inner.extensions.values);
        let value = match values.get(&TypeId::of::<T>()) {
            Some(value) => Arc::clone(value),
            None => {
                let value: Arc<dyn Any + Send + Sync> = Arc::new(init(self)?);
                values.insert(TypeId::of::<T>(), Arc::clone(&value));
                value
            }
        };
        drop(values);
        Ok(Arc::downcast::<T>(value).unwrap_or_else(|_| unreachable!("keyed by its TypeId")))
    }

    /// A number that changes whenever a topic is created, deleted, altered or given more
    /// partitions: watchers of topic metadata compare it to know when to look again.
    pub fn topics_version(&self) -> u64 {
        self.inner
            .topics_version
            .load(std::sync::atomic::Ordering::Acquire)
    }
}
