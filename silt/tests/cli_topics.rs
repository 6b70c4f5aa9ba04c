//! `silt topics`: create, list, describe, alter and delete, end to end.

mod cli_support;

use cli_support::Silt;

#[test]
fn create_then_list_and_describe() {
    let silt = Silt::new();
    assert_eq!(
        silt.ok(&[
            "topics",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=86400000"
        ]),
        "Created topic orders.\n"
    );
    silt.ok(&["topics", "create", "clicks", "--partitions", "1"]);
    assert_eq!(silt.ok(&["topics", "list"]), "clicks\norders\n");

    let described = silt.ok(&["topics", "describe", "orders"]);
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(
        lines[0],
        "Topic: orders\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=86400000"
    );
    assert_eq!(lines.len(), 4);
    for (p, line) in lines[1..].iter().enumerate() {
        assert!(
            line.starts_with(&format!(
                "\tTopic: orders\tPartition: {p}\tLogStartOffset: 0\tLogEndOffset: 0\t"
            )),
            "{line:?}"
        );
    }

    // Without a name: every topic, in name order.
    let all = silt.ok(&["topics", "describe"]);
    let topic_lines: Vec<&str> = all.lines().filter(|l| l.starts_with("Topic: ")).collect();
    assert_eq!(topic_lines.len(), 2);
    assert!(topic_lines[0].starts_with("Topic: clicks\t"));
    assert!(topic_lines[1].starts_with("Topic: orders\t"));
}

#[test]
fn describe_shows_offsets_after_records_are_produced() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "2"]);
    silt.ok_with_input(&["produce", "t", "--partition", "1"], b"a\nb\nc\n");
    let described = silt.ok(&["topics", "describe", "t"]);
    let partition_1 = described
        .lines()
        .find(|l| l.contains("Partition: 1\t"))
        .unwrap();
    assert!(partition_1.contains("LogEndOffset: 3\t"), "{partition_1}");
    assert!(partition_1.contains("Segments: 1"), "{partition_1}");
}

#[test]
fn alter_adds_partitions_and_changes_settings() {
    let silt = Silt::new();
    silt.ok(&[
        "topics",
        "create",
        "t",
        "--partitions",
        "2",
        "--config",
        "retention.ms=1000",
    ]);
    let altered = silt.ok(&[
        "topics",
        "alter",
        "t",
        "--partitions",
        "5",
        "--config",
        "segment.bytes=1048576",
        "--delete-config",
        "retention.ms",
    ]);
    assert!(
        altered.starts_with("Altered topic t: partitions 2 -> 5"),
        "{altered}"
    );
    let described = silt.ok(&["topics", "describe", "t"]);
    assert!(
        described.starts_with(
            "Topic: t\tPartitionCount: 5\tReplicationFactor: 1\tConfigs: segment.bytes=1048576\n"
        ),
        "{described}"
    );

    // A bad value changes nothing, not even the partition count given with it.
    silt.fails(
        &[
            "topics",
            "alter",
            "t",
            "--partitions",
            "6",
            "--config",
            "retention.ms=forever",
        ],
        1,
    );
    // Fewer partitions are refused.
    let line = silt.fails(&["topics", "alter", "t", "--partitions", "3"], 1);
    assert!(line.contains("partitions can only be added"), "{line}");
    let described = silt.ok(&["topics", "describe", "t"]);
    assert!(described.contains("PartitionCount: 5\t"), "{described}");
    assert!(!described.contains("retention.ms"), "{described}");

    // Nothing to alter is a usage error.
    silt.fails(&["topics", "alter", "t"], 2);
}

#[test]
fn delete_removes_the_topic_and_its_data() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "gone", "--partitions", "2"]);
    silt.ok_with_input(&["produce", "gone"], b"x\n");
    assert_eq!(
        silt.ok(&["topics", "delete", "gone"]),
        "Deleted topic gone.\n"
    );
    assert_eq!(silt.ok(&["topics", "list"]), "");
    assert!(!silt.data_dir().join("gone-0").exists());
    let line = silt.fails(&["topics", "delete", "gone"], 1);
    assert!(line.contains("unknown topic \"gone\""), "{line}");
    // --if-exists makes a missing topic fine.
    assert_eq!(silt.ok(&["topics", "delete", "gone", "--if-exists"]), "");
}

#[test]
fn create_refuses_duplicates_and_bad_settings() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    let line = silt.fails(&["topics", "create", "t", "--partitions", "1"], 1);
    assert!(line.contains("already exists"), "{line}");
    assert_eq!(
        silt.ok(&[
            "topics",
            "create",
            "t",
            "--partitions",
            "1",
            "--if-not-exists"
        ]),
        ""
    );
    let line = silt.fails(
        &[
            "topics",
            "create",
            "u",
            "--partitions",
            "1",
            "--config",
            "no.such.key=1",
        ],
        1,
    );
    assert!(line.contains("no.such.key"), "{line}");
    let line = silt.fails(&["topics", "create", "u", "--partitions", "0"], 1);
    assert!(line.contains("at least one partition"), "{line}");
    let line = silt.fails(&["topics", "create", "bad/name", "--partitions", "1"], 1);
    assert!(line.contains("invalid topic name"), "{line}");
    silt.fails(
        &[
            "topics",
            "create",
            "u",
            "--partitions",
            "1",
            "--config",
            "novalue",
        ],
        2,
    );
    assert_eq!(silt.ok(&["topics", "list"]), "t\n");
}

#[test]
fn list_can_leave_out_internal_topics() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    silt.ok_with_input(&["produce", "t"], b"x\n");
    // A group's commit creates __consumer_offsets.
    silt.ok(&[
        "consume",
        "t",
        "--group",
        "g",
        "--from-beginning",
        "--max-messages",
        "1",
    ]);
    let all = silt.ok(&["topics", "list"]);
    assert!(all.lines().any(|l| l == "__consumer_offsets"), "{all}");
    assert_eq!(silt.ok(&["topics", "list", "--exclude-internal"]), "t\n");
}
