//! One native histogram inside a histogram record, and the schema rules replay applies.
//!
//! Layout: counter-reset hint byte, schema (varint), zero threshold (f64), zero count and
//! count (uvarint, or f64 for float histograms), sum (f64), positive then negative spans
//! (count, then offset varint and length uvarint32 each), positive then negative buckets
//! (count, then varint deltas or f64 counts) and, for schema -53 only, the custom bounds.

use hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA;
use hearth_model::{CounterResetHint, FloatHistogram, Histogram, Span};

use super::{RecordErrorKind, Step};
use crate::encoding::{Decbuf, Encbuf};

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

/// The integer and the float form of a native histogram as they sit in a record: how
/// each is read and written, and how its buckets merge when replay lowers its schema.
pub(crate) trait NativeHistogram: Sized {
    fn schema(&self) -> i32;
    fn decode(d: &mut Decbuf<'_>) -> Step<Self>;
    fn encode(&self, buf: &mut Vec<u8>);
    /// Lowers the schema by `delta`, merging buckets (see [`merge_buckets`]).
    fn reduce_resolution(&mut self, delta: i32);

    /// Upstream's replay rule: histograms of an unknown schema are dropped (`false`),
    /// schemas 9..=52 are reduced to 8.
    fn keep_for_replay(&mut self) -> bool {
        let schema = self.schema();
        if schema == CUSTOM_BUCKETS_SCHEMA || (SCHEMA_MIN_RESERVED..=SCHEMA_MAX).contains(&schema) {
            return true;
        }
        if schema > SCHEMA_MAX && schema <= SCHEMA_MAX_RESERVED {
            self.reduce_resolution(schema - SCHEMA_MAX);
            return true;
        }
        false
    }
}

fn put_spans(buf: &mut Vec<u8>, spans: &[Span]) {
    buf.put_uvarint(spans.len() as u64);
    for s in spans {
        buf.put_varint(i64::from(s.offset));
        buf.put_uvarint(u64::from(s.length));
    }
}

fn put_f64s(buf: &mut Vec<u8>, v: &[f64]) {
    buf.put_uvarint(v.len() as u64);
    for x in v {
        buf.put_be64(x.to_bits());
    }
}

fn put_f64(buf: &mut Vec<u8>, v: f64) {
    buf.put_be64(v.to_bits());
}

fn put_deltas(buf: &mut Vec<u8>, v: &[i64]) {
    buf.put_uvarint(v.len() as u64);
    for x in v {
        buf.put_varint(*x);
    }
}

/// The record layout shared by both forms; they differ only in how the zero count, the
/// count and the buckets are encoded.
macro_rules! native_histogram_codec {
    ($ty:ty, $read_count:expr, $put_count:expr, $read_buckets:expr, $put_buckets:expr) => {
        impl NativeHistogram for $ty {
            fn schema(&self) -> i32 {
                self.schema
            }

            fn decode(d: &mut Decbuf<'_>) -> Step<Self> {
                let counter_reset_hint = hint_from_byte(d.byte()?);
                let schema = d.varint()? as i32;
                let zero_threshold = d.be64_f64()?;
                let zero_count = $read_count(d)?;
                let count = $read_count(d)?;
                let sum = d.be64_f64()?;
                let positive_spans = decode_spans(d, "positive span")?;
                let negative_spans = decode_spans(d, "negative span")?;
                let positive_buckets = $read_buckets(d, "positive bucket")?;
                let negative_buckets = $read_buckets(d, "negative bucket")?;
                let custom_values = if schema == CUSTOM_BUCKETS_SCHEMA {
                    decode_f64s(d, "custom value")?
                } else {
                    Vec::new()
                };
                Ok(Self {
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

            fn encode(&self, buf: &mut Vec<u8>) {
                buf.push(hint_byte(self.counter_reset_hint));
                buf.put_varint(i64::from(self.schema));
                put_f64(buf, self.zero_threshold);
                $put_count(buf, self.zero_count);
                $put_count(buf, self.count);
                put_f64(buf, self.sum);
                put_spans(buf, &self.positive_spans);
                put_spans(buf, &self.negative_spans);
                $put_buckets(buf, &self.positive_buckets);
                $put_buckets(buf, &self.negative_buckets);
                if self.schema == CUSTOM_BUCKETS_SCHEMA {
                    put_f64s(buf, &self.custom_values);
                }
            }

            fn reduce_resolution(&mut self, delta: i32) {
                let sides = [
                    (&mut self.positive_spans, &mut self.positive_buckets),
                    (&mut self.negative_spans, &mut self.negative_buckets),
                ];
                for (spans, buckets) in sides {
                    (*spans, *buckets) =
                        ReducibleBuckets::reduce_side(spans, buckets, delta as u32);
                }
                self.schema -= delta;
            }
        }
    };
}

native_histogram_codec!(
    Histogram,
    |d: &mut Decbuf<'_>| d.uvarint(),
    |buf: &mut Vec<u8>, v: u64| buf.put_uvarint(v),
    decode_deltas,
    put_deltas
);
native_histogram_codec!(
    FloatHistogram,
    |d: &mut Decbuf<'_>| d.be64_f64(),
    put_f64,
    decode_f64s,
    put_f64s
);

/// Bucket lists that can be merged when the resolution drops.
trait ReducibleBuckets: Sized {
    fn reduce_side(spans: &[Span], buckets: &[Self], delta: u32) -> (Vec<Span>, Vec<Self>);
}

impl ReducibleBuckets for i64 {
    /// Integer buckets are deltas: merge their absolute values, then re-delta.
    fn reduce_side(spans: &[Span], deltas: &[i64], delta: u32) -> (Vec<Span>, Vec<i64>) {
        let mut acc = 0i64;
        let absolute = deltas.iter().map(|d| {
            acc = acc.wrapping_add(*d);
            acc
        });
        let (spans, merged) = merge_buckets(spans, absolute, delta, i64::wrapping_add);
        let mut prev = 0i64;
        let deltas = merged
            .into_iter()
            .map(|c| {
                let d = c.wrapping_sub(prev);
                prev = c;
                d
            })
            .collect();
        (spans, deltas)
    }
}

impl ReducibleBuckets for f64 {
    fn reduce_side(spans: &[Span], counts: &[f64], delta: u32) -> (Vec<Span>, Vec<f64>) {
        merge_buckets(spans, counts.iter().copied(), delta, |a, b| a + b)
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
        assert!(h.keep_for_replay());
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
        assert!(fh.keep_for_replay());
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
            assert!(!h.keep_for_replay(), "{s}");
        }
        for s in [-9, 0, 8, CUSTOM_BUCKETS_SCHEMA] {
            let mut h = Histogram {
                schema: s,
                ..Default::default()
            };
            assert!(h.keep_for_replay(), "{s}");
            assert_eq!(h.schema, s);
        }
    }
}
