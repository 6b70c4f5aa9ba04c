//! `silt perf produce` and `silt perf consume`: small runs give one JSON object with sane
//! numbers, Kafka's summary lines, and consume reads what produce wrote.

mod tools_support;

use serde_json::Value;
use tools_support::{silt, Run};

fn json_of(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "exactly one object: {}",
        run.stdout
    );
    serde_json::from_str(run.stdout.trim()).unwrap()
}

fn number(object: &Value, key: &str) -> f64 {
    object[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {object}"))
}

fn produce(dir: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "perf",
        "produce",
        "--topic",
        "perf",
        "--num-records",
        "20000",
        "--record-size",
        "100",
    ];
    args.extend_from_slice(extra);
    silt(dir, &args)
}

#[test]
fn produce_json_has_sane_numbers_and_consume_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let object = json_of(&produce(dir.path(), &["--partitions", "4", "--json"]));
    assert_eq!(object["records"], 20000);
    assert!(number(&object, "records_per_sec") > 0.0, "{object}");
    let mb = number(&object, "mb_per_sec");
    let expected_mb = number(&object, "records_per_sec") * 100.0 / (1024.0 * 1024.0);
    assert!((mb - expected_mb).abs() < expected_mb * 1e-6, "{object}");
    let latency = &object["latency_ms"];
    let l = |k: &str| number(latency, k);
    assert!(
        l("p50") <= l("p95") && l("p95") <= l("p99") && l("p99") <= l("p999"),
        "{latency}"
    );
    assert!(
        l("p999") <= l("max") * 1.001 && l("avg") <= l("max") && l("avg") > 0.0,
        "{latency}"
    );

    let consumed = json_of(&silt(
        dir.path(),
        &[
            "perf",
            "consume",
            "--topic",
            "perf",
            "--messages",
            "20000",
            "--json",
        ],
    ));
    assert_eq!(consumed["records"], 20000);
    assert_eq!(consumed["latency_ms"], Value::Null);
    assert!(number(&consumed, "records_per_sec") > 0.0);
    let mb = number(&consumed, "mb");
    assert!(
        (mb - 20000.0 * 100.0 / (1024.0 * 1024.0)).abs() < 1e-9,
        "{consumed}"
    );

    // The topic was created with 4 partitions, and what was written verifies.
    assert!(dir.path().join("perf-3").is_dir() && !dir.path().join("perf-4").exists());
    let verify = silt(dir.path(), &["verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify.stdout.contains("no problems found"),
        "{}",
        verify.stdout
    );
}

#[test]
fn kafka_summary_lines() {
    let dir = tempfile::tempdir().unwrap();
    let run = produce(dir.path(), &["--acks", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = run.stdout.trim();
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[..3], ["20000", "records", "sent,"], "{line}");
    assert!(
        words[3].parse::<f64>().is_ok() && words[4] == "records/sec",
        "{line}"
    );
    for part in [
        "MB/sec),",
        "ms avg latency,",
        "ms max latency,",
        "ms 50th,",
        "ms 95th,",
        "ms 99th,",
        "ms 99.9th.",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(line.ends_with("ms 99.9th."), "{line}");

    let run = silt(
        dir.path(),
        &["perf", "consume", "--topic", "perf", "--messages", "20000"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
         rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    let fields: Vec<&str> = lines[1].split(", ").collect();
    assert_eq!(fields.len(), 10, "{}", lines[1]);
    assert_eq!(fields[4], "20000");
    assert_eq!(
        fields[0].len(),
        "2024-01-01 00:00:00:000".len(),
        "{}",
        fields[0]
    );
}

#[test]
fn producer_threads_codecs_and_acks() {
    let dir = tempfile::tempdir().unwrap();
    for (acks, codec) in [("0", "none"), ("1", "lz4"), ("all", "zstd")] {
        let object = json_of(&produce(
            dir.path(),
            &[
                "--producers",
                "3",
                "--acks",
                acks,
                "--compression",
                codec,
                "--batch-size",
                "8192",
                "--linger-ms",
                "1",
                "--json",
            ],
        ));
        assert_eq!(object["records"], 20000, "{acks} {codec}: {object}");
        assert_eq!(object["failed"], 0);
    }
    let consumed = json_of(&silt(
        dir.path(),
        &[
            "perf",
            "consume",
            "--topic",
            "perf",
            "--messages",
            "60000",
            "--consumers",
            "2",
            "--group",
            "g",
            "--json",
        ],
    ));
    assert!(consumed["records"].as_u64().unwrap() >= 60000, "{consumed}");
    assert_eq!(consumed["group"], "g");
}

#[test]
fn throughput_caps_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let run = silt(
        dir.path(),
        &[
            "perf",
            "produce",
            "--topic",
            "slow",
            "--num-records",
            "2000",
            "--record-size",
            "10",
            "--throughput",
            "10000",
            "--acks",
            "1",
            "--json",
        ],
    );
    let object = json_of(&run);
    // 2000 records at 10000/s cannot finish before 0.2 s, whatever the machine.
    assert!(number(&object, "elapsed_ms") >= 199.0, "{object}");
    assert!(number(&object, "records_per_sec") <= 10_100.0, "{object}");
}

#[test]
fn consume_of_more_than_there_is_times_out_with_its_results() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(produce(dir.path(), &["--acks", "1"]).code, 0);
    let run = silt(
        dir.path(),
        &[
            "perf",
            "consume",
            "--topic",
            "perf",
            "--messages",
            "30000",
            "--timeout",
            "2000",
            "--json",
        ],
    );
    let line = run.one_error_line();
    assert!(line.contains("consumed 20000 of 30000"), "{line}");
    let object: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(object["records"], 20000);
}

#[test]
fn bad_arguments_give_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[
            "perf",
            "produce",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--acks",
            "2",
        ][..],
        &[
            "perf",
            "produce",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--compression",
            "snappy",
        ],
        &[
            "perf",
            "produce",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--producers",
            "0",
        ],
        &["perf", "produce", "--topic", "t", "--record-size", "10"],
        &[
            "perf",
            "produce",
            "--topic",
            "bad/name",
            "--num-records",
            "10",
            "--record-size",
            "10",
        ],
        &["perf", "consume", "--topic", "missing", "--messages", "10"],
        &[
            "perf",
            "consume",
            "--topic",
            "t",
            "--messages",
            "10",
            "--consumer-prop",
            "nonsense",
        ],
    ] {
        let run = silt(dir.path(), args);
        let line = run.one_error_line();
        assert!(!line.is_empty(), "{args:?}");
    }
}
