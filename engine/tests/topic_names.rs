//! Topic names are checked as Kafka's `Topic.validate` does, and no accepted name can reach
//! outside the data directory.

use std::collections::HashSet;
use std::path::{Component, Path};

use proptest::prelude::*;
use silt_engine::{validate_topic_name, EngineError};

/// The reason `name` is refused; panics if it is accepted.
fn reason(name: &str) -> &'static str {
    match validate_topic_name(name) {
        Err(EngineError::InvalidTopicName {
            name: given,
            reason,
        }) => {
            assert_eq!(given, name, "the error names the name given");
            reason
        }
        Err(other) => panic!("{name:?}: wrong error {other:?}"),
        Ok(()) => panic!("{name:?} was accepted"),
    }
}

#[test]
fn accepts_kafka_names() {
    for name in [
        "a",
        "Z",
        "0",
        "_",
        "-",
        "orders",
        "orders.v2",
        "my_topic-1",
        "__consumer_offsets",
        "UPPER.lower_09-x",
        "...",
        "..a",
        "a..",
        ".a",
        ".hidden",
        "a.",
    ] {
        assert!(
            validate_topic_name(name).is_ok(),
            "{name:?} should be valid"
        );
    }
}

#[test]
fn refuses_empty() {
    assert!(reason("").contains("empty"));
}

#[test]
fn length_limit_is_249_characters() {
    assert!(validate_topic_name(&"a".repeat(249)).is_ok());
    let mixed: String = "aZ9._-".chars().cycle().take(249).collect();
    assert!(validate_topic_name(&mixed).is_ok());
    assert!(reason(&"a".repeat(250)).contains("249"));
    assert!(reason(&"a".repeat(10_000)).contains("249"));
}

#[test]
fn length_is_checked_before_characters_as_in_kafka() {
    let long_and_bad = format!("{}/", "a".repeat(250));
    assert_eq!(reason(&long_and_bad), reason(&"a".repeat(250)));
}

#[test]
fn length_counts_characters_not_bytes() {
    // 249 two-byte characters: within the length limit, refused for being non-ASCII.
    let name = "é".repeat(249);
    assert_eq!(name.len(), 498);
    assert_eq!(reason(&name), reason("é"));
    assert_ne!(reason(&name), reason(&"a".repeat(250)));
}

#[test]
fn refuses_dot_and_dot_dot() {
    let dot = reason(".");
    let dot_dot = reason("..");
    assert!(dot.contains("\".\""), "{dot}");
    assert!(dot_dot.contains("\"..\""), "{dot_dot}");
    assert_ne!(dot, dot_dot);
}

#[test]
fn refuses_path_separators() {
    let separator = reason("/");
    for name in [
        "a/b",
        "/etc",
        "../etc",
        "a/../../b",
        "./a",
        "a/",
        "\\",
        "a\\b",
        "..\\..\\x",
    ] {
        assert_eq!(reason(name), separator, "{name:?}");
    }
    assert!(separator.contains("separator"));
}

#[test]
fn refuses_whitespace() {
    let whitespace = reason(" ");
    for name in ["a b", " a", "a ", "\t", "a\nb", "a\rb"] {
        assert_eq!(reason(name), whitespace, "{name:?}");
    }
    assert!(whitespace.contains("whitespace"));
}

#[test]
fn refuses_control_characters() {
    let control = reason("\0");
    for name in ["a\0b", "a\0", "\u{1}", "a\u{1b}[31m", "\u{7f}"] {
        assert_eq!(reason(name), control, "{name:?}");
    }
    assert!(control.contains("control"));
}

#[test]
fn refuses_non_ascii() {
    let non_ascii = reason("ü");
    for name in [
        "topic™",
        "日本",
        "a\u{2215}b",
        "a\u{ff0e}\u{ff0e}",
        "\u{feff}a",
        "é",
    ] {
        assert_eq!(reason(name), non_ascii, "{name:?}");
    }
    assert!(non_ascii.contains("non-ASCII"));
}

#[test]
fn refuses_other_ascii_punctuation() {
    let other = reason("a:b");
    for c in "!\"#$%&'()*+,:;<=>?@[]^`{|}~".chars() {
        assert_eq!(reason(&format!("a{c}b")), other, "{c:?}");
    }
    assert!(other.contains("'.', '_' and '-'"));
}

#[test]
fn each_failure_has_its_own_reason() {
    let reasons = [
        reason(""),
        reason("."),
        reason(".."),
        reason(&"a".repeat(250)),
        reason("a/b"),
        reason("a b"),
        reason("a\0b"),
        reason("ü"),
        reason("a:b"),
    ];
    let distinct: HashSet<_> = reasons.iter().collect();
    assert_eq!(distinct.len(), reasons.len(), "{reasons:?}");
}

#[test]
fn error_display_names_the_topic() {
    let err = validate_topic_name("bad/name").unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("\"bad/name\""), "{shown}");
    assert!(shown.contains("separator"), "{shown}");
}

/// Kafka's rule, written independently: `[a-zA-Z0-9._-]{1,249}`, not `.` or `..`.
fn kafka_accepts(name: &str) -> bool {
    let legal = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-';
    !name.is_empty()
        && name.chars().count() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(legal)
}

proptest! {
    #[test]
    fn matches_kafkas_rule(name in "[a-zA-Z0-9._\\-/\\\\ \\x00é:]{0,8}") {
        prop_assert_eq!(validate_topic_name(&name).is_ok(), kafka_accepts(&name));
    }

    #[test]
    fn accepted_names_stay_inside_the_data_directory(name in "[a-z._-]{1,6}|\\PC{1,6}") {
        if validate_topic_name(&name).is_ok() {
            let path = Path::new("data").join(format!("{name}-0"));
            let components: Vec<_> = path.components().collect();
            prop_assert_eq!(components.len(), 2);
            prop_assert!(matches!(components.get(1), Some(Component::Normal(_))));
            // Even the bare name is one normal component.
            let bare: Vec<_> = Path::new(&name).components().collect();
            prop_assert!(matches!(bare.as_slice(), [Component::Normal(_)]));
        }
    }
}
