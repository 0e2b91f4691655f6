#![allow(clippy::unwrap_used, clippy::expect_used)]
//! WAL write and replay throughput: sample records of 1000 samples, as a scrape of a
//! large target produces them.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hearth_tsdb::wal::record::{RecordDecoder, RecordEncoder, RefSample};
use hearth_tsdb::wal::{Compression, Wal, WalOptions, WalReader};

const SAMPLES_PER_RECORD: usize = 1000;
/// Records per benchmark iteration: 1M samples.
const RECORDS: usize = 1000;

/// One scrape's worth of samples: consecutive refs, one timestamp, counter-like values.
fn sample_record(scrape: usize) -> Vec<u8> {
    let samples: Vec<RefSample> = (0..SAMPLES_PER_RECORD)
        .map(|i| RefSample {
            series_ref: i as u64 + 1,
            st: 0,
            t: 1_700_000_000_000 + scrape as i64 * 15_000,
            v: (scrape * 17 + i) as f64 * 0.5,
        })
        .collect();
    let mut buf = Vec::new();
    RecordEncoder::default().samples(&samples, &mut buf);
    buf
}

fn records() -> Vec<Vec<u8>> {
    (0..RECORDS).map(sample_record).collect()
}

/// Logs `recs` one record per batch into a fresh WAL in `dir` and closes it.
fn write_wal(dir: &std::path::Path, compression: Compression, recs: &[Vec<u8>]) {
    let opts = WalOptions {
        compression,
        ..WalOptions::default()
    };
    let mut wal = Wal::open(dir, opts).unwrap();
    for r in recs {
        wal.log(&[r]).unwrap();
    }
    wal.close().unwrap();
}

fn write(c: &mut Criterion) {
    let recs = records();
    let bytes: usize = recs.iter().map(Vec::len).sum();
    for (name, compression) in [
        ("none", Compression::None),
        ("snappy", Compression::Snappy),
        ("zstd", Compression::Zstd),
    ] {
        let mut g = c.benchmark_group(format!("wal_write_{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("1k_records_of_1k_samples", |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    write_wal(dir.path(), compression, &recs);
                    dir
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

fn replay(c: &mut Criterion) {
    let recs = records();
    for (name, compression) in [("none", Compression::None), ("snappy", Compression::Snappy)] {
        let dir = tempfile::tempdir().unwrap();
        write_wal(dir.path(), compression, &recs);
        let mut g = c.benchmark_group(format!("wal_replay_{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements((RECORDS * SAMPLES_PER_RECORD) as u64));
        g.bench_function("read_and_decode_1m_samples", |b| {
            let mut dec = RecordDecoder::new();
            let mut out = Vec::with_capacity(SAMPLES_PER_RECORD);
            b.iter(|| {
                let mut r = WalReader::open(dir.path()).unwrap();
                let mut n = 0usize;
                while let Some(rec) = r.next_record().unwrap() {
                    out.clear();
                    dec.samples(rec, &mut out).unwrap();
                    n += out.len();
                }
                black_box(n)
            })
        });
        g.bench_function("read_only_1m_samples", |b| {
            b.iter(|| {
                let mut r = WalReader::open(dir.path()).unwrap();
                let mut n = 0usize;
                while let Some(rec) = r.next_record().unwrap() {
                    n += rec.len();
                }
                black_box(n)
            })
        });
        g.finish();
    }
    let mut g = c.benchmark_group("record_decode");
    g.throughput(Throughput::Elements(SAMPLES_PER_RECORD as u64));
    let rec = sample_record(3);
    g.bench_function("samples_1k", |b| {
        let mut dec = RecordDecoder::new();
        let mut out = Vec::with_capacity(SAMPLES_PER_RECORD);
        b.iter(|| {
            out.clear();
            dec.samples(black_box(&rec), &mut out).unwrap();
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, write, replay);
criterion_main!(benches);
