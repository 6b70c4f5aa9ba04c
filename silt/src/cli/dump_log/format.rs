//! One batch and one record, as Kafka's `DumpLogSegments` prints them and as JSON.

use std::io::{self, Write};

use serde_json::{json, Value};
use silt::batch::{Batch, BatchHeader, Record, TimestampType, MAGIC_V2};

/// Kafka's `RecordBatch.NO_SEQUENCE`.
const NO_SEQUENCE: i32 = -1;

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// The batch's last sequence (Kafka's `lastSequence`).
pub(crate) fn last_sequence(header: &BatchHeader) -> i32 {
    if header.base_sequence == NO_SEQUENCE {
        NO_SEQUENCE
    } else {
        increment_sequence(header.base_sequence, header.last_offset_delta.max(0))
    }
}

/// A record's sequence (Kafka's `DefaultRecord.sequence`).
fn record_sequence(header: &BatchHeader, offset: i64) -> i32 {
    if header.base_sequence < 0 {
        return NO_SEQUENCE;
    }
    let delta = i32::try_from(offset - header.base_offset).unwrap_or(i32::MAX);
    increment_sequence(header.base_sequence, delta)
}

/// Kafka's name of a timestamp type, as printed before a timestamp.
pub(crate) fn timestamp_type(header: &BatchHeader) -> &'static str {
    match header.attributes.timestamp_type() {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// The one-line summary of a batch (`printBatchLevel`).
pub(crate) fn batch_line(out: &mut impl Write, batch: &Batch<'_>, valid: bool) -> io::Result<()> {
    let h = batch.header();
    let horizon = match h.delete_horizon_ms() {
        Some(ms) => format!("OptionalLong[{ms}]"),
        None => "OptionalLong.empty".to_string(),
    };
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} \
         producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
         isControl: {} deleteHorizonMs: {horizon} position: {} {}: {} size: {} magic: {} \
         compresscodec: {} crc: {} isvalid: {valid}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        last_sequence(&h),
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.attributes.is_transactional(),
        h.attributes.is_control(),
        batch.position(),
        timestamp_type(&h),
        h.max_timestamp,
        batch.size(),
        MAGIC_V2,
        h.attributes.compression().name(),
        h.crc,
    )
}

/// The batch as a JSON object (without its records).
pub(crate) fn batch_json(batch: &Batch<'_>, valid: bool) -> Value {
    let h = batch.header();
    json!({
        "base_offset": h.base_offset,
        "last_offset": h.last_offset(),
        "count": h.records_count,
        "base_sequence": h.base_sequence,
        "last_sequence": last_sequence(&h),
        "producer_id": h.producer_id,
        "producer_epoch": h.producer_epoch,
        "partition_leader_epoch": h.partition_leader_epoch,
        "is_transactional": h.attributes.is_transactional(),
        "is_control": h.attributes.is_control(),
        "delete_horizon_ms": h.delete_horizon_ms(),
        "position": batch.position(),
        "timestamp_type": timestamp_type(&h),
        "base_timestamp": h.base_timestamp,
        "max_timestamp": h.max_timestamp,
        "size": batch.size(),
        "magic": h.magic,
        "attributes": h.attributes.0,
        "compression": h.attributes.compression().name(),
        "crc": h.crc,
        "is_valid": valid,
    })
}

fn size_of(field: Option<&[u8]>) -> i64 {
    field.map_or(-1, |b| b.len() as i64)
}

/// Kafka's `StringDecoder`: the bytes as UTF-8, invalid sequences replaced.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// A control record's meaning (`printControlRecord`): an end-transaction marker's type and
/// coordinator epoch, or the control type's name and id.
fn control_text(record: &Record<'_>) -> String {
    const TYPES: [&str; 7] = [
        "ABORT",
        "COMMIT",
        "LEADER_CHANGE",
        "SNAPSHOT_HEADER",
        "SNAPSHOT_FOOTER",
        "KRAFT_VERSION",
        "KRAFT_VOTERS",
    ];
    let be_i16 = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .and_then(|s| s.try_into().ok())
            .map(i16::from_be_bytes)
    };
    let Some(type_id) = record.key.and_then(|k| be_i16(k, 2)) else {
        return " controlType: UNKNOWN(-1)".to_string();
    };
    let name = usize::try_from(type_id)
        .ok()
        .and_then(|i| TYPES.get(i))
        .copied()
        .unwrap_or("UNKNOWN");
    let epoch = record
        .value
        .and_then(|v| v.get(2..6))
        .and_then(|s| s.try_into().ok())
        .map(i32::from_be_bytes);
    match (type_id, epoch) {
        (0 | 1, Some(epoch)) => format!(" endTxnMarker: {name} coordinatorEpoch: {epoch}"),
        _ => format!(" controlType: {name}({type_id})"),
    }
}

/// One record's line (`printRecordMetadata` and, with `data`, `printRecordContents`).
pub(crate) fn record_line(
    out: &mut impl Write,
    header: &BatchHeader,
    record: &Record<'_>,
    data: bool,
) -> io::Result<()> {
    write!(
        out,
        "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [",
        record.offset,
        timestamp_type(header),
        record.timestamp,
        size_of(record.key),
        size_of(record.value),
        record_sequence(header, record.offset),
    )?;
    for (i, h) in record.headers.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        write!(out, "{comma}{}", text(h.key))?;
    }
    write!(out, "]")?;
    if header.attributes.is_control() {
        write!(out, "{}", control_text(record))?;
    } else if data {
        if let Some(key) = record.key {
            write!(out, " key: {}", text(key))?;
        }
        if let Some(value) = record.value {
            write!(out, " payload: {}", text(value))?;
        }
    }
    writeln!(out)
}

/// One record as a JSON object; `data` adds its key, payload and headers.
pub(crate) fn record_json(header: &BatchHeader, record: &Record<'_>, data: bool) -> Value {
    let header_keys: Vec<Value> = record
        .headers
        .iter()
        .map(|h| Value::from(text(h.key)))
        .collect();
    let mut object = json!({
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key_size": size_of(record.key),
        "value_size": size_of(record.value),
        "sequence": record_sequence(header, record.offset),
        "header_keys": header_keys,
    });
    if header.attributes.is_control() {
        object["control"] = Value::from(control_text(record).trim_start());
    } else if data {
        let headers: Vec<Value> = record
            .headers
            .iter()
            .map(|h| json!({"key": text(h.key), "value": h.value.map(text)}))
            .collect();
        object["key"] = json!(record.key.map(text));
        object["payload"] = json!(record.value.map(text));
        object["headers"] = Value::from(headers);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_as_kafka_increments_them() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }
}
