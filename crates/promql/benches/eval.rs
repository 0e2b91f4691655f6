#![allow(clippy::unwrap_used, clippy::expect_used)]
//! PromQL evaluation benchmarks on generated data: 10k float series (`x` and `y`,
//! 10 jobs) over 2h at a 15s interval, and a classic histogram with 12 buckets on 1k
//! series (`h_bucket`). Every query runs as an instant query at the end of the data and
//! as a 1h range query at a 15s step.
//!
//! The data sits in a minimal read-only storage behind the storage interface, so the
//! numbers measure the engine rather than a test storage's copying.

use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use hearth_model::{FloatHistogram, Histogram, Labels, Matcher, matches_all};
use hearth_promql::{Engine, EngineOptions, Features, QueryOptions};
use hearth_tsdb::storage::{
    Querier, Queryable, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType,
};

const INTERVAL: i64 = 15_000;
const SAMPLES: i64 = 2 * 3600 * 1000 / INTERVAL;
const END: i64 = (SAMPLES - 1) * INTERVAL;

/// The `(t, v)` samples of one series.
type Samples = Arc<Vec<(i64, f64)>>;

/// Series with their samples, shared by every querier.
#[derive(Clone, Default)]
struct BenchStorage {
    series: Arc<Vec<(Labels, Samples)>>,
}

impl Queryable for BenchStorage {
    fn querier(&self, _mint: i64, _maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(self.clone()))
    }
}

impl Querier for BenchStorage {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        Ok(SeriesSet {
            series: self
                .series
                .iter()
                .filter(|(l, _)| matches_all(l, matchers))
                .map(|(l, s)| {
                    Box::new(BenchSeries {
                        labels: l.clone(),
                        samples: s.clone(),
                    }) as Box<dyn Series>
                })
                .collect(),
            warnings: Vec::new(),
        })
    }

    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

struct BenchSeries {
    labels: Labels,
    samples: Samples,
}

impl Series for BenchSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(BenchIterator {
            samples: &self.samples,
            pos: None,
        })
    }
}

struct BenchIterator<'a> {
    samples: &'a [(i64, f64)],
    pos: Option<usize>,
}

impl SampleIterator for BenchIterator<'_> {
    fn next(&mut self) -> ValueType {
        let p = self.pos.map_or(0, |p| p + 1);
        self.pos = Some(p.min(self.samples.len()));
        if p < self.samples.len() {
            ValueType::Float
        } else {
            ValueType::None
        }
    }

    fn seek(&mut self, t: i64) -> ValueType {
        let start = self.pos.unwrap_or(0);
        if self.pos.is_some() && self.samples.get(start).is_some_and(|s| s.0 >= t) {
            return ValueType::Float;
        }
        let p = start + self.samples[start.min(self.samples.len())..].partition_point(|s| s.0 < t);
        self.pos = Some(p);
        if p < self.samples.len() {
            ValueType::Float
        } else {
            ValueType::None
        }
    }

    fn at(&self) -> (i64, f64) {
        self.pos
            .and_then(|p| self.samples.get(p))
            .copied()
            .unwrap_or((0, 0.0))
    }

    fn at_histogram(&self) -> (i64, Histogram) {
        (self.at_t(), Histogram::default())
    }

    fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        (self.at_t(), FloatHistogram::default())
    }

    fn at_t(&self) -> i64 {
        self.at().0
    }
}

/// A counter per series, increasing by a series-specific amount.
fn counter(seed: u64) -> Samples {
    let inc = (seed % 7 + 1) as f64;
    Arc::new(
        (0..SAMPLES)
            .map(|i| (i * INTERVAL, i as f64 * inc))
            .collect(),
    )
}

fn storage() -> BenchStorage {
    let mut series = Vec::new();
    for name in ["x", "y"] {
        for i in 0..10_000u64 {
            let l = Labels::new([
                ("__name__", name.to_string()),
                ("job", format!("job{}", i % 10)),
                ("instance", format!("instance{i}")),
            ]);
            series.push((l, counter(i)));
        }
    }
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    for i in 0..1_000u64 {
        for (b, le) in bounds.iter().enumerate() {
            let l = Labels::new([
                ("__name__", "h_bucket".to_string()),
                ("job", format!("job{}", i % 10)),
                ("instance", format!("instance{i}")),
                ("le", le.to_string()),
            ]);
            series.push((l, counter(i * 13 + b as u64)));
        }
    }
    BenchStorage {
        series: Arc::new(series),
    }
}

const QUERIES: [(&str, &str); 6] = [
    ("rate", "rate(x[5m])"),
    ("sum_by_rate", "sum by (job) (rate(x[5m]))"),
    (
        "histogram_quantile",
        "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
    ),
    ("topk", "topk(10, x)"),
    ("join", "x / on (job, instance) y"),
    ("subquery", "max_over_time(rate(x[5m])[30m:1m])"),
];

/// `HEARTH_EVAL_STEPWISE=1` evaluates step by step instead of series at a time, to
/// compare the two evaluators on the same data in one run.
fn engine() -> Engine {
    Engine::new(EngineOptions {
        features: Features::all(),
        vectorized: std::env::var_os("HEARTH_EVAL_STEPWISE").is_none(),
        ..EngineOptions::default()
    })
}

fn bench(c: &mut Criterion) {
    let storage = storage();
    let engine = engine();
    let opts = QueryOptions::default();
    let queries = QUERIES;
    let mut group = c.benchmark_group("eval");
    group.sample_size(10);
    for (name, q) in queries {
        group.bench_function(format!("{name}/instant"), |b| {
            b.iter(|| {
                let r = engine.instant_query(&storage, q, END, &opts);
                assert!(r.value.is_ok(), "{q}: {:?}", r.value);
            })
        });
        group.bench_function(format!("{name}/range_1h_15s"), |b| {
            b.iter(|| {
                let r = engine.range_query(&storage, q, END - 3_600_000, END, 15_000, &opts);
                assert!(r.value.is_ok(), "{q}: {:?}", r.value);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

/// `HEARTH_EVAL_ONCE=join/range` (or `rate/instant`, ...) runs that query once without
/// criterion, for profilers (`valgrind --tool=callgrind --toggle-collect='*Engine::exec*'`).
fn main() {
    let Ok(which) = std::env::var("HEARTH_EVAL_ONCE") else {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    };
    let (name, kind) = which.split_once('/').unwrap_or((which.as_str(), "range"));
    let q = QUERIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, q)| *q)
        .unwrap_or_else(|| panic!("unknown query {name}"));
    let storage = storage();
    let engine = engine();
    let opts = QueryOptions::default();
    let started = std::time::Instant::now();
    let r = if kind == "instant" {
        engine.instant_query(&storage, q, END, &opts)
    } else {
        engine.range_query(&storage, q, END - 3_600_000, END, 15_000, &opts)
    };
    let elapsed = started.elapsed();
    let points = match &r.value {
        Ok(hearth_promql::Value::Matrix(m)) => m.iter().map(|s| s.floats.len()).sum::<usize>(),
        Ok(hearth_promql::Value::Vector(v)) => v.len(),
        other => panic!("{q}: {other:?}"),
    };
    println!("{which}: {q}: {points} points in {elapsed:?}");
}
