#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The engine's API: instant and range queries, limits (samples, timeout, cancellation),
//! statistics, annotations with positions, and robustness against every conformance
//! query at extreme times.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hearth_model::Labels;
use hearth_promql::engine::{AnnotationKind, QueryResult};
use hearth_promql::promqltest::{Command, parse_script};
use hearth_promql::{Engine, EngineOptions, EvalError, Features, QueryError, QueryOptions, Value};
use hearth_tsdb::mem_storage::{MemStorage, StoredValue};

fn storage() -> MemStorage {
    let s = MemStorage::new();
    for i in 0..20 {
        let l = Labels::new([
            ("__name__", "requests_total".to_string()),
            ("job", format!("job{}", i % 4)),
            ("instance", format!("i{i}")),
        ]);
        for t in 0..200 {
            s.append_with_st(
                &l,
                None,
                t * 15_000,
                StoredValue::Float((t * (i + 1)) as f64),
            )
            .unwrap();
        }
    }
    s
}

fn engine(opts: EngineOptions) -> Engine {
    Engine::new(EngineOptions {
        features: Features::all(),
        ..opts
    })
}

fn matrix(r: &QueryResult) -> &Vec<hearth_promql::engine::Series> {
    match &r.value {
        Ok(Value::Matrix(m)) => m,
        other => panic!("expected a matrix, got {other:?}"),
    }
}

#[test]
fn instant_and_range_queries() {
    let s = storage();
    let e = engine(EngineOptions::default());
    let r = e.instant_query(
        &s,
        "sum by (job) (rate(requests_total[5m]))",
        1_800_000,
        &QueryOptions::default(),
    );
    let Ok(Value::Vector(v)) = &r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(v.len(), 4);
    assert!(
        v.iter()
            .all(|s| s.t == 1_800_000 && s.metric.get("job").is_some())
    );

    let r = e.range_query(
        &s,
        "requests_total",
        0,
        600_000,
        60_000,
        &QueryOptions::default(),
    );
    let m = matrix(&r);
    assert_eq!(m.len(), 20);
    assert!(
        m.windows(2).all(|w| w[0].metric < w[1].metric),
        "sorted by labels"
    );
    assert_eq!(m[0].floats.len(), 11);

    let r = e.instant_query(&s, "1 + 2", 0, &QueryOptions::default());
    assert_eq!(r.value, Ok(Value::Scalar { t: 0, v: 3.0 }));
    let r = e.instant_query(&s, "\"text\"", 5, &QueryOptions::default());
    assert_eq!(
        r.value,
        Ok(Value::String {
            t: 5,
            v: "text".to_string()
        })
    );
}

#[test]
fn range_queries_need_vectors_or_scalars() {
    let s = storage();
    let e = engine(EngineOptions::default());
    let r = e.range_query(
        &s,
        "requests_total[5m]",
        0,
        60_000,
        15_000,
        &QueryOptions::default(),
    );
    assert_eq!(
        r.value.unwrap_err().to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let r = e.range_query(&s, "up", 0, 60_000, 0, &QueryOptions::default());
    assert!(r.value.is_err());
    let r = e.instant_query(&s, "sum(", 0, &QueryOptions::default());
    assert!(matches!(r.value, Err(QueryError::Parse(_))));
}

#[test]
fn sample_limit_is_enforced() {
    let s = storage();
    let e = engine(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let r = e.range_query(
        &s,
        "requests_total",
        0,
        600_000,
        15_000,
        &QueryOptions::default(),
    );
    assert_eq!(
        r.value.unwrap_err().to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    let r = e.instant_query(
        &s,
        "count(requests_total)",
        600_000,
        &QueryOptions::default(),
    );
    assert!(r.value.is_ok(), "20 series fit: {:?}", r.value);
}

#[test]
fn timeout_and_cancellation() {
    let s = storage();
    let e = engine(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let r = e.instant_query(&s, "requests_total", 0, &QueryOptions::default());
    assert!(
        matches!(r.value, Err(QueryError::Eval(EvalError::Timeout(_)))),
        "{:?}",
        r.value
    );

    let e = engine(EngineOptions::default());
    let cancel = Arc::new(AtomicBool::new(true));
    let r = e.instant_query(
        &s,
        "requests_total",
        0,
        &QueryOptions {
            cancel: Some(cancel),
            ..QueryOptions::default()
        },
    );
    assert_eq!(
        r.value.unwrap_err().to_string(),
        "query was canceled in expression evaluation"
    );
}

#[test]
fn statistics() {
    let s = storage();
    let e = engine(EngineOptions {
        enable_per_step_stats: true,
        ..EngineOptions::default()
    });
    let r = e.range_query(
        &s,
        "rate(requests_total[1m])",
        600_000,
        900_000,
        60_000,
        &QueryOptions {
            per_step_stats: true,
            ..QueryOptions::default()
        },
    );
    assert!(r.value.is_ok());
    let per_step = r.stats.samples.total_queryable_samples_per_step.unwrap();
    assert_eq!(per_step.len(), 6);
    assert_eq!(per_step[0].0, 600_000);
    // 20 series, 4 samples in each 1m window.
    assert!(per_step.iter().all(|(_, n)| *n == 80), "{per_step:?}");
    assert_eq!(r.stats.samples.total_queryable_samples, 480);
    assert!(r.stats.samples.peak_samples > 0);
    assert!(r.stats.timings.exec_total_time >= r.stats.timings.inner_eval_time);
}

#[test]
fn annotations_carry_positions() {
    let s = MemStorage::new();
    let l = Labels::new([("__name__", "requests")]);
    for t in 0..10 {
        s.append_with_st(&l, None, t * 15_000, StoredValue::Float(t as f64))
            .unwrap();
    }
    let e = engine(EngineOptions::default());
    let q = "sum(\n  rate(requests[1m]))";
    let r = e.instant_query(&s, q, 120_000, &QueryOptions::default());
    assert!(r.value.is_ok());
    let a: Vec<_> = r.annotations.iter().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, AnnotationKind::Info);
    let (warnings, infos) = r.annotations.as_strings(q, 10, 10);
    assert!(warnings.is_empty());
    assert_eq!(
        infos,
        [
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"requests\" (2:8)"
        ]
    );
}

/// Aggregations folded series by series give exactly what aggregating the whole input
/// matrix gives (the `label_replace` that changes nothing forces the latter).
#[test]
fn streaming_aggregation_matches_materialized() {
    let s = storage();
    let e = engine(EngineOptions::default());
    for agg in [
        "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
    ] {
        for inner in [
            "rate(requests_total[2m])",
            "requests_total",
            "deriv(requests_total[3m])",
        ] {
            let streamed = format!("{agg} by (job) ({inner})");
            let materialized = format!(
                "{agg} by (job) (label_replace({inner}, \"unused\", \"\", \"nope\", \"\"))"
            );
            let a = e.range_query(
                &s,
                &streamed,
                0,
                3_000_000,
                30_000,
                &QueryOptions::default(),
            );
            let b = e.range_query(
                &s,
                &materialized,
                0,
                3_000_000,
                30_000,
                &QueryOptions::default(),
            );
            assert_eq!(matrix(&a), matrix(&b), "{streamed}");
            let a = e.instant_query(&s, &streamed, 1_500_000, &QueryOptions::default());
            let b = e.instant_query(&s, &materialized, 1_500_000, &QueryOptions::default());
            assert_eq!(a.value, b.value, "{streamed}");
        }
    }
}

/// Every query of the conformance scripts, at extreme and unusual times, against data
/// from the scripts: errors are fine, panics are not.
#[test]
fn no_query_panics_at_extreme_times() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/promql/testdata"
    );
    let e = engine(EngineOptions {
        max_samples: 1_000_000,
        timeout: Duration::from_secs(5),
        ..EngineOptions::default()
    });
    let s = storage();
    let times = [i64::MIN, -(1 << 60), -1, 0, 1, 1 << 40, 1 << 60, i64::MAX];
    let mut queries = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for cmd in parse_script(&text).unwrap().commands {
            let Command::Eval(ev) = cmd else { continue };
            for t in times {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = e.instant_query_expr(&s, &ev.parsed, t, &QueryOptions::default());
                }));
                assert!(r.is_ok(), "{} at {t}", ev.expr);
            }
            let _ = e.range_query_expr(
                &s,
                &ev.parsed,
                -(1 << 60),
                1 << 60,
                1 << 58,
                &QueryOptions::default(),
            );
            let _ = e.range_query_expr(
                &s,
                &ev.parsed,
                0,
                7_000,
                7,
                &QueryOptions {
                    lookback_delta_ms: Some(i64::MAX),
                    ..QueryOptions::default()
                },
            );
            queries += 1;
        }
    }
    assert_eq!(queries, 2195);
}
