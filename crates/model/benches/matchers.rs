//! Matcher throughput: fast paths against the regex engine.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_model::{MatchOp, Matcher};
use std::hint::black_box;

fn values() -> Vec<String> {
    (0..1000)
        .map(|i| {
            format!(
                "{}-service-{i}.prod.example.com:9100",
                ["api", "db", "web"][i % 3]
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let vals = values();
    let alts: Vec<String> = vals.iter().step_by(10).cloned().collect();
    let cases = [
        ("literal", "api-service-3.prod.example.com:9100".to_string()),
        ("prefix", "api-.*".to_string()),
        ("contains", ".*service-1.*".to_string()),
        ("alternation-100", alts.join("|")),
        ("engine", "(api|db)-service-[0-9]+\\..*".to_string()),
    ];
    let mut g = c.benchmark_group("matcher_1000_values");
    for (name, pattern) in cases {
        let m = Matcher::new(MatchOp::Regex, "instance", pattern).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| vals.iter().filter(|v| m.matches(black_box(v))).count())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("matcher_compile");
    for (name, p) in [
        ("literal", "foo"),
        ("prefix", "foo.*"),
        ("alternation", "a|b|c"),
        ("engine", "fo+[0-9]+"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| Matcher::new(MatchOp::Regex, "x", black_box(p)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(compile_benches, compile);
criterion_main!(benches, compile_benches);
