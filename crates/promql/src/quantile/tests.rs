//! Tests of the quantile math: hand-checked unit tests, and cross-checks against the
//! upstream test scripts for every `eval` simple enough to evaluate without an engine
//! (a histogram function, trim, scaling or `sum` applied directly to a selector).

use std::collections::BTreeMap;

use hearth_model::float::parse_go_float;
use hearth_model::{FloatHistogram, Labels, TrimSide, matches_all};

use super::*;
use crate::ast::{AggregateOp, BinaryOp, Expr, UnaryOp, VectorSelector};
use crate::promqltest::{
    Command, EvalQuery, ExpectKind, ExpectedResult, MessageMatch, parse_script,
};
use crate::series::{SeriesValue, parse_series_desc};

fn cb(pairs: &[(f64, f64)]) -> Vec<ClassicBucket> {
    pairs
        .iter()
        .map(|&(upper_bound, count)| ClassicBucket { upper_bound, count })
        .collect()
}

/// A histogram from the notation of test scripts.
fn h(text: &str) -> FloatHistogram {
    let (_, values) = parse_series_desc(&format!("m {text}")).unwrap();
    match values.into_iter().next().flatten() {
        Some(SeriesValue::Histogram(v)) => v.histogram,
        other => panic!("not a histogram: {other:?}"),
    }
}

#[test]
fn bucket_quantile_interpolates_linearly() {
    let b = cb(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
    let q = |q: f64| bucket_quantile(q, &mut b.clone()).value;
    assert_eq!(q(0.5), 1.5);
    assert_eq!(q(0.1), 0.3); // 0 + 1 × (3/10)
    assert_eq!(q(0.99), 2.0); // in the +Inf bucket: the second-highest bound
    assert_eq!(q(0.0), 0.0);
    assert_eq!(q(-0.1), f64::NEG_INFINITY);
    assert_eq!(q(1.1), f64::INFINITY);
    assert!(q(f64::NAN).is_nan());
    // Unsorted input and duplicate bounds are fine.
    let mut b = cb(&[(f64::INFINITY, 30.0), (2.0, 15.0), (1.0, 10.0), (2.0, 5.0)]);
    assert_eq!(bucket_quantile(0.5, &mut b).value, 1.5);
    // A lowest bound at or below zero is the answer within the lowest bucket.
    let mut b = cb(&[(-1.0, 10.0), (f64::INFINITY, 20.0)]);
    assert_eq!(bucket_quantile(0.2, &mut b).value, -1.0);
}

#[test]
fn bucket_quantile_special_inputs() {
    assert!(bucket_quantile(0.5, &mut []).value.is_nan());
    assert!(
        bucket_quantile(0.5, &mut cb(&[(1.0, 1.0), (2.0, 2.0)]))
            .value
            .is_nan()
    );
    assert!(
        bucket_quantile(0.5, &mut cb(&[(f64::INFINITY, 2.0)]))
            .value
            .is_nan()
    );
    assert!(
        bucket_quantile(0.5, &mut cb(&[(1.0, 0.0), (f64::INFINITY, 0.0)]))
            .value
            .is_nan()
    );
}

#[test]
fn bucket_quantile_monotonicity() {
    let mut b = cb(&[
        (1.0, 10.0),
        (2.0, 8.0),
        (3.0, 9.0),
        (4.0, 12.0),
        (f64::INFINITY, 12.0),
    ]);
    let r = bucket_quantile(0.5, &mut b);
    assert!(r.fix.forced_monotonic);
    assert!(!r.fix.fixed_precision);
    assert_eq!(
        (r.fix.min_bucket, r.fix.max_bucket, r.fix.max_diff),
        (2.0, 3.0, 2.0)
    );
    // Rank 6 lies in the first bucket (now 10, 10, 10, 12).
    assert_eq!(r.value, 0.6);
    // Tiny differences are noise, in either direction, and not reported as forced.
    let mut b = cb(&[
        (1.0, 1e15),
        (2.0, 1e15 - 1.0),
        (3.0, 2e15),
        (f64::INFINITY, 2e15 + 1.0),
    ]);
    let r = bucket_quantile(0.5, &mut b);
    assert!(r.fix.fixed_precision && !r.fix.forced_monotonic);
    assert_eq!(r.value, 1.0);
    // Early exits report nothing checked.
    let r = bucket_quantile(2.0, &mut cb(&[(1.0, 2.0), (f64::INFINITY, 1.0)]));
    assert_eq!(r.fix, MonotonicityFix::default());
}

#[test]
fn classic_fraction() {
    let b = cb(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
    let f = |l: f64, u: f64| bucket_fraction(l, u, &mut b.clone());
    assert_eq!(f(f64::NEG_INFINITY, 1.0), 10.0 / 30.0);
    assert_eq!(f(0.5, 1.5), 10.0 / 30.0);
    assert_eq!(f(2.0, f64::INFINITY), 10.0 / 30.0);
    assert_eq!(f(3.0, 1.0), 0.0);
    assert!(f(f64::NAN, 1.0).is_nan());
    assert!(bucket_fraction(0.0, 1.0, &mut cb(&[(1.0, 1.0)])).is_nan());
}

#[test]
fn almost_equal_is_relative() {
    assert!(almost_equal(1.0, 1.0 + 1e-13, 1e-12));
    assert!(!almost_equal(1.0, 1.0 + 1e-11, 1e-12));
    assert!(almost_equal(f64::NAN, f64::NAN, 1e-12));
    assert!(!almost_equal(0.0, 1e-300, 1e-12));
    assert!(almost_equal(f64::INFINITY, f64::INFINITY, 1e-12));
}

#[test]
fn native_quantile_special_cases() {
    let hist = h("{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}");
    assert_eq!(histogram_quantile(-1.0, &hist).value, f64::NEG_INFINITY);
    assert_eq!(histogram_quantile(1.001, &hist).value, f64::INFINITY);
    assert!(histogram_quantile(f64::NAN, &hist).value.is_nan());
    assert!(histogram_quantile(0.5, &h("{{}}")).value.is_nan());
    // Exponential interpolation: the middle of (1,2] is √2, one ulp low as Go's Exp2
    // computes it.
    let mid = h("{{schema:0 count:2 sum:3 buckets:[0 2]}}");
    assert_eq!(
        histogram_quantile(0.5, &mid).value,
        f64::from_bits(std::f64::consts::SQRT_2.to_bits() - 1)
    );
    // Custom buckets interpolate linearly; the overflow bucket answers its lower bound.
    let c = h("{{schema:-53 count:4 sum:10 custom_values:[1 3] buckets:[1 2 1]}}");
    assert_eq!(histogram_quantile(0.5, &c).value, 2.0);
    assert_eq!(histogram_quantile(0.1, &c).value, 0.4);
    assert_eq!(histogram_quantile(0.99, &c).value, 3.0);
    let c = h("{{schema:-53 count:4 sum:-10 custom_values:[-2 3] buckets:[2 2]}}");
    assert_eq!(histogram_quantile(0.25, &c).value, -2.0);
    // NaN observations: count 15, buckets 12.
    let nan = h("{{schema:0 count:15 sum:NaN buckets:[12]}}");
    let r = histogram_quantile(0.4, &nan);
    assert_eq!(r.value, 0.7071067811865475);
    assert_eq!(r.info, Some(QuantileNaNInfo::ResultSkewedHigher));
    let r = histogram_quantile(0.81, &nan);
    assert!(r.value.is_nan());
    assert_eq!(r.info, Some(QuantileNaNInfo::ResultIsNaN));
    // A NaN sum without NaN observations (±Inf observed) is not skewed.
    let inf = h("{{schema:0 count:12 sum:NaN buckets:[12]}}");
    assert_eq!(histogram_quantile(0.4, &inf).info, None);
}

#[test]
fn native_fraction_and_variance() {
    let hist = h("{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}");
    let f = |l: f64, u: f64| histogram_fraction(l, u, &hist).value;
    assert_eq!(f(1.0, 2.0), 0.25);
    assert_eq!(f(0.0, 0.001), 2.0 / 12.0);
    assert_eq!(f(3.0, 1.0), 0.0);
    assert!(f(f64::NAN, 1.0).is_nan());
    let nan = h("{{schema:0 count:15 sum:NaN buckets:[12]}}");
    let r = histogram_fraction(f64::NEG_INFINITY, f64::INFINITY, &nan);
    assert_eq!((r.value, r.nan_observations), (0.8, true));
    // Variance around the mean 2.5 of observations at √2·(bucket means).
    let v = h("{{schema:0 count:2 sum:5 buckets:[0 1 1]}}");
    let (a, b) = (2f64.sqrt(), 8f64.sqrt());
    let want = ((a - 2.5) * (a - 2.5) + (b - 2.5) * (b - 2.5)) / 2.0;
    assert!((histogram_stdvar(&v) - want).abs() < 1e-15);
    assert_eq!(histogram_stddev(&v), histogram_stdvar(&v).sqrt());
    assert_eq!(histogram_avg(&v), 2.5);
}

#[test]
fn sample_quantile() {
    let mut v = [3.0, 1.0, 2.0, 4.0];
    assert_eq!(quantile(0.5, &mut v), 2.5);
    assert_eq!(quantile(1.0, &mut v), 4.0);
    assert_eq!(quantile(0.0, &mut v), 1.0);
    assert!(quantile(0.5, &mut []).is_nan());
    assert_eq!(quantile(-1.0, &mut v), f64::NEG_INFINITY);
    let mut v = [1.0, f64::NAN, 2.0];
    // NaN sorts first.
    assert!(quantile(0.0, &mut v).is_nan());
    assert_eq!(quantile(1.0, &mut v), 2.0);
}

// ---- cross-checks against upstream's test scripts --------------------------------

struct Loaded {
    labels: Labels,
    interval_ms: i64,
    values: Vec<Option<SeriesValue>>,
}

/// The sample of a series at `t` (the latest within the 5m lookback), if any.
fn sample_at(s: &Loaded, t: i64) -> Option<&SeriesValue> {
    if s.interval_ms <= 0 || t < 0 {
        return None;
    }
    let last = (t / s.interval_ms) as usize;
    (0..=last.min(s.values.len().saturating_sub(1)))
        .rev()
        .take_while(|i| t - (*i as i64) * s.interval_ms < 5 * 60 * 1000)
        .find_map(|i| s.values.get(i).and_then(|v| v.as_ref()))
        .filter(|v| !matches!(v, SeriesValue::Stale))
}

/// A number, possibly negated or parenthesised.
fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => number(&p.expr),
        Expr::Unary(u) => number(&u.expr).map(|v| if u.op == UnaryOp::Minus { -v } else { v }),
        _ => None,
    }
}

fn plain_selector(e: &Expr) -> Option<&VectorSelector> {
    match e {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => Some(vs),
        _ => None,
    }
}

/// What an evaluated expression gave, keyed by labels without the metric name.
#[derive(Debug)]
enum Out {
    Float(f64),
    Hist(FloatHistogram),
}

#[derive(Default)]
struct Infos {
    quantile_nan: bool,
    quantile_skew: bool,
    fraction_nan: bool,
    monotonicity: bool,
    nhcb_reconciled: bool,
}

/// Evaluates the supported shapes; `None` when the expression is something else.
fn evaluate(
    expr: &Expr,
    series: &[Loaded],
    t: i64,
    infos: &mut Infos,
) -> Option<BTreeMap<Labels, Out>> {
    let select = |vs: &VectorSelector| {
        series
            .iter()
            .filter(|s| matches_all(&s.labels, &vs.matchers))
            .filter_map(|s| sample_at(s, t).map(|v| (s.labels.clone(), v.clone())))
            .collect::<Vec<_>>()
    };
    let histograms = |vs: &VectorSelector| {
        select(vs)
            .into_iter()
            .filter_map(|(l, v)| match v {
                SeriesValue::Histogram(h) => Some((l.without_metric_name(), h.histogram)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut out = BTreeMap::new();
    match expr {
        Expr::Call(call) => {
            let (scalars, last) = call.args.split_at(call.args.len().checked_sub(1)?);
            let vs = plain_selector(last.first()?)?;
            let scalars: Vec<f64> = scalars.iter().map(number).collect::<Option<_>>()?;
            let name = call.func.name;
            for (labels, hist) in histograms(vs) {
                let v = match (name, scalars.as_slice()) {
                    ("histogram_quantile", [q]) => {
                        let r = histogram_quantile(*q, &hist);
                        infos.quantile_nan |= r.info == Some(QuantileNaNInfo::ResultIsNaN);
                        infos.quantile_skew |= r.info == Some(QuantileNaNInfo::ResultSkewedHigher);
                        r.value
                    }
                    ("histogram_fraction", [l, u]) => {
                        let r = histogram_fraction(*l, *u, &hist);
                        infos.fraction_nan |= r.nan_observations;
                        r.value
                    }
                    ("histogram_stddev", []) => histogram_stddev(&hist),
                    ("histogram_stdvar", []) => histogram_stdvar(&hist),
                    ("histogram_avg", []) => histogram_avg(&hist),
                    ("histogram_count", []) => hist.count,
                    ("histogram_sum", []) => hist.sum,
                    _ => return None,
                };
                out.insert(labels, Out::Float(v));
            }
            if matches!(name, "histogram_quantile" | "histogram_fraction") {
                // Classic histograms: float series with an `le` label.
                let mut groups: BTreeMap<Labels, Vec<ClassicBucket>> = BTreeMap::new();
                for (labels, v) in select(vs) {
                    let Some(count) = v.as_f64() else { continue };
                    // A missing or malformed `le` drops the series (upstream warns).
                    let Some(upper_bound) = labels.get("le").and_then(|le| parse_go_float(le).ok())
                    else {
                        continue;
                    };
                    groups
                        .entry(labels.without(&["le", "__name__"]))
                        .or_default()
                        .push(ClassicBucket { upper_bound, count });
                }
                for (labels, mut buckets) in groups {
                    // Classic and native histograms of the same series give no result.
                    if out.remove(&labels).is_some() {
                        continue;
                    }
                    let v = match scalars.as_slice() {
                        [q] => {
                            let r = bucket_quantile(*q, &mut buckets);
                            infos.monotonicity |= r.fix.forced_monotonic;
                            r.value
                        }
                        [l, u] => bucket_fraction(*l, *u, &mut buckets),
                        _ => return None,
                    };
                    out.insert(labels, Out::Float(v));
                }
            }
        }
        Expr::Binary(b)
            if matches!(b.op, BinaryOp::Add | BinaryOp::Sub)
                && number(&b.rhs).is_none()
                && number(&b.lhs).is_none() =>
        {
            let (l, r) = (
                select(plain_selector(&b.lhs)?),
                select(plain_selector(&b.rhs)?),
            );
            if l.is_empty() || r.is_empty() {
                return Some(out);
            }
            // One-to-one matching of a single pair, compared regardless of labels.
            let ([(_, SeriesValue::Histogram(lh))], [(_, SeriesValue::Histogram(rh))]) =
                (l.as_slice(), r.as_slice())
            else {
                return None;
            };
            let mut res = lh.histogram.clone();
            let outcome = if b.op == BinaryOp::Add {
                res.add(&rh.histogram)
            } else {
                res.counter_reset_hint = hearth_model::CounterResetHint::Gauge;
                res.sub(&rh.histogram)
            };
            // An incompatible pair gives no result (upstream warns).
            if let Ok(o) = outcome {
                infos.nhcb_reconciled |= o.nhcb_bounds_reconciled;
                out.insert(Labels::empty(), Out::Hist(res));
            }
        }
        Expr::Binary(b) => {
            let (vs, x, hist_left) = match (plain_selector(&b.lhs), number(&b.rhs)) {
                (Some(vs), Some(x)) => (vs, x, true),
                _ => (plain_selector(&b.rhs)?, number(&b.lhs)?, false),
            };
            for (labels, mut hist) in histograms(vs) {
                match (b.op, hist_left) {
                    (BinaryOp::TrimUpper, true) => hist = hist.trim_buckets(x, TrimSide::KeepBelow),
                    (BinaryOp::TrimLower, true) => hist = hist.trim_buckets(x, TrimSide::KeepAbove),
                    (BinaryOp::Mul, _) => {
                        hist.mul(x);
                    }
                    (BinaryOp::Div, true) => {
                        hist.div(x);
                    }
                    _ => return None,
                }
                out.insert(labels, Out::Hist(hist));
            }
        }
        Expr::Aggregate(a) if a.op == AggregateOp::Sum && a.grouping.is_empty() && !a.without => {
            let vs = plain_selector(&a.expr)?;
            if select(vs)
                .iter()
                .any(|(_, v)| !matches!(v, SeriesValue::Histogram(_)))
            {
                return None; // Mixed floats and histograms: upstream warns, no result.
            }
            let all = histograms(vs);
            let mut it = all.into_iter();
            let Some((_, mut acc)) = it.next() else {
                return Some(out);
            };
            let mut comp = None;
            for (_, hist) in it {
                match acc.kahan_add(&hist, &mut comp) {
                    Ok(o) => infos.nhcb_reconciled |= o.nhcb_bounds_reconciled,
                    // Exponential mixed with custom buckets: no result (upstream warns).
                    Err(_) => return Some(out),
                }
            }
            if let Some(c) = comp {
                acc.add(&c).ok()?;
            }
            acc.compact(0);
            out.insert(Labels::empty(), Out::Hist(acc));
        }
        _ => return None,
    }
    Some(out)
}

fn floats_match(want: f64, got: f64) -> bool {
    (want.is_nan() && got.is_nan()) || almost_equal(want, got, 1e-6)
}

fn histograms_match(want: &FloatHistogram, got: &FloatHistogram) -> bool {
    let (mut w, mut g) = (want.clone(), got.clone());
    w.compact(0);
    g.compact(0);
    let buckets = |h: &FloatHistogram, positive: bool| -> Vec<(i32, f64)> {
        h.side_iter(positive, h.schema, 0.0)
            .map(|b| (b.index, b.count))
            .collect()
    };
    let same = |a: Vec<(i32, f64)>, b: Vec<(i32, f64)>| {
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x.0 == y.0 && floats_match(x.1, y.1))
    };
    w.schema == g.schema
        && floats_match(w.count, g.count)
        && floats_match(w.sum, g.sum)
        && floats_match(w.zero_count, g.zero_count)
        && w.zero_threshold == g.zero_threshold
        && w.custom_values == g.custom_values
        && same(buckets(&w, true), buckets(&g, true))
        && same(buckets(&w, false), buckets(&g, false))
}

/// The native histograms with custom buckets that `load_with_nhcb` adds for classic
/// histograms (`x_bucket` with `le`, plus `x_count` and `x_sum`), named `x`.
fn classic_to_nhcb(loaded: &[crate::promqltest::LoadSeries], interval_ms: i64) -> Vec<Loaded> {
    type Key = (String, Labels);
    type Values = Vec<Option<SeriesValue>>;
    let mut buckets: BTreeMap<Key, Vec<(f64, &Values)>> = BTreeMap::new();
    let mut extra: BTreeMap<(Key, &str), &Vec<Option<SeriesValue>>> = BTreeMap::new();
    for s in loaded {
        let name = s.labels.metric_name().unwrap_or("");
        if let Some(base) = name.strip_suffix("_bucket") {
            let Some(le) = s.labels.get("le").and_then(|le| parse_go_float(le).ok()) else {
                continue;
            };
            let key = (base.to_string(), s.labels.without(&["le", "__name__"]));
            buckets.entry(key).or_default().push((le, &s.values));
        } else {
            for suffix in ["_count", "_sum"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    let key = (base.to_string(), s.labels.without(&["__name__"]));
                    extra.insert((key, suffix), &s.values);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (key, mut bs) in buckets {
        bs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let len = bs.iter().map(|b| b.1.len()).max().unwrap_or(0);
        let value = |v: &Vec<Option<SeriesValue>>, i: usize| {
            v.get(i).and_then(|x| x.as_ref()).and_then(|x| x.as_f64())
        };
        let mut values = Vec::new();
        for i in 0..len {
            let custom_values: Vec<f64> =
                bs.iter().map(|b| b.0).filter(|b| b.is_finite()).collect();
            let mut counts = Vec::new();
            let mut prev = 0.0;
            for (_, v) in &bs {
                let c = value(v, i).unwrap_or(prev);
                counts.push(c - prev);
                prev = c;
            }
            let count = extra
                .get(&(key.clone(), "_count"))
                .and_then(|v| value(v, i))
                .unwrap_or(prev);
            let sum = extra
                .get(&(key.clone(), "_sum"))
                .and_then(|v| value(v, i))
                .unwrap_or(0.0);
            let hist = FloatHistogram {
                schema: -53,
                count,
                sum,
                positive_spans: vec![hearth_model::Span {
                    offset: 0,
                    length: counts.len() as u32,
                }],
                positive_buckets: counts,
                custom_values,
                ..Default::default()
            };
            values.push(Some(SeriesValue::Histogram(Box::new(
                crate::series::HistogramValue {
                    histogram: hist,
                    counter_reset_hint_set: false,
                },
            ))));
        }
        let mut b = key.1.builder();
        b.set("__name__", &key.0);
        out.push(Loaded {
            labels: b.labels(),
            interval_ms,
            values,
        });
    }
    out
}

/// Runs the evaluable cases of one script; returns how many were checked.
fn cross_check(file: &str) -> usize {
    let path = format!(
        "{}/../../../shared/conformance/promql/testdata/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let script = parse_script(&text).unwrap();
    let mut series: Vec<Loaded> = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for cmd in &script.commands {
        match cmd {
            Command::Clear(_) => series.clear(),
            Command::Load(load) => {
                for s in &load.series {
                    series.retain(|x| x.labels != s.labels);
                    series.push(Loaded {
                        labels: s.labels.clone(),
                        interval_ms: load.interval_ms,
                        values: s.values.clone(),
                    });
                }
                if load.with_nhcb {
                    let converted = classic_to_nhcb(&load.series, load.interval_ms);
                    series.extend(converted);
                }
            }
            Command::Eval(ev) => {
                if ev.is_fail() {
                    continue;
                }
                let steps: Vec<i64> = match ev.query {
                    EvalQuery::Instant { at_ms } => vec![at_ms],
                    EvalQuery::Range {
                        start_ms,
                        end_ms,
                        step_ms,
                    } if step_ms > 0 => (0..)
                        .map(|i| start_ms + i * step_ms)
                        .take_while(|t| *t <= end_ms)
                        .collect(),
                    EvalQuery::Range { .. } => continue,
                };
                let mut infos = Infos::default();
                let Some(got) = steps
                    .iter()
                    .map(|t| evaluate(&ev.parsed, &series, *t, &mut infos))
                    .collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                let expected = match &ev.expected {
                    ExpectedResult::Series(s) => s.as_slice(),
                    ExpectedResult::None => &[],
                    ExpectedResult::Scalar(_) => continue,
                };
                checked += 1;
                let mut ok = true;
                for (step, got) in got.iter().enumerate() {
                    let mut matched = 0;
                    for e in expected {
                        let want = e.values.get(step).and_then(|v| v.as_ref());
                        let mut labels = e.labels.without_metric_name();
                        if !got.contains_key(&labels) && got.len() == 1 && expected.len() == 1 {
                            // A single result of a binary operation: labels not compared.
                            labels = Labels::empty();
                        }
                        let good = match (got.get(&labels), want) {
                            (None, None) => true,
                            (Some(Out::Float(g)), Some(SeriesValue::Float(w))) => {
                                floats_match(*w, *g)
                            }
                            (Some(Out::Hist(g)), Some(SeriesValue::Histogram(w))) => {
                                histograms_match(&w.histogram, g)
                            }
                            _ => false,
                        };
                        matched += usize::from(want.is_some());
                        ok &= good;
                    }
                    ok &= got.len() == matched;
                }
                for exp in ev.expects(ExpectKind::Info) {
                    if let MessageMatch::Exact(m) = &exp.message {
                        let seen = (m
                            .contains("histogram_quantile has NaN observations, result is NaN")
                            && infos.quantile_nan)
                            || (m.contains("skewed higher") && infos.quantile_skew)
                            || (m.contains("histogram_fraction has NaN") && infos.fraction_nan)
                            || (m.contains("fixed for monotonicity") && infos.monotonicity)
                            || (m.contains("mismatched custom buckets") && infos.nhcb_reconciled)
                            || !(m.contains("histogram_") || m.contains("mismatched custom"));
                        ok &= seen;
                    }
                }
                if ev.expects(ExpectKind::NoInfo).next().is_some() {
                    ok &= !(infos.quantile_nan
                        || infos.quantile_skew
                        || infos.fraction_nan
                        || infos.monotonicity
                        || infos.nhcb_reconciled);
                }
                if !ok {
                    failures.push(format!("{file}:{}: {}\n  got {got:?}", ev.line, ev.expr));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn native_histograms_test_cases() {
    let checked = cross_check("native_histograms.test");
    assert!(checked >= 330, "only {checked} cases checked");
}

#[test]
fn histograms_test_cases() {
    let checked = cross_check("histograms.test");
    assert!(checked >= 95, "only {checked} cases checked");
}
