//! The consistency check of a scrape (client_golang's `Gatherers.Gather`), which the
//! pushgateway also runs on every push before accepting it.
//!
//! Families of the same name from different groups are merged into one (the first
//! group's help and type win, as upstream's store merges them); the pushgateway's own
//! metrics come first. Then, as `Gatherers` does: a family name met twice must have the
//! same help and type, `_count`/`_sum`/`_bucket` names must not collide with a summary or
//! histogram, every metric must carry the value of its family's type, label names must
//! be valid and unique, and no two metrics of a family may have the same labels.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use hearth_exposition::proto;
use hearth_model::names::{go_quote, is_legacy_metric_name};

/// Why the stored metrics (or a push applied to them) cannot be exposed together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join_errors(.0))]
pub struct GatherError(pub Vec<String>);

/// client_golang's `MultiError` text: one error alone, or a counted list.
fn join_errors(errs: &[String]) -> String {
    if errs.len() == 1 {
        return errs[0].clone();
    }
    let mut out = format!("{} error(s) occurred:", errs.len());
    for e in errs {
        let _ = write!(out, "\n* {e}");
    }
    out
}

/// Merges families of the same name across groups, in the order given (upstream's
/// `GetMetricFamilies`); a family named like one of the pushgateway's own metrics gets
/// that metric's help.
pub fn merge_groups<'a>(
    groups: impl Iterator<Item = &'a [Arc<proto::MetricFamily>]>,
    predefined_help: &HashMap<String, String>,
) -> Vec<proto::MetricFamily> {
    let mut out: Vec<proto::MetricFamily> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for families in groups {
        for f in families {
            match by_name.get(f.name.as_str()) {
                Some(&i) => out[i].metric.extend(f.metric.iter().cloned()),
                None => {
                    by_name.insert(&f.name, out.len());
                    let mut f = proto::MetricFamily::clone(f);
                    if let Some(help) = predefined_help.get(&f.name) {
                        f.help.clone_from(help);
                    }
                    out.push(f);
                }
            }
        }
    }
    out
}

/// Checks `own` and then `pushed` families as `Gatherers.Gather` does and returns them
/// merged, sorted by name, metrics sorted by label values, empty families dropped.
pub fn gather(
    own: Vec<proto::MetricFamily>,
    pushed: Vec<proto::MetricFamily>,
) -> Result<Vec<proto::MetricFamily>, GatherError> {
    let mut errs = Vec::new();
    let mut result: Vec<proto::MetricFamily> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    for mf in own.into_iter().chain(pushed) {
        let i = match by_name.get(&mf.name) {
            Some(&i) => {
                let existing = &result[i];
                if existing.help != mf.help {
                    errs.push(format!(
                        "gathered metric family {} has help {} but should have {}",
                        mf.name,
                        go_quote(&mf.help),
                        go_quote(&existing.help)
                    ));
                    continue;
                }
                if existing.r#type != mf.r#type {
                    errs.push(format!(
                        "gathered metric family {} has type {} but should have {}",
                        mf.name,
                        type_name(mf.r#type),
                        type_name(existing.r#type)
                    ));
                    continue;
                }
                i
            }
            None => {
                if let Err(e) = check_name(&mf, &by_name, &result) {
                    errs.push(e);
                    continue;
                }
                by_name.insert(mf.name.clone(), result.len());
                result.push(proto::MetricFamily {
                    metric: Vec::new(),
                    ..mf.clone()
                });
                result.len() - 1
            }
        };
        for m in mf.metric {
            match check_metric(&result[i], m, &mut seen) {
                Ok(m) => result[i].metric.push(m),
                Err(e) => errs.push(e),
            }
        }
    }
    if !errs.is_empty() {
        return Err(GatherError(errs));
    }
    result.retain(|f| !f.metric.is_empty());
    for f in &mut result {
        f.metric.sort_by(compare_metrics);
    }
    result.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(result)
}

/// client_golang's `metricSorter`: label values position by position (fewer labels
/// first), then timestamps.
fn compare_metrics(a: &proto::Metric, b: &proto::Metric) -> std::cmp::Ordering {
    a.label
        .len()
        .cmp(&b.label.len())
        .then_with(|| {
            a.label
                .iter()
                .zip(&b.label)
                .map(|(x, y)| x.value.cmp(&y.value))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .then_with(|| a.timestamp_ms.cmp(&b.timestamp_ms))
}

/// Go's names of the metric types, as messages print them.
pub fn type_name(t: i32) -> String {
    match proto::MetricType::try_from(t) {
        Ok(proto::MetricType::Counter) => "COUNTER".into(),
        Ok(proto::MetricType::Gauge) => "GAUGE".into(),
        Ok(proto::MetricType::Summary) => "SUMMARY".into(),
        Ok(proto::MetricType::Untyped) => "UNTYPED".into(),
        Ok(proto::MetricType::Histogram) => "HISTOGRAM".into(),
        Ok(proto::MetricType::GaugeHistogram) => "GAUGE_HISTOGRAM".into(),
        Err(_) => t.to_string(),
    }
}

/// The family name itself, then client_golang's `checkSuffixCollisions`.
fn check_name(
    mf: &proto::MetricFamily,
    by_name: &HashMap<String, usize>,
    result: &[proto::MetricFamily],
) -> Result<(), String> {
    let name = mf.name.as_str();
    if !is_legacy_metric_name(name) {
        return Err(format!(
            "collected metric family {} has an invalid name",
            go_quote(name)
        ));
    }
    if proto::MetricType::try_from(mf.r#type).is_err() {
        return Err(format!(
            "collected metric family {} has unknown type {}",
            go_quote(name),
            mf.r#type
        ));
    }
    let existing_type = |n: &str| by_name.get(n).map(|&i| result[i].r#type);
    let summary = proto::MetricType::Summary as i32;
    let histogram = proto::MetricType::Histogram as i32;
    for suffix in ["_count", "_sum", "_bucket"] {
        let Some(base) = name.strip_suffix(suffix) else {
            continue;
        };
        match existing_type(base) {
            Some(t) if t == summary && suffix != "_bucket" => {
                return Err(format!(
                    "collected metric named {} collides with previously collected summary named {}",
                    go_quote(name),
                    go_quote(base)
                ));
            }
            Some(t) if t == histogram => {
                return Err(format!(
                    "collected metric named {} collides with previously collected histogram named {}",
                    go_quote(name),
                    go_quote(base)
                ));
            }
            _ => {}
        }
        break;
    }
    if mf.r#type == summary || mf.r#type == histogram {
        for suffix in ["_count", "_sum"] {
            let other = format!("{name}{suffix}");
            if existing_type(&other).is_some() {
                return Err(format!(
                    "collected histogram or summary named {} collides with previously collected metric named {}",
                    go_quote(name),
                    go_quote(&other)
                ));
            }
        }
    }
    if mf.r#type == histogram {
        let other = format!("{name}_bucket");
        if existing_type(&other).is_some() {
            return Err(format!(
                "collected histogram named {} collides with previously collected metric named {}",
                go_quote(name),
                go_quote(&other)
            ));
        }
    }
    Ok(())
}

/// client_golang's `checkMetricConsistency`; returns the metric with sorted labels.
fn check_metric(
    family: &proto::MetricFamily,
    mut m: proto::Metric,
    seen: &mut HashSet<Vec<u8>>,
) -> Result<proto::Metric, String> {
    let name = go_quote(&family.name);
    let t = proto::MetricType::try_from(family.r#type);
    let has_value = match t {
        Ok(proto::MetricType::Gauge) => m.gauge.is_some(),
        Ok(proto::MetricType::Counter) => m.counter.is_some(),
        Ok(proto::MetricType::Summary) => m.summary.is_some(),
        Ok(proto::MetricType::Histogram | proto::MetricType::GaugeHistogram) => {
            m.histogram.is_some()
        }
        Ok(proto::MetricType::Untyped) => m.untyped.is_some(),
        Err(_) => true,
    };
    if !has_value {
        return Err(format!(
            "collected metric {name} {{ {}}} is not a {}",
            metric_text(&m),
            type_name(family.r#type)
        ));
    }
    m.label.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, l) in m.label.iter().enumerate() {
        if i > 0 && m.label[i - 1].name == l.name {
            return Err(format!(
                "collected metric {name} {{ {}}} has two or more labels with the same name: {}",
                metric_text(&m),
                l.name
            ));
        }
        if !is_label_name(&l.name) {
            return Err(format!(
                "collected metric {name} {{ {}}} has a label with an invalid name: {}",
                metric_text(&m),
                l.name
            ));
        }
        if m.summary.is_some() && l.name == "quantile" {
            return Err(format!(
                "collected metric {name} {{ {}}} must not have an explicit \"quantile\" label",
                metric_text(&m)
            ));
        }
    }
    let mut key = family.name.as_bytes().to_vec();
    key.push(0xff);
    for l in &m.label {
        key.extend_from_slice(l.name.as_bytes());
        key.push(0xff);
        key.extend_from_slice(l.value.as_bytes());
        key.push(0xff);
    }
    if !seen.insert(key) {
        return Err(format!(
            "collected metric {name} {{ {}}} was collected before with the same name and label values",
            metric_text(&m)
        ));
    }
    Ok(m)
}

/// A legacy label name that is not reserved (`__` prefix).
fn is_label_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !n.starts_with("__")
}

/// A metric in protobuf's compact text form, as Go prints it in these messages.
fn metric_text(m: &proto::Metric) -> String {
    let mut out = String::new();
    for l in &m.label {
        let _ = write!(
            out,
            "label:{{name:{} value:{}}} ",
            go_quote(&l.name),
            go_quote(&l.value)
        );
    }
    let g = hearth_model::float::format_go_g;
    if let Some(v) = &m.gauge {
        let _ = write!(out, "gauge:{{value:{}}} ", g(v.value));
    }
    if let Some(v) = &m.counter {
        let _ = write!(out, "counter:{{value:{}}} ", g(v.value));
    }
    if let Some(v) = &m.untyped {
        let _ = write!(out, "untyped:{{value:{}}} ", g(v.value));
    }
    if let Some(s) = &m.summary {
        let _ = write!(
            out,
            "summary:{{sample_count:{} sample_sum:{}}} ",
            s.sample_count,
            g(s.sample_sum)
        );
    }
    if let Some(h) = &m.histogram {
        let _ = write!(
            out,
            "histogram:{{sample_count:{} sample_sum:{}}} ",
            h.sample_count,
            g(h.sample_sum)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(
        name: &str,
        t: proto::MetricType,
        help: &str,
        labels: &[&[(&str, &str)]],
    ) -> proto::MetricFamily {
        proto::MetricFamily {
            name: name.into(),
            help: help.into(),
            r#type: t as i32,
            metric: labels
                .iter()
                .map(|ls| {
                    let mut m = proto::Metric {
                        label: ls
                            .iter()
                            .map(|(n, v)| proto::LabelPair {
                                name: n.to_string(),
                                value: v.to_string(),
                            })
                            .collect(),
                        ..Default::default()
                    };
                    match t {
                        proto::MetricType::Counter => m.counter = Some(Default::default()),
                        proto::MetricType::Gauge => m.gauge = Some(Default::default()),
                        proto::MetricType::Summary => m.summary = Some(Default::default()),
                        proto::MetricType::Histogram => m.histogram = Some(Default::default()),
                        _ => m.untyped = Some(Default::default()),
                    }
                    m
                })
                .collect(),
            ..Default::default()
        }
    }

    use proto::MetricType::{Counter, Gauge, Histogram, Summary};

    #[test]
    fn merged_and_sorted() {
        let a = vec![Arc::new(family("x", Gauge, "h", &[&[("job", "b")]]))];
        let b = vec![Arc::new(family(
            "x",
            Gauge,
            "other help",
            &[&[("job", "a")]],
        ))];
        let merged = merge_groups([a.as_slice(), b.as_slice()].into_iter(), &HashMap::new());
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].help, "h", "the first group's help wins");
        let own = vec![family("up_own", Counter, "own", &[&[]])];
        let out = gather(own, merged).unwrap();
        assert_eq!(out[1].name, "x");
        assert_eq!(
            out[1].metric[0].label[0].value, "a",
            "sorted by label values"
        );
    }

    #[test]
    fn predefined_help_replaces_pushed_help() {
        let a = vec![Arc::new(family(
            "process_x",
            Gauge,
            "pushed",
            &[&[("job", "b")]],
        ))];
        let help = HashMap::from([("process_x".to_string(), "own".to_string())]);
        let merged = merge_groups([a.as_slice()].into_iter(), &help);
        assert_eq!(merged[0].help, "own");
    }

    #[test]
    fn inconsistencies() {
        // A type differing from an own metric of the same name.
        let e = gather(
            vec![family("x", Counter, "h", &[&[]])],
            vec![family("x", Gauge, "h", &[&[("job", "j")]])],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "gathered metric family x has type GAUGE but should have COUNTER"
        );
        // Metrics of another type merged into a family.
        let mut mixed = family("x", Gauge, "", &[&[("job", "a")]]);
        mixed
            .metric
            .extend(family("x", Counter, "", &[&[("job", "b")]]).metric);
        let e = gather(vec![], vec![mixed]).unwrap_err();
        assert!(e.to_string().contains("is not a GAUGE"), "{e}");
        // Duplicates.
        let e = gather(
            vec![],
            vec![family("x", Gauge, "", &[&[("job", "a")], &[("job", "a")]])],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("was collected before with the same name and label values"),
            "{e}"
        );
        // Suffix collisions, both ways round.
        let e = gather(
            vec![],
            vec![
                family("h", Histogram, "", &[&[]]),
                family("h_count", Gauge, "", &[&[]]),
            ],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("collides with previously collected histogram"),
            "{e}"
        );
        let e = gather(
            vec![],
            vec![
                family("s_sum", Gauge, "", &[&[]]),
                family("s", Summary, "", &[&[]]),
            ],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("collides with previously collected metric named \"s_sum\""),
            "{e}"
        );
        // Bad label names, quantile on a summary; two errors are counted.
        let e = gather(
            vec![],
            vec![
                family("x", Gauge, "", &[&[("__x", "a")]]),
                family("s", Summary, "", &[&[("quantile", "a")]]),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("2 error(s) occurred:\n* "), "{e}");
        // An invalid family name.
        assert!(gather(vec![], vec![family("a.b", Gauge, "", &[&[]])]).is_err());
    }
}
