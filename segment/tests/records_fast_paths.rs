//! The record iterator's fast paths for readers that checked a batch before: `next_valid`
//! yields exactly what the iterator yields and stops where the iterator would fail, and
//! `skip_to` moves past the records before an offset, in batches with and without offset
//! gaps, the rest then read as usual.

use silt_segment::batch::{Batch, BatchBuilder, BatchConfig, BatchFilter, Record, RecordHeader};

fn batch(base_offset: i64, n: u8) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    for i in 0..n {
        let header = [RecordHeader {
            key: "h",
            value: Some(&[i]),
        }];
        let headers: &[RecordHeader<'_>] = if i % 2 == 0 { &header } else { &[] };
        let value = vec![i; 10 + usize::from(i) * 7];
        builder
            .append(1_000 + i64::from(i), Some(&[i; 3]), Some(&value), headers)
            .unwrap();
    }
    let mut bytes = builder.finish().unwrap();
    silt_segment::batch::set_base_offset(&mut bytes, base_offset);
    bytes
}

/// (offset, timestamp, key, value, header count) of a record.
type Owned = (i64, i64, Vec<u8>, Vec<u8>, usize);

fn owned(record: Record<'_>) -> Owned {
    (
        record.offset,
        record.timestamp,
        record.key.unwrap_or_default().to_vec(),
        record.value.unwrap_or_default().to_vec(),
        record.headers.len(),
    )
}

fn through_iterator(batch: &Batch<'_>) -> Vec<Owned> {
    batch
        .records_uncompressed()
        .unwrap()
        .map(|r| owned(r.unwrap()))
        .collect()
}

fn through_next_valid(batch: &Batch<'_>, skip_to: Option<i64>) -> Vec<i64> {
    let mut records = batch.records_uncompressed().unwrap();
    if let Some(offset) = skip_to {
        records.skip_to(offset);
    }
    std::iter::from_fn(|| records.next_valid())
        .map(|r| r.offset)
        .collect()
}

#[test]
fn next_valid_yields_what_the_iterator_yields() {
    let bytes = batch(100, 40);
    let batch = Batch::parse(&bytes, 0).unwrap();
    let mut records = batch.records_uncompressed().unwrap();
    let fast: Vec<_> = std::iter::from_fn(|| records.next_valid())
        .map(owned)
        .collect();
    assert_eq!(fast, through_iterator(&batch));
    assert_eq!(fast.len(), 40);
    assert!(records.next_valid().is_none(), "stays done");
}

#[test]
fn next_valid_stops_where_the_iterator_fails() {
    let bytes = batch(0, 10);
    let clean = Batch::parse(&bytes, 0).unwrap();
    // Cut the records section short by one byte: the last record is malformed. The CRC is
    // not checked by either path (that is the reader's business), only the framing.
    let mut cut = bytes.clone();
    let length = i32::from_be_bytes(cut[8..12].try_into().unwrap()) - 1;
    cut[8..12].copy_from_slice(&length.to_be_bytes());
    cut.pop();
    let broken = Batch::parse(&cut, 0).unwrap();
    let from_iterator: Vec<_> = broken.records_uncompressed().unwrap().collect();
    let good = from_iterator.iter().take_while(|r| r.is_ok()).count();
    assert!(from_iterator.last().unwrap().is_err());
    assert_eq!(good, 9);
    assert_eq!(
        through_next_valid(&broken, None),
        (0..9).collect::<Vec<_>>()
    );
    assert_eq!(
        through_next_valid(&clean, None),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn skip_to_moves_past_earlier_records() {
    let bytes = batch(100, 20);
    let batch = Batch::parse(&bytes, 0).unwrap();
    assert_eq!(
        through_next_valid(&batch, Some(113)),
        (113..120).collect::<Vec<_>>()
    );
    assert_eq!(
        through_next_valid(&batch, Some(50)).len(),
        20,
        "below the base"
    );
    assert!(
        through_next_valid(&batch, Some(120)).is_empty(),
        "past the end"
    );
    // Records read after a skip are parsed in full: their fields are right.
    let mut records = batch.records_uncompressed().unwrap();
    records.skip_to(105);
    let after: Vec<_> = std::iter::from_fn(|| records.next_valid())
        .map(owned)
        .collect();
    assert_eq!(after, through_iterator(&batch)[5..].to_vec());
}

#[test]
fn skip_to_in_a_batch_with_offset_gaps_parses_its_way() {
    let bytes = batch(0, 20);
    let original = Batch::parse(&bytes, 0).unwrap();
    let mut gapped = Vec::new();
    BatchFilter::new()
        .filter(&original, i64::MAX, |r| r.offset % 3 == 0, &mut gapped)
        .unwrap();
    let batch = Batch::parse(&gapped, 0).unwrap();
    assert_eq!(batch.records_count(), 7);
    assert_eq!(
        through_next_valid(&batch, Some(7)),
        vec![9, 12, 15, 18],
        "the first record at or after 7"
    );
    assert_eq!(through_next_valid(&batch, Some(9)), vec![9, 12, 15, 18]);
    assert!(through_next_valid(&batch, Some(19)).is_empty());
}
