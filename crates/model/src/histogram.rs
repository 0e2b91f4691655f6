//! Native histograms: sparse exponential buckets (schemas -4..=8) and custom buckets
//! (schema -53), in integer form (as scraped and stored) and float form (as queried).
//!
//! The layout follows `../shared/conformance/specs/native_histograms.md`: populated buckets
//! are described by spans (offset, length) and the integer form stores bucket counts as
//! deltas to the previous bucket.

use std::fmt;

pub use crate::histogram_bounds::exponential_bound;

/// Schema of native histograms with custom bucket boundaries (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// Lowest standard exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// Highest standard exponential schema.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;
/// Highest schema accepted on ingestion (reduced to `EXPONENTIAL_SCHEMA_MAX`).
pub const EXPONENTIAL_SCHEMA_MAX_RESERVED: i32 = 52;

/// A run of consecutive populated buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Gap to the previous span's end (or the starting bucket index for the first span).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// What the producer says about counter resets relative to the previous histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    CounterReset,
    NotCounterReset,
    /// A gauge histogram: counts may go up and down.
    Gauge,
}

/// A native histogram with integer counts (the scraped and stored form).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub count: u64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    /// Delta-encoded: the first is absolute, each next is the difference to the previous.
    pub positive_buckets: Vec<i64>,
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema -53 only), ascending.
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts (the form PromQL computes with).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    /// Absolute bucket counts.
    pub positive_buckets: Vec<f64>,
    pub negative_buckets: Vec<f64>,
    pub custom_values: Vec<f64>,
}

/// A histogram sample in either form, as scraped, stored and appended.
#[derive(Debug, Clone, PartialEq)]
pub enum HistogramValue {
    Integer(Histogram),
    Float(FloatHistogram),
}

impl HistogramValue {
    /// The float form (converting integer counts).
    pub fn to_float(&self) -> FloatHistogram {
        match self {
            HistogramValue::Integer(h) => h.to_float(),
            HistogramValue::Float(f) => f.clone(),
        }
    }
}

/// Why a histogram is not acceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramError {
    #[error("histogram spans need {spans} buckets, have {buckets} buckets ({side} side)")]
    SpansBucketsMismatch {
        side: &'static str,
        spans: u64,
        buckets: usize,
    },
    #[error("histogram has a span whose offset is negative ({side} side, span {index})")]
    NegativeSpanOffset { side: &'static str, index: usize },
    #[error("histogram has a negative bucket count ({side} side, bucket {index})")]
    NegativeBucketCount { side: &'static str, index: usize },
    #[error(
        "histogram's observation count should equal the number of observations found in the buckets (in absence of NaN): {count} < {buckets}"
    )]
    CountMismatch { count: f64, buckets: f64 },
    #[error(
        "histogram's observation count should be at least the number of observations found in the buckets: {count} < {buckets}"
    )]
    CountNotBigEnough { count: f64, buckets: f64 },
    #[error("invalid histogram schema {0}")]
    InvalidSchema(i32),
    #[error("histogram with custom buckets must not have negative buckets or a zero bucket")]
    CustomBucketsInvalidFields,
    #[error("histogram custom bounds must be in strictly increasing order")]
    CustomBoundsNotIncreasing,
    #[error("histogram custom bounds must not contain +Inf")]
    CustomBoundsInfinite,
    #[error("histogram custom buckets reference bucket {index} beyond the {bounds} custom bounds")]
    CustomBucketOutOfRange { index: i64, bounds: usize },
    #[error("histogram with an exponential schema must not have custom values")]
    ExponentialWithCustomValues,
}

/// One bucket with its boundaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket<T> {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: T,
    /// The bucket's index in its schema.
    pub index: i32,
}

pub fn is_custom_buckets_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
}

pub fn is_exponential_schema(schema: i32) -> bool {
    (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema)
}

pub fn is_valid_schema(schema: i32) -> bool {
    is_exponential_schema(schema) || is_custom_buckets_schema(schema)
}

/// The upper bound of bucket `index` in `schema`. For exponential schemas bucket `i`
/// covers `(base^(i-1), base^i]` with `base = 2^(2^-schema)`, with upstream's exact bounds
/// (see [`exponential_bound`]); the last finite bucket is capped at `f64::MAX`. For
/// custom buckets, index -1 (and below) is `-Inf` and `custom_values.len()` (and
/// above) is `+Inf`.
pub fn bucket_upper_bound(index: i32, schema: i32, custom_values: &[f64]) -> f64 {
    if is_custom_buckets_schema(schema) {
        let i = i64::from(index);
        return match usize::try_from(i) {
            Ok(u) => custom_values.get(u).copied().unwrap_or(f64::INFINITY),
            Err(_) => f64::NEG_INFINITY,
        };
    }
    exponential_bound(index, schema)
}

/// Walks spans and their buckets, yielding (bucket index, position in the bucket list).
pub fn span_indices(spans: &[Span]) -> impl Iterator<Item = (i32, usize)> + '_ {
    let mut idx: i32 = 0;
    let mut pos = 0usize;
    spans.iter().enumerate().flat_map(move |(si, s)| {
        idx = if si == 0 {
            s.offset
        } else {
            idx.saturating_add(s.offset)
        };
        let start = idx;
        let start_pos = pos;
        idx = idx.saturating_add(s.length as i32);
        pos += s.length as usize;
        (0..s.length as i32).map(move |k| (start + k, start_pos + k as usize))
    })
}

fn spans_bucket_count(spans: &[Span]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

fn check_spans(side: &'static str, spans: &[Span], buckets: usize) -> Result<(), HistogramError> {
    let need = spans_bucket_count(spans);
    if need != buckets as u64 {
        return Err(HistogramError::SpansBucketsMismatch {
            side,
            spans: need,
            buckets,
        });
    }
    for (i, s) in spans.iter().enumerate().skip(1) {
        if s.offset < 0 {
            return Err(HistogramError::NegativeSpanOffset { side, index: i });
        }
    }
    Ok(())
}

fn check_custom(
    schema: i32,
    custom: &[f64],
    negative_spans: &[Span],
    zero: bool,
    positive_spans: &[Span],
) -> Result<(), HistogramError> {
    if !is_valid_schema(schema) {
        return Err(HistogramError::InvalidSchema(schema));
    }
    if !is_custom_buckets_schema(schema) {
        if !custom.is_empty() {
            return Err(HistogramError::ExponentialWithCustomValues);
        }
        return Ok(());
    }
    if !negative_spans.is_empty() || zero {
        return Err(HistogramError::CustomBucketsInvalidFields);
    }
    if custom.windows(2).any(|w| w[0] >= w[1]) {
        return Err(HistogramError::CustomBoundsNotIncreasing);
    }
    if custom.last().is_some_and(|v| *v == f64::INFINITY) {
        return Err(HistogramError::CustomBoundsInfinite);
    }
    if let Some(s) = positive_spans.first()
        && s.offset < 0
    {
        return Err(HistogramError::NegativeSpanOffset {
            side: "custom buckets",
            index: 0,
        });
    }
    if let Some((last, _)) = span_indices(positive_spans).last()
        && i64::from(last) > custom.len() as i64
    {
        return Err(HistogramError::CustomBucketOutOfRange {
            index: i64::from(last),
            bounds: custom.len(),
        });
    }
    Ok(())
}

impl Histogram {
    /// Checks spans, buckets, counts and schema as Prometheus does on ingestion.
    pub fn validate(&self) -> Result<(), HistogramError> {
        check_custom(
            self.schema,
            &self.custom_values,
            &self.negative_spans,
            self.zero_count != 0 || self.zero_threshold != 0.0,
            &self.positive_spans,
        )?;
        check_spans(
            "negative",
            &self.negative_spans,
            self.negative_buckets.len(),
        )?;
        check_spans(
            "positive",
            &self.positive_spans,
            self.positive_buckets.len(),
        )?;
        let neg = absolute_counts("negative", &self.negative_buckets)?;
        let pos = absolute_counts("positive", &self.positive_buckets)?;
        let in_buckets = neg + pos + u128::from(self.zero_count);
        if self.sum.is_nan() {
            if in_buckets > u128::from(self.count) {
                return Err(HistogramError::CountNotBigEnough {
                    count: self.count as f64,
                    buckets: in_buckets as f64,
                });
            }
        } else if in_buckets != u128::from(self.count) {
            return Err(HistogramError::CountMismatch {
                count: self.count as f64,
                buckets: in_buckets as f64,
            });
        }
        Ok(())
    }

    /// Absolute positive bucket counts (undoing the delta encoding).
    pub fn positive_counts(&self) -> Vec<i64> {
        undelta(&self.positive_buckets)
    }

    /// Absolute negative bucket counts.
    pub fn negative_counts(&self) -> Vec<i64> {
        undelta(&self.negative_buckets)
    }

    /// Drops empty buckets (keeping runs of at most `max_empty_buckets` zeros between
    /// populated ones) and merges adjacent spans, as Prometheus' `Compact`.
    pub fn compact(&mut self, max_empty_buckets: usize) {
        let (ps, pc) = compact_layout(
            &self.positive_spans,
            &undelta(&self.positive_buckets),
            max_empty_buckets,
        );
        let (ns, nc) = compact_layout(
            &self.negative_spans,
            &undelta(&self.negative_buckets),
            max_empty_buckets,
        );
        self.positive_spans = ps;
        self.positive_buckets = redelta(&pc);
        self.negative_spans = ns;
        self.negative_buckets = redelta(&nc);
    }

    pub fn to_float(&self) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: undelta(&self.positive_buckets)
                .into_iter()
                .map(|c| c as f64)
                .collect(),
            negative_buckets: undelta(&self.negative_buckets)
                .into_iter()
                .map(|c| c as f64)
                .collect(),
            custom_values: self.custom_values.clone(),
        }
    }
}

/// Rebuilds spans and absolute counts keeping only non-zero buckets, except that runs of
/// at most `max_empty` zero buckets between populated ones stay inside a span.
fn compact_layout<T: Copy + PartialEq + Default>(
    spans: &[Span],
    counts: &[T],
    max_empty: usize,
) -> (Vec<Span>, Vec<T>) {
    let zero = T::default();
    let mut out_spans: Vec<Span> = Vec::new();
    let mut out_counts: Vec<T> = Vec::new();
    // End index (exclusive) of the last span written.
    let mut end: i64 = 0;
    for (idx, pos) in span_indices(spans) {
        let Some(&c) = counts.get(pos) else { break };
        if c == zero {
            continue;
        }
        let idx = i64::from(idx);
        match out_spans.last_mut() {
            Some(last) if idx - end <= i64::try_from(max_empty).unwrap_or(i64::MAX) => {
                for _ in end..idx {
                    out_counts.push(zero);
                }
                last.length += (idx - end) as u32 + 1;
            }
            Some(_) => out_spans.push(Span {
                offset: (idx - end) as i32,
                length: 1,
            }),
            None => out_spans.push(Span {
                offset: idx as i32,
                length: 1,
            }),
        }
        out_counts.push(c);
        end = idx + 1;
    }
    (out_spans, out_counts)
}

fn redelta(abs: &[i64]) -> Vec<i64> {
    let mut prev = 0i64;
    abs.iter()
        .map(|&c| {
            let d = c.wrapping_sub(prev);
            prev = c;
            d
        })
        .collect()
}

fn undelta(deltas: &[i64]) -> Vec<i64> {
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|d| {
            acc = acc.wrapping_add(*d);
            acc
        })
        .collect()
}

fn absolute_counts(side: &'static str, deltas: &[i64]) -> Result<u128, HistogramError> {
    let mut acc = 0i64;
    let mut total = 0u128;
    for (i, d) in deltas.iter().enumerate() {
        acc = acc.wrapping_add(*d);
        if acc < 0 {
            return Err(HistogramError::NegativeBucketCount { side, index: i });
        }
        total += acc as u128;
    }
    Ok(total)
}

impl FloatHistogram {
    /// Checks spans, buckets, counts and schema as Prometheus does.
    pub fn validate(&self) -> Result<(), HistogramError> {
        check_custom(
            self.schema,
            &self.custom_values,
            &self.negative_spans,
            self.zero_count != 0.0 || self.zero_threshold != 0.0,
            &self.positive_spans,
        )?;
        check_spans(
            "negative",
            &self.negative_spans,
            self.negative_buckets.len(),
        )?;
        check_spans(
            "positive",
            &self.positive_spans,
            self.positive_buckets.len(),
        )?;
        for (side, b) in [
            ("negative", &self.negative_buckets),
            ("positive", &self.positive_buckets),
        ] {
            if let Some(i) = b.iter().position(|c| *c < 0.0) {
                return Err(HistogramError::NegativeBucketCount { side, index: i });
            }
        }
        Ok(())
    }

    /// Drops empty buckets and merges adjacent spans (see [`Histogram::compact`]).
    pub fn compact(&mut self, max_empty_buckets: usize) {
        let (ps, pc) = compact_layout(
            &self.positive_spans,
            &self.positive_buckets,
            max_empty_buckets,
        );
        let (ns, nc) = compact_layout(
            &self.negative_spans,
            &self.negative_buckets,
            max_empty_buckets,
        );
        self.positive_spans = ps;
        self.positive_buckets = pc;
        self.negative_spans = ns;
        self.negative_buckets = nc;
    }

    /// Whether this is a gauge histogram.
    pub fn is_gauge(&self) -> bool {
        self.counter_reset_hint == CounterResetHint::Gauge
    }

    pub fn uses_custom_buckets(&self) -> bool {
        is_custom_buckets_schema(self.schema)
    }

    /// Positive buckets in ascending order of their bounds (see
    /// [`FloatHistogram::positive_bucket_iter`]).
    pub fn positive_buckets(&self) -> crate::histogram_iter::BucketIter<'_> {
        self.positive_bucket_iter()
    }

    /// Negative buckets in descending order of their values, i.e. ascending absolute
    /// bounds (see [`FloatHistogram::negative_bucket_iter`]).
    pub fn negative_buckets(&self) -> crate::histogram_iter::BucketIter<'_> {
        self.negative_bucket_iter()
    }
}

impl fmt::Display for FloatHistogram {
    /// The notation of PromQL test files (upstream's `TestExpression`), e.g.
    /// `{{schema:1 count:3 sum:2 buckets:[1 2]}}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.test_expression())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_bounds() {
        assert_eq!(bucket_upper_bound(0, 0, &[]), 1.0);
        assert_eq!(bucket_upper_bound(1, 0, &[]), 2.0);
        assert_eq!(bucket_upper_bound(-1, 0, &[]), 0.5);
        assert_eq!(bucket_upper_bound(2, 1, &[]), 2.0);
        assert!((bucket_upper_bound(1, 1, &[]) - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert_eq!(bucket_upper_bound(1, -2, &[]), 16.0);
        assert_eq!(bucket_upper_bound(1024, 0, &[]), f64::MAX);
    }

    #[test]
    fn custom_bounds() {
        let cv = [1.0, 5.0];
        assert_eq!(bucket_upper_bound(0, CUSTOM_BUCKETS_SCHEMA, &cv), 1.0);
        assert_eq!(
            bucket_upper_bound(2, CUSTOM_BUCKETS_SCHEMA, &cv),
            f64::INFINITY
        );
    }

    fn sample() -> Histogram {
        Histogram {
            schema: 0,
            count: 6,
            zero_count: 1,
            sum: 10.0,
            positive_spans: vec![
                Span {
                    offset: 0,
                    length: 2,
                },
                Span {
                    offset: 1,
                    length: 1,
                },
            ],
            positive_buckets: vec![1, 1, -1], // absolute 1, 2, 1
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![1],
            ..Default::default()
        }
    }

    #[test]
    fn validate_and_convert() {
        let h = sample();
        h.validate().unwrap();
        let f = h.to_float();
        assert_eq!(f.positive_buckets, vec![1.0, 2.0, 1.0]);
        let idx: Vec<i32> = f.positive_buckets().map(|b| b.index).collect();
        assert_eq!(idx, vec![0, 1, 3]);
        let b3 = f.positive_buckets().last().unwrap();
        assert_eq!((b3.lower, b3.upper), (4.0, 8.0));
        f.validate().unwrap();
    }

    #[test]
    fn compaction() {
        let mut h = Histogram {
            positive_spans: vec![
                Span {
                    offset: -2,
                    length: 4,
                },
                Span {
                    offset: 0,
                    length: 2,
                },
                Span {
                    offset: 3,
                    length: 0,
                },
            ],
            positive_buckets: vec![0, 1, -1, 2, -2, 0], // absolute 0 1 0 2 0 0
            ..Default::default()
        };
        h.compact(0);
        assert_eq!(
            h.positive_spans,
            vec![
                Span {
                    offset: -1,
                    length: 1
                },
                Span {
                    offset: 1,
                    length: 1
                }
            ]
        );
        assert_eq!(h.positive_counts(), vec![1, 2]);
        let mut f = FloatHistogram {
            positive_spans: vec![Span {
                offset: 0,
                length: 5,
            }],
            positive_buckets: vec![1.0, 0.0, 2.0, 0.0, 0.0],
            ..Default::default()
        };
        f.compact(1);
        assert_eq!(
            f.positive_spans,
            vec![Span {
                offset: 0,
                length: 3
            }]
        );
        assert_eq!(f.positive_buckets, vec![1.0, 0.0, 2.0]);
        let mut empty = Histogram {
            positive_spans: vec![Span {
                offset: 0,
                length: 0,
            }],
            ..Default::default()
        };
        empty.compact(0);
        assert!(empty.positive_spans.is_empty());
    }

    #[test]
    fn validation_errors() {
        let mut h = sample();
        h.count = 5;
        assert!(matches!(
            h.validate(),
            Err(HistogramError::CountMismatch { .. })
        ));
        let mut h = sample();
        h.positive_buckets.pop();
        assert!(matches!(
            h.validate(),
            Err(HistogramError::SpansBucketsMismatch { .. })
        ));
        let mut h = sample();
        h.positive_buckets[1] = -5;
        assert!(matches!(
            h.validate(),
            Err(HistogramError::NegativeBucketCount { .. })
        ));
        let mut h = sample();
        h.schema = 9;
        assert!(matches!(
            h.validate(),
            Err(HistogramError::InvalidSchema(9))
        ));
        let mut h = sample();
        h.sum = f64::NAN;
        h.count = 7;
        h.validate().unwrap();
    }
}
