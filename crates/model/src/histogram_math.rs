//! Arithmetic on native histograms with upstream's semantics (Prometheus 3.14,
//! `model/histogram/float_histogram.go`): scaling, addition and subtraction with schema
//! and zero-bucket reconciliation, custom-bucket reconciliation, Kahan-compensated
//! addition for `sum`/`avg`, exact equality, counter-reset detection and resolution
//! reduction.
//!
//! Results are bit-identical to upstream's where the operation order allows it. Bucket
//! layouts may differ from upstream's in how runs are split into spans, never in which
//! buckets exist (including explicitly empty ones); [`FloatHistogram::equals`] compares
//! layouts the way upstream does.
//!
//! Every operation accepts arbitrary input: malformed layouts and invalid schemas are
//! errors ([`HistogramOpError`]), never panics.

use std::cmp::Ordering;
use std::iter::Peekable;

use crate::histogram::{
    Bucket, CounterResetHint, FloatHistogram, Histogram, Span, is_custom_buckets_schema,
    is_exponential_schema, span_indices,
};
use crate::histogram_bounds::exponential_bound;
use crate::histogram_iter::{RawBuckets, clamp_index, target_index};

/// What an addition or subtraction reports besides its result, for the engine's
/// annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddOutcome {
    /// One operand said `CounterReset` and the other `NotCounterReset`; the result's
    /// hint became `Unknown`. Upstream warns "conflicting counter resets during
    /// histogram addition/subtraction/aggregation".
    pub counter_reset_collision: bool,
    /// Both were custom-bucket histograms with different bounds, reconciled to the
    /// bounds they share. Upstream's info "mismatched custom buckets were reconciled
    /// during ...".
    pub nhcb_bounds_reconciled: bool,
}

/// Why a histogram operation could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramOpError {
    /// Upstream's `ErrHistogramsIncompatibleSchema`.
    #[error(
        "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
    )]
    IncompatibleSchema,
    #[error("invalid histogram schema {0}")]
    InvalidSchema(i32),
    #[error("histogram spans need {spans} buckets, have {buckets} buckets")]
    SpansBucketsMismatch { spans: u64, buckets: usize },
    #[error("histogram has a span whose offset is negative")]
    NegativeSpanOffset,
    #[error("histogram zero thresholds cannot be reconciled (NaN threshold)")]
    InvalidZeroThreshold,
    #[error("cannot reduce resolution from schema {from} to {to}")]
    CannotReduceResolution { from: i32, to: i32 },
    #[error("cannot reduce resolution when there are custom buckets")]
    ReduceCustomBuckets,
    #[error("cannot reduce resolution to custom buckets schema")]
    ReduceToCustomBuckets,
}

/// One step of Kahan-Babuška-Neumaier summation (upstream's `kahansum.Inc`): adds `inc`
/// to `sum` and returns the new sum and the new compensation. The compensated total is
/// `sum + c`. The compensation is dropped when the sum becomes infinite.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Whether two sets of custom bucket bounds are the same (upstream's
/// `CustomBucketBoundsMatch`).
pub fn custom_bucket_bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The bounds shared by both sets (upstream's `intersectCustomBucketBounds`).
pub fn intersect_custom_bucket_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        if x == y {
            out.push(x);
            i += 1;
            j += 1;
        } else if x < y {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Checks that spans describe exactly `buckets` buckets in ascending order.
fn check_layout(spans: &[Span], buckets: usize, custom: bool) -> Result<(), HistogramOpError> {
    let need: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if need != buckets as u64 {
        return Err(HistogramOpError::SpansBucketsMismatch {
            spans: need,
            buckets,
        });
    }
    let skip = usize::from(!custom);
    if spans.iter().skip(skip).any(|s| s.offset < 0) {
        return Err(HistogramOpError::NegativeSpanOffset);
    }
    Ok(())
}

fn check_histogram(h: &FloatHistogram) -> Result<(), HistogramOpError> {
    let custom = h.uses_custom_buckets();
    if !custom && !is_exponential_schema(h.schema) {
        return Err(HistogramOpError::InvalidSchema(h.schema));
    }
    if h.zero_threshold.is_nan() {
        return Err(HistogramOpError::InvalidZeroThreshold);
    }
    check_layout(&h.positive_spans, h.positive_buckets.len(), custom)?;
    check_layout(&h.negative_spans, h.negative_buckets.len(), custom)
}

/// Builds canonical spans from ascending bucket indices.
struct SpanBuilder {
    spans: Vec<Span>,
    next: Option<i64>,
}

impl SpanBuilder {
    fn with_capacity(n: usize) -> Self {
        SpanBuilder {
            spans: Vec::with_capacity(n),
            next: None,
        }
    }

    fn push(&mut self, idx: i64) {
        match (self.next, self.spans.last_mut()) {
            (Some(n), Some(last)) if n == idx => last.length += 1,
            (next, _) => self.spans.push(Span {
                offset: clamp_index(idx - next.unwrap_or(0)),
                length: 1,
            }),
        }
        self.next = Some(idx + 1);
    }
}

/// A side's buckets as `(index, count, compensation)`, compensation by position.
fn side_stream<'a>(
    spans: &'a [Span],
    counts: &'a [f64],
    comp: &'a [f64],
) -> impl Iterator<Item = (i64, f64, f64)> + 'a {
    RawBuckets::new(spans, counts)
        .enumerate()
        .map(|(pos, (idx, v))| (idx, v, comp.get(pos).copied().unwrap_or(0.0)))
}

/// Merges consecutive buckets that fall into the same bucket of a lower schema, as
/// upstream's `reduceResolution` (plain sums) or `kahanReduceResolution` (compensated,
/// carrying the compensation of the merged buckets along).
struct Reduce<I: Iterator<Item = (i64, f64, f64)>> {
    inner: Peekable<I>,
    from: i32,
    to: i32,
    kahan: bool,
}

impl<I: Iterator<Item = (i64, f64, f64)>> Reduce<I> {
    fn new(inner: I, from: i32, to: i32, kahan: bool) -> Self {
        Reduce {
            inner: inner.peekable(),
            from,
            to,
            kahan,
        }
    }
}

impl<I: Iterator<Item = (i64, f64, f64)>> Iterator for Reduce<I> {
    type Item = (i64, f64, f64);

    fn next(&mut self) -> Option<(i64, f64, f64)> {
        let (idx, mut v, mut c) = self.inner.next()?;
        if self.from <= self.to {
            return Some((idx, v, c));
        }
        let target = target_index(idx, self.from, self.to);
        while let Some(&(next_idx, nv, nc)) = self.inner.peek() {
            if target_index(next_idx, self.from, self.to) != target {
                break;
            }
            self.inner.next();
            if self.kahan {
                (v, c) = kahan_inc(nv, v, c);
                (v, c) = kahan_inc(nc, v, c);
            } else {
                v += nv;
            }
        }
        Some((target, v, c))
    }
}

/// How a bucket of the other histogram combines with the receiver's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    Add,
    Sub,
    Kahan,
}

/// The union of two ascending bucket streams, combined per index.
fn merge_sides(
    a: impl Iterator<Item = (i64, f64, f64)>,
    b: impl Iterator<Item = (i64, f64, f64)>,
    how: Combine,
    capacity: usize,
) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let mut spans = SpanBuilder::with_capacity(4);
    let mut counts = Vec::with_capacity(capacity);
    let mut comps = Vec::with_capacity(if how == Combine::Kahan { capacity } else { 0 });
    let mut a = a.peekable();
    let mut b = b.peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.0.cmp(&y.0),
        };
        let (idx, v, c) = match (
            order,
            a.next_if(|_| order != Ordering::Greater),
            b.next_if(|_| order != Ordering::Less),
        ) {
            (_, Some((idx, av, ac)), Some((_, bv, bc))) => match how {
                Combine::Add => (idx, av + bv, 0.0),
                Combine::Sub => (idx, av + -bv, 0.0),
                Combine::Kahan => {
                    let (mut sum, mut c) = kahan_inc(bv, av, ac);
                    if bc != 0.0 {
                        (sum, c) = kahan_inc(bc, sum, c);
                    }
                    (idx, sum, c)
                }
            },
            (_, Some(x), None) => x,
            (_, None, Some((idx, bv, bc))) => match how {
                Combine::Sub => (idx, -bv, 0.0),
                _ => (idx, bv, bc),
            },
            (_, None, None) => break,
        };
        spans.push(idx);
        counts.push(v);
        if how == Combine::Kahan {
            comps.push(c);
        }
    }
    (spans.spans, counts, comps)
}

/// Maps two custom-bucket layouts onto their shared bounds and adds (or subtracts) them
/// (upstream's `addCustomBucketsWithMismatches`). Buckets that end up exactly zero,
/// compensation included, are dropped.
#[allow(clippy::too_many_arguments)]
fn add_custom_mismatched(
    negate: bool,
    a_spans: &[Span],
    a_counts: &[f64],
    a_bounds: &[f64],
    a_comp: Option<&[f64]>,
    b_spans: &[Span],
    b_counts: &[f64],
    b_bounds: &[f64],
    shared: &[f64],
) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let n = shared.len() + 1;
    let mut target = vec![0.0; n];
    let mut target_comp = vec![0.0; n];
    let mut map =
        |spans: &[Span], counts: &[f64], bounds: &[f64], sign: f64, comp: Option<&[f64]>| {
            let mut shared_idx = 0usize;
            for (idx, pos) in span_indices(spans) {
                let Some(&value) = counts.get(pos) else { break };
                let mut t = n - 1;
                if let Some(&bound) = usize::try_from(idx).ok().and_then(|i| bounds.get(i)) {
                    while let Some(&s) = shared.get(shared_idx) {
                        if s >= bound {
                            t = shared_idx;
                            break;
                        }
                        shared_idx += 1;
                    }
                }
                (target[t], target_comp[t]) = kahan_inc(sign * value, target[t], target_comp[t]);
                if let Some(&c) = comp.and_then(|c| c.get(pos)) {
                    (target[t], target_comp[t]) = kahan_inc(c, target[t], target_comp[t]);
                }
            }
        };
    map(a_spans, a_counts, a_bounds, 1.0, a_comp);
    map(
        b_spans,
        b_counts,
        b_bounds,
        if negate { -1.0 } else { 1.0 },
        None,
    );

    let mut spans = SpanBuilder::with_capacity(2);
    let mut counts = Vec::with_capacity(n);
    let mut comps = Vec::with_capacity(n);
    for (i, (&v, &c)) in target.iter().zip(&target_comp).enumerate() {
        if v == 0.0 && c == 0.0 {
            continue;
        }
        spans.push(i as i64);
        counts.push(v);
        comps.push(c);
    }
    (spans.spans, counts, comps)
}

/// Drops empty buckets (keeping runs of at most `max_empty` between populated ones) from
/// `counts` and its parallel compensation `comp`. A bucket is empty when both are zero.
fn compact_with_compensation(
    spans: &mut Vec<Span>,
    counts: &mut Vec<f64>,
    comp: &mut Vec<f64>,
    max_empty: usize,
) {
    let mut out = SpanBuilder::with_capacity(spans.len());
    let mut out_counts = Vec::with_capacity(counts.len());
    let mut out_comp = Vec::with_capacity(counts.len());
    let mut last_kept: Option<i64> = None;
    for (idx, pos) in span_indices(spans) {
        let Some(&v) = counts.get(pos) else { break };
        let c = comp.get(pos).copied().unwrap_or(0.0);
        if v == 0.0 && c == 0.0 {
            continue;
        }
        let idx = i64::from(idx);
        if let Some(last) = last_kept
            && idx - last - 1 <= max_empty as i64
        {
            for gap in last + 1..idx {
                out.push(gap);
                out_counts.push(0.0);
                out_comp.push(0.0);
            }
        }
        out.push(idx);
        out_counts.push(v);
        out_comp.push(c);
        last_kept = Some(idx);
    }
    *spans = out.spans;
    *counts = out_counts;
    *comp = out_comp;
}

impl FloatHistogram {
    /// Scales all bucket counts, the zero bucket, the count and the sum by `factor`
    /// (upstream's `Mul`). A negative factor makes the result a gauge histogram.
    pub fn mul(&mut self, factor: f64) -> &mut Self {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides like [`FloatHistogram::mul`] multiplies (upstream's `Div`). Division by
    /// zero removes all regular buckets and leaves the zero count, count and sum at
    /// ±Inf or NaN. A negative divisor makes the result a gauge histogram.
    pub fn div(&mut self, scalar: f64) -> &mut Self {
        self.zero_count /= scalar;
        self.count /= scalar;
        self.sum /= scalar;
        if scalar == 0.0 {
            self.positive_buckets.clear();
            self.negative_buckets.clear();
            self.positive_spans.clear();
            self.negative_spans.clear();
            return self;
        }
        self.positive_buckets.iter_mut().for_each(|b| *b /= scalar);
        self.negative_buckets.iter_mut().for_each(|b| *b /= scalar);
        if scalar < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Adds `other` into `self` (upstream's `Add`). Reconciles zero thresholds (the wider
    /// one wins, widened further to a bucket boundary where needed) and schemas (the
    /// lower one wins); custom-bucket histograms with different bounds are reconciled
    /// to the bounds they share. Buckets may end up empty; call
    /// [`FloatHistogram::compact`] to drop them.
    ///
    /// Errors, leaving `self` unchanged, when one histogram uses custom buckets and the
    /// other does not, or either is malformed.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramOpError> {
        self.combine(other, Combine::Add, None)
    }

    /// Subtracts `other` from `self` like [`FloatHistogram::add`] adds (upstream's
    /// `Sub`), with the same counter-reset-hint rules. PromQL's `-` operator must set
    /// the result's hint to `Gauge` afterwards.
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramOpError> {
        self.combine(other, Combine::Sub, None)
    }

    /// Adds `other` with Kahan-Babuška-Neumaier compensation (upstream's `KahanAdd`, used
    /// by `sum`, `avg`, `sum_over_time` and `avg_over_time`). `compensation` carries the
    /// lost low-order parts between calls: start with `None`; it is created with
    /// `self`'s layout and kept in step with it. The compensated total is `self` plus
    /// the compensation: finish with `self.add(&compensation)`.
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        compensation: &mut Option<FloatHistogram>,
    ) -> Result<AddOutcome, HistogramOpError> {
        if let Some(c) = compensation.as_ref() {
            check_histogram(c)?;
        }
        self.combine(other, Combine::Kahan, Some(compensation))
    }

    fn combine(
        &mut self,
        other: &FloatHistogram,
        how: Combine,
        compensation: Option<&mut Option<FloatHistogram>>,
    ) -> Result<AddOutcome, HistogramOpError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramOpError::IncompatibleSchema);
        }
        check_histogram(self)?;
        check_histogram(other)?;
        let mut outcome = AddOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            nhcb_bounds_reconciled: false,
        };
        let mut comp = compensation.map(|c| c.get_or_insert_with(|| self.new_compensation()));
        let custom = self.uses_custom_buckets();

        if !custom {
            let (other_zero, other_zero_comp) =
                self.reconcile_zero_buckets(other, comp.as_deref_mut())?;
            match (how, comp.as_deref_mut()) {
                (Combine::Kahan, Some(c)) => {
                    (self.zero_count, c.zero_count) =
                        kahan_inc(other_zero, self.zero_count, c.zero_count);
                    (self.zero_count, c.zero_count) =
                        kahan_inc(other_zero_comp, self.zero_count, c.zero_count);
                }
                (Combine::Sub, _) => self.zero_count -= other_zero,
                _ => self.zero_count += other_zero,
            }
        }
        match (how, comp.as_deref_mut()) {
            (Combine::Kahan, Some(c)) => {
                (self.count, c.count) = kahan_inc(other.count, self.count, c.count);
                (self.sum, c.sum) = kahan_inc(other.sum, self.sum, c.sum);
            }
            (Combine::Sub, _) => {
                self.count -= other.count;
                self.sum -= other.sum;
            }
            _ => {
                self.count += other.count;
                self.sum += other.sum;
            }
        }

        if custom {
            let a_comp = comp.as_deref().map(|c| c.positive_buckets.as_slice());
            let (spans, counts, comps) =
                if custom_bucket_bounds_match(&self.custom_values, &other.custom_values) {
                    let a = side_stream(
                        &self.positive_spans,
                        &self.positive_buckets,
                        a_comp.unwrap_or(&[]),
                    );
                    let b = side_stream(&other.positive_spans, &other.positive_buckets, &[]);
                    merge_sides(a, b, how, self.positive_buckets.len())
                } else {
                    outcome.nhcb_bounds_reconciled = true;
                    let shared =
                        intersect_custom_bucket_bounds(&self.custom_values, &other.custom_values);
                    let r = add_custom_mismatched(
                        how == Combine::Sub,
                        &self.positive_spans,
                        &self.positive_buckets,
                        &self.custom_values,
                        a_comp,
                        &other.positive_spans,
                        &other.positive_buckets,
                        &other.custom_values,
                        &shared,
                    );
                    self.custom_values = shared;
                    r
                };
            self.positive_buckets = counts;
            if let Some(c) = comp {
                c.positive_buckets = comps;
                c.positive_spans.clone_from(&spans);
                c.custom_values.clone_from(&self.custom_values);
            }
            self.positive_spans = spans;
            return Ok(outcome);
        }

        let from = self.schema;
        let target = self.schema.min(other.schema);
        let kahan = how == Combine::Kahan;
        let threshold = self.zero_threshold;
        let within_zero_bucket = |&(idx, _, _): &(i64, f64, f64)| {
            exponential_bound(clamp_index(idx), target) <= threshold
        };
        for positive in [true, false] {
            let (a_spans, a_counts, b_spans, b_counts) = if positive {
                (
                    &self.positive_spans,
                    &self.positive_buckets,
                    &other.positive_spans,
                    &other.positive_buckets,
                )
            } else {
                (
                    &self.negative_spans,
                    &self.negative_buckets,
                    &other.negative_spans,
                    &other.negative_buckets,
                )
            };
            let same_layout = from == other.schema
                && a_spans == b_spans
                && !side_stream(b_spans, b_counts, &[])
                    .next()
                    .is_some_and(|b| within_zero_bucket(&b));
            if same_layout {
                // The common case of aggregations: nothing to insert, add in place.
                let (a_counts, a_comp) = match (positive, comp.as_deref_mut()) {
                    (true, c) => (
                        &mut self.positive_buckets,
                        c.map(|c| &mut c.positive_buckets),
                    ),
                    (false, c) => (
                        &mut self.negative_buckets,
                        c.map(|c| &mut c.negative_buckets),
                    ),
                };
                match (how, a_comp) {
                    (Combine::Kahan, Some(cs)) => {
                        for ((a, c), b) in a_counts.iter_mut().zip(cs.iter_mut()).zip(b_counts) {
                            (*a, *c) = kahan_inc(*b, *a, *c);
                        }
                    }
                    (Combine::Sub, _) => a_counts
                        .iter_mut()
                        .zip(b_counts)
                        .for_each(|(a, b)| *a += -*b),
                    _ => a_counts
                        .iter_mut()
                        .zip(b_counts)
                        .for_each(|(a, b)| *a += *b),
                }
                continue;
            }
            let a_comp: &[f64] = match comp.as_deref() {
                Some(c) if positive => &c.positive_buckets,
                Some(c) => &c.negative_buckets,
                None => &[],
            };
            let a = Reduce::new(side_stream(a_spans, a_counts, a_comp), from, target, kahan);
            let b = Reduce::new(
                side_stream(b_spans, b_counts, &[]),
                other.schema,
                target,
                kahan,
            )
            .skip_while(within_zero_bucket);
            let (spans, counts, comps) = merge_sides(a, b, how, a_counts.len().max(b_counts.len()));
            let (self_spans, self_counts) = if positive {
                (&mut self.positive_spans, &mut self.positive_buckets)
            } else {
                (&mut self.negative_spans, &mut self.negative_buckets)
            };
            if let Some(c) = comp.as_deref_mut() {
                let (c_spans, c_counts) = if positive {
                    (&mut c.positive_spans, &mut c.positive_buckets)
                } else {
                    (&mut c.negative_spans, &mut c.negative_buckets)
                };
                c_spans.clone_from(&spans);
                *c_counts = comps;
            }
            *self_spans = spans;
            *self_counts = counts;
        }
        self.schema = target;
        if let Some(c) = comp {
            c.schema = target;
            c.zero_threshold = self.zero_threshold;
        }
        Ok(outcome)
    }

    /// A histogram with `self`'s layout and all counts zero, to carry Kahan compensation.
    fn new_compensation(&self) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: 0.0,
            count: 0.0,
            sum: 0.0,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: vec![0.0; self.positive_buckets.len()],
            negative_buckets: vec![0.0; self.negative_buckets.len()],
            custom_values: self.custom_values.clone(),
        }
    }

    /// Upstream's counter-reset-hint rules for a sum: equal hints stay, a gauge wins,
    /// then unknown; `CounterReset` against `NotCounterReset` is a collision (returned
    /// true) and becomes unknown.
    fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => false,
            (Gauge, _) | (Unknown, _) => false,
            (_, Gauge) => {
                self.counter_reset_hint = Gauge;
                false
            }
            (_, Unknown) => {
                self.counter_reset_hint = Unknown;
                false
            }
            _ => {
                self.counter_reset_hint = Unknown;
                true
            }
        }
    }

    /// Widens both zero buckets to a common threshold that is not inside a populated
    /// bucket of either histogram (upstream's `reconcileZeroBuckets`). Modifies `self`
    /// (and the compensation alongside); returns the zero count `other` would have,
    /// with its compensation.
    fn reconcile_zero_buckets(
        &mut self,
        other: &FloatHistogram,
        mut comp: Option<&mut FloatHistogram>,
    ) -> Result<(f64, f64), HistogramOpError> {
        let mut other_zero = other.zero_count;
        let mut other_zero_comp = 0.0;
        let mut other_threshold = other.zero_threshold;
        // Each round moves a threshold past at least one bucket; a bound keeps malformed
        // input from looping.
        let mut rounds = 4 + 2
            * (self.positive_buckets.len()
                + self.negative_buckets.len()
                + other.positive_buckets.len()
                + other.negative_buckets.len());
        while other_threshold != self.zero_threshold {
            if self.zero_threshold.is_nan() || other_threshold.is_nan() || rounds == 0 {
                return Err(HistogramOpError::InvalidZeroThreshold);
            }
            rounds -= 1;
            if self.zero_threshold > other_threshold {
                (other_zero, other_threshold, other_zero_comp) =
                    other.zero_count_for_larger_threshold(self.zero_threshold, None);
            }
            if other_threshold > self.zero_threshold {
                let (zero, threshold, zero_comp) =
                    self.zero_count_for_larger_threshold(other_threshold, comp.as_deref());
                self.zero_count = zero;
                self.zero_threshold = threshold;
                if let Some(c) = comp.as_deref_mut() {
                    c.zero_count = zero_comp;
                }
                self.trim_buckets_in_zero_bucket(comp.as_deref_mut());
            }
        }
        Ok((other_zero, other_zero_comp))
    }

    /// The zero count `self` would have with the given larger threshold, the threshold
    /// itself (moved up to a bucket boundary when it falls inside a populated bucket)
    /// and the Kahan compensation of the count (upstream's
    /// `zeroCountForLargerThreshold`).
    fn zero_count_for_larger_threshold(
        &self,
        larger: f64,
        comp: Option<&FloatHistogram>,
    ) -> (f64, f64, f64) {
        let mut zero_comp = comp.map_or(0.0, |c| c.zero_count);
        if larger <= self.zero_threshold {
            return (self.zero_count, self.zero_threshold.max(larger), zero_comp);
        }
        let mut larger = larger;
        'outer: loop {
            let mut zero = self.zero_count;
            for (pos, b) in self.positive_bucket_iter().enumerate() {
                if b.lower >= larger {
                    break;
                }
                (zero, zero_comp) = kahan_inc(b.count, zero, zero_comp);
                if let Some(c) = comp {
                    let bc = c.positive_buckets.get(pos).copied().unwrap_or(0.0);
                    (zero, zero_comp) = kahan_inc(bc, zero, zero_comp);
                }
                if b.upper > larger {
                    if b.count != 0.0 {
                        larger = b.upper;
                    }
                    break;
                }
            }
            for (pos, b) in self.negative_bucket_iter().enumerate() {
                if b.upper <= -larger {
                    break;
                }
                (zero, zero_comp) = kahan_inc(b.count, zero, zero_comp);
                if let Some(c) = comp {
                    let bc = c.negative_buckets.get(pos).copied().unwrap_or(0.0);
                    (zero, zero_comp) = kahan_inc(bc, zero, zero_comp);
                }
                if b.lower < -larger {
                    if b.count != 0.0 {
                        // The positive side must be redone with the new threshold.
                        larger = -b.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (zero, larger, zero_comp);
        }
    }

    /// Empties the buckets inside the zero bucket (whose counts the zero count already
    /// holds) and compacts, as upstream's `trimBucketsInZeroBucket` does.
    fn trim_buckets_in_zero_bucket(&mut self, comp: Option<&mut FloatHistogram>) {
        let threshold = self.zero_threshold;
        let positive = self
            .positive_bucket_iter()
            .take_while(|b| b.lower < threshold)
            .count();
        let negative = self
            .negative_bucket_iter()
            .take_while(|b| b.upper > -threshold)
            .count();
        self.positive_buckets
            .iter_mut()
            .take(positive)
            .for_each(|b| *b = 0.0);
        self.negative_buckets
            .iter_mut()
            .take(negative)
            .for_each(|b| *b = 0.0);
        match comp {
            Some(c) => {
                c.positive_buckets
                    .iter_mut()
                    .take(positive)
                    .for_each(|b| *b = 0.0);
                c.negative_buckets
                    .iter_mut()
                    .take(negative)
                    .for_each(|b| *b = 0.0);
                compact_with_compensation(
                    &mut self.positive_spans,
                    &mut self.positive_buckets,
                    &mut c.positive_buckets,
                    0,
                );
                compact_with_compensation(
                    &mut self.negative_spans,
                    &mut self.negative_buckets,
                    &mut c.negative_buckets,
                    0,
                );
                c.positive_spans.clone_from(&self.positive_spans);
                c.negative_spans.clone_from(&self.negative_spans);
            }
            None => {
                self.compact(0);
            }
        }
    }

    /// Exact equality as upstream's `Equals`: same schema, zero threshold, custom bounds
    /// (for custom buckets), the same buckets (empty ones included, however the spans
    /// split them), and bit-identical counts, sum and bucket values (so NaN equals NaN).
    /// The counter-reset hint is not compared.
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        if self.schema != other.schema
            || self.count.to_bits() != other.count.to_bits()
            || self.sum.to_bits() != other.sum.to_bits()
        {
            return false;
        }
        if self.uses_custom_buckets()
            && !custom_bucket_bounds_match(&self.custom_values, &other.custom_values)
        {
            return false;
        }
        let bits_equal = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        self.zero_threshold == other.zero_threshold
            && self.zero_count.to_bits() == other.zero_count.to_bits()
            && spans_match(&self.negative_spans, &other.negative_spans)
            && bits_equal(&self.negative_buckets, &other.negative_buckets)
            && spans_match(&self.positive_spans, &other.positive_spans)
            && bits_equal(&self.positive_buckets, &other.positive_buckets)
    }

    /// Whether `self` is a counter reset relative to `previous` (upstream's
    /// `DetectReset`): the hint decides if it says `CounterReset` or `NotCounterReset`;
    /// otherwise (also for gauges) any decrease of the count, the zero count or a bucket
    /// (after bringing `previous` to `self`'s schema and zero threshold), a missing
    /// populated bucket, a higher schema, a narrower zero bucket or a change between
    /// exponential and custom buckets is a reset. The sum is not considered.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            _ => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if !custom_bucket_bounds_match(&self.custom_values, &previous.custom_values) {
                return self.detect_reset_mismatched_custom_bounds(previous);
            }
        }
        if self.schema > previous.schema || self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero, threshold, _) =
            previous.zero_count_for_larger_threshold(self.zero_threshold, None);
        if threshold != self.zero_threshold || self.zero_count < previous_zero {
            return true;
        }
        [true, false].into_iter().any(|positive| {
            let current = self.side_iter(positive, self.schema, self.zero_threshold);
            let prev = previous.side_iter(positive, self.schema, self.zero_threshold);
            side_has_reset(current, prev)
        })
    }

    /// Counter-reset detection between custom-bucket histograms with different bounds:
    /// compares the cumulative counts at every shared bound (and +Inf).
    fn detect_reset_mismatched_custom_bounds(&self, previous: &FloatHistogram) -> bool {
        fn rollup(it: &mut Peekable<impl Iterator<Item = Bucket<f64>>>, bound: f64) -> f64 {
            let mut sum = 0.0;
            while let Some(b) = it.next_if(|b| b.upper <= bound) {
                sum += b.count;
            }
            sum
        }
        let mut current = self.positive_bucket_iter().peekable();
        let mut prev = previous.positive_bucket_iter().peekable();
        let shared = intersect_custom_bucket_bounds(&self.custom_values, &previous.custom_values);
        shared
            .into_iter()
            .chain([f64::INFINITY])
            .any(|bound| rollup(&mut current, bound) < rollup(&mut prev, bound))
    }

    /// Reduces the resolution to `target_schema` in place, merging buckets (upstream's
    /// `ReduceResolution`). The target must be lower than the current schema; custom
    /// buckets cannot be reduced.
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramOpError> {
        check_reduction(self.schema, target_schema)?;
        check_histogram(self)?;
        for positive in [true, false] {
            let (spans, buckets) = if positive {
                (&mut self.positive_spans, &mut self.positive_buckets)
            } else {
                (&mut self.negative_spans, &mut self.negative_buckets)
            };
            let (s, b, _) = reduce_layout(spans, buckets, self.schema, target_schema);
            *spans = s;
            *buckets = b;
        }
        self.schema = target_schema;
        Ok(())
    }

    /// A copy in `target_schema`, which must not be higher than the current one
    /// (upstream's `CopyToSchema`). As upstream, a copy into a different schema has an
    /// unknown counter-reset hint; custom buckets can only be copied to their own schema.
    pub fn copy_to_schema(&self, target_schema: i32) -> Result<FloatHistogram, HistogramOpError> {
        if target_schema == self.schema {
            return Ok(self.clone());
        }
        check_reduction(self.schema, target_schema)?;
        check_histogram(self)?;
        let (positive_spans, positive_buckets, _) = reduce_layout(
            &self.positive_spans,
            &self.positive_buckets,
            self.schema,
            target_schema,
        );
        let (negative_spans, negative_buckets, _) = reduce_layout(
            &self.negative_spans,
            &self.negative_buckets,
            self.schema,
            target_schema,
        );
        Ok(FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: target_schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            count: self.count,
            sum: self.sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: Vec::new(),
        })
    }
}

fn check_reduction(from: i32, to: i32) -> Result<(), HistogramOpError> {
    if is_custom_buckets_schema(from) {
        return Err(HistogramOpError::ReduceCustomBuckets);
    }
    if is_custom_buckets_schema(to) {
        return Err(HistogramOpError::ReduceToCustomBuckets);
    }
    if to >= from {
        return Err(HistogramOpError::CannotReduceResolution { from, to });
    }
    if !is_exponential_schema(to) {
        return Err(HistogramOpError::InvalidSchema(to));
    }
    Ok(())
}

/// Spans and counts merged from schema `from` into the lower schema `to`.
fn reduce_layout(
    spans: &[Span],
    counts: &[f64],
    from: i32,
    to: i32,
) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let mut out = SpanBuilder::with_capacity(spans.len());
    let mut out_counts = Vec::with_capacity(counts.len());
    for (idx, v, _) in Reduce::new(side_stream(spans, counts, &[]), from, to, false) {
        out.push(idx);
        out_counts.push(v);
    }
    (out.spans, out_counts, Vec::new())
}

/// Whether both span lists describe the same buckets (upstream's `spansMatch`, which
/// ignores how zero-length and adjacent spans split them).
pub fn spans_match(a: &[Span], b: &[Span]) -> bool {
    span_indices(a)
        .map(|(i, _)| i)
        .eq(span_indices(b).map(|(i, _)| i))
}

/// Upstream's `detectReset` for one side: a populated bucket of `previous` that is
/// missing from, or larger than, the same bucket of `current`.
fn side_has_reset(
    mut current: crate::histogram_iter::BucketIter<'_>,
    mut previous: crate::histogram_iter::BucketIter<'_>,
) -> bool {
    let mut cur = current.next_indexed();
    while let Some((prev_idx, prev_count)) = previous.next_indexed() {
        while let Some((idx, _)) = cur {
            if idx >= prev_idx {
                break;
            }
            cur = current.next_indexed();
        }
        match cur {
            Some((idx, count)) if idx == prev_idx => {
                if count < prev_count {
                    return true;
                }
            }
            _ => {
                if prev_count != 0.0 {
                    return true;
                }
            }
        }
    }
    false
}

impl Histogram {
    /// Reduces the resolution to `target_schema` in place (upstream's
    /// `Histogram.ReduceResolution`); see [`FloatHistogram::reduce_resolution`].
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramOpError> {
        check_reduction(self.schema, target_schema)?;
        if !is_exponential_schema(self.schema) {
            return Err(HistogramOpError::InvalidSchema(self.schema));
        }
        check_layout(&self.positive_spans, self.positive_buckets.len(), false)?;
        check_layout(&self.negative_spans, self.negative_buckets.len(), false)?;
        for positive in [true, false] {
            let (spans, buckets) = if positive {
                (&mut self.positive_spans, &mut self.positive_buckets)
            } else {
                (&mut self.negative_spans, &mut self.negative_buckets)
            };
            // Integer sums are exact, so merging absolute counts and re-encoding the
            // deltas gives what upstream's delta-wise merge gives.
            let mut out = SpanBuilder::with_capacity(spans.len());
            let mut merged: Vec<i64> = Vec::with_capacity(buckets.len());
            let mut absolute = 0i64;
            let mut last_target: Option<i64> = None;
            for (idx, pos) in span_indices(spans) {
                let Some(&delta) = buckets.get(pos) else {
                    break;
                };
                absolute = absolute.wrapping_add(delta);
                let target = target_index(i64::from(idx), self.schema, target_schema);
                match merged.last_mut() {
                    Some(m) if last_target == Some(target) => *m = m.wrapping_add(absolute),
                    _ => {
                        out.push(target);
                        merged.push(absolute);
                        last_target = Some(target);
                    }
                }
            }
            let mut prev = 0i64;
            for m in &mut merged {
                let abs = *m;
                *m = abs.wrapping_sub(prev);
                prev = abs;
            }
            *spans = out.spans;
            *buckets = merged;
        }
        self.schema = target_schema;
        Ok(())
    }

    /// Exact equality as upstream's `Histogram.Equals` (see [`FloatHistogram::equals`]).
    pub fn equals(&self, other: &Histogram) -> bool {
        if self.schema != other.schema
            || self.count != other.count
            || self.sum.to_bits() != other.sum.to_bits()
        {
            return false;
        }
        if is_custom_buckets_schema(self.schema)
            && !custom_bucket_bounds_match(&self.custom_values, &other.custom_values)
        {
            return false;
        }
        self.zero_threshold == other.zero_threshold
            && self.zero_count == other.zero_count
            && spans_match(&self.negative_spans, &other.negative_spans)
            && self.negative_buckets == other.negative_buckets
            && spans_match(&self.positive_spans, &other.positive_spans)
            && self.positive_buckets == other.positive_buckets
    }
}

#[cfg(test)]
#[path = "histogram_math_tests.rs"]
mod tests;
