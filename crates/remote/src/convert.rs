//! Conversions between the wire messages and hearth's model: histograms, metadata types,
//! label matchers and label sets. Shared by the receiver, the read handler and the
//! sender-side building blocks, so each conversion exists once.

use bytes::Bytes;
use hearth_model::{
    CounterResetHint, FloatHistogram, Histogram, HistogramValue, Labels, MatchOp, Matcher,
    MetricType, RegexError, Span, Timestamp,
};

use crate::proto::{self, BucketSpan, histogram};
use crate::proto_v2;

/// A wire histogram in the model's form. Integer unless `count_float` is set, as
/// upstream decides; a missing oneof reads as 0.
pub fn histogram_from_proto(h: &proto::Histogram) -> HistogramValue {
    let hint = reset_hint_from_proto(h.reset_hint);
    if let Some(histogram::Count::CountFloat(count)) = h.count {
        let zero_count = match h.zero_count {
            Some(histogram::ZeroCount::ZeroCountFloat(z)) => z,
            _ => 0.0,
        };
        return HistogramValue::Float(FloatHistogram {
            counter_reset_hint: hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count,
            count,
            sum: h.sum,
            positive_spans: spans_from_proto(&h.positive_spans),
            negative_spans: spans_from_proto(&h.negative_spans),
            positive_buckets: h.positive_counts.clone(),
            negative_buckets: h.negative_counts.clone(),
            custom_values: h.custom_values.clone(),
        });
    }
    let count = match h.count {
        Some(histogram::Count::CountInt(c)) => c,
        _ => 0,
    };
    let zero_count = match h.zero_count {
        Some(histogram::ZeroCount::ZeroCountInt(z)) => z,
        _ => 0,
    };
    HistogramValue::Integer(Histogram {
        counter_reset_hint: hint,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count,
        count,
        sum: h.sum,
        positive_spans: spans_from_proto(&h.positive_spans),
        negative_spans: spans_from_proto(&h.negative_spans),
        positive_buckets: h.positive_deltas.clone(),
        negative_buckets: h.negative_deltas.clone(),
        custom_values: h.custom_values.clone(),
    })
}

/// A model histogram as a wire histogram at `t` (start timestamp unset).
pub fn histogram_to_proto(t: Timestamp, h: &HistogramValue) -> proto::Histogram {
    match h {
        HistogramValue::Integer(h) => integer_histogram_to_proto(t, h),
        HistogramValue::Float(h) => float_histogram_to_proto(t, h),
    }
}

pub fn integer_histogram_to_proto(t: Timestamp, h: &Histogram) -> proto::Histogram {
    proto::Histogram {
        count: Some(histogram::Count::CountInt(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(h.zero_count)),
        negative_spans: spans_to_proto(&h.negative_spans),
        negative_deltas: h.negative_buckets.clone(),
        negative_counts: Vec::new(),
        positive_spans: spans_to_proto(&h.positive_spans),
        positive_deltas: h.positive_buckets.clone(),
        positive_counts: Vec::new(),
        reset_hint: reset_hint_to_proto(h.counter_reset_hint) as i32,
        timestamp: t,
        custom_values: h.custom_values.clone(),
        start_timestamp: 0,
    }
}

pub fn float_histogram_to_proto(t: Timestamp, h: &FloatHistogram) -> proto::Histogram {
    proto::Histogram {
        count: Some(histogram::Count::CountFloat(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(histogram::ZeroCount::ZeroCountFloat(h.zero_count)),
        negative_spans: spans_to_proto(&h.negative_spans),
        negative_deltas: Vec::new(),
        negative_counts: h.negative_buckets.clone(),
        positive_spans: spans_to_proto(&h.positive_spans),
        positive_deltas: Vec::new(),
        positive_counts: h.positive_buckets.clone(),
        reset_hint: reset_hint_to_proto(h.counter_reset_hint) as i32,
        timestamp: t,
        custom_values: h.custom_values.clone(),
        start_timestamp: 0,
    }
}

fn spans_from_proto(s: &[BucketSpan]) -> Vec<Span> {
    s.iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn spans_to_proto(s: &[Span]) -> Vec<BucketSpan> {
    s.iter()
        .map(|s| BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

/// Unknown numbers read as `Unknown`, as an unknown enum value does in Go.
fn reset_hint_from_proto(v: i32) -> CounterResetHint {
    match histogram::ResetHint::try_from(v) {
        Ok(histogram::ResetHint::Yes) => CounterResetHint::CounterReset,
        Ok(histogram::ResetHint::No) => CounterResetHint::NotCounterReset,
        Ok(histogram::ResetHint::Gauge) => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn reset_hint_to_proto(h: CounterResetHint) -> histogram::ResetHint {
    match h {
        CounterResetHint::Unknown => histogram::ResetHint::Unknown,
        CounterResetHint::CounterReset => histogram::ResetHint::Yes,
        CounterResetHint::NotCounterReset => histogram::ResetHint::No,
        CounterResetHint::Gauge => histogram::ResetHint::Gauge,
    }
}

/// A 2.0 metadata type; unspecified and unknown numbers are `unknown`, as upstream maps
/// them.
pub fn metric_type_from_v2(v: i32) -> MetricType {
    use proto_v2::metadata::MetricType as W;
    match W::try_from(v) {
        Ok(W::Counter) => MetricType::Counter,
        Ok(W::Gauge) => MetricType::Gauge,
        Ok(W::Histogram) => MetricType::Histogram,
        Ok(W::Gaugehistogram) => MetricType::GaugeHistogram,
        Ok(W::Summary) => MetricType::Summary,
        Ok(W::Info) => MetricType::Info,
        Ok(W::Stateset) => MetricType::StateSet,
        Ok(W::Unspecified) | Err(_) => MetricType::Unknown,
    }
}

pub fn metric_type_to_v2(t: MetricType) -> proto_v2::metadata::MetricType {
    use proto_v2::metadata::MetricType as W;
    match t {
        MetricType::Counter => W::Counter,
        MetricType::Gauge => W::Gauge,
        MetricType::Histogram => W::Histogram,
        MetricType::GaugeHistogram => W::Gaugehistogram,
        MetricType::Summary => W::Summary,
        MetricType::Info => W::Info,
        MetricType::StateSet => W::Stateset,
        MetricType::Unknown => W::Unspecified,
    }
}

pub fn metric_type_from_v1(v: i32) -> MetricType {
    use proto::metric_metadata::MetricType as W;
    match W::try_from(v) {
        Ok(W::Counter) => MetricType::Counter,
        Ok(W::Gauge) => MetricType::Gauge,
        Ok(W::Histogram) => MetricType::Histogram,
        Ok(W::Gaugehistogram) => MetricType::GaugeHistogram,
        Ok(W::Summary) => MetricType::Summary,
        Ok(W::Info) => MetricType::Info,
        Ok(W::Stateset) => MetricType::StateSet,
        Ok(W::Unknown) | Err(_) => MetricType::Unknown,
    }
}

pub fn metric_type_to_v1(t: MetricType) -> proto::metric_metadata::MetricType {
    use proto::metric_metadata::MetricType as W;
    match t {
        MetricType::Counter => W::Counter,
        MetricType::Gauge => W::Gauge,
        MetricType::Histogram => W::Histogram,
        MetricType::GaugeHistogram => W::Gaugehistogram,
        MetricType::Summary => W::Summary,
        MetricType::Info => W::Info,
        MetricType::StateSet => W::Stateset,
        MetricType::Unknown => W::Unknown,
    }
}

/// Why a wire matcher could not become a model matcher (upstream's texts).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid matcher type")]
    InvalidType,
    #[error(transparent)]
    Regex(#[from] RegexError),
}

pub fn matcher_from_proto(m: &proto::LabelMatcher) -> Result<Matcher, MatcherError> {
    use proto::label_matcher::Type;
    let op = match Type::try_from(m.r#type) {
        Ok(Type::Eq) => MatchOp::Equal,
        Ok(Type::Neq) => MatchOp::NotEqual,
        Ok(Type::Re) => MatchOp::Regex,
        Ok(Type::Nre) => MatchOp::NotRegex,
        Err(_) => return Err(MatcherError::InvalidType),
    };
    Ok(Matcher::new(op, m.name.clone(), m.value.clone())?)
}

pub fn matcher_to_proto(m: &Matcher) -> proto::LabelMatcher {
    use proto::label_matcher::Type;
    let t = match m.op {
        MatchOp::Equal => Type::Eq,
        MatchOp::NotEqual => Type::Neq,
        MatchOp::Regex => Type::Re,
        MatchOp::NotRegex => Type::Nre,
    };
    proto::LabelMatcher {
        r#type: t as i32,
        name: m.name.clone(),
        value: m.value.clone(),
    }
}

/// A label set as wire labels (sorted, as `Labels` is).
pub fn labels_to_proto(labels: &Labels) -> Vec<proto::Label> {
    labels
        .iter()
        .map(|l| proto::Label {
            name: Bytes::copy_from_slice(l.name.as_bytes()),
            value: Bytes::copy_from_slice(l.value.as_bytes()),
        })
        .collect()
}

/// Writes raw (possibly invalid) label pairs as Prometheus prints a label set,
/// `{a="1", b="2"}`, for error messages about labels that never became a [`Labels`].
pub fn write_raw_labels<'a>(
    out: &mut String,
    pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) {
    out.push('{');
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        hearth_model::names::write_label_name(out, &String::from_utf8_lossy(name));
        out.push('=');
        hearth_model::names::write_go_quoted(out, &String::from_utf8_lossy(value));
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    fn sample_int() -> Histogram {
        Histogram {
            counter_reset_hint: CounterResetHint::NotCounterReset,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 2,
            count: 9,
            sum: 12.5,
            positive_spans: vec![
                Span {
                    offset: -1,
                    length: 2,
                },
                Span {
                    offset: 3,
                    length: 1,
                },
            ],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![1, 2, -1],
            negative_buckets: vec![2],
            custom_values: vec![],
        }
    }

    #[test]
    fn histograms_round_trip() {
        let int = HistogramValue::Integer(sample_int());
        let p = histogram_to_proto(1234, &int);
        assert!(!p.is_float());
        assert_eq!(p.timestamp, 1234);
        assert_eq!(histogram_from_proto(&p), int);

        let float = HistogramValue::Float(sample_int().to_float());
        let p = histogram_to_proto(5, &float);
        assert!(p.is_float());
        assert_eq!(histogram_from_proto(&p), float);

        let nhcb = HistogramValue::Integer(Histogram {
            schema: -53,
            count: 3,
            sum: 1.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            custom_values: vec![0.5, 1.0],
            ..Default::default()
        });
        assert_eq!(histogram_from_proto(&histogram_to_proto(0, &nhcb)), nhcb);
    }

    #[test]
    fn missing_count_reads_as_integer_zero() {
        let p = proto::Histogram {
            reset_hint: 99,
            ..Default::default()
        };
        let HistogramValue::Integer(h) = histogram_from_proto(&p) else {
            panic!("expected an integer histogram");
        };
        assert_eq!(h.count, 0);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Unknown);
    }

    #[test]
    fn metric_types_round_trip() {
        for t in [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::Unknown,
        ] {
            assert_eq!(metric_type_from_v2(metric_type_to_v2(t) as i32), t);
            assert_eq!(metric_type_from_v1(metric_type_to_v1(t) as i32), t);
        }
        assert_eq!(metric_type_from_v2(42), MetricType::Unknown);
    }

    #[test]
    fn matchers_round_trip_and_reject_bad_input() {
        for m in [
            Matcher::new(MatchOp::Equal, "job", "a").unwrap(),
            Matcher::new(MatchOp::NotEqual, "job", "a").unwrap(),
            Matcher::new(MatchOp::Regex, "job", "a|b").unwrap(),
            Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap(),
        ] {
            assert_eq!(matcher_from_proto(&matcher_to_proto(&m)).unwrap(), m);
        }
        let bad_type = proto::LabelMatcher {
            r#type: 7,
            name: "a".into(),
            value: "b".into(),
        };
        assert_eq!(
            matcher_from_proto(&bad_type).unwrap_err().to_string(),
            "invalid matcher type"
        );
        let bad_re = proto::LabelMatcher {
            r#type: 2,
            name: "a".into(),
            value: "(".into(),
        };
        assert!(matches!(
            matcher_from_proto(&bad_re),
            Err(MatcherError::Regex(_))
        ));
    }

    #[test]
    fn raw_labels_print_like_prometheus() {
        let mut s = String::new();
        write_raw_labels(
            &mut s,
            [(&b"__name__"[..], &b""[..]), (&b"a.b"[..], &b"x\"y"[..])],
        );
        assert_eq!(s, r#"{__name__="", "a.b"="x\"y"}"#);
        let l = labels!("__name__" => "up", "job" => "x");
        let p = labels_to_proto(&l);
        assert_eq!(
            p,
            vec![Label::new("__name__", "up"), Label::new("job", "x")]
        );
    }

    use crate::proto::Label;
}
