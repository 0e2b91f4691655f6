//! Index benchmarks: postings for a 3-matcher selector over 1M series (block index and
//! in-memory), index write throughput and series read throughput.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_model::{Labels, MatchOp, Matcher};
use hearth_tsdb::index::{ChunkMeta, IndexReader, IndexWriter};
use hearth_tsdb::postings::{MemPostings, postings_for_matchers};

/// Series `i` of `n`: 10k instances of 100 series each, 10 jobs, 10 envs; sorted by label set.
fn series(n: usize) -> Vec<Labels> {
    let mut v: Vec<Labels> = (0..n)
        .map(|i| {
            Labels::new([
                ("__name__", "http_requests_total".to_string()),
                (
                    "env",
                    [
                        "dev", "prod", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9",
                    ][(i / 10) % 10]
                        .to_string(),
                ),
                ("instance", format!("host-{}", i / 100)),
                ("job", ((b'a' + (i % 10) as u8) as char).to_string()),
            ])
        })
        .collect();
    v.sort();
    v
}

fn symbols(series: &[Labels]) -> Vec<&str> {
    let mut syms = BTreeSet::new();
    for l in series {
        for p in l {
            syms.insert(p.name.as_str());
            syms.insert(p.value.as_str());
        }
    }
    syms.into_iter().collect()
}

fn write(path: &Path, syms: &[&str], series: &[Labels]) {
    let mut w = IndexWriter::create(path).unwrap();
    for s in syms {
        w.add_symbol(s).unwrap();
    }
    for (i, l) in series.iter().enumerate() {
        let c = ChunkMeta {
            chunk_ref: i as u64 * 200,
            min_time: 0,
            max_time: 7_199_000,
        };
        w.add_series(l, &[c]).unwrap();
    }
    w.finish().unwrap();
}

fn selector() -> Vec<Matcher> {
    vec![
        Matcher::equal("job", "a"),
        Matcher::new(MatchOp::Regex, "instance", "host-1.*").unwrap(),
        Matcher::new(MatchOp::NotEqual, "env", "dev").unwrap(),
    ]
}

fn count(mut p: hearth_tsdb::postings::BoxPostings<'_>) -> usize {
    let mut n = 0;
    while p.next() {
        n += 1;
    }
    n
}

fn postings_1m(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let all = series(1_000_000);
    write(&path, &symbols(&all), &all);
    let r = IndexReader::open(&path).unwrap();
    let ms = selector();
    // job=a (100k) ∩ instance=~host-1.* (1111 instances, 111.1k) − env=dev (100k).
    let want = count(postings_for_matchers(&r, &ms).unwrap());
    // 1111 instances x 10 series of job a, minus the 1 of each in env=dev.
    assert_eq!(want, 9_999);

    let mut g = c.benchmark_group("postings_for_matchers_1M_series");
    g.sample_size(20);
    g.bench_function("block_index", |b| {
        b.iter(|| count(postings_for_matchers(black_box(&r), &ms).unwrap()))
    });
    let mut mem = MemPostings::new();
    for (i, l) in all.iter().enumerate() {
        mem.add(i as u64, l);
    }
    assert_eq!(count(postings_for_matchers(&mem, &ms).unwrap()), want);
    g.bench_function("mem_postings", |b| {
        b.iter(|| count(postings_for_matchers(black_box(&mem), &ms).unwrap()))
    });
    g.bench_function("open_index", |b| {
        b.iter(|| IndexReader::open(&path).unwrap())
    });
    g.finish();
}

fn write_read(c: &mut Criterion) {
    let n = 100_000;
    let all = series(n);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut g = c.benchmark_group("index_100k_series");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    let syms = symbols(&all);
    g.bench_function("write", |b| b.iter(|| write(&path, &syms, &all)));
    write(&path, &syms, &all);
    let r = IndexReader::open(&path).unwrap();
    let refs = {
        let mut p = hearth_tsdb::postings::PostingsSource::all_postings(&r).unwrap();
        let mut v = Vec::new();
        while p.next() {
            v.push(p.at());
        }
        v
    };
    g.bench_function("read_series", |b| {
        let mut chunks = Vec::new();
        b.iter(|| {
            for &id in &refs {
                black_box(r.series(id, &mut chunks).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, postings_1m, write_read);
criterion_main!(benches);
