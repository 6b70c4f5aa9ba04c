//! `silt dump-log`: Kafka's `kafka-dump-log` output for the shared Kafka vectors, JSON that
//! agrees with what the vectors say they hold, and a non-zero exit naming the file and
//! position for anything that is not a valid batch, after printing what is valid.

mod tools_support;

use std::path::Path;

use serde_json::Value;
use tools_support::{batch_positions, healthy_dir, segments, silt_anywhere, vector, vector_json};

const VALID: &[&str] = &[
    "simple",
    "headers",
    "idempotent",
    "transactional",
    "null_key_value",
    "negative_timestamp_delta",
    "large_value",
    "compressed_gzip",
    "compressed_lz4",
    "compressed_zstd",
    "segment_00000000000000000000",
];

fn dump(args: &[&str], files: &[&Path]) -> tools_support::Run {
    let mut all: Vec<&str> = vec!["dump-log"];
    all.extend_from_slice(args);
    all.extend(files.iter().map(|f| f.to_str().unwrap()));
    silt_anywhere(&all)
}

fn hex_text(hex: &Value) -> Value {
    match hex.as_str() {
        None => Value::Null,
        Some(h) => {
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect();
            Value::from(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

#[test]
fn kafka_text_for_a_batch_and_its_records() {
    let run = dump(&["--print-data-log"], &[&vector("simple.bin")]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "Dumping {}\n\
         baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 \
         producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false \
         deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1700000000002 size: 89 \
         magic: 2 compresscodec: none crc: 2625045323 isvalid: true\n\
         | offset: 0 CreateTime: 1700000000001 keySize: 2 valueSize: 5 sequence: -1 headerKeys: [] key: k1 payload: hello\n\
         | offset: 1 CreateTime: 1700000000002 keySize: 2 valueSize: 5 sequence: -1 headerKeys: [] key: k2 payload: world\n",
        vector("simple.bin").display()
    );
    assert_eq!(run.stdout, expected);
    assert_eq!(run.stderr, "");
}

#[test]
fn without_flags_only_batches_are_printed_and_deep_iteration_adds_metadata() {
    let run = dump(&[], &[&vector("headers.bin")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    let deep = dump(&["--deep-iteration"], &[&vector("headers.bin")]);
    let records: Vec<&str> = deep
        .stdout
        .lines()
        .filter(|l| l.starts_with("| "))
        .collect();
    assert_eq!(records.len(), 20);
    assert!(
        records[0].contains("headerKeys: [trace-id,empty,unicode-é]"),
        "{}",
        records[0]
    );
    assert!(!records[0].contains("payload:"), "{}", records[0]);
}

#[test]
fn idempotent_batches_show_their_producer_and_sequences() {
    let run = dump(&["--deep-iteration"], &[&vector("idempotent.bin")]);
    assert_eq!(run.code, 0, "{run:?}");
    let batch = run.stdout.lines().nth(1).unwrap();
    assert!(
        batch.contains("baseSequence: 17 lastSequence: 26 producerId: 4242 producerEpoch: 3"),
        "{batch}"
    );
    let last = run.stdout.lines().last().unwrap();
    assert!(
        last.starts_with("| offset: 1010 ") && last.contains("sequence: 26"),
        "{last}"
    );
}

#[test]
fn json_agrees_with_every_valid_vector() {
    for name in VALID {
        let run = dump(
            &["--json", "--print-data-log"],
            &[&vector(&format!("{name}.bin"))],
        );
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert_eq!(run.stdout.lines().count(), 1, "{name}: one object per file");
        let got: Value = serde_json::from_str(&run.stdout).unwrap();
        let want = vector_json(name);
        assert_eq!(got["type"], "log");
        assert_eq!(got["trailing_bytes"], 0, "{name}");
        assert_eq!(got["problems"], Value::Array(vec![]), "{name}");
        let (got, want) = (
            got["batches"].as_array().unwrap(),
            want["batches"].as_array().unwrap(),
        );
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(want) {
            for (ours, theirs) in [
                ("position", "position"),
                ("size", "size"),
                ("base_offset", "base_offset"),
                ("last_offset", "last_offset"),
                ("crc", "crc"),
                ("attributes", "attributes"),
                ("compression", "compression"),
                ("is_transactional", "is_transactional"),
                ("base_timestamp", "first_timestamp"),
                ("max_timestamp", "max_timestamp"),
                ("producer_id", "producer_id"),
                ("producer_epoch", "producer_epoch"),
                ("base_sequence", "base_sequence"),
                ("count", "records_count"),
            ] {
                assert_eq!(
                    g[ours], w[theirs],
                    "{name}: {ours} of batch at {}",
                    w["position"]
                );
            }
            assert_eq!(g["is_valid"], true);
            assert_eq!(g["timestamp_type"], "CreateTime");
            let (gr, wr) = (
                g["records"].as_array().unwrap(),
                w["records"].as_array().unwrap(),
            );
            assert_eq!(gr.len(), wr.len(), "{name}");
            for (r, e) in gr.iter().zip(wr) {
                assert_eq!(r["offset"], e["offset"], "{name}");
                assert_eq!(r["timestamp"], e["timestamp"], "{name}");
                assert_eq!(r["key"], hex_text(&e["key"]), "{name} at {}", e["offset"]);
                assert_eq!(
                    r["payload"],
                    hex_text(&e["value"]),
                    "{name} at {}",
                    e["offset"]
                );
                let keys: Vec<&Value> = e["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| &h[0])
                    .collect();
                let got_keys: Vec<&Value> = r["header_keys"].as_array().unwrap().iter().collect();
                assert_eq!(got_keys, keys, "{name}");
            }
        }
    }
}

#[test]
fn each_bad_vector_fails_naming_its_file_and_position() {
    for (name, what) in [
        ("bad_crc.bin", "checksum mismatch"),
        ("bad_truncated.bin", "incomplete batch at position 0"),
        ("bad_magic.bin", "magic byte 1"),
        ("bad_length.bin", "position 0"),
    ] {
        let path = vector(name);
        let run = dump(&[], &[&path]);
        let line = run.one_error_line();
        assert!(line.contains(&path.display().to_string()), "{name}: {line}");
        assert!(
            line.contains(what) && line.contains("position 0"),
            "{name}: {line}"
        );
    }
    // A batch failing its CRC is still printed, as invalid.
    let run = dump(&[], &[&vector("bad_crc.bin")]);
    assert!(run.stdout.contains("isvalid: false"), "{}", run.stdout);
}

#[test]
fn valid_batches_before_garbage_are_printed_and_the_position_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(vector("segment_00000000000000000000.bin")).unwrap();
    let valid = bytes.len();
    bytes.extend_from_slice(&std::fs::read(vector("bad_truncated.bin")).unwrap());
    let path = dir.path().join("00000000000000000000.log");
    std::fs::write(&path, &bytes).unwrap();

    let run = dump(&[], &[&path]);
    let line = run.one_error_line();
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains(&format!("position {valid}")), "{line}");
    let batches = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("baseOffset: "))
        .count();
    assert_eq!(batches, 40, "{}", run.stdout);
    assert!(run.stdout.contains("Log starting offset: 0"));
    assert!(run.stdout.contains(&format!(
        "Found {} invalid bytes at the end of 00000000000000000000.log",
        bytes.len() - valid
    )));

    let json = dump(&["--json"], &[&path]);
    assert_ne!(json.code, 0);
    let object: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(object["batches"].as_array().unwrap().len(), 40);
    assert_eq!(object["valid_bytes"], valid);
    assert_eq!(object["log_start_offset"], 0);
    assert!(object["problems"][0]
        .as_str()
        .unwrap()
        .contains(&format!("position {valid}")));
}

#[test]
fn a_corrupt_batch_in_the_middle_is_reported_and_the_rest_still_dumped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(vector("segment_00000000000000000000.bin")).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let positions = batch_positions(&path);
    let bad = positions[7];
    bytes[bad as usize + 70] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let run = dump(&["--json"], &[&path]);
    let line = run.one_error_line();
    assert!(
        line.contains(&format!("checksum mismatch in batch at position {bad}")),
        "{line}"
    );
    let object: Value = serde_json::from_str(&run.stdout).unwrap();
    let batches = object["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 40);
    let invalid: Vec<u64> = batches
        .iter()
        .filter(|b| b["is_valid"] == false)
        .map(|b| b["position"].as_u64().unwrap())
        .collect();
    assert_eq!(invalid, vec![bad]);
}

#[test]
fn several_files_are_all_dumped_and_any_bad_one_fails_the_run() {
    let good = vector("simple.bin");
    let bad = vector("bad_magic.bin");
    let run = dump(&["--json"], &[&good, &bad, &vector("headers.bin")]);
    let line = run.one_error_line();
    assert!(line.contains("bad_magic.bin"), "{line}");
    let objects: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[2]["batches"][0]["count"], 20);

    let both = dump(&[], &[&vector("bad_crc.bin"), &bad]);
    let line = both.one_error_line();
    assert!(
        line.contains("bad_crc.bin") && line.contains("1 more"),
        "{line}"
    );
}

#[test]
fn index_files_print_their_entries_checked_against_the_log() {
    let dir = healthy_dir(2000);
    let logs = segments(&dir.path().join("events-0"));
    let log = &logs[0];
    let index = log.with_extension("index");
    let time_index = log.with_extension("timeindex");
    let run = dump(&[], &[&index, &time_index]);
    assert_eq!(run.code, 0, "{run:?}");
    let offsets: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("offset: "))
        .collect();
    let times: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("timestamp: "))
        .collect();
    assert!(!offsets.is_empty() && !times.is_empty(), "{}", run.stdout);
    let positions = batch_positions(log);
    for line in &offsets {
        let position: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(positions.contains(&position), "{line}");
    }

    let json = dump(&["--json"], &[&index]);
    let object: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(object["type"], "offset_index");
    assert_eq!(object["checked_against_log"], true);
    assert_eq!(object["entries"].as_array().unwrap().len(), offsets.len());

    // An entry pointing inside a batch fails, naming the index file and the entry's byte.
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[7] ^= 0x01;
    std::fs::write(&index, &bytes).unwrap();
    let bad = dump(&["--verify-index-only"], &[&index]);
    let line = bad.one_error_line();
    assert!(
        line.contains(&index.display().to_string()) && line.contains("at byte 0"),
        "{line}"
    );
    assert!(!bad.stdout.contains("offset: "), "{}", bad.stdout);
}

#[test]
fn bad_arguments_and_missing_files_give_one_line() {
    let run = silt_anywhere(&["dump-log"]);
    assert_eq!(run.code, 2, "{run:?}");
    run.one_error_line();
    let missing = dump(&[], &[Path::new("/nonexistent/00000000000000000000.log")]);
    let line = missing.one_error_line();
    assert!(
        line.contains("/nonexistent/00000000000000000000.log"),
        "{line}"
    );
    let run = silt_anywhere(&["dump-log", "--bogus", "x.log"]);
    assert_eq!(run.code, 2);
    run.one_error_line();
}
