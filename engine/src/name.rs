//! Topic names, validated as Kafka's `Topic.validate` does.
//!
//! A topic name becomes a directory name (`<topic>-<partition>`) under the data directory,
//! so the rules are also what keeps a name from reaching outside it: no path separator can
//! pass, and the two names that are path components of their own, `.` and `..`, are refused.

use crate::error::{EngineError, Result};

/// Longest topic name Kafka accepts (`Topic.MAX_NAME_LENGTH`). 249 leaves room for the
/// partition suffix and Kafka's `.delete`/`-future` directory suffixes within the 255 bytes
/// a file name may have.
pub(crate) const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Checks a topic name as Kafka does: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or
/// `..`, so no name can reach outside the data directory.
///
/// The checks run in Kafka's order (empty, `.`/`..`, length, characters), and each failure
/// has its own [`EngineError::InvalidTopicName`] reason; a bad character is classed by the
/// first one found (path separator, whitespace, control, non-ASCII, other).
///
/// # Errors
///
/// [`EngineError::InvalidTopicName`] with the name and why it is refused.
///
/// ```
/// use silt_engine::validate_topic_name;
///
/// assert!(validate_topic_name("orders.v2_eu-west").is_ok());
/// assert!(validate_topic_name("../etc").is_err());
/// ```
pub fn validate_topic_name(name: &str) -> Result<()> {
    let refuse = |reason| {
        Err(EngineError::InvalidTopicName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("the name is empty");
    }
    if name == "." {
        return refuse("\".\" is not allowed (it names the data directory itself)");
    }
    if name == ".." {
        return refuse("\"..\" is not allowed (it names the parent directory)");
    }
    // `nth` stops after 250 characters, so a huge name costs no more than a long one.
    if name.chars().nth(MAX_TOPIC_NAME_LENGTH).is_some() {
        return refuse("the name is longer than 249 characters");
    }
    match name.chars().find(|&c| !is_legal_char(c)) {
        Some(c) => refuse(illegal_char_reason(c)),
        None => Ok(()),
    }
}

/// Whether two topic names collide as Kafka sees it (`Topic.hasCollision`): they are equal
/// once every `.` is read as `_`.
///
/// Kafka's metric names replace `.` with `_`, so `a.b` and `a_b` would share metrics; it
/// refuses to create a topic that collides with an existing one. Identical names collide.
/// Only `.` and `_` are unified: `a-b` and `a_b` do not collide.
pub fn topic_collides(a: &str, b: &str) -> bool {
    let unify = |c: u8| if c == b'.' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| unify(x) == unify(y))
}

/// Kafka's legal topic characters: ASCII letters, digits, `.`, `_` and `-`.
fn is_legal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The reason for refusing a name whose first illegal character is `c`.
fn illegal_char_reason(c: char) -> &'static str {
    if c == '/' || c == '\\' {
        "the name contains a path separator ('/' or '\\')"
    } else if c.is_ascii_whitespace() {
        "the name contains whitespace"
    } else if c.is_ascii_control() {
        "the name contains a control character"
    } else if !c.is_ascii() {
        "the name contains a non-ASCII character"
    } else {
        "the name contains a character other than ASCII letters, digits, '.', '_' and '-'"
    }
}

#[cfg(test)]
mod tests {
    use super::topic_collides;

    #[test]
    fn dot_and_underscore_collide() {
        assert!(topic_collides("a.b", "a_b"));
        assert!(topic_collides("a_b", "a.b"));
        assert!(topic_collides("a.b_c", "a_b.c"));
        assert!(topic_collides("..", "__"));
    }

    #[test]
    fn identical_names_collide() {
        assert!(topic_collides("orders", "orders"));
        assert!(topic_collides("", ""));
    }

    #[test]
    fn other_differences_do_not_collide() {
        assert!(!topic_collides("a-b", "a_b"));
        assert!(!topic_collides("a-b", "a.b"));
        assert!(!topic_collides("ab", "a_b"));
        assert!(!topic_collides("a.b", "a.b."));
        assert!(!topic_collides("A.b", "a_b"));
        assert!(!topic_collides("orders", "order"));
    }
}
