//! The codec agrees with Kafka RecordBatch vectors from an independent encoder
//! (`shared/testdata/kafka/`): decoding, re-encoding, bad inputs, and murmur2.

use std::path::PathBuf;

use serde_json::Value;
use silt_segment::batch::{
    Batch, BatchBuilder, BatchConfig, Batches, Compression, DecompressBuffer, RecordHeader,
    TimestampType,
};
use silt_segment::murmur2::{murmur2, partition_for_key};
use silt_segment::SegmentError;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/kafka")
}

fn read(name: &str) -> Vec<u8> {
    let path = vectors_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&read(&format!("{name}.json"))).unwrap()
}

fn hex(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    })
}

const DECODABLE: &[&str] = &[
    "simple",
    "null_key_value",
    "headers",
    "negative_timestamp_delta",
    "idempotent",
    "transactional",
    "large_value",
    "compressed_gzip",
    "compressed_lz4",
    "compressed_zstd",
    "segment_00000000000000000000",
];

/// Decodes every batch of `name.bin` and compares it field by field with `name.json`.
fn check_vector(name: &str) {
    let bytes = read(&format!("{name}.bin"));
    let expected = json(name);
    let expected = expected["batches"].as_array().unwrap();
    let mut buffer = DecompressBuffer::new();
    let batches: Vec<Batch<'_>> = Batches::new(&bytes, 0).collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), expected.len(), "{name}: batch count");
    for (batch, want) in batches.iter().zip(expected) {
        batch.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let h = batch.header();
        assert_eq!(
            batch.position(),
            want["position"].as_u64().unwrap(),
            "{name} position"
        );
        assert_eq!(
            batch.size() as u64,
            want["size"].as_u64().unwrap(),
            "{name} size"
        );
        assert_eq!(h.base_offset, want["base_offset"].as_i64().unwrap());
        assert_eq!(h.last_offset(), want["last_offset"].as_i64().unwrap());
        assert_eq!(h.crc as u64, want["crc"].as_u64().unwrap());
        assert_eq!(h.attributes.0 as i64, want["attributes"].as_i64().unwrap());
        assert_eq!(
            h.attributes.compression().name(),
            want["compression"].as_str().unwrap()
        );
        let ts_type = match h.attributes.timestamp_type() {
            TimestampType::CreateTime => 0,
            TimestampType::LogAppendTime => 1,
        };
        assert_eq!(ts_type, want["timestamp_type"].as_i64().unwrap());
        assert_eq!(
            h.attributes.is_transactional(),
            want["is_transactional"].as_bool().unwrap()
        );
        assert_eq!(h.base_timestamp, want["first_timestamp"].as_i64().unwrap());
        assert_eq!(h.max_timestamp, want["max_timestamp"].as_i64().unwrap());
        assert_eq!(h.producer_id, want["producer_id"].as_i64().unwrap());
        assert_eq!(
            h.producer_epoch as i64,
            want["producer_epoch"].as_i64().unwrap()
        );
        assert_eq!(
            h.base_sequence as i64,
            want["base_sequence"].as_i64().unwrap()
        );
        assert_eq!(
            h.records_count as i64,
            want["records_count"].as_i64().unwrap()
        );

        let records: Vec<_> = batch
            .records(&mut buffer)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_records = want["records"].as_array().unwrap();
        assert_eq!(records.len(), want_records.len(), "{name}: records");
        for (r, w) in records.iter().zip(want_records) {
            assert_eq!(r.offset, w["offset"].as_i64().unwrap());
            assert_eq!(r.timestamp, w["timestamp"].as_i64().unwrap());
            assert_eq!(
                r.key.map(<[u8]>::to_vec),
                hex(&w["key"]),
                "{name} key at {}",
                r.offset
            );
            assert_eq!(
                r.value.map(<[u8]>::to_vec),
                hex(&w["value"]),
                "{name} value at {}",
                r.offset
            );
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = r
                .headers
                .iter()
                .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                .collect();
            let want_headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = w["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| (pair[0].as_str().unwrap().as_bytes().to_vec(), hex(&pair[1])))
                .collect();
            assert_eq!(headers, want_headers, "{name} headers at {}", r.offset);
        }
    }
}

#[test]
fn every_vector_decodes_to_its_json() {
    for name in DECODABLE {
        check_vector(name);
    }
}

/// Re-encoding the records of each uncompressed batch with the same settings gives the
/// same bytes; for compressed batches, the same records after a decode of our own encoding.
#[test]
fn re_encoding_gives_the_same_bytes() {
    let mut buffer = DecompressBuffer::new();
    for name in DECODABLE {
        let bytes = read(&format!("{name}.bin"));
        for batch in Batches::new(&bytes, 0) {
            let batch = batch.unwrap();
            let h = batch.header();
            let config = BatchConfig {
                base_offset: h.base_offset,
                partition_leader_epoch: h.partition_leader_epoch,
                compression: h.attributes.compression(),
                zstd_level: 3,
                timestamp_type: h.attributes.timestamp_type(),
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                base_sequence: h.base_sequence,
                transactional: h.attributes.is_transactional(),
                control: h.attributes.is_control(),
            };
            let mut builder = BatchBuilder::new(config);
            let records: Vec<_> = batch
                .records(&mut buffer)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for r in &records {
                let keys: Vec<String> = r
                    .headers
                    .iter()
                    .map(|h| String::from_utf8(h.key.to_vec()).unwrap())
                    .collect();
                let headers: Vec<RecordHeader<'_>> = r
                    .headers
                    .iter()
                    .zip(&keys)
                    .map(|(h, k)| RecordHeader {
                        key: k,
                        value: h.value,
                    })
                    .collect();
                builder
                    .append(r.timestamp, r.key, r.value, &headers)
                    .unwrap();
            }
            let encoded = builder.finish().unwrap();
            if h.attributes.compression() == Compression::None {
                assert_eq!(
                    encoded,
                    batch.as_bytes(),
                    "{name}: batch at {} re-encodes differently",
                    batch.position()
                );
            } else {
                let ours = Batch::parse(&encoded, 0).unwrap();
                ours.validate().unwrap();
                let mut buffer2 = DecompressBuffer::new();
                let again: Vec<_> = ours
                    .records(&mut buffer2)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                assert_eq!(again, records, "{name}: compressed re-encode");
            }
        }
    }
}

#[test]
fn bad_crc_is_a_checksum_mismatch() {
    let bytes = read("bad_crc.bin");
    let batch = Batch::parse(&bytes, 0).unwrap();
    assert!(matches!(
        batch.validate(),
        Err(SegmentError::CrcMismatch { position: 0, .. })
    ));
}

#[test]
fn bad_truncated_is_incomplete() {
    let bytes = read("bad_truncated.bin");
    let err = Batch::parse(&bytes, 0).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::Incomplete {
                position: 0,
                available: 4123,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("torn tail"));
}

#[test]
fn bad_magic_is_unsupported_format() {
    let bytes = read("bad_magic.bin");
    let err = Batch::parse(&bytes, 0).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::UnsupportedMagic {
                position: 0,
                magic: 1
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("unsupported format"));
}

#[test]
fn bad_length_is_rejected_without_allocating() {
    let bytes = read("bad_length.bin");
    // The length field promises ~2 GiB; with a sane bound it is invalid, and unbounded it is
    // incomplete. Neither allocates: the view only borrows.
    let err = Batch::parse_bounded(&bytes, 0, 1 << 20).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::InvalidLength {
                length: 0x7fff_fff0,
                ..
            }
        ),
        "{err}"
    );
    let err = Batch::parse(&bytes, 0).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::Incomplete {
                needed: 0x7fff_fffc,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn murmur2_matches_the_java_client() {
    let tsv = String::from_utf8(read("murmur2.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header[1], "murmur2");
    let counts: Vec<u32> = header[2..]
        .iter()
        .map(|p| p.trim_start_matches('p').parse().unwrap())
        .collect();
    let mut checked = 0;
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        let key = hex(&Value::String(cols[0].to_string())).unwrap();
        assert_eq!(
            murmur2(&key),
            cols[1].parse::<i32>().unwrap(),
            "murmur2 of {}",
            cols[0]
        );
        for (n, want) in counts.iter().zip(&cols[2..]) {
            assert_eq!(
                partition_for_key(&key, *n),
                want.parse::<u32>().unwrap(),
                "key {} over {n}",
                cols[0]
            );
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} keys");
}
