//! Protobuf `MetricFamily` messages as client_golang builds and writes them: the text
//! format read into messages the way `expfmt.TextParser.TextToMetricFamilies` groups it
//! (what the pushgateway stores), and messages expanded into samples and written as text
//! the way `expfmt.MetricFamilyToText` does (what the pushgateway serves).
//!
//! Tokens come from [`TextParser`]; this module adds expfmt's grouping and its checks:
//! one family per name wherever its samples appear, summaries and histograms collected
//! into one message per label set, a second HELP or a TYPE after samples rejected.

use std::collections::HashMap;

use hearth_model::MetricType;
use hearth_model::float::{format_go_g, parse_go_float};

use crate::entry::{Entry, LabelPair};
use crate::family::{FamilySample, MetricFamily};
use crate::proto;
use crate::text::TextParser;

/// Why a text exposition could not be read into families; displayed as expfmt words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text format parsing error in line {line}: {message}")]
pub struct TextFamiliesError {
    pub line: usize,
    pub message: String,
}

/// Which sample of a summary or histogram a line is.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Value,
    Count,
    Sum,
}

/// Reads a text exposition into families, in the order their names first appear.
/// Families without samples are dropped. Timestamps are kept (`timestamp_ms`); callers
/// that refuse them check for them.
pub fn parse_text_families(input: &[u8]) -> Result<Vec<proto::MetricFamily>, TextFamiliesError> {
    let mut b = FamiliesBuilder::default();
    let mut p = TextParser::new(input).map_err(|e| TextFamiliesError {
        line: e.line.max(1),
        message: e.message,
    })?;
    loop {
        let entry = match p.next() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                return Err(TextFamiliesError {
                    line: e.line,
                    message: e.message,
                });
            }
        };
        if let Err(message) = b.push(&entry) {
            let line = p.entry_line();
            return Err(TextFamiliesError { line, message });
        }
    }
    Ok(b.finish())
}

#[derive(Default)]
struct FamiliesBuilder {
    families: Vec<proto::MetricFamily>,
    by_name: HashMap<String, usize>,
    /// Per family: a TYPE line was read or a sample fixed the type (expfmt's `Type != nil`).
    type_set: Vec<bool>,
    help_set: Vec<bool>,
    /// Summaries and histograms: (family, labels without quantile/le, sorted) → metric.
    grouped: HashMap<(usize, Vec<(String, String)>), usize>,
}

impl FamiliesBuilder {
    /// The family a name belongs to, as expfmt's `setOrCreateCurrentMF` finds it: the
    /// exact name, else the summary or histogram it is the `_count`/`_sum`/`_bucket` of,
    /// else a new family.
    fn family_for(&mut self, name: &str) -> (usize, Part) {
        if let Some(&i) = self.by_name.get(name) {
            return (i, Part::Value);
        }
        let suffixed = [
            ("_count", Part::Count, false),
            ("_sum", Part::Sum, false),
            ("_bucket", Part::Value, true),
        ];
        for (suffix, part, histogram_only) in suffixed {
            let Some(base) = name.strip_suffix(suffix).filter(|b| !b.is_empty()) else {
                continue;
            };
            if let Some(&i) = self.by_name.get(base) {
                let t = self.families[i].r#type;
                let summary = t == proto::MetricType::Summary as i32 && !histogram_only;
                if summary || t == proto::MetricType::Histogram as i32 {
                    return (i, part);
                }
            }
        }
        let i = self.families.len();
        self.families.push(proto::MetricFamily {
            name: name.to_string(),
            r#type: proto::MetricType::Untyped as i32,
            ..Default::default()
        });
        self.type_set.push(false);
        self.help_set.push(false);
        self.by_name.insert(name.to_string(), i);
        (i, Part::Value)
    }

    fn push(&mut self, e: &Entry<'_>) -> Result<(), String> {
        match e {
            Entry::Help { name, help } => {
                let (i, _) = self.family_for(name);
                if self.help_set[i] {
                    return Err(format!("second HELP line for metric name {name:?}"));
                }
                self.help_set[i] = true;
                self.families[i].help = help.to_string();
            }
            Entry::Type { name, metric_type } => {
                let (i, _) = self.family_for(name);
                if self.type_set[i] {
                    return Err(format!(
                        "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                    ));
                }
                self.type_set[i] = true;
                self.families[i].r#type = proto_type(*metric_type) as i32;
            }
            Entry::Sample(s) => self.sample(&s.name, s.labels, s.value, s.timestamp)?,
            Entry::Comment(_) | Entry::Unit { .. } | Entry::Histogram(_) => {}
        }
        Ok(())
    }

    fn sample(
        &mut self,
        name: &str,
        labels: &[LabelPair<'_>],
        value: f64,
        timestamp: Option<i64>,
    ) -> Result<(), String> {
        let (i, part) = self.family_for(name);
        self.type_set[i] = true;
        let family_name = self.families[i].name.clone();
        let t = self.families[i].r#type;
        let special = if t == proto::MetricType::Summary as i32 {
            Some("quantile")
        } else if t == proto::MetricType::Histogram as i32 {
            Some("le")
        } else {
            None
        };
        let mut pairs = Vec::with_capacity(labels.len());
        let mut bound = None;
        for l in labels {
            if l.name == hearth_model::METRIC_NAME {
                return Err(format!("label name {:?} is reserved", l.name));
            }
            if Some(l.name.as_ref()) == special {
                let Ok(v) = parse_go_float(&l.value) else {
                    return Err(format!(
                        "expected float as value for '{}' label, got {:?}",
                        l.name, l.value
                    ));
                };
                bound = Some(v);
                continue;
            }
            if pairs.iter().any(|p: &proto::LabelPair| p.name == l.name) {
                return Err(format!("duplicate label names for metric {family_name:?}"));
            }
            pairs.push(proto::LabelPair {
                name: l.name.to_string(),
                value: l.value.to_string(),
            });
        }
        let timestamp_ms = timestamp.unwrap_or(0);
        let Some(special) = special else {
            let mut m = proto::Metric {
                label: pairs,
                timestamp_ms,
                ..Default::default()
            };
            match proto::MetricType::try_from(t) {
                Ok(proto::MetricType::Counter) => {
                    m.counter = Some(proto::Counter {
                        value,
                        ..Default::default()
                    })
                }
                Ok(proto::MetricType::Gauge) => m.gauge = Some(proto::Gauge { value }),
                _ => m.untyped = Some(proto::Untyped { value }),
            }
            self.families[i].metric.push(m);
            return Ok(());
        };
        let mut key = pairs
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect::<Vec<_>>();
        key.sort();
        let metrics = &mut self.families[i].metric;
        let m = match self.grouped.get(&(i, key.clone())) {
            Some(&j) => &mut metrics[j],
            None => {
                self.grouped.insert((i, key), metrics.len());
                metrics.push(proto::Metric {
                    label: pairs,
                    ..Default::default()
                });
                let last = metrics.len() - 1;
                &mut metrics[last]
            }
        };
        // expfmt keeps the timestamp of the last line of the group.
        if timestamp.is_some() {
            m.timestamp_ms = timestamp_ms;
        }
        if special == "quantile" {
            let s = m.summary.get_or_insert_with(Default::default);
            match (part, bound) {
                (Part::Count, _) => s.sample_count = value as u64,
                (Part::Sum, _) => s.sample_sum = value,
                (Part::Value, Some(q)) => s.quantile.push(proto::Quantile { quantile: q, value }),
                (Part::Value, None) => {}
            }
        } else {
            let h = m.histogram.get_or_insert_with(Default::default);
            match (part, bound) {
                (Part::Count, _) => h.sample_count = value as u64,
                (Part::Sum, _) => h.sample_sum = value,
                (Part::Value, Some(le)) => h.bucket.push(proto::Bucket {
                    upper_bound: le,
                    cumulative_count: value as u64,
                    ..Default::default()
                }),
                (Part::Value, None) => {}
            }
        }
        Ok(())
    }

    fn finish(self) -> Vec<proto::MetricFamily> {
        self.families
            .into_iter()
            .filter(|f| !f.metric.is_empty())
            .collect()
    }
}

fn proto_type(t: MetricType) -> proto::MetricType {
    match t {
        MetricType::Counter => proto::MetricType::Counter,
        MetricType::Gauge => proto::MetricType::Gauge,
        MetricType::Summary => proto::MetricType::Summary,
        MetricType::Histogram => proto::MetricType::Histogram,
        MetricType::GaugeHistogram => proto::MetricType::GaugeHistogram,
        _ => proto::MetricType::Untyped,
    }
}

/// The metric type of a protobuf family; unknown numbers read as untyped.
pub fn family_type(f: &proto::MetricFamily) -> MetricType {
    match proto::MetricType::try_from(f.r#type) {
        Ok(proto::MetricType::Counter) => MetricType::Counter,
        Ok(proto::MetricType::Gauge) => MetricType::Gauge,
        Ok(proto::MetricType::Summary) => MetricType::Summary,
        Ok(proto::MetricType::Histogram) => MetricType::Histogram,
        Ok(proto::MetricType::GaugeHistogram) => MetricType::GaugeHistogram,
        _ => MetricType::Unknown,
    }
}

/// The samples of a protobuf family in expfmt's text order: quantiles then `_sum` and
/// `_count` for summaries; buckets (with `+Inf` added when missing), `_sum`, `_count`
/// for histograms. The `le`/`quantile` label goes last, as expfmt writes it.
pub fn expand_family(f: &proto::MetricFamily) -> MetricFamily {
    let metric_type = family_type(f);
    let name = f.name.as_str();
    let mut samples = Vec::new();
    for m in &f.metric {
        let labels: Vec<(String, String)> = m
            .label
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let timestamp = (m.timestamp_ms != 0).then_some(m.timestamp_ms);
        let mut push = |suffix: &str, extra: Option<(&str, f64)>, value: f64| {
            let mut labels = labels.clone();
            if let Some((n, v)) = extra {
                labels.push((n.to_string(), format_go_g(v)));
            }
            samples.push(FamilySample {
                name: format!("{name}{suffix}"),
                labels,
                value,
                timestamp,
                exemplar: None,
            });
        };
        if let (Some(s), MetricType::Summary) = (&m.summary, metric_type) {
            for q in &s.quantile {
                push("", Some(("quantile", q.quantile)), q.value);
            }
            push("_sum", None, s.sample_sum);
            push("_count", None, s.sample_count as f64);
        } else if let (Some(h), true) = (&m.histogram, metric_type.is_histogram()) {
            let count = if h.sample_count_float != 0.0 {
                h.sample_count_float
            } else {
                h.sample_count as f64
            };
            let mut inf_seen = false;
            for b in &h.bucket {
                let c = if b.cumulative_count_float != 0.0 {
                    b.cumulative_count_float
                } else {
                    b.cumulative_count as f64
                };
                inf_seen = b.upper_bound == f64::INFINITY;
                push("_bucket", Some(("le", b.upper_bound)), c);
            }
            if !inf_seen {
                push("_bucket", Some(("le", f64::INFINITY)), count);
            }
            push("_sum", None, h.sample_sum);
            push("_count", None, count);
        } else {
            push("", None, metric_value(m));
        }
    }
    MetricFamily {
        name: f.name.clone(),
        metric_type,
        help: (!f.help.is_empty()).then(|| f.help.clone()),
        unit: (!f.unit.is_empty()).then(|| f.unit.clone()),
        samples,
    }
}

/// The single value of a counter, gauge or untyped metric, whichever is set.
pub fn metric_value(m: &proto::Metric) -> f64 {
    if let Some(g) = &m.gauge {
        g.value
    } else if let Some(c) = &m.counter {
        c.value
    } else if let Some(u) = &m.untyped {
        u.value
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<proto::MetricFamily>, TextFamiliesError> {
        parse_text_families(s.as_bytes())
    }

    #[test]
    fn groups_like_expfmt() {
        let fams = parse(
            "# TYPE s summary\ns{a=\"1\",quantile=\"0.5\"} 3\ns_sum{a=\"1\"} 10\nother 1\n\
             s_count{a=\"1\"} 4\ns{a=\"2\",quantile=\"0.9\"} 5\n# HELP h Help.\n# TYPE h histogram\n\
             h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nother{x=\"y\"} 2\n",
        )
        .unwrap();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["s", "other", "h"]);
        let s = &fams[0];
        assert_eq!(s.metric.len(), 2);
        let sum = s.metric[0].summary.as_ref().unwrap();
        assert_eq!((sum.sample_count, sum.sample_sum), (4, 10.0));
        assert_eq!(sum.quantile.len(), 1);
        assert_eq!(s.metric[0].label.len(), 1);
        assert_eq!(
            fams[1].metric.len(),
            2,
            "non-contiguous samples join one family"
        );
        assert_eq!(fams[1].r#type, proto::MetricType::Untyped as i32);
        let h = fams[2].metric[0].histogram.as_ref().unwrap();
        assert_eq!(h.bucket.len(), 2);
        assert_eq!(fams[2].help, "Help.");
    }

    #[test]
    fn expfmt_errors() {
        let e = parse("# HELP a x\n# HELP a y\na 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "text format parsing error in line 2: second HELP line for metric name \"a\""
        );
        let e = parse("a 1\n# TYPE a gauge\n").unwrap_err();
        assert!(e.message.contains("TYPE reported after samples"), "{e}");
        assert_eq!(e.line, 2);
        let e = parse("a{b=\"1\",b=\"2\"} 1\n").unwrap_err();
        assert_eq!(e.message, "duplicate label names for metric \"a\"");
        let e = parse("# TYPE s summary\ns{quantile=\"x\"} 1\n").unwrap_err();
        assert_eq!(
            e.message,
            "expected float as value for 'quantile' label, got \"x\""
        );
        let e = parse("a 1\nb x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("a 1").is_err(), "last line needs a line feed");
    }

    #[test]
    fn timestamps_are_kept_and_empty_families_dropped() {
        let fams = parse("# TYPE unused gauge\na 1 1000\n").unwrap();
        assert_eq!(fams.len(), 1);
        assert_eq!(fams[0].metric[0].timestamp_ms, 1000);
    }

    #[test]
    fn expansion_in_text_order() {
        let fams = parse(
            "# TYPE s summary\ns{quantile=\"0.5\"} 3\ns_sum 10\ns_count 4\n\
             # TYPE h histogram\nh_bucket{a=\"b\",le=\"1\"} 1\nh_sum{a=\"b\"} 3\nh_count{a=\"b\"} 2\n",
        )
        .unwrap();
        let lines = |f: &proto::MetricFamily| -> Vec<String> {
            expand_family(f)
                .samples
                .iter()
                .map(|x| format!("{} {:?} {}", x.name, x.labels, x.value))
                .collect()
        };
        assert_eq!(
            lines(&fams[0]),
            [
                "s [(\"quantile\", \"0.5\")] 3",
                "s_sum [] 10",
                "s_count [] 4"
            ]
        );
        assert_eq!(
            lines(&fams[1]),
            [
                "h_bucket [(\"a\", \"b\"), (\"le\", \"1\")] 1",
                "h_bucket [(\"a\", \"b\"), (\"le\", \"+Inf\")] 2",
                "h_sum [(\"a\", \"b\")] 3",
                "h_count [(\"a\", \"b\")] 2"
            ]
        );
    }
}
