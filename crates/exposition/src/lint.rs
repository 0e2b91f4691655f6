//! The metric naming lint of `promtool check metrics` (client_golang's `promlint`): help
//! text present, base units, `_total` only on counters, no histogram/summary suffixes or
//! labels elsewhere, no type names, colons, camelCase or abbreviated units in names.

use hearth_model::MetricType;

use crate::family::MetricFamily;

/// One finding: the family it is about and what is wrong, in promlint's words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub metric: String,
    pub text: String,
}

/// Units promlint recognises, with the base unit each should be expressed in.
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// Type names that must not appear in metric names (the protobuf enum's names).
const TYPE_NAMES: &[&str] = &[
    "counter",
    "gauge",
    "summary",
    "histogram",
    "gauge_histogram",
];

/// Lints families; problems come sorted by metric name, then text, as promlint sorts them.
pub fn lint(families: &[MetricFamily]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for f in families {
        lint_family(f, &mut problems);
    }
    problems.sort();
    problems
}

fn lint_family(f: &MetricFamily, out: &mut Vec<Problem>) {
    let name = f.name.as_str();
    let mut problem = |text: String| {
        out.push(Problem {
            metric: name.to_string(),
            text,
        })
    };
    let t = f.metric_type;
    if f.help.is_none() {
        problem("no help text".into());
    }
    if let Some((unit, base)) = metric_unit(name)
        && unit != base
    {
        problem(format!("use base unit {base:?} instead of {unit:?}"));
    }
    let is_counter = t == MetricType::Counter;
    let is_untyped = t == MetricType::Unknown;
    let has_total = name.ends_with("_total");
    if is_counter && !has_total {
        problem(r#"counter metrics should have "_total" suffix"#.into());
    } else if !is_untyped && !is_counter && has_total {
        problem(r#"non-counter metrics should not have "_total" suffix"#.into());
    }
    let label_names = || {
        f.samples
            .iter()
            .flat_map(|s| s.labels.iter().map(|(n, _)| n.as_str()))
    };
    if !is_untyped {
        let is_histogram = t == MetricType::Histogram;
        let is_summary = t == MetricType::Summary;
        if !is_histogram && name.ends_with("_bucket") {
            problem(r#"non-histogram metrics should not have "_bucket" suffix"#.into());
        }
        if !is_histogram && !is_summary && name.ends_with("_count") {
            problem(
                r#"non-histogram and non-summary metrics should not have "_count" suffix"#.into(),
            );
        }
        if !is_histogram && !is_summary && name.ends_with("_sum") {
            problem(
                r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.into(),
            );
        }
        for s in &f.samples {
            for (l, _) in &s.labels {
                if !is_histogram && l == "le" {
                    problem(r#"non-histogram metrics should not have "le" label"#.into());
                }
                if !is_summary && l == "quantile" {
                    problem(r#"non-summary metrics should not have "quantile" label"#.into());
                }
            }
        }
    }
    let lower = name.to_lowercase();
    let has_word = |w: &str| lower.contains(&format!("_{w}_")) || lower.ends_with(&format!("_{w}"));
    for t in TYPE_NAMES {
        if has_word(t) {
            problem(format!("metric name should not include type '{t}'"));
        }
    }
    if name.contains(':') {
        problem("metric names should not contain ':'".into());
    }
    if is_camel_case(name) {
        problem("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    for l in label_names() {
        if is_camel_case(l) {
            problem("label names should be written in 'snake_case' not 'camelCase'".into());
        }
    }
    for a in UNIT_ABBREVIATIONS {
        if has_word(a) {
            problem("metric names should not contain abbreviated units".into());
        }
    }
}

/// A lower-case letter followed by an upper-case one (`[a-z][A-Z]`).
fn is_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// The first `_`-separated word of the name that is a known unit, with any prefix.
fn metric_unit(name: &str) -> Option<(&str, &'static str)> {
    for word in name.split('_') {
        for (unit, base) in UNITS {
            if word == *unit {
                return Some((word, base));
            }
            for p in UNIT_PREFIXES {
                if word.strip_prefix(p) == Some(unit) {
                    return Some((word, base));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::FamilySample;

    fn fam(name: &str, t: MetricType, help: bool, labels: &[&str]) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            metric_type: t,
            help: help.then(|| "h".to_string()),
            unit: None,
            samples: vec![FamilySample {
                name: name.into(),
                labels: labels
                    .iter()
                    .map(|l| (l.to_string(), "v".to_string()))
                    .collect(),
                ..Default::default()
            }],
        }
    }

    fn texts(f: MetricFamily) -> Vec<String> {
        lint(&[f]).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn clean_metric() {
        assert!(
            texts(fam(
                "http_requests_total",
                MetricType::Counter,
                true,
                &["code"]
            ))
            .is_empty()
        );
    }

    #[test]
    fn findings() {
        assert_eq!(
            texts(fam("requests", MetricType::Counter, false, &[])),
            [
                r#"counter metrics should have "_total" suffix"#,
                "no help text"
            ]
        );
        assert_eq!(
            texts(fam("x_milliseconds", MetricType::Gauge, true, &[])),
            [r#"use base unit "seconds" instead of "milliseconds""#]
        );
        assert_eq!(
            texts(fam("x_ms", MetricType::Gauge, true, &["fooBar", "le"])),
            [
                "label names should be written in 'snake_case' not 'camelCase'",
                "metric names should not contain abbreviated units",
                r#"non-histogram metrics should not have "le" label"#,
            ]
        );
        assert_eq!(
            texts(fam("a:b_gauge", MetricType::Gauge, true, &[])),
            [
                "metric name should not include type 'gauge'",
                "metric names should not contain ':'",
            ]
        );
        assert_eq!(
            texts(fam("thermometers_celsius", MetricType::Gauge, true, &[])),
            Vec::<String>::new()
        );
        assert_eq!(
            texts(fam("x_count", MetricType::Gauge, true, &[])),
            [r#"non-histogram and non-summary metrics should not have "_count" suffix"#]
        );
    }
}
