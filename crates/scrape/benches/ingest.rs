#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One scrape of a 10k-series text page: parse + cache lookup (or label building and
//! relabeling on a miss) + append + staleness bookkeeping + report series.
//!
//! - `sink/warm`: steady state, cache warm, into an appender that only counts (the
//!   scrape side's own cost);
//! - `sink/cold`: a fresh cache every scrape (first scrape of a target);
//! - `head/warm`: steady state into the real TSDB head (no WAL), as a server runs it;
//! - `parse_only`: the text parser alone, for reference.
//!
//! Throughput is in samples, so criterion prints samples/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_model::{Exemplar, HistogramValue, Labels, Metadata, labels};
use hearth_scrape::{IngestConfig, ScrapeCache, ScrapeReport};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::storage::{AppendError, Appendable, Appender, SeriesRef};

const SERIES: usize = 10_000;
const FAMILIES: usize = 100;

/// 100 counter families of 100 series each, with HELP and TYPE, labels as a typical
/// HTTP server exposes them.
fn page() -> String {
    let mut s = String::new();
    for f in 0..FAMILIES {
        s.push_str(&format!(
            "# HELP app_requests_{f}_total Requests of kind {f}.\n# TYPE app_requests_{f}_total counter\n"
        ));
        for i in 0..SERIES / FAMILIES {
            s.push_str(&format!(
                "app_requests_{f}_total{{method=\"GET\",path=\"/api/v1/item/{i}\",code=\"200\"}} {}\n",
                i * 7 + f
            ));
        }
    }
    s
}

/// Accepts everything, hands out references, keeps nothing.
struct Sink {
    next: SeriesRef,
    n: usize,
}

impl Appender for Sink {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        _labels: &Labels,
        _t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.n += 1;
        black_box(v);
        Ok(series.unwrap_or_else(|| {
            self.next += 1;
            self.next
        }))
    }
    fn append_histogram(
        &mut self,
        series: Option<SeriesRef>,
        _labels: &Labels,
        _t: i64,
        _h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series.unwrap_or(1))
    }
    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        _labels: &Labels,
        _e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series)
    }
    fn update_metadata(
        &mut self,
        series: SeriesRef,
        _labels: &Labels,
        _m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series)
    }
    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
}

const CT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn scrape(
    cache: &mut ScrapeCache,
    cfg: &IngestConfig,
    app: &mut dyn Appender,
    body: &[u8],
    ts: i64,
) {
    let (stats, r) = cache.append(cfg, app, body, CT, ts);
    r.unwrap();
    assert_eq!(stats.total, SERIES);
    let report = ScrapeReport {
        healthy: true,
        stats,
        ..ScrapeReport::default()
    };
    cache.report(cfg, app, ts, &report).unwrap();
}

fn bench(c: &mut Criterion) {
    let body = page();
    let body = body.as_bytes();
    let cfg = IngestConfig {
        target_labels: labels!("job" => "bench", "instance" => "127.0.0.1:9100"),
        ..IngestConfig::default()
    };
    let mut g = c.benchmark_group("scrape_10k_series_text");
    g.throughput(Throughput::Elements(SERIES as u64));

    // For reference: the text parser alone.
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut p = hearth_exposition::TextParser::new(body).unwrap();
            let mut n = 0;
            while let Some(e) = p.next().unwrap() {
                if let hearth_exposition::Entry::Sample(s) = e {
                    n += s.series.len();
                }
            }
            black_box(n)
        })
    });

    let mut cache = ScrapeCache::new();
    let mut sink = Sink { next: 0, n: 0 };
    let mut ts = 1_000;
    scrape(&mut cache, &cfg, &mut sink, body, ts);
    g.bench_function("sink/warm", |b| {
        b.iter(|| {
            ts += 1000;
            scrape(&mut cache, &cfg, &mut sink, body, ts);
        })
    });

    g.bench_function("sink/cold", |b| {
        b.iter(|| {
            let mut cache = ScrapeCache::new();
            scrape(&mut cache, &cfg, &mut sink, body, 1000);
            black_box(cache.series_len());
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(
        dir.path(),
        HeadOptions {
            wal: None,
            ..HeadOptions::default()
        },
    )
    .unwrap();
    let mut cache = ScrapeCache::new();
    let mut ts = 1_000;
    let commit_scrape = |cache: &mut ScrapeCache, ts: i64| {
        let mut app = Appendable::appender(&head);
        scrape(cache, &cfg, app.as_mut(), body, ts);
        app.commit().unwrap();
    };
    commit_scrape(&mut cache, ts);
    g.bench_function("head/warm", |b| {
        b.iter(|| {
            ts += 15_000;
            commit_scrape(&mut cache, ts);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
