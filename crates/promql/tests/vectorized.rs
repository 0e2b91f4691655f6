#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Differential tests of the engine's series-at-a-time evaluation (range functions
//! sliding over a series read once, joins matching series once, float folds, instant
//! selection from a series read whole) on random data:
//!
//! - against the step-by-step evaluation (`EngineOptions::vectorized` off): the same
//!   result, bit for bit, the same error and the same annotations, for range and
//!   instant queries;
//! - range queries against instant queries stitched together at every step.
//!
//! The data has gaps, counter resets, NaNs, staleness markers, a series that turns into
//! native histograms, and series that match more than once in joins, so that both the
//! fast paths and their fallbacks run.

use hearth_model::{FloatHistogram, HistogramValue, Labels, Span, stale_nan};
use hearth_promql::engine::QueryResult;
use hearth_promql::{Engine, EngineOptions, Features, QueryOptions, Value};
use hearth_tsdb::mem_storage::{MemStorage, StoredValue};

/// A small deterministic generator (64-bit LCG, high bits).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const INTERVAL: i64 = 15_000;
const SAMPLES: i64 = 160;

fn histogram(v: f64) -> StoredValue {
    StoredValue::Histogram(HistogramValue::Float(FloatHistogram {
        schema: 0,
        count: v * 3.0,
        sum: v * 10.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![v, v * 2.0],
        ..FloatHistogram::default()
    }))
}

fn storage(seed: u64) -> MemStorage {
    let s = MemStorage::new();
    let mut rng = Rng(seed);
    for name in ["x", "y"] {
        for i in 0..12u64 {
            let mut pairs = vec![
                ("__name__", name.to_string()),
                ("job", format!("job{}", i % 3)),
                ("instance", format!("i{}", i % 10)),
            ];
            // Two `y` series share job and instance (joins on them match twice).
            if i >= 10 {
                pairs.push(("replica", format!("r{i}")));
            }
            let l = Labels::new(pairs);
            let mut v = (rng.below(50)) as f64;
            for k in 0..SAMPLES {
                // Irregular scrapes: gaps and jitter.
                if rng.below(10) == 0 {
                    continue;
                }
                let t = k * INTERVAL + rng.below(3) as i64 * 1000;
                let value = match rng.below(40) {
                    0 => {
                        v = rng.below(5) as f64; // counter reset
                        v
                    }
                    1 => f64::NAN,
                    2 => stale_nan(),
                    _ => {
                        v += rng.below(7) as f64 * 0.5;
                        v
                    }
                };
                let value = if name == "x" && i == 5 && k > SAMPLES / 2 {
                    histogram(v.max(0.0))
                } else {
                    StoredValue::Float(value)
                };
                s.append_with_st(&l, None, t, value).unwrap();
            }
        }
    }
    s
}

fn engine(vectorized: bool) -> Engine {
    Engine::new(EngineOptions {
        features: Features::all(),
        vectorized,
        ..EngineOptions::default()
    })
}

const QUERIES: &[&str] = &[
    "x",
    "x offset 1m",
    "x @ 1200",
    "timestamp(x)",
    "rate(x[1m])",
    "rate(x[5m])",
    "increase(y[3m])",
    "delta(y[2m])",
    "irate(x[5m])",
    "idelta(y[1m])",
    "rate(x[30s])",
    "rate(x[5m] offset 2m)",
    "rate(x[5m] @ 1500)",
    "max_over_time(x[2m])",
    "min_over_time(y[5m])",
    "ts_of_max_over_time(y[3m])",
    "ts_of_min_over_time(x[4m])",
    "sum_over_time(x[3m])",
    "avg_over_time(y[5m])",
    "count_over_time(x[1m])",
    "last_over_time(y[2m])",
    "quantile_over_time(0.3, x[5m])",
    "stddev_over_time(y[5m])",
    "changes(x[5m])",
    "resets(y[5m])",
    "deriv(y[5m])",
    "predict_linear(x[5m], 60)",
    "max_over_time(rate(x[2m])[10m:1m])",
    "min_over_time(y[10m:30s])",
    "rate(y[5m:20s])",
    "ts_of_max_over_time(x[6m:45s] offset 1m)",
    "sum by (job) (rate(x[5m]))",
    "avg by (job) (y)",
    "count without (instance) (x)",
    "max by (job) (rate(y[2m]))",
    "min(x)",
    "group by (job) (y)",
    "stddev by (job) (y)",
    "quantile by (job) (0.9, x)",
    "topk(3, y)",
    "bottomk(2, rate(y[5m]))",
    "topk by (job) (1, x)",
    "count_values(\"v\", round(y))",
    "x / on (job, instance) y",
    "x > on (job, instance) y",
    "x >= bool on (job, instance) y",
    "y - ignoring (replica) x",
    "y % on (job, instance) group_left x",
    "x * on (job) group_left sum by (job) (y)",
    "sum by (job) (y) + on (job) group_right x",
    "x + y",
    "x / on (job) y",
    "y and on (instance) x",
    "x or y",
    "x unless on (job, instance) y",
    "x * 2",
    "100 - y",
    "y > 20",
    "20 < bool y",
    "30 >= y",
    "rate(x[5m]) * 60",
    "x - scalar(sum(y))",
    "time() - timestamp(y)",
    "label_replace(y, \"__name__\", \"x\", \"\", \"\") / 2",
    "rate(x[5m]) / on (job, instance) rate(y[5m])",
    "histogram_count(x)",
];

fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The value, error and annotations, in a form two results compare in exactly
/// (floats by their bits; series sorted by labels as range results are).
fn summary(r: &QueryResult) -> String {
    let mut out = String::new();
    match &r.value {
        Err(e) => out.push_str(&format!("error: {e}\n")),
        Ok(Value::Matrix(m)) => {
            for s in m {
                out.push_str(&format!("{} drop={}:", s.metric, s.drop_name));
                for p in &s.floats {
                    out.push_str(&format!(" {}@{:x}", p.t, p.f.to_bits()));
                }
                for p in &s.histograms {
                    out.push_str(&format!(" {}@{:?}", p.t, p.h));
                }
                out.push('\n');
            }
        }
        Ok(Value::Vector(v)) => {
            for s in v {
                out.push_str(&format!("{} {:x} {:?}\n", s.metric, s.f.to_bits(), s.h));
            }
        }
        Ok(v) => out.push_str(&format!("{v:?}\n")),
    }
    for a in r.annotations.iter() {
        out.push_str(&format!("annotation: {}\n", a.message));
    }
    out
}

#[test]
fn vectorized_evaluation_is_step_by_step_evaluation() {
    let (fast, slow) = (engine(true), engine(false));
    let opts = QueryOptions::default();
    for seed in 1..=6 {
        let s = storage(seed);
        for q in QUERIES {
            for (start, end, step) in [
                (0, 2_400_000, 15_000),
                (30_000, 2_000_000, 60_000),
                (0, 2_400_000, 7_000),
                (600_000, 1_800_000, 300_000),
            ] {
                let a = fast.range_query(&s, q, start, end, step, &opts);
                let b = slow.range_query(&s, q, start, end, step, &opts);
                assert_eq!(
                    summary(&a),
                    summary(&b),
                    "seed {seed}: {q} from {start} to {end} step {step}"
                );
            }
            for t in [0, 299_000, 1_234_000, 2_400_000] {
                let a = fast.instant_query(&s, q, t, &opts);
                let b = slow.instant_query(&s, q, t, &opts);
                assert_eq!(summary(&a), summary(&b), "seed {seed}: {q} at {t}");
            }
        }
    }
}

#[test]
fn range_queries_are_instant_queries_at_every_step() {
    let e = engine(true);
    let opts = QueryOptions::default();
    let (start, end, step) = (60_000, 2_340_000, 30_000);
    for seed in 1..=3 {
        let s = storage(seed);
        for q in QUERIES {
            if q.starts_with("count_values") || q.starts_with("timestamp") {
                continue;
            }
            let range = e.range_query(&s, q, start, end, step, &opts);
            let Ok(Value::Matrix(m)) = &range.value else {
                // Errors at some step fail the whole range query.
                continue;
            };
            let mut t = start;
            while t <= end {
                let instant = e.instant_query(&s, q, t, &opts);
                let mut want: Vec<(String, u64)> = match &instant.value {
                    Ok(Value::Vector(v)) => v
                        .iter()
                        .filter(|s| s.h.is_none())
                        .map(|s| (s.metric.to_string(), s.f.to_bits()))
                        .collect(),
                    Ok(Value::Scalar { v, .. }) => vec![("{}".to_string(), v.to_bits())],
                    other => panic!("{q} at {t}: {other:?}"),
                };
                let mut got: Vec<(String, u64)> = m
                    .iter()
                    .filter_map(|s| {
                        let p = s.floats.iter().find(|p| p.t == t)?;
                        // Delayed name removal drops the name at the end of an
                        // instant query as of a range query.
                        Some((s.metric.to_string(), p.f.to_bits()))
                    })
                    .collect();
                want.sort();
                got.sort();
                assert_eq!(want.len(), got.len(), "seed {seed}: {q} at {t}");
                for (w, g) in want.iter().zip(&got) {
                    assert_eq!(w.0, g.0, "seed {seed}: {q} at {t}");
                    assert!(
                        same_float(f64::from_bits(w.1), f64::from_bits(g.1)),
                        "seed {seed}: {q} at {t}: {} != {}",
                        f64::from_bits(w.1),
                        f64::from_bits(g.1)
                    );
                }
                t += step;
            }
        }
    }
}

/// `--query.max-samples` fails the same queries with the same error, and the samples
/// statistics of the queries that succeed (read, and peak held at once) are the same.
#[test]
fn sample_limit_and_statistics_are_those_of_step_by_step_evaluation() {
    let opts = QueryOptions::default();
    let s = storage(7);
    for max_samples in [50, 600, 3_000, 20_000] {
        let limited = |vectorized| {
            Engine::new(EngineOptions {
                features: Features::all(),
                vectorized,
                max_samples,
                ..EngineOptions::default()
            })
        };
        let (fast, slow) = (limited(true), limited(false));
        for q in QUERIES {
            let a = fast.range_query(&s, q, 0, 2_400_000, 15_000, &opts);
            let b = slow.range_query(&s, q, 0, 2_400_000, 15_000, &opts);
            assert_eq!(summary(&a), summary(&b), "{q} with max {max_samples}");
            if a.value.is_ok() {
                assert_eq!(
                    a.stats.samples, b.stats.samples,
                    "{q} with max {max_samples}"
                );
            }
        }
    }
}
