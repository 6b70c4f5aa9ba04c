//! The parsing and checking that topic and engine settings share: integer settings with
//! inclusive bounds, read from Kafka's `key=value` strings.

use crate::error::{EngineError, Result};

/// Largest value of Kafka's `INT` config type; settings Kafka declares as `INT` stop here.
pub(super) const KAFKA_INT_MAX: i64 = i32::MAX as i64;

/// Largest value of Kafka's `LONG` config type.
pub(super) const KAFKA_LONG_MAX: i64 = i64::MAX;

/// One key of a config struct's table: its name and its kind (how it is parsed, checked
/// and rendered, which each struct defines).
pub(super) struct Key<K> {
    /// The Kafka (or `silt.`) name.
    pub name: &'static str,
    /// What the key sets.
    pub kind: K,
}

/// The entry of `table` named `name`.
pub(super) fn lookup<K>(table: &'static [Key<K>], name: &str) -> Result<&'static Key<K>> {
    table
        .iter()
        .find(|key| key.name == name)
        .ok_or_else(|| unknown(name))
}

/// The names of `table`, in its order: the struct's `KEYS`.
#[allow(clippy::indexing_slicing, reason = "i < N, the length of both arrays")]
pub(super) const fn key_names<K, const N: usize>(table: &[Key<K>; N]) -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = table[i].name;
        i += 1;
    }
    names
}

/// An integer setting of a config struct `C`: its inclusive bounds, and how to read and
/// write its field.
///
/// `get` widens to `i128` so that every field type (`u32`, `i64`, `u64`, `usize`) compares
/// exactly against the bounds; `set` is only given values already inside them.
pub(super) struct IntSlot<C> {
    /// Smallest accepted value.
    pub min: i64,
    /// Largest accepted value.
    pub max: i64,
    /// Reads the field.
    pub get: fn(&C) -> i128,
    /// Writes the field; the value is within `[min, max]`.
    pub set: fn(&mut C, i64),
}

impl<C> IntSlot<C> {
    /// What the setting accepts, for [`EngineError::InvalidConfig`].
    pub fn expected(&self) -> String {
        format!("an integer in [{}, {}]", self.min, self.max)
    }

    /// Parses `value` for `key` and writes it to `config`.
    pub fn parse_into(&self, config: &mut C, key: &str, value: &str) -> Result<()> {
        let parsed = parse_int(value, self.min, self.max)
            .ok_or_else(|| invalid(key, value, self.expected()))?;
        (self.set)(config, parsed);
        Ok(())
    }

    /// Checks that `config`'s field is within bounds, naming `key` if not.
    pub fn check(&self, config: &C, key: &str) -> Result<()> {
        let value = (self.get)(config);
        if (i128::from(self.min)..=i128::from(self.max)).contains(&value) {
            Ok(())
        } else {
            Err(invalid(key, value.to_string(), self.expected()))
        }
    }

    /// The field's value as Kafka renders it (decimal).
    pub fn render(&self, config: &C) -> String {
        (self.get)(config).to_string()
    }
}

/// Parses a decimal integer as Kafka's `INT`/`LONG` do (surrounding whitespace is trimmed,
/// a leading `+` is allowed) and checks it is within `[min, max]`.
pub(super) fn parse_int(value: &str, min: i64, max: i64) -> Option<i64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
}

/// Narrows a value already checked against a slot's bounds to the field's type.
///
/// The bounds of every slot fit its field, so `unchanged` (the field's current value) is
/// never returned; it is there so that a wrong bound leaves the field as it was instead of
/// panicking, and the tests that set every key at its bounds and read it back catch it.
pub(super) fn narrow<T: TryFrom<i64>>(value: i64, unchanged: T) -> T {
    T::try_from(value).unwrap_or(unchanged)
}

/// Widens a field to `i128`, which holds every integer field type exactly.
pub(super) fn widen<T: TryInto<i128>>(value: T) -> i128 {
    value.try_into().unwrap_or(i128::MAX)
}

/// [`EngineError::InvalidConfig`] for `key`.
pub(super) fn invalid(
    key: &str,
    value: impl Into<String>,
    expected: impl Into<String>,
) -> EngineError {
    EngineError::InvalidConfig {
        key: key.to_owned(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// [`EngineError::UnknownConfig`] for `key`.
pub(super) fn unknown(key: &str) -> EngineError {
    EngineError::UnknownConfig {
        key: key.to_owned(),
    }
}
