//! Parser for the protobuf scrape format: a stream of varint-length-delimited
//! `io.prometheus.client.MetricFamily` messages
//! (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`).
//!
//! It presents messages as the text parsers do, following Prometheus'
//! `protobufparse.go`: per family a HELP, an optional UNIT and a TYPE entry; counters,
//! gauges and untyped metrics as one sample; summaries as `_count`, `_sum` and one sample
//! per quantile; classic histograms as `_count`, `_sum` and `_bucket` samples (with a
//! `+Inf` bucket added when missing); native histograms as one [`Entry::Histogram`],
//! followed by their classic form when [`ProtobufOptions::parse_classic_histograms`] is set.

use std::borrow::Cow;

use hearth_model::float::format_openmetrics;
use hearth_model::{
    CounterResetHint, Exemplar, FloatHistogram, Histogram, HistogramValue, Labels, MetricType, Span,
};
use prost::Message;

use crate::entry::{Entry, HistogramEntry, LabelPair, SampleEntry};
use crate::proto;
use crate::syntax::ParseError;

/// The content type Prometheus asks for and client libraries answer with.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Parser options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProtobufOptions {
    /// Also yield the classic form of histograms that have a native form
    /// (`always_scrape_classic_histograms`).
    pub parse_classic_histograms: bool,
    /// Read every histogram as a classic one (`_count`, `_sum`, `_bucket`, with `+Inf`
    /// added), native buckets ignored: upstream's `IgnoreNativeHistograms`, used when
    /// native histograms are not scraped.
    pub ignore_native_histograms: bool,
}

/// Streaming parser of the protobuf format.
pub struct ProtobufParser<'a> {
    input: &'a [u8],
    pos: usize,
    opts: ProtobufOptions,
    family: proto::MetricFamily,
    mtype: proto::MetricType,
    stage: Stage,
    /// Labels of the current metric (moved out of the decoded message), then the magic
    /// `le`/`quantile` label of the current series, if any.
    labels: Vec<LabelPair<'static>>,
    base_labels: usize,
    name: String,
    key: Vec<u8>,
    exemplars: Vec<Exemplar>,
    histogram: HistogramValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    NextFamily,
    Unit,
    Type,
    /// Series `part` of metric `metric` (0-based; see [`ProtobufParser::series_part`]).
    Metric {
        metric: usize,
        part: usize,
    },
}

/// What one expanded series of a metric is.
enum Part {
    Value(f64),
    Count,
    Sum,
    Quantile(usize),
    Bucket(usize),
    InfBucket,
    Native,
}

impl<'a> ProtobufParser<'a> {
    pub fn new(input: &'a [u8], opts: ProtobufOptions) -> ProtobufParser<'a> {
        ProtobufParser {
            input,
            pos: 0,
            opts,
            family: proto::MetricFamily::default(),
            mtype: proto::MetricType::Untyped,
            stage: Stage::NextFamily,
            labels: Vec::new(),
            base_labels: 0,
            name: String::new(),
            key: Vec::new(),
            exemplars: Vec::new(),
            histogram: HistogramValue::Float(FloatHistogram::default()),
        }
    }

    fn error(&self, message: String) -> ParseError {
        ParseError {
            line: 0,
            column: 0,
            message: format!("byte {}: {message}", self.pos),
        }
    }

    /// The next entry, `Ok(None)` at the end of the input.
    #[allow(clippy::should_implement_trait)] // a lending iterator: entries borrow the parser
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        loop {
            match self.stage {
                Stage::NextFamily => {
                    if self.pos >= self.input.len() {
                        return Ok(None);
                    }
                    self.decode_family()?;
                    if self.family.metric.is_empty() {
                        continue;
                    }
                    self.stage = if self.family.unit.is_empty() {
                        Stage::Type
                    } else {
                        Stage::Unit
                    };
                    return Ok(Some(Entry::Help {
                        name: Cow::Borrowed(&self.family.name),
                        help: Cow::Borrowed(&self.family.help),
                    }));
                }
                Stage::Unit => {
                    self.stage = Stage::Type;
                    return Ok(Some(Entry::Unit {
                        name: Cow::Borrowed(&self.family.name),
                        unit: Cow::Borrowed(&self.family.unit),
                    }));
                }
                Stage::Type => {
                    self.stage = Stage::Metric { metric: 0, part: 0 };
                    self.start_metric(0)?;
                    let metric_type = match self.mtype {
                        proto::MetricType::Counter => MetricType::Counter,
                        proto::MetricType::Gauge => MetricType::Gauge,
                        proto::MetricType::Summary => MetricType::Summary,
                        proto::MetricType::Histogram => MetricType::Histogram,
                        proto::MetricType::GaugeHistogram => MetricType::GaugeHistogram,
                        proto::MetricType::Untyped => MetricType::Unknown,
                    };
                    return Ok(Some(Entry::Type {
                        name: Cow::Borrowed(&self.family.name),
                        metric_type,
                    }));
                }
                Stage::Metric { metric, part } => {
                    if metric >= self.family.metric.len() {
                        self.stage = Stage::NextFamily;
                        continue;
                    }
                    let Some(p) = self.series_part(metric, part) else {
                        let next = metric + 1;
                        self.stage = Stage::Metric {
                            metric: next,
                            part: 0,
                        };
                        if next < self.family.metric.len() {
                            self.start_metric(next)?;
                        }
                        continue;
                    };
                    self.stage = Stage::Metric {
                        metric,
                        part: part + 1,
                    };
                    return Ok(Some(self.series_entry(metric, p)));
                }
            }
        }
    }

    fn decode_family(&mut self) -> Result<(), ParseError> {
        let mut buf = &self.input[self.pos..];
        let before = buf.len();
        let family = proto::MetricFamily::decode_length_delimited(&mut buf)
            .map_err(|e| self.error(format!("invalid protobuf MetricFamily: {e}")))?;
        self.pos += before - buf.len();
        let name = &family.name;
        if name.is_empty() {
            return Err(self.error("metric family without a name".into()));
        }
        let Ok(mtype) = proto::MetricType::try_from(family.r#type) else {
            return Err(self.error(format!(
                "unknown metric type {} for metric {name:?}",
                family.r#type
            )));
        };
        let unit = &family.unit;
        if !unit.is_empty() {
            let base = match mtype {
                proto::MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
                _ => name,
            };
            let ok = base.len() > unit.len()
                && base.ends_with(unit.as_str())
                && base.as_bytes()[base.len() - unit.len() - 1] == b'_';
            if !ok {
                return Err(self.error(format!("unit {unit:?} not a suffix of metric {name:?}")));
            }
        }
        self.family = family;
        self.mtype = mtype;
        Ok(())
    }

    fn start_metric(&mut self, idx: usize) -> Result<(), ParseError> {
        self.labels.clear();
        let pos = self.pos;
        let Some(m) = self.family.metric.get_mut(idx) else {
            return Ok(());
        };
        for l in m.label.drain(..) {
            if l.name.is_empty() {
                return Err(ParseError {
                    line: 0,
                    column: 0,
                    message: format!(
                        "byte {pos}: empty label name in metric {:?}",
                        self.family.name
                    ),
                });
            }
            self.labels.push(LabelPair {
                name: Cow::Owned(l.name),
                value: Cow::Owned(l.value),
            });
        }
        self.base_labels = self.labels.len();
        Ok(())
    }

    /// Which series `part` of metric `idx` is, or `None` when the metric is done.
    fn series_part(&self, idx: usize, part: usize) -> Option<Part> {
        let m = &self.family.metric[idx];
        match self.mtype {
            proto::MetricType::Counter => {
                (part == 0).then(|| Part::Value(m.counter.as_ref().map_or(0.0, |c| c.value)))
            }
            proto::MetricType::Gauge => {
                (part == 0).then(|| Part::Value(m.gauge.map_or(0.0, |g| g.value)))
            }
            proto::MetricType::Untyped => {
                (part == 0).then(|| Part::Value(m.untyped.map_or(0.0, |u| u.value)))
            }
            proto::MetricType::Summary => {
                let q = m.summary.as_ref().map_or(0, |s| s.quantile.len());
                match part {
                    0 => Some(Part::Count),
                    1 => Some(Part::Sum),
                    p if p - 2 < q => Some(Part::Quantile(p - 2)),
                    _ => None,
                }
            }
            proto::MetricType::Histogram | proto::MetricType::GaugeHistogram => {
                let h = m.histogram.as_ref();
                let native = !self.opts.ignore_native_histograms && h.is_some_and(is_native);
                let buckets = h.map_or(&[][..], |h| &h.bucket[..]);
                let classic_start = if native {
                    if part == 0 {
                        return Some(Part::Native);
                    }
                    if !self.opts.parse_classic_histograms || buckets.is_empty() {
                        return None;
                    }
                    1
                } else {
                    0
                };
                let p = part - classic_start;
                let has_inf = buckets
                    .last()
                    .is_some_and(|b| b.upper_bound == f64::INFINITY);
                match p {
                    0 => Some(Part::Count),
                    1 => Some(Part::Sum),
                    p if p - 2 < buckets.len() => Some(Part::Bucket(p - 2)),
                    p if p - 2 == buckets.len() && !has_inf => Some(Part::InfBucket),
                    _ => None,
                }
            }
        }
    }

    fn series_entry(&mut self, idx: usize, part: Part) -> Entry<'_> {
        self.labels.truncate(self.base_labels);
        self.exemplars.clear();
        self.name.clear();
        self.name.push_str(&self.family.name);
        let m = &self.family.metric[idx];
        let hist = m.histogram.as_ref();
        let count = |h: &proto::Histogram| {
            if h.sample_count_float > 0.0 {
                h.sample_count_float
            } else {
                h.sample_count as f64
            }
        };
        let mut magic: Option<(&'static str, String)> = None;
        let mut native = None;
        let value = match part {
            Part::Value(v) => {
                if let Some(e) = m.counter.as_ref().and_then(|c| c.exemplar.as_ref()) {
                    self.exemplars.push(to_exemplar(e));
                }
                v
            }
            Part::Count => {
                self.name.push_str("_count");
                match (&m.summary, hist) {
                    (Some(s), _) if self.mtype == proto::MetricType::Summary => {
                        s.sample_count as f64
                    }
                    (_, Some(h)) => count(h),
                    _ => 0.0,
                }
            }
            Part::Sum => {
                self.name.push_str("_sum");
                match (&m.summary, hist) {
                    (Some(s), _) if self.mtype == proto::MetricType::Summary => s.sample_sum,
                    (_, Some(h)) => h.sample_sum,
                    _ => 0.0,
                }
            }
            Part::Quantile(i) => {
                let q = m
                    .summary
                    .as_ref()
                    .and_then(|s| s.quantile.get(i))
                    .copied()
                    .unwrap_or_default();
                magic = Some(("quantile", format_openmetrics(q.quantile)));
                q.value
            }
            Part::Bucket(i) => {
                self.name.push_str("_bucket");
                let b = hist.and_then(|h| h.bucket.get(i));
                magic = Some((
                    "le",
                    format_openmetrics(b.map_or(f64::INFINITY, |b| b.upper_bound)),
                ));
                if let Some(e) = b.and_then(|b| b.exemplar.as_ref()) {
                    self.exemplars.push(to_exemplar(e));
                }
                b.map_or(0.0, |b| {
                    if b.cumulative_count_float > 0.0 {
                        b.cumulative_count_float
                    } else {
                        b.cumulative_count as f64
                    }
                })
            }
            Part::InfBucket => {
                self.name.push_str("_bucket");
                magic = Some(("le", "+Inf".to_string()));
                hist.map_or(0.0, count)
            }
            Part::Native => {
                if let Some(h) = hist {
                    // Native histogram exemplars must carry timestamps; the classic
                    // buckets' exemplars serve when the histogram has none of its own.
                    for e in h.exemplars.iter().filter(|e| e.timestamp.is_some()) {
                        self.exemplars.push(to_exemplar(e));
                    }
                    if self.exemplars.is_empty() {
                        let in_buckets = h.bucket.iter().filter_map(|b| b.exemplar.as_ref());
                        for e in in_buckets.filter(|e| e.timestamp.is_some()) {
                            self.exemplars.push(to_exemplar(e));
                        }
                    }
                    native = Some(native_histogram(
                        h,
                        self.mtype == proto::MetricType::GaugeHistogram,
                    ));
                }
                f64::NAN
            }
        };
        if let Some((n, v)) = magic {
            self.labels.push(LabelPair {
                name: Cow::Borrowed(n),
                value: Cow::Owned(v),
            });
        }
        let timestamp = (m.timestamp_ms != 0).then_some(m.timestamp_ms);
        let created_timestamp = match self.mtype {
            proto::MetricType::Counter => m.counter.as_ref().and_then(|c| c.created_timestamp),
            proto::MetricType::Summary => m.summary.as_ref().and_then(|s| s.created_timestamp),
            proto::MetricType::Histogram | proto::MetricType::GaugeHistogram => {
                hist.and_then(|h| h.created_timestamp)
            }
            _ => None,
        }
        .map(proto::Timestamp::to_ms);
        self.key.clear();
        self.key.extend_from_slice(self.name.as_bytes());
        for l in &self.labels {
            self.key.push(0xff);
            self.key.extend_from_slice(l.name.as_bytes());
            self.key.push(0xff);
            self.key.extend_from_slice(l.value.as_bytes());
        }
        if let Some(histogram) = native {
            // Kept in the parser so entries stay small (they are moved on every `next`).
            self.histogram = histogram;
            return Entry::Histogram(HistogramEntry {
                series: &self.key,
                name: Cow::Borrowed(&self.name),
                labels: &self.labels,
                histogram: &self.histogram,
                timestamp,
                exemplars: &self.exemplars,
                created_timestamp,
            });
        }
        Entry::Sample(SampleEntry {
            series: &self.key,
            name: Cow::Borrowed(&self.name),
            labels: &self.labels,
            value,
            timestamp,
            exemplars: &self.exemplars,
            created_timestamp,
        })
    }
}

/// A histogram is native when it has spans or a zero bucket (see upstream's
/// `isNativeHistogram`; libraries send a no-op span for an empty native histogram).
fn is_native(h: &proto::Histogram) -> bool {
    !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold > 0.0
        || h.zero_count > 0
}

fn spans(s: &[proto::BucketSpan]) -> Vec<Span> {
    s.iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn native_histogram(h: &proto::Histogram, gauge: bool) -> HistogramValue {
    let hint = if gauge {
        CounterResetHint::Gauge
    } else {
        CounterResetHint::Unknown
    };
    if h.sample_count_float > 0.0 || h.zero_count_float > 0.0 {
        let mut fh = FloatHistogram {
            counter_reset_hint: hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: h.zero_count_float,
            count: h.sample_count_float,
            sum: h.sample_sum,
            positive_spans: spans(&h.positive_span),
            negative_spans: spans(&h.negative_span),
            positive_buckets: h.positive_count.clone(),
            negative_buckets: h.negative_count.clone(),
            custom_values: Vec::new(),
        };
        fh.compact(0);
        return HistogramValue::Float(fh);
    }
    let mut ih = Histogram {
        counter_reset_hint: hint,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        count: h.sample_count,
        sum: h.sample_sum,
        positive_spans: spans(&h.positive_span),
        negative_spans: spans(&h.negative_span),
        positive_buckets: h.positive_delta.clone(),
        negative_buckets: h.negative_delta.clone(),
        custom_values: Vec::new(),
    };
    ih.compact(0);
    HistogramValue::Integer(ih)
}

fn to_exemplar(e: &proto::Exemplar) -> Exemplar {
    Exemplar {
        labels: Labels::new(e.label.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
        value: e.value,
        timestamp: e.timestamp.map(proto::Timestamp::to_ms),
    }
}

/// Encodes families as length-delimited protobuf (for tests and for clients that push
/// protobuf to the pushgateway).
pub fn encode_delimited(families: &[proto::MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        // Encoding into a Vec cannot run out of space.
        let _ = f.encode_length_delimited(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Bucket, BucketSpan, Counter, Metric, Quantile, Summary};

    fn label(n: &str, v: &str) -> proto::LabelPair {
        proto::LabelPair {
            name: n.into(),
            value: v.into(),
        }
    }

    fn parse(input: &[u8], opts: ProtobufOptions) -> Vec<String> {
        let mut p = ProtobufParser::new(input, opts);
        let mut out = Vec::new();
        while let Some(e) = p.next().unwrap() {
            out.push(match e {
                Entry::Help { name, help } => format!("help {name} {help}"),
                Entry::Type { name, metric_type } => format!("type {name} {metric_type}"),
                Entry::Unit { name, unit } => format!("unit {name} {unit}"),
                Entry::Comment(_) => unreachable!(),
                Entry::Sample(s) => format!(
                    "{} {} ts={:?} ct={:?} ex={}",
                    s.to_labels(),
                    s.value,
                    s.timestamp,
                    s.created_timestamp,
                    s.exemplars.len()
                ),
                Entry::Histogram(h) => format!(
                    "native {} {:?} ex={}",
                    h.to_labels(),
                    h.histogram,
                    h.exemplars.len()
                ),
            });
        }
        out
    }

    fn families() -> Vec<proto::MetricFamily> {
        vec![
            proto::MetricFamily {
                name: "requests_total".into(),
                help: "Requests.".into(),
                r#type: proto::MetricType::Counter as i32,
                metric: vec![Metric {
                    label: vec![label("code", "200")],
                    counter: Some(Counter {
                        value: 5.0,
                        exemplar: Some(proto::Exemplar {
                            label: vec![label("trace_id", "t")],
                            value: 1.0,
                            timestamp: None,
                        }),
                        created_timestamp: Some(proto::Timestamp {
                            seconds: 10,
                            nanos: 500_000_000,
                        }),
                    }),
                    timestamp_ms: 1234,
                    ..Default::default()
                }],
                unit: String::new(),
            },
            proto::MetricFamily {
                name: "rpc_seconds".into(),
                help: String::new(),
                r#type: proto::MetricType::Summary as i32,
                metric: vec![Metric {
                    summary: Some(Summary {
                        sample_count: 3,
                        sample_sum: 1.5,
                        quantile: vec![
                            Quantile {
                                quantile: 0.5,
                                value: 0.4,
                            },
                            Quantile {
                                quantile: 1.0,
                                value: 0.9,
                            },
                        ],
                        created_timestamp: None,
                    }),
                    ..Default::default()
                }],
                unit: "seconds".into(),
            },
            proto::MetricFamily {
                name: "latency".into(),
                help: "h".into(),
                r#type: proto::MetricType::Histogram as i32,
                metric: vec![Metric {
                    histogram: Some(proto::Histogram {
                        sample_count: 4,
                        sample_sum: 6.0,
                        bucket: vec![Bucket {
                            cumulative_count: 1,
                            upper_bound: 1.0,
                            ..Default::default()
                        }],
                        schema: 0,
                        zero_threshold: 0.001,
                        zero_count: 1,
                        positive_span: vec![BucketSpan {
                            offset: 0,
                            length: 3,
                        }],
                        positive_delta: vec![1, -1, 2], // absolute 1 0 2
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                unit: String::new(),
            },
        ]
    }

    #[test]
    fn expands_like_prometheus() {
        let got = parse(&encode_delimited(&families()), ProtobufOptions::default());
        let want = [
            "help requests_total Requests.",
            "type requests_total counter",
            "{__name__=\"requests_total\", code=\"200\"} 5 ts=Some(1234) ct=Some(10500) ex=1",
            "help rpc_seconds ",
            "unit rpc_seconds seconds",
            "type rpc_seconds summary",
            "{__name__=\"rpc_seconds_count\"} 3 ts=None ct=None ex=0",
            "{__name__=\"rpc_seconds_sum\"} 1.5 ts=None ct=None ex=0",
            "{__name__=\"rpc_seconds\", quantile=\"0.5\"} 0.4 ts=None ct=None ex=0",
            "{__name__=\"rpc_seconds\", quantile=\"1.0\"} 0.9 ts=None ct=None ex=0",
            "help latency h",
            "type latency histogram",
        ];
        assert_eq!(&got[..want.len()], &want);
        assert_eq!(got.len(), want.len() + 1, "{got:#?}");
        let native = &got[want.len()];
        assert!(
            native.starts_with("native {__name__=\"latency\"}"),
            "{native}"
        );
        // Compacted: the empty middle bucket is gone.
        assert!(
            native.contains(
                "positive_spans: [Span { offset: 0, length: 1 }, Span { offset: 1, length: 1 }]"
            ),
            "{native}"
        );
    }

    #[test]
    fn classic_form_of_native_histograms_on_request() {
        let opts = ProtobufOptions {
            parse_classic_histograms: true,
            ..ProtobufOptions::default()
        };
        let got = parse(&encode_delimited(&families()), opts);
        assert_classic_latency_tail(&got);
    }

    /// The last four entries are the classic form of the `latency` histogram.
    fn assert_classic_latency_tail(got: &[String]) {
        let tail: Vec<&str> = got.iter().rev().take(4).rev().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "{__name__=\"latency_count\"} 4 ts=None ct=None ex=0",
                "{__name__=\"latency_sum\"} 6 ts=None ct=None ex=0",
                "{__name__=\"latency_bucket\", le=\"1.0\"} 1 ts=None ct=None ex=0",
                "{__name__=\"latency_bucket\", le=\"+Inf\"} 4 ts=None ct=None ex=0",
            ]
        );
    }

    #[test]
    fn native_histograms_ignored_on_request() {
        let opts = ProtobufOptions {
            ignore_native_histograms: true,
            ..ProtobufOptions::default()
        };
        let got = parse(&encode_delimited(&families()), opts);
        assert!(got.iter().all(|l| !l.starts_with("native ")), "{got:#?}");
        assert_classic_latency_tail(&got);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut p = ProtobufParser::new(&[0x05, 0x0a, 0x01], ProtobufOptions::default());
        assert!(p.next().is_err());
        let mut bad_unit = families();
        bad_unit[1].unit = "bytes".into();
        let bytes = encode_delimited(&bad_unit[1..2]);
        let mut p = ProtobufParser::new(&bytes, ProtobufOptions::default());
        let e = p.next().unwrap_err();
        assert!(e.message.contains("unit \"bytes\" not a suffix"), "{e}");
    }
}
