//! Block benchmarks on realistic data (counters scraped with jitter, decimal gauges,
//! classic histogram buckets, native histograms):
//! - bytes per sample on disk, hearth's backfill and compaction against promtool's
//!   backfill (Prometheus' own compactor) of the same OpenMetrics input, printed once;
//! - compaction throughput (three 2h blocks into one 6h block);
//! - a block query of one series over 2h.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hearth_model::{MatchOp, Matcher};
use hearth_tsdb::backfill::{BackfillError, SampleScan, SampleVisitor, backfill};
use hearth_tsdb::block::Block;
use hearth_tsdb::compact::LeveledCompactor;
use hearth_tsdb::db::open_blocks;
use hearth_tsdb::mem_storage::StoredValue;
use hearth_tsdb::storage::{Querier, ValueType};

use synthetic::{SeriesSamples, Shape, generate, to_openmetrics, to_source};

const H: i64 = 3_600_000;
const START: i64 = 1_700_006_400_000; // 2h-aligned.

fn shape(native_histograms: bool) -> Shape {
    Shape {
        instances: 100,
        start: START,
        samples: 3 * 480, // 6h at 15s.
        interval: 15_000,
        native_histograms,
    }
}

struct VecScan<'a>(&'a SeriesSamples);

impl SampleScan for VecScan<'_> {
    fn scan(&mut self, f: &mut SampleVisitor<'_>) -> Result<(), BackfillError> {
        for (l, samples) in self.0 {
            for s in samples {
                if let StoredValue::Float(v) = s.value {
                    f(s.t, v, &|| l.clone())?;
                }
            }
        }
        Ok(())
    }
}

/// Bytes of all blocks in `dir` and their samples.
fn dir_stats(dir: &Path) -> (u64, u64, u64) {
    let (blocks, _) = open_blocks(dir, &[]).unwrap();
    let bytes = blocks.iter().map(|b| b.size()).sum();
    let chunk_bytes = blocks.iter().map(|b| b.chunk_reader().size()).sum();
    let samples = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    (bytes, chunk_bytes, samples)
}

fn report(what: &str, (bytes, chunks, samples): (u64, u64, u64)) {
    println!(
        "{what:<52} {samples:>8} samples  {:.3} bytes/sample on disk  ({:.3} in chunks)",
        bytes as f64 / samples as f64,
        chunks as f64 / samples as f64
    );
}

fn bytes_per_sample() {
    let floats = generate(shape(false), 42);
    let tmp = tempfile::tempdir().unwrap();
    let hearth_dir = tmp.path().join("hearth");
    let blocks = backfill(&mut VecScan(&floats), &hearth_dir, 0).unwrap();
    report(
        "hearth backfill, 2h blocks (floats)",
        dir_stats(&hearth_dir),
    );
    let compacted = tmp.path().join("hearth-6h");
    std::fs::create_dir_all(&compacted).unwrap();
    LeveledCompactor::new(vec![2 * H, 6 * H])
        .compact(&compacted, &blocks)
        .unwrap();
    report(
        "hearth after compaction, one 6h block (floats)",
        dir_stats(&compacted),
    );

    let om = tmp.path().join("input.om");
    std::fs::write(&om, to_openmetrics(&floats)).unwrap();
    let prom_dir = tmp.path().join("prom");
    match Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(&prom_dir)
        .output()
    {
        Ok(o) if o.status.success() => report(
            "promtool backfill, 2h blocks (floats)",
            dir_stats(&prom_dir),
        ),
        _ => println!("SKIPPED: promtool not installed: no Prometheus comparison"),
    }

    let mixed = generate(shape(true), 42);
    let dir = tmp.path().join("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    LeveledCompactor::new(vec![6 * H])
        .write(&dir, &to_source(&mixed), START, START + 6 * H, None)
        .unwrap();
    report("hearth 6h block with native histograms", dir_stats(&dir));
}

/// Three 2h blocks of the float data in a fresh directory.
fn three_blocks(dir: &Path, data: &SeriesSamples) -> Vec<Arc<Block>> {
    backfill(&mut VecScan(data), dir, 0).unwrap()
}

fn compaction(c: &mut Criterion) {
    bytes_per_sample();
    let data = generate(shape(false), 7);
    let samples: usize = data.iter().map(|(_, s)| s.len()).sum();
    let mut g = c.benchmark_group("compaction");
    g.sample_size(10);
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("three 2h blocks into 6h", |b| {
        b.iter_batched(
            || {
                let tmp = tempfile::tempdir().unwrap();
                let blocks = three_blocks(tmp.path(), &data);
                (tmp, blocks)
            },
            |(tmp, blocks)| {
                let out = tmp.path().join("out");
                std::fs::create_dir_all(&out).unwrap();
                LeveledCompactor::new(vec![2 * H, 6 * H])
                    .compact(&out, &blocks)
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn query(c: &mut Criterion) {
    let data = generate(shape(false), 9);
    let tmp = tempfile::tempdir().unwrap();
    let blocks = three_blocks(tmp.path(), &data);
    let block = &blocks[1];
    let q = block.querier(block.min_time(), block.max_time() - 1);
    let m = [
        Matcher::new(MatchOp::Equal, "__name__", "http_requests_total").unwrap(),
        Matcher::new(MatchOp::Equal, "instance", "10.0.0.42:9100").unwrap(),
        Matcher::new(MatchOp::Equal, "code", "200").unwrap(),
    ];
    let mut g = c.benchmark_group("block_query");
    g.throughput(Throughput::Elements(480));
    g.bench_function("one series over 2h", |b| {
        b.iter(|| {
            let set = q.select(true, None, black_box(&m)).unwrap();
            let mut sum = 0.0;
            for s in &set.series {
                let mut it = s.iterator();
                while it.next() == ValueType::Float {
                    sum += it.at().1;
                }
            }
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, compaction, query);
criterion_main!(benches);
