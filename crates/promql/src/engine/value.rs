//! The values a query evaluates to: scalars, strings, instant vectors (one sample per
//! series) and matrices (many points per series), with float and native histogram
//! points, as upstream's `promql/value.go`.
//!
//! Histograms are behind an `Arc` so that a point can be handed from a selector to a
//! function and on to the result without copying buckets; whoever changes one makes its
//! own copy first.

use std::fmt;
use std::sync::Arc;

use hearth_model::{FloatHistogram, Labels};

/// A float point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    pub t: i64,
    pub f: f64,
}

/// A histogram point of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    pub t: i64,
    pub h: Arc<FloatHistogram>,
}

impl HPoint {
    /// How many float samples this point counts as for `max_samples`, as upstream's
    /// `HPoint.size()`: a histogram weighs its buckets.
    pub fn size(&self) -> usize {
        histogram_size(&self.h)
    }
}

/// Upstream weighs a histogram as its in-memory size in units of 16 bytes (a float
/// point): a 168-byte header plus 8 bytes per span, bucket and custom bound.
pub(crate) fn histogram_size(h: &FloatHistogram) -> usize {
    let parts = h.positive_spans.len()
        + h.negative_spans.len()
        + h.positive_buckets.len()
        + h.negative_buckets.len()
        + h.custom_values.len();
    (168 + 8 * parts) / 16
}

/// One series with points over time. A series holds floats, histograms or both (when a
/// series changed type within the range).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub metric: Labels,
    pub floats: Vec<FPoint>,
    pub histograms: Vec<HPoint>,
    /// With delayed name removal: the metric name (and `__type__`/`__unit__`) are to be
    /// dropped when the query finishes.
    pub drop_name: bool,
}

impl Series {
    pub fn new(metric: Labels) -> Series {
        Series {
            metric,
            ..Series::default()
        }
    }

    /// Points of both kinds.
    pub fn len(&self) -> usize {
        self.floats.len() + self.histograms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.histograms.is_empty()
    }

    /// The weight of the series' points for `max_samples`.
    pub fn total_samples(&self) -> usize {
        self.floats.len() + self.histograms.iter().map(HPoint::size).sum::<usize>()
    }
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: Labels,
    pub t: i64,
    pub f: f64,
    pub h: Option<Arc<FloatHistogram>>,
    pub drop_name: bool,
}

impl Sample {
    pub fn float(metric: Labels, t: i64, f: f64) -> Sample {
        Sample {
            metric,
            t,
            f,
            h: None,
            drop_name: false,
        }
    }
}

pub type Vector = Vec<Sample>;

/// A sample of an operator's input at one step, borrowing its series' labels and
/// histogram: inputs are gathered at every step, outputs are made only once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputSample<'a> {
    pub metric: &'a Labels,
    pub t: i64,
    pub f: f64,
    pub h: Option<&'a Arc<FloatHistogram>>,
    pub drop_name: bool,
}

impl InputSample<'_> {
    pub fn to_sample(self) -> Sample {
        Sample {
            metric: self.metric.clone(),
            t: self.t,
            f: self.f,
            h: self.h.cloned(),
            drop_name: self.drop_name,
        }
    }
}

/// The samples of one operator input at one step.
pub(crate) type InputVector<'a> = Vec<InputSample<'a>>;
pub type Matrix = Vec<Series>;

/// Total `max_samples` weight of a matrix.
pub fn matrix_samples(m: &[Series]) -> usize {
    m.iter().map(Series::total_samples).sum()
}

/// Total `max_samples` weight of a vector.
pub fn vector_samples(v: &[Sample]) -> usize {
    v.iter()
        .map(|s| s.h.as_deref().map_or(1, histogram_size))
        .sum()
}

/// A query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vector),
    Matrix(Matrix),
}

impl Value {
    /// Upstream's type name (`scalar`, `string`, `vector`, `matrix`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

impl fmt::Display for FPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} @[{}]",
            hearth_model::float::format_go_g(self.f),
            self.t
        )
    }
}

/// Whether two label sets in a vector are equal (upstream's `ContainsSameLabelset`).
pub(crate) fn vector_has_duplicate_labelsets(v: &[Sample]) -> bool {
    has_duplicates(v.iter().map(|s| &s.metric))
}

/// Whether two series of a matrix have equal label sets.
pub(crate) fn matrix_has_duplicate_labelsets(m: &[Series]) -> bool {
    has_duplicates(m.iter().map(|s| &s.metric))
}

fn has_duplicates<'a>(labels: impl ExactSizeIterator<Item = &'a Labels>) -> bool {
    match labels.len() {
        0 | 1 => false,
        2..=8 => {
            let all: Vec<&Labels> = labels.collect();
            all.iter()
                .enumerate()
                .any(|(i, a)| all[i + 1..].iter().any(|b| a == b))
        }
        n => {
            let mut seen = std::collections::HashSet::with_capacity(n);
            labels.into_iter().any(|l| !seen.insert(l))
        }
    }
}
