//! `silt demo`: produces, consumes with a group of three through a rebalance, and leaves
//! the topic and the group's offsets behind; it can run again on the same directory.

mod cli_support;

use cli_support::{table, Silt};

const RECORDS: u64 = 20_000;

#[test]
fn demo_runs_twice_and_leaves_a_fully_read_group() {
    let silt = Silt::new();
    for run in 0..2 {
        let out = silt.ok(&["demo", "--records", &RECORDS.to_string()]);
        for expected in [
            "1. A topic of 8 partitions",
            "2. Produce",
            "Produced 20,000 records",
            "3. Consume with a group of 3",
            "Assignment before the rebalance:",
            "consumer-3 committed its offsets and closed",
            "Assignment after the rebalance:",
            "Consumed 20,000 records",
            "Each record was read exactly once",
            "4. The group's offsets",
        ] {
            assert!(
                out.contains(expected),
                "run {run}: no {expected:?} in\n{out}"
            );
        }
        assert_eq!(
            out.contains("the previous run's topic and group were deleted first"),
            run == 1,
            "{out}"
        );
        // Before: three members share the 8 partitions; after: two do, without consumer-3.
        let before = section(&out, "Assignment before the rebalance:");
        assert_eq!(owned(&before), 8, "{before:?}");
        assert_eq!(before.len(), 3, "{before:?}");
        let after = section(&out, "Assignment after the rebalance:");
        assert_eq!(owned(&after), 8, "{after:?}");
        assert_eq!(after.len(), 2, "{after:?}");
        assert!(after.iter().all(|row| row[0] != "consumer-3"), "{after:?}");
    }

    // What the demo left behind is what the other commands see.
    let lag = table(&silt.ok(&["groups", "describe", "demo-readers"]));
    assert_eq!(lag.len(), 9, "{lag:?}");
    let mut committed = 0;
    for row in &lag[1..] {
        assert_eq!(row[0], "demo");
        assert_eq!(row[2], row[3], "{row:?}");
        assert_eq!(row[4], "0", "{row:?}");
        committed += row[2].parse::<u64>().unwrap();
    }
    assert_eq!(committed, RECORDS);
    let described = silt.ok(&["topics", "describe", "demo"]);
    assert!(
        described.starts_with("Topic: demo\tPartitionCount: 8\t"),
        "{described}"
    );
}

/// The assignment table after `title`: rows of (consumer, member id, partitions...).
fn section(out: &str, title: &str) -> Vec<Vec<String>> {
    out.split(title)
        .nth(1)
        .unwrap()
        .lines()
        .skip(2) // the rest of the title line, the table's header
        .take_while(|l| l.starts_with("     consumer-"))
        .map(|l| {
            l.split([' ', ','])
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// Partitions owned in an assignment table, all members together.
fn owned(rows: &[Vec<String>]) -> usize {
    rows.iter().map(|row| row.len() - 2).sum()
}

#[test]
fn demo_refuses_too_few_records() {
    let silt = Silt::new();
    silt.fails(&["demo", "--records", "1"], 2);
}
