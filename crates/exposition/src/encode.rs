//! Encoders for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text, writing what
//! Prometheus' client libraries write (`expfmt`): the same escaping, number formatting
//! and metadata lines, and quoted names where a name is not a legacy one.

use hearth_model::float::{format_openmetrics, write_go_g};
use hearth_model::names::{is_legacy_label_name, is_legacy_metric_name, write_escaped_label_value};
use hearth_model::{Exemplar, MetricType, Timestamp};

use crate::family::{FamilySample, MetricFamily};
use crate::proto;
use crate::proto_families::expand_family;

/// The content type of the text format.
pub const TEXT_CONTENT_TYPE: &str =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";
/// The content type of OpenMetrics 1.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Appends families in the text format 0.0.4.
pub fn encode_text(families: &[MetricFamily], out: &mut String) {
    for f in families {
        // A family read from text without metadata stays without it.
        let typed = f.metric_type != MetricType::Unknown || f.help.is_some();
        write_text_family(out, f, typed);
    }
}

/// Appends protobuf families in the text format 0.0.4 exactly as client_golang's
/// `expfmt.MetricFamilyToText` writes them: HELP when there is one, TYPE always,
/// samples in [`expand_family`]'s order.
pub fn encode_proto_text(families: &[proto::MetricFamily], out: &mut String) {
    for f in families {
        write_text_family(out, &expand_family(f), true);
    }
}

fn write_text_family(out: &mut String, f: &MetricFamily, type_line: bool) {
    if let Some(help) = &f.help {
        out.push_str("# HELP ");
        write_metadata_name(out, &f.name);
        out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    if type_line {
        out.push_str("# TYPE ");
        write_metadata_name(out, &f.name);
        out.push(' ');
        out.push_str(f.metric_type.as_text_str());
        out.push('\n');
    }
    for s in &f.samples {
        write_series(out, &s.name, &s.labels);
        out.push(' ');
        write_text_float(out, s.value);
        if let Some(ts) = s.timestamp {
            out.push(' ');
            out.push_str(&ts.to_string());
        }
        out.push('\n');
    }
}

/// Appends families in OpenMetrics 1.0 text, ending with `# EOF`.
pub fn encode_openmetrics(families: &[MetricFamily], out: &mut String) {
    for f in families {
        // OpenMetrics names a counter family without its `_total` suffix.
        let name = match f.metric_type {
            MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(&f.name),
            _ => &f.name,
        };
        if let Some(help) = &f.help {
            out.push_str("# HELP ");
            write_metadata_name(out, name);
            out.push(' ');
            write_escaped_label_value(out, help);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        write_metadata_name(out, name);
        out.push(' ');
        out.push_str(f.metric_type.as_str());
        out.push('\n');
        if let Some(unit) = f.unit.as_deref().filter(|u| !u.is_empty()) {
            out.push_str("# UNIT ");
            write_metadata_name(out, name);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
        for s in &f.samples {
            write_openmetrics_sample(out, f.metric_type, name, s);
        }
    }
    out.push_str("# EOF\n");
}

fn write_openmetrics_sample(out: &mut String, t: MetricType, family: &str, s: &FamilySample) {
    let total;
    let sample_name = if t == MetricType::Counter && s.name == family {
        total = format!("{family}_total");
        &total
    } else {
        &s.name
    };
    write_series(out, sample_name, &s.labels);
    out.push(' ');
    out.push_str(&format_openmetrics(s.value));
    if let Some(ts) = s.timestamp {
        out.push(' ');
        write_seconds(out, ts);
    }
    if let Some(e) = &s.exemplar {
        write_exemplar(out, e);
    }
    out.push('\n');
}

fn write_exemplar(out: &mut String, e: &Exemplar) {
    out.push_str(" # ");
    let pairs: Vec<(String, String)> = e
        .labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    write_label_set(out, &pairs, true);
    out.push(' ');
    out.push_str(&format_openmetrics(e.value));
    if let Some(ts) = e.timestamp {
        out.push(' ');
        write_seconds(out, ts);
    }
}

/// Milliseconds as OpenMetrics seconds: `1.5`, `1700000000` (no trailing zeros).
fn write_seconds(out: &mut String, ms: Timestamp) {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    out.push_str(sign);
    out.push_str(&(abs / 1000).to_string());
    let frac = abs % 1000;
    if frac != 0 {
        let digits = format!("{frac:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Text-format number: Go's `'g'` shortest form, as client_golang writes it.
fn write_text_float(out: &mut String, v: f64) {
    write_go_g(out, v);
}

fn write_metadata_name(out: &mut String, name: &str) {
    if is_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        write_quoted_name(out, name);
    }
}

/// Quoted names use the label-value escaping (`\\`, `\"`, `\n`), as expfmt writes them.
fn write_quoted_name(out: &mut String, name: &str) {
    out.push('"');
    write_escaped_label_value(out, name);
    out.push('"');
}

/// Writes `name{a="b"}`, or `{"name", a="b"}` when the name needs quoting.
pub fn write_series(out: &mut String, name: &str, labels: &[(String, String)]) {
    if is_legacy_metric_name(name) {
        out.push_str(name);
        write_label_set(out, labels, false);
    } else {
        out.push('{');
        write_quoted_name(out, name);
        if !labels.is_empty() {
            out.push(',');
            write_label_pairs(out, labels);
        }
        out.push('}');
    }
}

fn write_label_set(out: &mut String, labels: &[(String, String)], braces_always: bool) {
    if labels.is_empty() && !braces_always {
        return;
    }
    out.push('{');
    write_label_pairs(out, labels);
    out.push('}');
}

fn write_label_pairs(out: &mut String, labels: &[(String, String)]) {
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if is_legacy_label_name(n) {
            out.push_str(n);
        } else {
            write_quoted_name(out, n);
        }
        out.push_str("=\"");
        write_escaped_label_value(out, v);
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    fn family() -> MetricFamily {
        MetricFamily {
            name: "http_requests".into(),
            metric_type: MetricType::Counter,
            help: Some("Requests.\nBy code \\ method".into()),
            unit: None,
            samples: vec![
                FamilySample {
                    name: "http_requests_total".into(),
                    labels: vec![
                        ("code".into(), "200".into()),
                        ("path".into(), "/a\"b\n".into()),
                    ],
                    value: 1027.0,
                    timestamp: Some(1_395_066_363_500),
                    exemplar: Some(Exemplar {
                        labels: labels!("trace_id" => "abc"),
                        value: 1.0,
                        timestamp: None,
                    }),
                },
                FamilySample {
                    name: "http_requests_total".into(),
                    labels: vec![("a.b".into(), "x".into())],
                    value: 1e6,
                    timestamp: None,
                    exemplar: None,
                },
            ],
        }
    }

    #[test]
    fn text_output() {
        let mut out = String::new();
        encode_text(&[family()], &mut out);
        assert_eq!(
            out,
            "# HELP http_requests Requests.\\nBy code \\\\ method\n# TYPE http_requests counter\n\
             http_requests_total{code=\"200\",path=\"/a\\\"b\\n\"} 1027 1395066363500\n\
             http_requests_total{\"a.b\"=\"x\"} 1e+06\n"
        );
    }

    #[test]
    fn openmetrics_output() {
        let mut out = String::new();
        encode_openmetrics(&[family()], &mut out);
        assert_eq!(
            out,
            "# HELP http_requests Requests.\\nBy code \\\\ method\n# TYPE http_requests counter\n\
             http_requests_total{code=\"200\",path=\"/a\\\"b\\n\"} 1027.0 1395066363.5 # {trace_id=\"abc\"} 1.0\n\
             http_requests_total{\"a.b\"=\"x\"} 1e+06\n# EOF\n"
        );
    }

    #[test]
    fn utf8_metric_names_are_quoted() {
        let f = MetricFamily {
            name: "my.gauge".into(),
            metric_type: MetricType::Gauge,
            samples: vec![FamilySample {
                name: "my.gauge".into(),
                value: 0.5,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut out = String::new();
        encode_text(&[f], &mut out);
        assert_eq!(out, "# TYPE \"my.gauge\" gauge\n{\"my.gauge\"} 0.5\n");
    }

    #[test]
    fn proto_text_output_is_expfmts() {
        let fams = crate::parse_text_families(
            b"# HELP g A gauge.\n# TYPE g gauge\ng{b=\"x\"} 1e6\nu 0.5\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_sum 0.25\nh_count 3\n",
        )
        .unwrap();
        let mut out = String::new();
        encode_proto_text(&fams, &mut out);
        assert_eq!(
            out,
            "# HELP g A gauge.\n# TYPE g gauge\ng{b=\"x\"} 1e+06\n# TYPE u untyped\nu 0.5\n\
             # TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.25\nh_count 3\n"
        );
    }

    #[test]
    fn seconds() {
        let mut s = String::new();
        write_seconds(&mut s, -1500);
        s.push(' ');
        write_seconds(&mut s, 1000);
        s.push(' ');
        write_seconds(&mut s, 1010);
        assert_eq!(s, "-1.5 1 1.01");
    }
}
