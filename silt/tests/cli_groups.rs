//! `silt groups`: list, describe, reset-offsets and delete, end to end.

mod cli_support;

use cli_support::{table, Seed, Silt};

/// Topic `t`: 4 records in partition 0, 2 in partition 1; group `g` has read all of
/// partition 0 and one record of partition 1.
fn with_group() -> Silt {
    let silt = Silt::new();
    silt.seed(
        "t",
        2,
        &[
            Seed::new(0, "k", "a"),
            Seed::new(0, "k", "b"),
            Seed::new(0, "k", "c"),
            Seed::new(0, "k", "d"),
            Seed::new(1, "k", "e"),
            Seed::new(1, "k", "f"),
        ],
    );
    silt.ok(&[
        "consume",
        "t",
        "--group",
        "g",
        "--partition",
        "0",
        "--offset",
        "0",
        "--timeout-ms",
        "300",
    ]);
    silt.ok(&[
        "consume",
        "t",
        "--group",
        "g",
        "--partition",
        "1",
        "--offset",
        "0",
        "--max-messages",
        "1",
    ]);
    silt
}

fn described(silt: &Silt, group: &str) -> Vec<Vec<String>> {
    table(&silt.ok(&["groups", "describe", group]))
}

#[test]
fn list_and_describe_show_committed_offsets_and_lag() {
    let silt = with_group();
    silt.ok(&[
        "consume",
        "t",
        "--group",
        "other",
        "--from-beginning",
        "--max-messages",
        "1",
    ]);
    assert_eq!(silt.ok(&["groups", "list"]), "g\nother\n");
    let output = silt.run(&["groups", "describe", "g"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "Consumer group 'g' has no active members.\n"
    );
    let rows = table(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(
        rows,
        vec![
            vec![
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID"
            ],
            vec!["t", "0", "4", "4", "0", "-"],
            vec!["t", "1", "1", "2", "1", "-"],
        ]
    );
}

#[test]
fn reset_offsets_to_earliest_latest_and_an_offset() {
    let silt = with_group();
    let out = silt.ok(&[
        "groups",
        "reset-offsets",
        "g",
        "--topic",
        "t",
        "--to-earliest",
    ]);
    assert_eq!(
        table(&out),
        vec![
            vec!["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
            vec!["g", "t", "0", "0"],
            vec!["g", "t", "1", "0"],
        ]
    );
    assert_eq!(described(&silt, "g")[1][..5], ["t", "0", "0", "4", "4"]);
    // The group reads again from there.
    let again = silt.ok(&["consume", "t", "--group", "g", "--timeout-ms", "300"]);
    assert_eq!(again.lines().count(), 6);

    silt.ok(&[
        "groups",
        "reset-offsets",
        "g",
        "--topic",
        "t",
        "--to-offset",
        "1",
    ]);
    let rows = described(&silt, "g");
    assert_eq!(rows[1][..5], ["t", "0", "1", "4", "3"]);
    assert_eq!(rows[2][..5], ["t", "1", "1", "2", "1"]);

    // An offset past the end is clamped to the log end, as Kafka does.
    silt.ok(&[
        "groups",
        "reset-offsets",
        "g",
        "--topic",
        "t:1",
        "--to-offset",
        "99",
    ]);
    let rows = described(&silt, "g");
    assert_eq!(rows[1][..5], ["t", "0", "1", "4", "3"]);
    assert_eq!(rows[2][..5], ["t", "1", "2", "2", "0"]);

    silt.ok(&[
        "groups",
        "reset-offsets",
        "g",
        "--topic",
        "t",
        "--to-latest",
    ]);
    let rows = described(&silt, "g");
    assert_eq!(rows[1][..5], ["t", "0", "4", "4", "0"]);
}

#[test]
fn reset_offsets_dry_run_changes_nothing() {
    let silt = with_group();
    let out = silt.ok(&[
        "groups",
        "reset-offsets",
        "g",
        "--topic",
        "t:0",
        "--to-earliest",
        "--dry-run",
    ]);
    assert_eq!(table(&out)[1], ["g", "t", "0", "0"]);
    assert_eq!(described(&silt, "g")[1][..5], ["t", "0", "4", "4", "0"]);
}

#[test]
fn reset_offsets_can_start_a_new_group() {
    let silt = with_group();
    silt.ok(&[
        "groups",
        "reset-offsets",
        "fresh",
        "--topic",
        "t",
        "--to-offset",
        "1",
    ]);
    let out = silt.ok(&["consume", "t", "--group", "fresh", "--timeout-ms", "300"]);
    assert_eq!(out, "b\nc\nd\nf\n");
}

#[test]
fn reset_offsets_needs_exactly_one_target() {
    let silt = with_group();
    silt.fails(&["groups", "reset-offsets", "g", "--topic", "t"], 2);
    silt.fails(
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--to-latest",
        ],
        2,
    );
    silt.fails(&["groups", "reset-offsets", "g", "--to-earliest"], 2);
    silt.fails(
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t:x",
            "--to-earliest",
        ],
        2,
    );
    let line = silt.fails(
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t:5",
            "--to-earliest",
        ],
        1,
    );
    assert!(line.contains("has no partition 5"), "{line}");
    let line = silt.fails(
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "nope",
            "--to-earliest",
        ],
        1,
    );
    assert!(line.contains("unknown topic \"nope\""), "{line}");
}

#[test]
fn delete_forgets_the_group() {
    let silt = with_group();
    assert_eq!(
        silt.ok(&["groups", "delete", "g"]),
        "Deletion of requested consumer groups ('g') was successful.\n"
    );
    assert_eq!(silt.ok(&["groups", "list"]), "");
    let line = silt.fails(&["groups", "describe", "g"], 1);
    assert!(line.contains("unknown consumer group \"g\""), "{line}");
    let line = silt.fails(&["groups", "delete", "g"], 1);
    assert!(line.contains("unknown consumer group \"g\""), "{line}");
    // A deleted group starts over.
    let out = silt.ok(&[
        "consume",
        "t",
        "--group",
        "g",
        "--from-beginning",
        "--timeout-ms",
        "300",
    ]);
    assert_eq!(out.lines().count(), 6);
}
