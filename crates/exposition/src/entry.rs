//! What the parsers yield: one [`Entry`] per metadata line, sample or native histogram.
//!
//! Entries borrow from the input (and from the parser's reusable buffers), so a scrape
//! can be parsed without allocating per line; the scrape loop looks a series up by
//! [`SampleEntry::series`] (the raw bytes that identify it) and only builds a
//! [`Labels`](hearth_model::Labels) for series it has not seen before.

use std::borrow::Cow;

use hearth_model::{Exemplar, HistogramValue, Labels, MetricType, Timestamp};

/// One label as written in the exposition (unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPair<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

/// One parsed element of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'e> {
    Help {
        name: Cow<'e, str>,
        help: Cow<'e, str>,
    },
    Type {
        name: Cow<'e, str>,
        metric_type: MetricType,
    },
    Unit {
        name: Cow<'e, str>,
        unit: Cow<'e, str>,
    },
    /// A comment line (text format only), without the leading `#` and blank.
    Comment(&'e str),
    Sample(SampleEntry<'e>),
    Histogram(HistogramEntry<'e>),
}

/// A float sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEntry<'e> {
    /// Bytes that identify the series within this exposition format (name and labels as
    /// written); equal bytes mean the same series, so they serve as a cache key.
    pub series: &'e [u8],
    pub name: Cow<'e, str>,
    /// Labels in exposition order, without the metric name.
    pub labels: &'e [LabelPair<'e>],
    pub value: f64,
    /// Milliseconds; `None` when the exposition gave no timestamp.
    pub timestamp: Option<Timestamp>,
    pub exemplars: &'e [Exemplar],
    /// From an OpenMetrics `_created` line or a protobuf created timestamp, when asked for.
    pub created_timestamp: Option<Timestamp>,
}

/// A native histogram sample (protobuf format only).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramEntry<'e> {
    pub series: &'e [u8],
    pub name: Cow<'e, str>,
    pub labels: &'e [LabelPair<'e>],
    pub histogram: &'e HistogramValue,
    pub timestamp: Option<Timestamp>,
    pub exemplars: &'e [Exemplar],
    pub created_timestamp: Option<Timestamp>,
}

impl SampleEntry<'_> {
    /// The full label set including `__name__`.
    pub fn to_labels(&self) -> Labels {
        to_labels(&self.name, self.labels)
    }
}

impl HistogramEntry<'_> {
    /// The full label set including `__name__`.
    pub fn to_labels(&self) -> Labels {
        to_labels(&self.name, self.labels)
    }
}

fn to_labels(name: &str, labels: &[LabelPair<'_>]) -> Labels {
    Labels::new(
        std::iter::once((hearth_model::METRIC_NAME, name))
            .chain(labels.iter().map(|l| (l.name.as_ref(), l.value.as_ref()))),
    )
}
