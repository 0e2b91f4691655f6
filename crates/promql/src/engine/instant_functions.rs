//! Functions over instant vectors and scalars, evaluated once per step on the
//! arguments' values at that step: math, rounding and clamping, date parts, sorting,
//! `scalar`/`vector`/`time`/`absent`, the query-context functions and the native
//! histogram statistics, as upstream's `functions.go`.

use hearth_model::Labels;

use super::error::{EvalError, exec};
use super::evaluator::{Evaluator, NodeHelper, drop_metadata_labels};
use super::histogram_functions;
use super::plan::{CallNode, Node, NodeKind};
use super::sorting::{HeapOrder, go_sort_by};
use super::value::{InputSample, InputVector, Sample, Vector};

/// Evaluates instant function `name` for one step.
pub(crate) fn call(
    ev: &Evaluator,
    name: &str,
    vals: &[InputVector],
    c: &CallNode,
    h: &mut NodeHelper,
) -> Result<Vector, EvalError> {
    let scalar = |i: usize| {
        vals.get(i)
            .and_then(|v| v.first())
            .map_or(f64::NAN, |s| s.f)
    };
    let one = |f: f64, h: &mut NodeHelper| {
        let mut out = std::mem::take(&mut h.out);
        out.push(Sample::float(Labels::empty(), 0, f));
        out
    };
    let q = &ev.q.params;
    Ok(match name {
        "abs" => simple_float(vals, h, f64::abs),
        "ceil" => simple_float(vals, h, f64::ceil),
        "floor" => simple_float(vals, h, f64::floor),
        "exp" => simple_float(vals, h, f64::exp),
        "sqrt" => simple_float(vals, h, f64::sqrt),
        "ln" => simple_float(vals, h, f64::ln),
        "log2" => simple_float(vals, h, f64::log2),
        "log10" => simple_float(vals, h, f64::log10),
        "sin" => simple_float(vals, h, f64::sin),
        "cos" => simple_float(vals, h, f64::cos),
        "tan" => simple_float(vals, h, f64::tan),
        "asin" => simple_float(vals, h, f64::asin),
        "acos" => simple_float(vals, h, f64::acos),
        "atan" => simple_float(vals, h, f64::atan),
        "sinh" => simple_float(vals, h, f64::sinh),
        "cosh" => simple_float(vals, h, f64::cosh),
        "tanh" => simple_float(vals, h, f64::tanh),
        "asinh" => simple_float(vals, h, f64::asinh),
        "acosh" => simple_float(vals, h, f64::acosh),
        "atanh" => simple_float(vals, h, f64::atanh),
        "rad" => simple_float(vals, h, |v| v * std::f64::consts::PI / 180.0),
        "deg" => simple_float(vals, h, |v| v * 180.0 / std::f64::consts::PI),
        "sgn" => simple_float(vals, h, |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        "round" => {
            let to_nearest = if c.args.len() >= 2 { scalar(1) } else { 1.0 };
            // Dividing by the inverse has fewer floating point surprises.
            let inverse = 1.0 / to_nearest;
            simple_float(vals, h, move |f| (f * inverse + 0.5).floor() / inverse)
        }
        "clamp" => clamp(vals, scalar(1), scalar(2), h),
        "clamp_max" => clamp(vals, f64::NEG_INFINITY, scalar(1), h),
        "clamp_min" => clamp(vals, scalar(1), f64::INFINITY, h),
        "pi" => one(std::f64::consts::PI, h),
        "time" => one(h.ts as f64 / 1000.0, h),
        "start" => one(q.start as f64 / 1000.0, h),
        "end" => one(q.end as f64 / 1000.0, h),
        "step" => one(q.interval as f64 / 1000.0, h),
        "range" => one((q.end - q.start) as f64 / 1000.0, h),
        "min_of" => one(go_min(scalar(0), scalar(1)), h),
        "max_of" => one(go_max(scalar(0), scalar(1)), h),
        "vector" => one(scalar(0), h),
        "scalar" => {
            let mut value = None;
            let mut many = false;
            for s in vals.first().map_or(&[][..], |v| &v[..]) {
                if s.h.is_none() {
                    if value.is_some() {
                        many = true;
                        break;
                    }
                    value = Some(s.f);
                }
            }
            let v = if many {
                f64::NAN
            } else {
                value.unwrap_or(f64::NAN)
            };
            one(v, h)
        }
        "timestamp" => {
            let mut out = std::mem::take(&mut h.out);
            for s in vals.first().map_or(&[][..], |v| &v[..]) {
                out.push(Sample {
                    metric: keep_or_drop(s.metric, h),
                    t: 0,
                    f: s.t as f64 / 1000.0,
                    h: None,
                    drop_name: true,
                });
            }
            out
        }
        "absent" => {
            if vals.first().is_some_and(|v| !v.is_empty()) {
                std::mem::take(&mut h.out)
            } else {
                let labels = c.args.first().map_or_else(Labels::empty, absent_labels);
                let mut out = std::mem::take(&mut h.out);
                out.push(Sample::float(labels, 0, 1.0));
                out
            }
        }
        "sort" | "sort_desc" => {
            let mut v: Vector = vals
                .first()
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|s| s.h.is_none())
                        .map(InputSample::to_sample)
                        .collect()
                })
                .unwrap_or_default();
            // NaN sorts last in both directions: sort by the opposite order with NaN
            // first, then reverse.
            let order = if name == "sort" {
                HeapOrder::ReverseValue
            } else {
                HeapOrder::Value
            };
            go_sort_by(&mut v, |a, b| order.less(b, a));
            v
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names: Vec<&str> = (1..c.args.len()).filter_map(|i| c.string_arg(i)).collect();
            let mut v: Vector = vals
                .first()
                .map(|v| v.iter().copied().map(InputSample::to_sample).collect())
                .unwrap_or_default();
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                for n in &names {
                    let (x, y) = (a.metric.get_or_empty(n), b.metric.get_or_empty(n));
                    if x == y {
                        continue;
                    }
                    let o = if natural_less(x, y) {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    };
                    return if desc { o.reverse() } else { o };
                }
                let o = a.metric.cmp(&b.metric);
                if desc { o.reverse() } else { o }
            });
            v
        }
        "year" | "month" | "day_of_month" | "day_of_year" | "day_of_week" | "days_in_month"
        | "hour" | "minute" => date_function(name, vals, h),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => histogram_functions::simple(name, vals, h),
        "histogram_quantile" => histogram_functions::histogram_quantile(ev, vals, c, h)?,
        "histogram_quantiles" => histogram_functions::histogram_quantiles(ev, vals, c, h)?,
        "histogram_fraction" => histogram_functions::histogram_fraction(ev, vals, c, h)?,
        _ => return Err(exec(format!("unknown function {name}"))),
    })
}

/// Go's `math.Min`/`math.Max` for `min_of`/`max_of`.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() { a } else { b }
    } else {
        a.min(b)
    }
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() { b } else { a }
    } else {
        a.max(b)
    }
}

/// Without delayed name removal the metric name goes right away; with it, at the end.
pub(crate) fn keep_or_drop(metric: &Labels, h: &NodeHelper) -> Labels {
    if h.delayed_name_removal {
        metric.clone()
    } else {
        drop_metadata_labels(metric)
    }
}

/// Applies `f` to every float sample (histograms are dropped).
fn simple_float(vals: &[InputVector], h: &mut NodeHelper, f: impl Fn(f64) -> f64) -> Vector {
    let mut out = std::mem::take(&mut h.out);
    for s in vals.first().map_or(&[][..], |v| &v[..]) {
        if s.h.is_none() {
            out.push(Sample {
                metric: keep_or_drop(s.metric, h),
                t: 0,
                f: f(s.f),
                h: None,
                drop_name: true,
            });
        }
    }
    out
}

fn clamp(vals: &[InputVector], min: f64, max: f64, h: &mut NodeHelper) -> Vector {
    if max < min {
        return std::mem::take(&mut h.out);
    }
    // Go's math.Max(min, math.Min(max, v)): NaN stays NaN.
    simple_float(vals, h, |v| go_max(min, go_min(max, v)))
}

/// The labels `absent()` returns: the equality matchers of a selector argument,
/// except labels that are matched more than once.
pub(crate) fn absent_labels(arg: &Node) -> Labels {
    let matchers = match &arg.kind {
        NodeKind::VectorSelector(s) => &s.matchers,
        NodeKind::MatrixSelector(m) => &m.selector.matchers,
        NodeKind::StepInvariant(inner) => return absent_labels(inner),
        _ => return Labels::empty(),
    };
    let mut b = hearth_model::LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == "__name__" {
            continue;
        }
        if m.op == hearth_model::MatchOp::Equal && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.labels()
}

/// Natural ("version") order of label values: digit runs compare as numbers. A port
/// of `facette/natsort.Compare`, which upstream uses, including its quirks.
pub(crate) fn natural_less(a: &str, b: &str) -> bool {
    let ca = natsort_chunks(a);
    let cb = natsort_chunks(b);
    for i in 0..ca.len() {
        if i >= cb.len() {
            return false;
        }
        if let (Ok(x), Ok(y)) = (ca[i].parse::<i64>(), cb[i].parse::<i64>()) {
            if x == y {
                if i == ca.len() - 1 {
                    return true;
                } else if i == cb.len() - 1 {
                    return false;
                }
                continue;
            }
            return x < y;
        }
        if ca[i] == cb[i] {
            if i == ca.len() - 1 {
                return true;
            } else if i == cb.len() - 1 {
                return false;
            }
            continue;
        }
        return ca[i] < cb[i];
    }
    false
}

/// Splits into alternating runs of ASCII digits and everything else.
fn natsort_chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut last_digit: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        if let Some(ld) = last_digit
            && ld != d
        {
            out.push(&s[start..i]);
            start = i;
        }
        last_digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// A civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// A date part of a Unix time in seconds, in UTC.
fn date_part(name: &str, secs: i64) -> f64 {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "year" => y as f64,
        "month" => m as f64,
        "day_of_month" => d as f64,
        "day_of_year" => {
            let cum: u32 = (1..m).map(|mm| days_in_month(y, mm)).sum();
            (cum + d) as f64
        }
        // 1970-01-01 was a Thursday.
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "days_in_month" => days_in_month(y, m) as f64,
        "hour" => (sod / 3600) as f64,
        "minute" => ((sod % 3600) / 60) as f64,
        _ => f64::NAN,
    }
}

/// Go's float to int64 conversion: out of range and NaN give the minimum (amd64).
fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

fn date_function(name: &str, vals: &[InputVector], h: &mut NodeHelper) -> Vector {
    let mut out = std::mem::take(&mut h.out);
    let Some(v) = vals.first() else {
        out.push(Sample::float(
            Labels::empty(),
            0,
            date_part(name, h.ts.div_euclid(1000)),
        ));
        return out;
    };
    for s in v {
        if s.h.is_some() {
            continue;
        }
        out.push(Sample {
            metric: keep_or_drop(s.metric, h),
            t: 0,
            f: date_part(name, go_f64_to_i64(s.f)),
            h: None,
            drop_name: true,
        });
    }
    out
}

/// The float result of a histogram statistic for `s`: only the metric name is dropped
/// (upstream's `simpleHistogramFunc`), later when names are removed late.
pub(crate) fn float_from_histogram(s: &InputSample, f: f64, h: &NodeHelper) -> Sample {
    let metric = if h.delayed_name_removal {
        s.metric.clone()
    } else {
        s.metric.without_metric_name()
    };
    Sample {
        metric,
        t: 0,
        f,
        h: None,
        drop_name: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2006-01-02T22:04:05Z
        assert_eq!(date_part("year", 1_136_239_445), 2006.0);
        assert_eq!(date_part("month", 1_136_239_445), 1.0);
        assert_eq!(date_part("day_of_month", 1_136_239_445), 2.0);
        assert_eq!(date_part("day_of_week", 1_136_239_445), 1.0);
        assert_eq!(date_part("hour", 1_136_239_445), 22.0);
        assert_eq!(date_part("minute", 1_136_239_445), 4.0);
        // 2016-12-31T13:37:00Z, a leap year.
        assert_eq!(date_part("day_of_year", 1_483_191_420), 366.0);
        assert_eq!(date_part("day_of_year", 1_672_493_820), 365.0);
        assert_eq!(date_part("days_in_month", 1_454_284_800), 29.0);
    }

    #[test]
    fn natural_order() {
        assert!(natural_less("a2", "a10"));
        assert!(!natural_less("a10", "a2"));
        assert!(natural_less("1.2.0", "1.10.0"));
    }
}
