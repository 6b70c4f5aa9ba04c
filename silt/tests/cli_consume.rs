//! `silt consume`: output formats, where reading starts, limits, groups and signals.

mod cli_support;

use std::process::Stdio;

use cli_support::{table, wait_for_exit, Lines, Seed, Silt, CHILD_DEADLINE};

const TS: i64 = 1_700_000_000_000;

/// Topic `t` of 2 partitions: partition 0 holds a, b (headers, null key), c (null value);
/// partition 1 holds d.
fn seeded() -> Silt {
    let silt = Silt::new();
    silt.seed(
        "t",
        2,
        &[
            Seed {
                headers: &[("h1", Some("x")), ("h2", None)],
                ..Seed::new(0, "ka", "a")
            },
            Seed {
                key: None,
                ..Seed::new(0, "", "b")
            },
            Seed {
                value: None,
                timestamp: TS + 5,
                ..Seed::new(0, "kc", "")
            },
            Seed::new(1, "kd", "d"),
        ],
    );
    silt
}

fn consume(silt: &Silt, extra: &[&str]) -> String {
    let mut args = vec!["consume", "t", "--timeout-ms", "500"];
    args.extend_from_slice(extra);
    silt.ok(&args)
}

#[test]
fn prints_values_one_per_line_from_the_beginning() {
    let silt = seeded();
    assert_eq!(consume(&silt, &["--from-beginning"]), "a\nb\nnull\nd\n");
    // Without --from-beginning (and no group) only new records would be printed.
    assert_eq!(consume(&silt, &[]), "");
}

#[test]
fn print_flags_add_fields_in_kafka_order() {
    let silt = seeded();
    let out = consume(
        &silt,
        &[
            "--from-beginning",
            "--partition",
            "0",
            "--print-key",
            "--print-partition",
            "--print-offset",
            "--print-timestamp",
            "--print-headers",
        ],
    );
    assert_eq!(
        out,
        format!(
            "CreateTime:{TS}\tPartition:0\tOffset:0\th1:x,h2:null\tka\ta\n\
             CreateTime:{TS}\tPartition:0\tOffset:1\tNO_HEADERS\tnull\tb\n\
             CreateTime:{}\tPartition:0\tOffset:2\tNO_HEADERS\tkc\tnull\n",
            TS + 5
        )
    );
    let out = consume(
        &silt,
        &["--from-beginning", "--partition", "1", "--print-key"],
    );
    assert_eq!(out, "kd\td\n");
}

#[test]
fn json_prints_one_object_per_record() {
    let silt = seeded();
    let out = consume(&silt, &["--from-beginning", "--json"]);
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 4);
    assert_eq!(
        objects[0],
        serde_json::json!({
            "topic": "t", "partition": 0, "offset": 0, "timestamp": TS, "key": "ka", "value": "a",
            "headers": [{"key": "h1", "value": "x"}, {"key": "h2", "value": null}],
        })
    );
    assert_eq!(objects[1]["key"], serde_json::Value::Null);
    assert_eq!(objects[2]["value"], serde_json::Value::Null);
    assert_eq!(objects[3]["partition"], 1);
    // The fields come in the documented order.
    let first = out.lines().next().unwrap();
    let positions: Vec<usize> = [
        "\"topic\"",
        "\"partition\"",
        "\"offset\"",
        "\"timestamp\"",
        "\"key\"",
        "\"value\"",
        "\"headers\"",
    ]
    .iter()
    .map(|f| first.find(f).unwrap())
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
}

#[test]
fn partition_and_offset_choose_where_to_start() {
    let silt = seeded();
    assert_eq!(
        consume(&silt, &["--partition", "0", "--offset", "1"]),
        "b\nnull\n"
    );
    assert_eq!(
        consume(&silt, &["--partition", "0", "--offset", "earliest"]),
        "a\nb\nnull\n"
    );
    assert_eq!(
        consume(&silt, &["--partition", "0", "--offset", "latest"]),
        ""
    );
}

#[test]
fn max_messages_stops_after_n_records() {
    let silt = seeded();
    let out = silt.ok(&["consume", "t", "--from-beginning", "--max-messages", "2"]);
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn a_group_resumes_from_what_it_printed() {
    let silt = Silt::new();
    let records: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let seeds: Vec<Seed<'_>> = records.iter().map(|v| Seed::new(0, "k", v)).collect();
    silt.seed("t", 1, &seeds);

    // Only the three printed records are committed, not the rest of the poll.
    let out = silt.ok(&[
        "consume",
        "t",
        "--group",
        "g",
        "--from-beginning",
        "--max-messages",
        "3",
    ]);
    assert_eq!(out, "v0\nv1\nv2\n");
    let described = table(&silt.ok(&["groups", "describe", "g"]));
    assert_eq!(described[1][..5], ["t", "0", "3", "10", "7"]);

    // The group's committed offset wins over --from-beginning.
    let out = consume(&silt, &["--group", "g", "--from-beginning"]);
    assert_eq!(out, "v3\nv4\nv5\nv6\nv7\nv8\nv9\n");
    let described = table(&silt.ok(&["groups", "describe", "g"]));
    assert_eq!(described[1][..5], ["t", "0", "10", "10", "0"]);
    assert_eq!(consume(&silt, &["--group", "g"]), "");
}

#[test]
fn a_new_group_without_from_beginning_commits_the_end() {
    let silt = seeded();
    assert_eq!(consume(&silt, &["--group", "late"]), "");
    // Nothing printed, but the positions (the log ends) are committed, as Kafka does.
    let described = table(&silt.ok(&["groups", "describe", "late"]));
    assert_eq!(described[1][..5], ["t", "0", "3", "3", "0"]);
    assert_eq!(described[2][..5], ["t", "1", "1", "1", "0"]);
}

#[test]
fn sigterm_and_sigint_exit_cleanly_and_commit() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let silt = seeded();
        let mut child = silt
            .command(&["consume", "t", "--group", "g", "--from-beginning"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Lines::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        while seen.len() < 4 {
            seen.push(lines.next().unwrap());
        }
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0);
        let status = wait_for_exit(&mut child, CHILD_DEADLINE);
        assert!(status.success(), "signal {signal}: {status}");
        let described = table(&silt.ok(&["groups", "describe", "g"]));
        assert_eq!(
            described[1][..5],
            ["t", "0", "3", "3", "0"],
            "signal {signal}"
        );
        assert_eq!(
            described[2][..5],
            ["t", "1", "1", "1", "0"],
            "signal {signal}"
        );
    }
}

#[test]
fn inconsistent_flags_are_usage_errors() {
    let silt = seeded();
    let line = silt.fails(&["consume", "t", "--offset", "1"], 2);
    assert!(line.contains("--partition"), "{line}");
    silt.fails(
        &[
            "consume",
            "t",
            "--partition",
            "0",
            "--offset",
            "1",
            "--from-beginning",
        ],
        2,
    );
    silt.fails(&["consume", "t", "--json", "--print-key"], 2);
    silt.fails(&["consume", "t", "--partition", "0", "--offset", "-3"], 2);
    let line = silt.fails(
        &["consume", "t", "--partition", "9", "--timeout-ms", "10"],
        1,
    );
    assert!(line.contains("has no partition 9"), "{line}");
    let line = silt.fails(&["consume", "nope", "--timeout-ms", "10"], 1);
    assert!(line.contains("unknown topic \"nope\""), "{line}");
}
