//! Native histogram arithmetic the evaluator needs, behind one small interface.
//!
//! STAND-IN: the real arithmetic (schema reduction, custom-bucket reconciliation,
//! Kahan summation, counter reset detection) is owned by the `histogram-math` branch
//! (`crates/model/src/histogram*.rs`). Until it is merged, this module provides a
//! minimal private version; switch every function here to delegate to it then.

use std::collections::BTreeMap;

use hearth_model::{CounterResetHint, FloatHistogram, Span};

/// Why two histograms cannot be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HistogramOpError {
    /// One uses exponential buckets, the other custom buckets.
    IncompatibleSchema,
    /// Custom bucket bounds differ and cannot be reconciled.
    IncompatibleBounds,
}

/// What an addition or subtraction noticed on the way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OpNotes {
    /// One operand says counter reset, the other not.
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reconciled.
    pub nhcb_bounds_reconciled: bool,
}

/// Multiplies every count and the sum by `factor`.
pub(crate) fn scale(h: &mut FloatHistogram, factor: f64) {
    h.count *= factor;
    h.sum *= factor;
    h.zero_count *= factor;
    for b in h
        .positive_buckets
        .iter_mut()
        .chain(h.negative_buckets.iter_mut())
    {
        *b *= factor;
    }
}

/// Divides every count and the sum by `d`.
pub(crate) fn divide(h: &mut FloatHistogram, d: f64) {
    h.count /= d;
    h.sum /= d;
    h.zero_count /= d;
    for b in h
        .positive_buckets
        .iter_mut()
        .chain(h.negative_buckets.iter_mut())
    {
        *b /= d;
    }
}

fn expand(
    spans: &[Span],
    buckets: &[f64],
    schema_from: i32,
    schema_to: i32,
    out: &mut BTreeMap<i32, f64>,
    sign: f64,
) {
    let mut idx = 0i32;
    let mut pos = 0usize;
    for (i, s) in spans.iter().enumerate() {
        idx += if i == 0 { s.offset } else { s.offset };
        for _ in 0..s.length {
            if let Some(c) = buckets.get(pos) {
                let target = reduce_index(idx, schema_from, schema_to);
                *out.entry(target).or_insert(0.0) += sign * c;
            }
            pos += 1;
            idx += 1;
        }
    }
}

/// The index of the bucket at `schema_to` containing bucket `idx` of `schema_from`.
fn reduce_index(idx: i32, schema_from: i32, schema_to: i32) -> i32 {
    if schema_from <= schema_to || schema_from == hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA {
        return idx;
    }
    let shift = (schema_from - schema_to) as u32;
    // Buckets are (2^((idx-1)/2^s), 2^(idx/2^s)]: round the upper index up.
    ((idx - 1) >> shift) + 1
}

fn collapse(map: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::new();
    let mut next: Option<i32> = None;
    for (&i, &c) in map {
        match next {
            Some(n) if n == i => {
                if let Some(s) = spans.last_mut() {
                    s.length += 1;
                }
            }
            Some(n) => spans.push(Span {
                offset: i - n,
                length: 1,
            }),
            None => spans.push(Span {
                offset: i,
                length: 1,
            }),
        }
        buckets.push(c);
        next = Some(i + 1);
    }
    (spans, buckets)
}

fn combine(
    a: &mut FloatHistogram,
    b: &FloatHistogram,
    sign: f64,
) -> Result<OpNotes, HistogramOpError> {
    let a_custom = a.uses_custom_buckets();
    if a_custom != b.uses_custom_buckets() {
        return Err(HistogramOpError::IncompatibleSchema);
    }
    if a_custom && a.custom_values != b.custom_values {
        return Err(HistogramOpError::IncompatibleBounds);
    }
    let notes = OpNotes {
        counter_reset_collision: matches!(
            (a.counter_reset_hint, b.counter_reset_hint),
            (
                CounterResetHint::CounterReset,
                CounterResetHint::NotCounterReset
            ) | (
                CounterResetHint::NotCounterReset,
                CounterResetHint::CounterReset
            )
        ),
        nhcb_bounds_reconciled: false,
    };
    let schema = a.schema.min(b.schema);
    let mut pos = BTreeMap::new();
    let mut neg = BTreeMap::new();
    expand(
        &a.positive_spans,
        &a.positive_buckets,
        a.schema,
        schema,
        &mut pos,
        1.0,
    );
    expand(
        &b.positive_spans,
        &b.positive_buckets,
        b.schema,
        schema,
        &mut pos,
        sign,
    );
    expand(
        &a.negative_spans,
        &a.negative_buckets,
        a.schema,
        schema,
        &mut neg,
        1.0,
    );
    expand(
        &b.negative_spans,
        &b.negative_buckets,
        b.schema,
        schema,
        &mut neg,
        sign,
    );
    (a.positive_spans, a.positive_buckets) = collapse(&pos);
    (a.negative_spans, a.negative_buckets) = collapse(&neg);
    a.schema = schema;
    a.count += sign * b.count;
    a.sum += sign * b.sum;
    a.zero_count += sign * b.zero_count;
    a.zero_threshold = a.zero_threshold.max(b.zero_threshold);
    Ok(notes)
}

/// `a += b`.
pub(crate) fn add(a: &mut FloatHistogram, b: &FloatHistogram) -> Result<OpNotes, HistogramOpError> {
    combine(a, b, 1.0)
}

/// `a -= b`.
pub(crate) fn sub(a: &mut FloatHistogram, b: &FloatHistogram) -> Result<OpNotes, HistogramOpError> {
    combine(a, b, -1.0)
}

/// Drops empty buckets.
pub(crate) fn compact(h: &mut FloatHistogram) {
    h.compact(0);
}

/// Equality of compacted histograms, as upstream's `FloatHistogram.Equals`.
pub(crate) fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.compact(0);
    b.compact(0);
    a.schema == b.schema
        && a.zero_threshold == b.zero_threshold
        && a.zero_count == b.zero_count
        && a.count == b.count
        && (a.sum == b.sum || (a.sum.is_nan() && b.sum.is_nan()))
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && a.positive_buckets == b.positive_buckets
        && a.negative_buckets == b.negative_buckets
        && a.custom_values == b.custom_values
}

/// Whether `curr` follows a counter reset after `prev`.
pub(crate) fn detect_reset(curr: &FloatHistogram, prev: &FloatHistogram) -> bool {
    match curr.counter_reset_hint {
        CounterResetHint::CounterReset => return true,
        CounterResetHint::NotCounterReset | CounterResetHint::Gauge => return false,
        CounterResetHint::Unknown => {}
    }
    if curr.count < prev.count || curr.zero_count < prev.zero_count {
        return true;
    }
    if curr.schema > prev.schema || curr.uses_custom_buckets() != prev.uses_custom_buckets() {
        return true;
    }
    let mut diff = prev.clone();
    if sub(&mut diff, curr).is_err() {
        return true;
    }
    diff.positive_buckets
        .iter()
        .chain(diff.negative_buckets.iter())
        .any(|c| *c > 0.0)
}

/// A copy reduced to `schema` (which must not be higher than the histogram's).
pub(crate) fn copy_to_schema(h: &FloatHistogram, schema: i32) -> FloatHistogram {
    if h.schema == schema || h.uses_custom_buckets() {
        return h.clone();
    }
    let mut out = FloatHistogram {
        positive_spans: Vec::new(),
        negative_spans: Vec::new(),
        positive_buckets: Vec::new(),
        negative_buckets: Vec::new(),
        ..h.clone()
    };
    out.schema = schema;
    let _ = add(&mut out, h);
    out.count = h.count;
    out.sum = h.sum;
    out.zero_count = h.zero_count;
    out
}
