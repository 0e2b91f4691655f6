#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Parsing speed on typical dashboard and alerting queries, in queries per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_promql::{ParserOptions, parse_expr};

const QUERIES: &[&str] = &[
    "up",
    r#"up{job="prometheus"} == 0"#,
    r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#,
    r#"sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="api"}[5m])) > 0.05"#,
    r#"histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket{job="api"}[5m])))"#,
    r#"100 - (avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])) * 100)"#,
    r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes < 0.1"#,
    r#"topk(10, sum without (instance) (rate(container_cpu_usage_seconds_total[5m])))"#,
    r#"max_over_time(rate(errors_total[1m])[1h:1m] offset 1d)"#,
    r#"kube_pod_info * on (namespace, pod) group_left (node) kube_pod_status_ready{condition="true"}"#,
    r#"predict_linear(node_filesystem_free_bytes[6h], 4 * 3600) < 0"#,
    r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
];

fn bench_parse(c: &mut Criterion) {
    let options = ParserOptions::all();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(QUERIES.len() as u64));
    group.bench_function("typical_queries", |b| {
        b.iter(|| {
            for q in QUERIES {
                std::hint::black_box(parse_expr(std::hint::black_box(q), &options).unwrap());
            }
        })
    });
    // Regex matchers are compiled while parsing, as upstream does, and cost most of the
    // time; this measures the parser alone.
    let plain: Vec<&str> = QUERIES
        .iter()
        .copied()
        .filter(|q| !q.contains("=~") && !q.contains("!~"))
        .collect();
    group.throughput(Throughput::Elements(plain.len() as u64));
    group.bench_function("typical_queries_without_regex_matchers", |b| {
        b.iter(|| {
            for q in &plain {
                std::hint::black_box(parse_expr(std::hint::black_box(q), &options).unwrap());
            }
        })
    });
    group.throughput(Throughput::Elements(QUERIES.len() as u64));
    let parsed: Vec<_> = QUERIES
        .iter()
        .map(|q| parse_expr(q, &options).unwrap())
        .collect();
    group.bench_function("print_typical_queries", |b| {
        b.iter(|| {
            for e in &parsed {
                std::hint::black_box(e.to_string());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
