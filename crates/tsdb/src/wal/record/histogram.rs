//! One native histogram inside a histogram record, and the schema rules replay applies.
//!
//! Layout: counter-reset hint byte, schema (varint), zero threshold (f64), zero count and
//! count (uvarint, or f64 for float histograms), sum (f64), positive then negative spans
//! (count, then offset varint and length uvarint32 each), positive then negative buckets
//! (count, then varint deltas or f64 counts) and, for schema -53 only, the custom bounds.

use hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA;
use hearth_model::{CounterResetHint, FloatHistogram, Histogram, Span};

use super::super::decbuf::{Decbuf, put_be64, put_uvarint, put_varint};
use super::{RecordErrorKind, Step};

/// Exponential schemas replay keeps as they are (upstream's reserved range starts at -9).
const SCHEMA_MIN_RESERVED: i32 = -9;
/// Highest schema replay understands; 9..=52 is reduced to [`SCHEMA_MAX`].
const SCHEMA_MAX_RESERVED: i32 = 52;
const SCHEMA_MAX: i32 = 8;

fn hint_from_byte(b: u8) -> CounterResetHint {
    match b {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn hint_byte(h: CounterResetHint) -> u8 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

/// A count read before a list, checked against the bytes left (each element takes at
/// least `min_size` bytes) so a corrupt count cannot trigger a huge allocation.
fn list_len(d: &mut Decbuf<'_>, what: &'static str, min_size: usize) -> Step<usize> {
    let count = d.uvarint()?;
    let remaining = d.remaining();
    if count > (remaining / min_size) as u64 {
        return Err(RecordErrorKind::CountTooLarge {
            what,
            count,
            remaining,
        });
    }
    Ok(count as usize)
}

fn decode_spans(d: &mut Decbuf<'_>, what: &'static str) -> Step<Vec<Span>> {
    let n = list_len(d, what, 2)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        // Upstream truncates the offset to 32 bits.
        let offset = d.varint()? as i32;
        let length = d.uvarint32()?;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

fn decode_f64s(d: &mut Decbuf<'_>, what: &'static str) -> Step<Vec<f64>> {
    let n = list_len(d, what, 8)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(d.be64_f64()?);
    }
    Ok(v)
}

fn decode_deltas(d: &mut Decbuf<'_>, what: &'static str) -> Step<Vec<i64>> {
    let n = list_len(d, what, 1)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(d.varint()?);
    }
    Ok(v)
}

pub(super) fn decode_histogram(d: &mut Decbuf<'_>) -> Step<Histogram> {
    let counter_reset_hint = hint_from_byte(d.byte()?);
    let schema = d.varint()? as i32;
    let zero_threshold = d.be64_f64()?;
    let zero_count = d.uvarint()?;
    let count = d.uvarint()?;
    let sum = d.be64_f64()?;
    let positive_spans = decode_spans(d, "positive span")?;
    let negative_spans = decode_spans(d, "negative span")?;
    let positive_buckets = decode_deltas(d, "positive bucket")?;
    let negative_buckets = decode_deltas(d, "negative bucket")?;
    let custom_values = if schema == CUSTOM_BUCKETS_SCHEMA {
        decode_f64s(d, "custom value")?
    } else {
        Vec::new()
    };
    Ok(Histogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    })
}

pub(super) fn decode_float_histogram(d: &mut Decbuf<'_>) -> Step<FloatHistogram> {
    let counter_reset_hint = hint_from_byte(d.byte()?);
    let schema = d.varint()? as i32;
    let zero_threshold = d.be64_f64()?;
    let zero_count = d.be64_f64()?;
    let count = d.be64_f64()?;
    let sum = d.be64_f64()?;
    let positive_spans = decode_spans(d, "positive span")?;
    let negative_spans = decode_spans(d, "negative span")?;
    let positive_buckets = decode_f64s(d, "positive bucket")?;
    let negative_buckets = decode_f64s(d, "negative bucket")?;
    let custom_values = if schema == CUSTOM_BUCKETS_SCHEMA {
        decode_f64s(d, "custom value")?
    } else {
        Vec::new()
    };
    Ok(FloatHistogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    })
}

fn put_spans(buf: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(buf, spans.len() as u64);
    for s in spans {
        put_varint(buf, i64::from(s.offset));
        put_uvarint(buf, u64::from(s.length));
    }
}

fn put_f64s(buf: &mut Vec<u8>, v: &[f64]) {
    put_uvarint(buf, v.len() as u64);
    for x in v {
        put_be64(buf, x.to_bits());
    }
}

pub(super) fn encode_histogram(buf: &mut Vec<u8>, h: &Histogram) {
    buf.push(hint_byte(h.counter_reset_hint));
    put_varint(buf, i64::from(h.schema));
    put_be64(buf, h.zero_threshold.to_bits());
    put_uvarint(buf, h.zero_count);
    put_uvarint(buf, h.count);
    put_be64(buf, h.sum.to_bits());
    put_spans(buf, &h.positive_spans);
    put_spans(buf, &h.negative_spans);
    for deltas in [&h.positive_buckets, &h.negative_buckets] {
        put_uvarint(buf, deltas.len() as u64);
        for b in deltas {
            put_varint(buf, *b);
        }
    }
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        put_f64s(buf, &h.custom_values);
    }
}

pub(super) fn encode_float_histogram(buf: &mut Vec<u8>, h: &FloatHistogram) {
    buf.push(hint_byte(h.counter_reset_hint));
    put_varint(buf, i64::from(h.schema));
    put_be64(buf, h.zero_threshold.to_bits());
    put_be64(buf, h.zero_count.to_bits());
    put_be64(buf, h.count.to_bits());
    put_be64(buf, h.sum.to_bits());
    put_spans(buf, &h.positive_spans);
    put_spans(buf, &h.negative_spans);
    put_f64s(buf, &h.positive_buckets);
    put_f64s(buf, &h.negative_buckets);
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        put_f64s(buf, &h.custom_values);
    }
}

/// Whether replay keeps a histogram of this schema (reducing it first if needed).
fn schema_verdict(schema: i32) -> Option<bool> {
    if schema == CUSTOM_BUCKETS_SCHEMA || (SCHEMA_MIN_RESERVED..=SCHEMA_MAX).contains(&schema) {
        return Some(false);
    }
    if schema > SCHEMA_MAX && schema <= SCHEMA_MAX_RESERVED {
        return Some(true);
    }
    None
}

/// Applies upstream's replay rule to a decoded histogram: unknown schemas are dropped
/// (`false`), schemas 9..=52 are reduced to 8.
pub(super) fn keep_histogram(h: &mut Histogram) -> bool {
    match schema_verdict(h.schema) {
        None => false,
        Some(false) => true,
        Some(true) => {
            let delta = (h.schema - SCHEMA_MAX) as u32;
            for (spans, buckets) in [
                (&mut h.positive_spans, &mut h.positive_buckets),
                (&mut h.negative_spans, &mut h.negative_buckets),
            ] {
                let mut acc = 0i64;
                let absolute = buckets.iter().map(|d| {
                    acc = acc.wrapping_add(*d);
                    acc
                });
                let (s, merged) = merge_buckets(spans, absolute, delta, i64::wrapping_add);
                let mut prev = 0i64;
                *buckets = merged
                    .into_iter()
                    .map(|c| {
                        let d = c.wrapping_sub(prev);
                        prev = c;
                        d
                    })
                    .collect();
                *spans = s;
            }
            h.schema = SCHEMA_MAX;
            true
        }
    }
}

/// As [`keep_histogram`], for float histograms.
pub(super) fn keep_float_histogram(h: &mut FloatHistogram) -> bool {
    match schema_verdict(h.schema) {
        None => false,
        Some(false) => true,
        Some(true) => {
            let delta = (h.schema - SCHEMA_MAX) as u32;
            for (spans, buckets) in [
                (&mut h.positive_spans, &mut h.positive_buckets),
                (&mut h.negative_spans, &mut h.negative_buckets),
            ] {
                let (s, merged) =
                    merge_buckets(spans, buckets.iter().copied(), delta, |a, b| a + b);
                *spans = s;
                *buckets = merged;
            }
            h.schema = SCHEMA_MAX;
            true
        }
    }
}

/// Maps buckets to a schema `delta` lower: bucket `i` becomes `((i - 1) >> delta) + 1`
/// and buckets that land on the same index are added. Returns the new spans and absolute
/// counts. Buckets beyond what the spans describe (a malformed histogram) are dropped.
fn merge_buckets<T: Copy>(
    spans: &[Span],
    counts: impl Iterator<Item = T>,
    delta: u32,
    add: impl Fn(T, T) -> T,
) -> (Vec<Span>, Vec<T>) {
    let mut out_spans: Vec<Span> = Vec::new();
    let mut out: Vec<T> = Vec::new();
    let mut last: Option<i64> = None;
    let mut idx: i64 = 0;
    let mut counts = counts;
    'spans: for (si, span) in spans.iter().enumerate() {
        idx = if si == 0 {
            i64::from(span.offset)
        } else {
            idx + i64::from(span.offset)
        };
        for _ in 0..span.length {
            let Some(c) = counts.next() else {
                break 'spans;
            };
            let target = ((idx - 1) >> delta.min(63)) + 1;
            match last {
                Some(l) if l == target => {
                    if let Some(x) = out.last_mut() {
                        *x = add(*x, c);
                    }
                }
                Some(l) if target == l + 1 => {
                    if let Some(s) = out_spans.last_mut() {
                        s.length += 1;
                    }
                    out.push(c);
                }
                _ => {
                    let offset = match last {
                        None => target,
                        Some(l) => target - (l + 1),
                    };
                    out_spans.push(Span {
                        offset: offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                        length: 1,
                    });
                    out.push(c);
                }
            }
            last = Some(target);
            idx += 1;
        }
    }
    (out_spans, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_resolution_like_upstream() {
        // Schema 9 buckets 1..=4 map to schema 8 buckets 1,1,2,2.
        let mut h = Histogram {
            schema: 9,
            count: 10,
            positive_spans: vec![Span {
                offset: 1,
                length: 4,
            }],
            positive_buckets: vec![1, 1, 1, 1], // absolute 1,2,3,4
            ..Default::default()
        };
        assert!(keep_histogram(&mut h));
        assert_eq!(h.schema, 8);
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: 1,
                length: 2
            }]
        );
        assert_eq!(h.positive_buckets, vec![3, 4]); // absolute 3, 7
        h.validate().unwrap();

        let mut fh = FloatHistogram {
            schema: 10,
            positive_spans: vec![
                Span {
                    offset: -3,
                    length: 2,
                },
                Span {
                    offset: 10,
                    length: 1,
                },
            ],
            positive_buckets: vec![1.0, 2.0, 4.0],
            ..Default::default()
        };
        assert!(keep_float_histogram(&mut fh));
        // -3,-2 -> 0,0 (merge); 10 -> 3.
        assert_eq!(
            fh.positive_spans,
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
        assert_eq!(fh.positive_buckets, vec![3.0, 4.0]);
    }

    #[test]
    fn unknown_schemas_are_dropped() {
        for s in [-10, 53, i32::MAX, -52] {
            let mut h = Histogram {
                schema: s,
                ..Default::default()
            };
            assert!(!keep_histogram(&mut h), "{s}");
        }
        for s in [-9, 0, 8, CUSTOM_BUCKETS_SCHEMA] {
            let mut h = Histogram {
                schema: s,
                ..Default::default()
            };
            assert!(keep_histogram(&mut h), "{s}");
            assert_eq!(h.schema, s);
        }
    }
}
