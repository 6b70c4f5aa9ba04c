//! `silt produce`: one record per stdin line, keys, headers, partitions, acks, compression
//! and `--print-offsets` in input order.

mod cli_support;

use std::io::Write;
use std::process::Stdio;

use cli_support::{assert_fails, wait_with_output, Lines, Silt};
use silt::batch::{Compression, DecompressBuffer};
use silt::murmur2::partition_for_key;

/// Every record of `topic`-`partition`: (key, value, headers).
type Stored = Vec<(
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>)>,
)>;

fn read_partition(silt: &Silt, topic: &str, partition: u32) -> (Stored, Vec<Compression>) {
    let engine = silt.engine();
    let fetch = engine.fetch(topic, partition, 0, 64 << 20).unwrap();
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
    let mut records = Vec::new();
    let mut codecs = Vec::new();
    for batch in fetch.batches() {
        codecs.push(batch.unwrap().compression());
    }
    let mut buffer = DecompressBuffer::new();
    fetch
        .for_each_record(&mut buffer, |r| {
            let headers = r
                .headers
                .iter()
                .map(|h| (String::from_utf8(h.key.to_vec()).unwrap(), text(h.value)))
                .collect();
            records.push((text(r.key), text(r.value), headers));
        })
        .unwrap();
    drop(fetch);
    engine.close().unwrap();
    (records, codecs)
}

#[test]
fn lines_become_records_with_keys_and_headers() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    let out = silt.ok_with_input(
        &[
            "produce",
            "t",
            "--key-separator",
            "::",
            "--header",
            "source=cli",
            "--header",
            "v=2",
        ],
        b"k1::v1\nno separator\n::empty key\nk2::a::b\r\n\nlast::no newline",
    );
    assert_eq!(out, "");
    let (records, _) = read_partition(&silt, "t", 0);
    let headers = vec![
        ("source".to_string(), Some("cli".to_string())),
        ("v".to_string(), Some("2".to_string())),
    ];
    let expected: Stored = [
        (Some("k1"), "v1"),
        (None, "no separator"),
        (Some(""), "empty key"),
        (Some("k2"), "a::b"),
        (None, ""),
        (Some("last"), "no newline"),
    ]
    .into_iter()
    .map(|(k, v)| (k.map(str::to_string), Some(v.to_string()), headers.clone()))
    .collect();
    assert_eq!(records, expected);
}

#[test]
fn print_offsets_follows_input_order_across_partitions() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "4"]);
    let keys: Vec<String> = (0..200).map(|i| format!("key-{}", i % 13)).collect();
    let input: String = keys.iter().map(|k| format!("{k}\tvalue\n")).collect();
    let out = silt.ok_with_input(
        &["produce", "t", "--key-separator", "\t", "--print-offsets"],
        input.as_bytes(),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), keys.len());
    let mut next = [0i64; 4];
    for (key, line) in keys.iter().zip(&lines) {
        // Line i is record i: its partition is its key's, its offset the next in it.
        let partition = partition_for_key(key.as_bytes(), 4);
        let (tp, offset) = line.split_once('@').unwrap();
        assert_eq!(tp, format!("t-{partition}"));
        assert_eq!(offset.parse::<i64>().unwrap(), next[partition as usize]);
        next[partition as usize] += 1;
    }
}

#[test]
fn partition_flag_sends_everything_there() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "3"]);
    let out = silt.ok_with_input(
        &[
            "produce",
            "t",
            "--partition",
            "2",
            "--print-offsets",
            "--acks",
            "1",
        ],
        b"a\nb\nc\n",
    );
    assert_eq!(out, "t-2@0\nt-2@1\nt-2@2\n");
    let line = silt.fails(&["produce", "t", "--partition", "3"], 1);
    assert!(line.contains("has no partition 3"), "{line}");
}

#[test]
fn acks_zero_prints_minus_one() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    let out = silt.ok_with_input(
        &["produce", "t", "--acks", "0", "--print-offsets"],
        b"a\nb\n",
    );
    assert_eq!(out, "t-0@-1\nt-0@-1\n");
    let (records, _) = read_partition(&silt, "t", 0);
    assert_eq!(records.len(), 2);
}

#[test]
fn compression_applies_to_the_stored_batches() {
    for (name, codec) in [
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
        ("none", Compression::None),
    ] {
        let silt = Silt::new();
        silt.ok(&["topics", "create", "t", "--partitions", "1"]);
        let input: String = (0..100).map(|i| format!("record number {i}\n")).collect();
        silt.ok_with_input(&["produce", "t", "--compression", name], input.as_bytes());
        let (records, codecs) = read_partition(&silt, "t", 0);
        assert_eq!(records.len(), 100, "{name}");
        assert_eq!(records[99].1.as_deref(), Some("record number 99"));
        assert!(codecs.iter().all(|c| *c == codec), "{name}: {codecs:?}");
    }
}

#[test]
fn each_offset_is_printed_as_soon_as_it_is_acknowledged() {
    // stdin stays open: the offset of the first line must come out before the second line
    // is even written, so it cannot be waiting for the end of input or a full buffer.
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    let mut child = silt
        .command(&["produce", "t", "--print-offsets"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = Lines::new(child.stdout.take().unwrap());
    for i in 0..3 {
        writeln!(stdin, "line {i}").unwrap();
        stdin.flush().unwrap();
        assert_eq!(lines.next().as_deref(), Some(format!("t-0@{i}").as_str()));
    }
    drop(stdin);
    assert_eq!(lines.next(), None);
    let output = wait_with_output(child);
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn exits_non_zero_when_a_record_is_not_acknowledged() {
    let silt = Silt::new();
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    // The middle record is larger than max.request.size (1 MiB): refused, the others sent.
    let mut input = b"first\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 2 << 20));
    input.extend(b"\nlast\n");
    let output = silt.run_with_input(&["produce", "t", "--print-offsets"], &input);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "t-0@0\nt-0@1\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("silt: the record of line 2 was not acknowledged"),
        "{stderr}"
    );
    assert_eq!(lines[1], "silt: 1 of 3 records were not acknowledged");
    let (records, _) = read_partition(&silt, "t", 0);
    assert_eq!(records.len(), 2);
}

#[test]
fn unknown_topic_and_bad_flags_are_refused() {
    let silt = Silt::new();
    let output = silt.run_with_input(&["produce", "missing"], b"a\n");
    let line = assert_fails(&output, 1, "produce to a missing topic");
    assert!(line.contains("unknown topic \"missing\""), "{line}");
    silt.ok(&["topics", "create", "t", "--partitions", "1"]);
    silt.fails(&["produce", "t", "--acks", "2"], 2);
    silt.fails(&["produce", "t", "--compression", "snappy"], 2);
    silt.fails(&["produce", "t", "--header", "novalue"], 2);
    silt.fails(&["produce", "t", "--key-separator", ""], 2);
}
