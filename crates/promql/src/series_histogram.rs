//! The histogram arithmetic behind `{{a}}+{{b}}xN` and `{{a}}-{{b}}xN` in series
//! descriptions: upstream's `FloatHistogram.Add`/`Sub` for a receiver whose schema is not
//! finer than the increment's (the increment's buckets are merged down to the receiver's
//! schema), including the counter-reset-hint rules.

use std::collections::BTreeMap;

use hearth_model::histogram::{bucket_upper_bound, is_exponential_schema, span_indices};
use hearth_model::{CounterResetHint, FloatHistogram, Span};

/// `base + inc` (or `base - inc` when `subtract`); `base.schema` must be ≤ `inc.schema`.
pub(crate) fn combine(
    base: &FloatHistogram,
    inc: &FloatHistogram,
    subtract: bool,
) -> Result<FloatHistogram, String> {
    let base_custom = base.uses_custom_buckets();
    if base_custom != inc.uses_custom_buckets() {
        return Err(
            "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
                .into(),
        );
    }
    if base_custom && base.custom_values != inc.custom_values {
        return Err(
            "cannot apply this operation on custom buckets histograms with different custom bounds"
                .into(),
        );
    }
    let sign = if subtract { -1.0 } else { 1.0 };
    // Bucket bounds exist only for valid exponential schemas; a description may say
    // anything, and then the zero bucket is left alone.
    let bounded = is_exponential_schema(base.schema);
    let mut out = base.clone();
    out.counter_reset_hint = combined_hint(base.counter_reset_hint, inc.counter_reset_hint);

    // A wider zero bucket swallows the buckets inside it.
    let threshold = base.zero_threshold.max(inc.zero_threshold);
    let mut positive = bucket_map(&base.positive_spans, &base.positive_buckets);
    let mut negative = bucket_map(&base.negative_spans, &base.negative_buckets);
    let mut zero = base.zero_count;
    if threshold > base.zero_threshold && bounded {
        zero += drain_within(&mut positive, threshold, base.schema);
        zero += drain_within(&mut negative, threshold, base.schema);
    }
    out.zero_threshold = threshold;

    let schema_shift = inc.schema.saturating_sub(base.schema).clamp(0, 31);
    let to_base = |idx: i32| {
        if base_custom || schema_shift == 0 {
            idx
        } else {
            // Bucket i of the finer schema lies in bucket ((i-1) >> shift) + 1.
            (idx.saturating_sub(1) >> schema_shift).saturating_add(1)
        }
    };
    let mut inc_zero = inc.zero_count;
    for (spans, buckets, target) in [
        (&inc.positive_spans, &inc.positive_buckets, &mut positive),
        (&inc.negative_spans, &inc.negative_buckets, &mut negative),
    ] {
        for (idx, pos) in span_indices(spans) {
            let count = buckets.get(pos).copied().unwrap_or(0.0);
            let idx = to_base(idx);
            if bounded && bucket_upper_bound(idx, base.schema, &[]) <= threshold {
                inc_zero += count;
                continue;
            }
            *target.entry(idx).or_insert(0.0) += sign * count;
        }
    }
    out.zero_count = zero + sign * inc_zero;
    out.count = base.count + sign * inc.count;
    out.sum = base.sum + sign * inc.sum;
    (out.positive_spans, out.positive_buckets) = spans_of(&positive);
    (out.negative_spans, out.negative_buckets) = spans_of(&negative);
    Ok(out)
}

/// Upstream's rules for the hint of a sum: gauge wins, disagreement means unknown.
fn combined_hint(a: CounterResetHint, b: CounterResetHint) -> CounterResetHint {
    use CounterResetHint::*;
    match (a, b) {
        (a, b) if a == b => a,
        (Gauge, _) | (_, Gauge) => Gauge,
        _ => Unknown,
    }
}

fn bucket_map(spans: &[Span], buckets: &[f64]) -> BTreeMap<i32, f64> {
    span_indices(spans)
        .map(|(idx, pos)| (idx, buckets.get(pos).copied().unwrap_or(0.0)))
        .collect()
}

/// Removes the buckets whose upper bound is within `threshold` and returns their total.
fn drain_within(buckets: &mut BTreeMap<i32, f64>, threshold: f64, schema: i32) -> f64 {
    let inside: Vec<i32> = buckets
        .keys()
        .copied()
        .filter(|&i| bucket_upper_bound(i, schema, &[]) <= threshold)
        .collect();
    inside.iter().filter_map(|i| buckets.remove(i)).sum()
}

/// Spans and counts of buckets by index; consecutive indices share a span.
fn spans_of(buckets: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::with_capacity(buckets.len());
    let mut next_index: Option<i32> = None;
    for (&idx, &count) in buckets {
        match (next_index, spans.last_mut()) {
            (Some(n), Some(last)) if n == idx => last.length += 1,
            (Some(n), _) => spans.push(Span {
                offset: idx.saturating_sub(n),
                length: 1,
            }),
            (None, _) => spans.push(Span {
                offset: idx,
                length: 1,
            }),
        }
        counts.push(count);
        next_index = Some(idx.saturating_add(1));
    }
    (spans, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(schema: i32, offset: i32, buckets: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema,
            positive_spans: vec![Span {
                offset,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            count: buckets.iter().sum(),
            ..Default::default()
        }
    }

    #[test]
    fn adds_with_schema_reduction() {
        // Upstream's "series with increment - with different schemas".
        let r = combine(&h(0, 0, &[5.0]), &h(1, 0, &[1.0, 2.0]), false).unwrap();
        assert_eq!(r.positive_buckets, vec![6.0, 2.0]);
        assert_eq!(
            r.positive_spans,
            vec![Span {
                offset: 0,
                length: 2
            }]
        );
        let r = combine(
            &h(1, 0, &[5.0, 10.0, 7.0]),
            &h(1, 0, &[1.0, 2.0, 3.0]),
            true,
        )
        .unwrap();
        assert_eq!(r.positive_buckets, vec![4.0, 8.0, 4.0]);
    }

    #[test]
    fn spans_keep_gaps() {
        let r = combine(&h(0, 0, &[1.0]), &h(0, 3, &[1.0]), false).unwrap();
        assert_eq!(
            r.positive_spans,
            vec![
                Span {
                    offset: 0,
                    length: 1
                },
                Span {
                    offset: 2,
                    length: 1
                }
            ]
        );
    }
}
