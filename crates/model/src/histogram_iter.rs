//! Bucket iterators of float histograms, as upstream's `floatBucketIterator`,
//! `reverseFloatBucketIterator` and `allFloatBucketIterator`.
//!
//! - [`BucketIter`] walks one side in ascending bucket index (positive buckets from
//!   zero upwards, negative buckets from zero downwards), optionally merging buckets
//!   into a lower target schema and skipping leading buckets that lie within a zero
//!   threshold.
//! - [`ReverseBucketIter`] walks one side in descending bucket index.
//! - [`AllBucketIter`] walks negative, zero and positive buckets in ascending or
//!   descending order of their values, clipping buckets that overlap the zero bucket.
//!
//! Every iterator tolerates malformed histograms (fewer buckets than the spans
//! describe, absurd offsets): it stops or skips, it never panics.

use crate::histogram::{
    Bucket, FloatHistogram, Span, bucket_upper_bound, is_custom_buckets_schema,
    is_exponential_schema,
};
use crate::histogram_bounds::exponential_bound;

/// `i64` bucket index to the `i32` of [`Bucket::index`], saturating.
pub(crate) fn clamp_index(idx: i64) -> i32 {
    i32::try_from(idx).unwrap_or(if idx < 0 { i32::MIN } else { i32::MAX })
}

/// The index in `target_schema` of the bucket that contains bucket `idx` of
/// `origin_schema` (upstream's `targetIdx`).
pub(crate) fn target_index(idx: i64, origin_schema: i32, target_schema: i32) -> i64 {
    let shift = origin_schema.saturating_sub(target_schema).clamp(0, 63);
    ((idx - 1) >> shift) + 1
}

/// The bucket with the given index and count, with its bounds in `schema`.
pub(crate) fn make_bucket(
    idx: i64,
    count: f64,
    schema: i32,
    custom_values: &[f64],
    positive: bool,
) -> Bucket<f64> {
    let index = clamp_index(idx);
    let upper_bound = bucket_upper_bound(index, schema, custom_values);
    let lower_bound = bucket_upper_bound(index.saturating_sub(1), schema, custom_values);
    let (lower, upper) = if positive {
        (lower_bound, upper_bound)
    } else {
        (-upper_bound, -lower_bound)
    };
    let (lower_inclusive, upper_inclusive) = if is_custom_buckets_schema(schema) {
        (index == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive,
        upper_inclusive,
        count,
        index,
    }
}

/// Walks spans and counts in ascending bucket index, yielding `(index, count)`.
#[derive(Debug, Clone)]
pub(crate) struct RawBuckets<'a> {
    spans: &'a [Span],
    counts: &'a [f64],
    span_idx: usize,
    left_in_span: u32,
    next_index: i64,
    pos: usize,
}

impl<'a> RawBuckets<'a> {
    pub(crate) fn new(spans: &'a [Span], counts: &'a [f64]) -> Self {
        RawBuckets {
            spans,
            counts,
            span_idx: 0,
            left_in_span: 0,
            next_index: 0,
            pos: 0,
        }
    }
}

impl Iterator for RawBuckets<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        let count = *self.counts.get(self.pos)?;
        while self.left_in_span == 0 {
            let span = self.spans.get(self.span_idx)?;
            self.next_index += i64::from(span.offset);
            self.left_in_span = span.length;
            self.span_idx += 1;
        }
        let idx = self.next_index;
        self.next_index += 1;
        self.left_in_span -= 1;
        self.pos += 1;
        Some((idx, count))
    }
}

/// One side of a histogram in ascending bucket index (see the module docs).
#[derive(Debug, Clone)]
pub struct BucketIter<'a> {
    raw: RawBuckets<'a>,
    schema: i32,
    target_schema: i32,
    custom_values: &'a [f64],
    positive: bool,
    absolute_start: f64,
    reached_start: bool,
    peeked: Option<(i64, f64)>,
}

impl<'a> BucketIter<'a> {
    /// Buckets described by `spans`/`counts` in `schema`, merged into `target_schema`
    /// (which must not be higher; a higher one is treated as equal) and, for exponential
    /// schemas, skipping leading buckets whose upper bound (absolute) is at most
    /// `absolute_start`. `absolute_start == 0` skips nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spans: &'a [Span],
        counts: &'a [f64],
        schema: i32,
        target_schema: i32,
        custom_values: &'a [f64],
        positive: bool,
        absolute_start: f64,
    ) -> Self {
        let target_schema = if is_custom_buckets_schema(schema) || target_schema > schema {
            schema
        } else {
            target_schema
        };
        BucketIter {
            raw: RawBuckets::new(spans, counts),
            schema,
            target_schema,
            custom_values,
            positive,
            absolute_start,
            reached_start: absolute_start == 0.0,
            peeked: None,
        }
    }

    /// The next bucket as `(index in the target schema, count)`, without bounds.
    pub(crate) fn next_indexed(&mut self) -> Option<(i64, f64)> {
        loop {
            let (idx, count) = self.next_merged()?;
            if !self.reached_start
                && is_exponential_schema(self.target_schema)
                && exponential_bound(clamp_index(idx), self.target_schema) <= self.absolute_start
            {
                continue;
            }
            self.reached_start = true;
            return Some((idx, count));
        }
    }

    fn next_merged(&mut self) -> Option<(i64, f64)> {
        let (idx, count) = self.peeked.take().or_else(|| self.raw.next())?;
        if self.schema == self.target_schema {
            return Some((idx, count));
        }
        let target = target_index(idx, self.schema, self.target_schema);
        // Upstream accumulates from zero, which matters for the sign of a -0 count.
        let mut merged = 0.0 + count;
        for (next_idx, next_count) in self.raw.by_ref() {
            if target_index(next_idx, self.schema, self.target_schema) != target {
                self.peeked = Some((next_idx, next_count));
                break;
            }
            merged += next_count;
        }
        Some((target, merged))
    }
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket<f64>;

    fn next(&mut self) -> Option<Bucket<f64>> {
        let (idx, count) = self.next_indexed()?;
        Some(make_bucket(
            idx,
            count,
            self.target_schema,
            self.custom_values,
            self.positive,
        ))
    }
}

/// One side of a histogram in descending bucket index.
#[derive(Debug, Clone)]
pub struct ReverseBucketIter<'a> {
    spans: &'a [Span],
    counts: &'a [f64],
    schema: i32,
    custom_values: &'a [f64],
    positive: bool,
    span_idx: usize,
    left_in_span: u32,
    /// Index of the next bucket to yield.
    next_index: i64,
    /// Exclusive end index of the span before the current one.
    prev_end: i64,
    /// Position (in `counts`) one past the next bucket to yield.
    pos: u64,
}

impl<'a> ReverseBucketIter<'a> {
    /// Buckets described by `spans`/`counts` in `schema`, highest index first.
    pub fn new(
        spans: &'a [Span],
        counts: &'a [f64],
        schema: i32,
        custom_values: &'a [f64],
        positive: bool,
    ) -> Self {
        let end: i64 = spans
            .iter()
            .map(|s| i64::from(s.offset) + i64::from(s.length))
            .sum();
        let len: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
        ReverseBucketIter {
            spans,
            counts,
            schema,
            custom_values,
            positive,
            span_idx: spans.len(),
            left_in_span: 0,
            next_index: end,
            prev_end: end,
            pos: len,
        }
    }
}

impl Iterator for ReverseBucketIter<'_> {
    type Item = Bucket<f64>;

    fn next(&mut self) -> Option<Bucket<f64>> {
        loop {
            while self.left_in_span == 0 {
                if self.span_idx == 0 {
                    return None;
                }
                self.span_idx -= 1;
                let span = self.spans[self.span_idx];
                self.left_in_span = span.length;
                self.next_index = self.prev_end - 1;
                self.prev_end -= i64::from(span.length) + i64::from(span.offset);
            }
            // Spans describing more buckets than there are: skip the missing ones at once.
            let missing = self.pos.saturating_sub(self.counts.len() as u64);
            if missing > 0 {
                let skip = missing.min(u64::from(self.left_in_span));
                self.left_in_span -= skip as u32;
                self.pos -= skip;
                self.next_index -= skip as i64;
                continue;
            }
            self.left_in_span -= 1;
            self.pos -= 1;
            let idx = self.next_index;
            self.next_index -= 1;
            if let Some(&count) = usize::try_from(self.pos)
                .ok()
                .and_then(|p| self.counts.get(p))
            {
                return Some(make_bucket(
                    idx,
                    count,
                    self.schema,
                    self.custom_values,
                    self.positive,
                ));
            }
        }
    }
}

/// Where an [`AllBucketIter`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllState {
    First,
    Zero,
    Second,
    Done,
}

/// Negative, zero and positive buckets in ascending (or descending) order of their
/// values. A regular bucket that overlaps the zero bucket has its inner bound moved to
/// the zero threshold; the zero bucket appears only when its count is positive.
#[derive(Debug, Clone)]
pub struct AllBucketIter<'a> {
    zero: Option<Bucket<f64>>,
    zero_threshold: f64,
    first: ReverseBucketIter<'a>,
    second: BucketIter<'a>,
    state: AllState,
}

impl AllBucketIter<'_> {
    fn clip(&self, mut b: Bucket<f64>) -> Bucket<f64> {
        let t = self.zero_threshold;
        if b.upper < 0.0 && b.upper > -t {
            b.upper = -t;
        } else if b.lower > 0.0 && b.lower < t {
            b.lower = t;
        }
        b
    }
}

impl Iterator for AllBucketIter<'_> {
    type Item = Bucket<f64>;

    fn next(&mut self) -> Option<Bucket<f64>> {
        loop {
            match self.state {
                AllState::First => match self.first.next() {
                    Some(b) => return Some(self.clip(b)),
                    None => self.state = AllState::Zero,
                },
                AllState::Zero => {
                    self.state = AllState::Second;
                    if let Some(z) = self.zero.filter(|z| z.count > 0.0) {
                        return Some(z);
                    }
                }
                AllState::Second => match self.second.next() {
                    Some(b) => return Some(self.clip(b)),
                    None => self.state = AllState::Done,
                },
                AllState::Done => return None,
            }
        }
    }
}

impl FloatHistogram {
    /// The zero bucket `[-threshold, threshold]`, or `None` for custom buckets (which
    /// have none).
    pub fn zero_bucket(&self) -> Option<Bucket<f64>> {
        if self.uses_custom_buckets() {
            return None;
        }
        Some(Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        })
    }

    /// Positive buckets in ascending order (from the zero bucket upwards).
    pub fn positive_bucket_iter(&self) -> BucketIter<'_> {
        self.side_iter(true, self.schema, 0.0)
    }

    /// Negative buckets from the zero bucket downwards (descending values).
    pub fn negative_bucket_iter(&self) -> BucketIter<'_> {
        self.side_iter(false, self.schema, 0.0)
    }

    /// Positive buckets from the highest down to the zero bucket.
    pub fn positive_reverse_bucket_iter(&self) -> ReverseBucketIter<'_> {
        ReverseBucketIter::new(
            &self.positive_spans,
            &self.positive_buckets,
            self.schema,
            &self.custom_values,
            true,
        )
    }

    /// Negative buckets from the lowest value up to the zero bucket.
    pub fn negative_reverse_bucket_iter(&self) -> ReverseBucketIter<'_> {
        ReverseBucketIter::new(
            &self.negative_spans,
            &self.negative_buckets,
            self.schema,
            &[],
            false,
        )
    }

    /// All buckets in ascending order of values: negative, zero, positive.
    pub fn all_bucket_iter(&self) -> AllBucketIter<'_> {
        AllBucketIter {
            zero: self.zero_bucket(),
            zero_threshold: self.zero_threshold,
            first: self.negative_reverse_bucket_iter(),
            second: self.positive_bucket_iter(),
            state: AllState::First,
        }
    }

    /// All buckets in descending order of values: positive, zero, negative.
    pub fn all_reverse_bucket_iter(&self) -> AllBucketIter<'_> {
        AllBucketIter {
            zero: self.zero_bucket(),
            zero_threshold: self.zero_threshold,
            first: self.positive_reverse_bucket_iter(),
            second: self.negative_bucket_iter(),
            state: AllState::First,
        }
    }

    /// One side's buckets merged into `target_schema`, skipping leading buckets within
    /// `absolute_start` (upstream's `floatBucketIterator`).
    pub fn side_iter(
        &self,
        positive: bool,
        target_schema: i32,
        absolute_start: f64,
    ) -> BucketIter<'_> {
        if positive {
            BucketIter::new(
                &self.positive_spans,
                &self.positive_buckets,
                self.schema,
                target_schema,
                &self.custom_values,
                true,
                absolute_start,
            )
        } else {
            BucketIter::new(
                &self.negative_spans,
                &self.negative_buckets,
                self.schema,
                target_schema,
                &[],
                false,
                absolute_start,
            )
        }
    }
}
