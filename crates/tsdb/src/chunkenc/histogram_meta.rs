//! What the integer and float histogram encodings share: the chunk layout (zero
//! threshold, schema, spans, custom bounds), the counter-reset header, and the bucket
//! layout arithmetic behind appendability (inserts that widen a chunk's layout or a
//! histogram's, merged spans for gauges), plus resolution reduction for schemas above 8
//! written by newer Prometheus versions.

use hearth_model::histogram::{
    CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MAX_RESERVED,
};
use hearth_model::{CounterResetHint, Span};

use super::bstream::{BitReader, BitWriter};
use super::varbit::{
    NumberError, put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint,
};

/// The lowest exponential schema Prometheus accepts in stored chunks.
pub(crate) const EXPONENTIAL_SCHEMA_MIN_RESERVED: i32 = -9;

/// The two top bits of a histogram chunk's flags: what is known about a counter reset
/// between the previous chunk and this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHeader {
    #[default]
    Unknown,
    CounterReset,
    NotCounterReset,
    /// The chunk holds gauge histograms.
    Gauge,
}

impl CounterResetHeader {
    /// The header bits in place (bits 7 and 6).
    pub fn bits(self) -> u8 {
        match self {
            CounterResetHeader::Unknown => 0b0000_0000,
            CounterResetHeader::NotCounterReset => 0b0100_0000,
            CounterResetHeader::CounterReset => 0b1000_0000,
            CounterResetHeader::Gauge => 0b1100_0000,
        }
    }

    /// Reads bits 7 and 6 of `b`.
    pub fn from_bits(b: u8) -> Self {
        match b & 0b1100_0000 {
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }
}

/// The hint a decoded histogram carries: gauge chunks say gauge; inside a counter chunk no
/// reset happens after the first sample; the first sample's relation to the previous
/// chunk is reported as unknown, as Prometheus does (the previous chunk may be gone).
pub(crate) fn counter_reset_hint(header: CounterResetHeader, num_read: u16) -> CounterResetHint {
    match header {
        CounterResetHeader::Gauge => CounterResetHint::Gauge,
        _ if num_read > 1 => CounterResetHint::NotCounterReset,
        _ => CounterResetHint::Unknown,
    }
}

/// Whether Prometheus can decode `schema` (exponential -9..=52, or custom buckets).
pub(crate) fn is_known_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
        || (EXPONENTIAL_SCHEMA_MIN_RESERVED..=EXPONENTIAL_SCHEMA_MAX_RESERVED).contains(&schema)
}

/// Whether two custom bucket bound lists are the same (bitwise float equality as in Go).
pub(crate) fn custom_bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The layout every histogram chunk stores once, before its first sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ChunkLayout {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) positive_spans: Vec<Span>,
    pub(crate) negative_spans: Vec<Span>,
    pub(crate) custom_values: Vec<f64>,
}

pub(crate) fn write_layout(
    w: &mut BitWriter,
    schema: i32,
    zero_threshold: f64,
    positive_spans: &[Span],
    negative_spans: &[Span],
    custom_values: &[f64],
) {
    put_zero_threshold(w, zero_threshold);
    put_varbit_int(w, i64::from(schema));
    put_spans(w, positive_spans);
    put_spans(w, negative_spans);
    if schema == CUSTOM_BUCKETS_SCHEMA {
        put_varbit_uint(w, custom_values.len() as u64);
        for v in custom_values {
            put_custom_bound(w, *v);
        }
    }
}

pub(crate) fn read_layout(r: &mut BitReader<'_>) -> Result<ChunkLayout, NumberError> {
    let zero_threshold = read_zero_threshold(r)?;
    let schema = read_varbit_int(r)? as i32;
    let positive_spans = read_spans(r)?;
    let negative_spans = read_spans(r)?;
    let mut custom_values = Vec::new();
    if schema == CUSTOM_BUCKETS_SCHEMA {
        let n = read_varbit_uint(r)?;
        // Each bound takes at least 5 bits.
        if n > (r.remaining() / 5) as u64 {
            return Err(NumberError::Implausible("custom bounds"));
        }
        custom_values.reserve(n as usize);
        for _ in 0..n {
            custom_values.push(read_custom_bound(r)?);
        }
    }
    Ok(ChunkLayout {
        schema,
        zero_threshold,
        positive_spans,
        negative_spans,
        custom_values,
    })
}

fn put_spans(w: &mut BitWriter, spans: &[Span]) {
    put_varbit_uint(w, spans.len() as u64);
    for s in spans {
        put_varbit_uint(w, u64::from(s.length));
        put_varbit_int(w, i64::from(s.offset));
    }
}

fn read_spans(r: &mut BitReader<'_>) -> Result<Vec<Span>, NumberError> {
    let n = read_varbit_uint(r)?;
    // Each span takes at least 2 bits.
    if n > (r.remaining() / 2) as u64 {
        return Err(NumberError::Implausible("spans"));
    }
    let mut spans = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let length = read_varbit_uint(r)? as u32;
        let offset = read_varbit_int(r)? as i32;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

/// `math.Frexp`: `x = frac * 2^exp` with `|frac|` in [0.5, 1).
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (mut bits, mut adjust) = (x.to_bits(), 0);
    if (bits >> 52) & 0x7ff == 0 {
        // Subnormal: scale into the normal range first.
        bits = (x * f64::from_bits(0x4330_0000_0000_0000)).to_bits(); // 2^52
        adjust = -52;
    }
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1022 + adjust;
    let frac = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (frac, exp)
}

/// One byte for 0 and for powers of two from 2^-243 to 2^10, else 255 and the float.
fn put_zero_threshold(w: &mut BitWriter, threshold: f64) {
    if threshold == 0.0 {
        w.write_byte(0);
        return;
    }
    let (frac, exp) = frexp(threshold);
    if frac != 0.5 || !(-242..=11).contains(&exp) {
        w.write_byte(255);
        w.write_bits(threshold.to_bits(), 64);
        return;
    }
    w.write_byte((exp + 243) as u8);
}

fn read_zero_threshold(r: &mut BitReader<'_>) -> Result<f64, NumberError> {
    let b = r.read_byte()?;
    Ok(match b {
        0 => 0.0,
        255 => f64::from_bits(r.read_bits(64)?),
        // 0.5 * 2^(b-243) = 2^(b-244), built exactly from its exponent bits.
        _ => f64::from_bits(((i64::from(b) - 244 + 1023) as u64) << 52),
    })
}

/// Custom bounds that are whole multiples of 0.001 up to 33554.430 take a short varbit
/// (value*1000 + 1, so never 0); others a 0 bit and the float.
fn put_custom_bound(w: &mut BitWriter, f: f64) {
    let tf = f * 1000.0;
    let whole = ((tf.round() as u64) as f64) / 1000.0 == f;
    if !(0.0..=33_554_430.0).contains(&tf) || !whole {
        w.write_bit(false);
        w.write_bits(f.to_bits(), 64);
        return;
    }
    put_varbit_uint(w, tf.round() as u64 + 1);
}

fn read_custom_bound(r: &mut BitReader<'_>) -> Result<f64, NumberError> {
    Ok(match read_varbit_uint(r)? {
        0 => f64::from_bits(r.read_bits(64)?),
        b => (b - 1) as f64 / 1000.0,
    })
}

/// Number of buckets the spans describe.
pub(crate) fn count_buckets(spans: &[Span]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// Walks the bucket indices the spans describe.
#[derive(Debug, Clone)]
pub(crate) struct BucketIndices<'a> {
    spans: &'a [Span],
    span: usize,
    bucket: i64,
    idx: i64,
}

impl<'a> BucketIndices<'a> {
    pub(crate) fn new(spans: &'a [Span]) -> Self {
        let idx = spans.first().map_or(-1, |s| i64::from(s.offset) - 1);
        BucketIndices {
            spans,
            span: 0,
            bucket: -1,
            idx,
        }
    }
}

impl Iterator for BucketIndices<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let cur = self.spans.get(self.span)?;
        if self.bucket < i64::from(cur.length) - 1 {
            self.bucket += 1;
            self.idx += 1;
            return Some(self.idx);
        }
        while self.span + 1 < self.spans.len() {
            self.span += 1;
            let s = self.spans[self.span];
            self.idx += i64::from(s.offset) + 1;
            self.bucket = 0;
            if s.length == 0 {
                self.idx -= 1;
                continue;
            }
            return Some(self.idx);
        }
        self.span = self.spans.len();
        None
    }
}

/// `num` new buckets to insert before the `pos`-th bucket of the original list, the first
/// of them having bucket index `bucket_idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Insert {
    pub(crate) pos: usize,
    pub(crate) num: usize,
    pub(crate) bucket_idx: i64,
}

/// A bucket count as the layout arithmetic needs it.
pub(crate) trait BucketCount: Copy + PartialOrd + Default {
    fn add(self, other: Self) -> Self;
    fn neg(self) -> Self;
    fn is_zero(self) -> bool;
}

impl BucketCount for i64 {
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn neg(self) -> Self {
        self.wrapping_neg()
    }
    fn is_zero(self) -> bool {
        self == 0
    }
}

impl BucketCount for f64 {
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn neg(self) -> Self {
        -self
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

/// Delta-encoded integer buckets as absolute counts (wrapping like Go's int64).
pub(crate) fn absolute_counts(deltas: &[i64]) -> Vec<i64> {
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|d| {
            acc = acc.wrapping_add(*d);
            acc
        })
        .collect()
}

fn add_insert(inserts: &mut Vec<Insert>, cur: &mut Insert, other_idx: i64) {
    if cur.num == 0 {
        cur.bucket_idx = other_idx;
    } else if cur.bucket_idx + cur.num as i64 != other_idx {
        inserts.push(*cur);
        cur.num = 0;
        cur.bucket_idx = other_idx;
    }
    cur.num += 1;
}

/// Prometheus' `expand{Int,Float}SpansAndBuckets`: the inserts that widen layout `a` to
/// cover `b` (forward) and those that widen `b` with the buckets only `a` has, which must
/// be empty in `a` (backward). `None` when a bucket of `a` in use is missing from `b` or
/// any bucket's absolute count went down: a counter reset.
pub(crate) fn expand_spans_and_buckets<T: BucketCount>(
    a: &[Span],
    b: &[Span],
    a_counts: &[T],
    b_counts: &[T],
) -> Option<(Vec<Insert>, Vec<Insert>)> {
    let mut ai = BucketIndices::new(a);
    let mut bi = BucketIndices::new(b);
    let mut a_inserts = Vec::new();
    let mut b_inserts = Vec::new();
    let mut a_inter = Insert::default();
    let mut b_inter = Insert::default();
    let mut a_next = ai.next();
    let mut b_next = bi.next();
    let (mut a_pos, mut b_pos) = (0usize, 0usize);
    let count = |counts: &[T], i: usize| counts.get(i).copied().unwrap_or_default();

    loop {
        match (a_next, b_next) {
            (Some(a_idx), Some(b_idx)) if a_idx == b_idx => {
                if count(a_counts, a_pos) > count(b_counts, b_pos) {
                    return None;
                }
                if a_inter.num > 0 {
                    a_inserts.push(a_inter);
                    a_inter.num = 0;
                }
                a_next = ai.next();
                a_inter.pos += 1;
                a_pos += 1;
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                    b_inter.num = 0;
                }
                b_next = bi.next();
                b_inter.pos += 1;
                b_pos += 1;
            }
            (Some(a_idx), b) if b.is_none_or(|b_idx| a_idx < b_idx) => {
                // `b` lacks a bucket of `a`: fine only if it is empty in `a`.
                if !count(a_counts, a_pos).is_zero() {
                    return None;
                }
                add_insert(&mut b_inserts, &mut b_inter, a_idx);
                if a_inter.num > 0 {
                    a_inserts.push(a_inter);
                    a_inter.num = 0;
                }
                a_next = ai.next();
                a_inter.pos += 1;
                a_pos += 1;
            }
            (_, Some(b_idx)) => {
                // `a` lacks a bucket of `b`: widen `a`.
                add_insert(&mut a_inserts, &mut a_inter, b_idx);
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                    b_inter.num = 0;
                }
                b_next = bi.next();
                b_inter.pos += 1;
                b_pos += 1;
            }
            _ => {
                if a_inter.num > 0 {
                    a_inserts.push(a_inter);
                }
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                }
                return Some((a_inserts, b_inserts));
            }
        }
    }
}

/// Appends bucket index `b` to `spans`, continuing the last span when adjacent.
fn push_bucket(spans: &mut Vec<Span>, last: &mut i64, b: i64) {
    let mut offset = b - *last - 1;
    if offset == 0 && !spans.is_empty() {
        if let Some(s) = spans.last_mut() {
            s.length += 1;
        }
    } else {
        if spans.is_empty() {
            offset += 1;
        }
        spans.push(Span {
            offset: offset as i32,
            length: 1,
        });
    }
    *last = b;
}

/// For gauges: the forward inserts widening `a` to everything in `b`, the backward inserts
/// widening `b` to everything in `a`, and the merged spans. No counter reset checks.
pub(crate) fn expand_spans_both_ways(
    a: &[Span],
    b: &[Span],
) -> (Vec<Insert>, Vec<Insert>, Vec<Span>) {
    let mut ai = BucketIndices::new(a);
    let mut bi = BucketIndices::new(b);
    let mut f_inserts = Vec::new();
    let mut b_inserts = Vec::new();
    let mut merged = Vec::new();
    let mut last = 0i64;
    let mut f_inter = Insert::default();
    let mut b_inter = Insert::default();
    let mut av = ai.next();
    let mut bv = bi.next();
    loop {
        match (av, bv) {
            (Some(x), Some(y)) if x == y => {
                if f_inter.num > 0 {
                    f_inserts.push(f_inter);
                    f_inter.num = 0;
                }
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                    b_inter.num = 0;
                }
                push_bucket(&mut merged, &mut last, x);
                av = ai.next();
                bv = bi.next();
                f_inter.pos += 1;
                b_inter.pos += 1;
            }
            (Some(x), Some(y)) if x < y => {
                b_inter.num += 1;
                if f_inter.num > 0 {
                    f_inserts.push(f_inter);
                    f_inter.num = 0;
                }
                push_bucket(&mut merged, &mut last, x);
                f_inter.pos += 1;
                av = ai.next();
            }
            (Some(_), Some(y)) => {
                f_inter.num += 1;
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                    b_inter.num = 0;
                }
                push_bucket(&mut merged, &mut last, y);
                b_inter.pos += 1;
                bv = bi.next();
            }
            (Some(x), None) => {
                b_inter.num += 1;
                push_bucket(&mut merged, &mut last, x);
                av = ai.next();
            }
            (None, Some(y)) => {
                f_inter.num += 1;
                push_bucket(&mut merged, &mut last, y);
                bv = bi.next();
            }
            (None, None) => {
                if f_inter.num > 0 {
                    f_inserts.push(f_inter);
                }
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                }
                return (f_inserts, b_inserts, merged);
            }
        }
    }
}

/// Merges `inserts` (new, empty buckets) into `input`, producing `out_len` buckets. With
/// `deltas` the values are delta-encoded, so an insert becomes "back to zero" and the
/// following original bucket absorbs the difference.
pub(crate) fn insert_buckets<T: BucketCount>(
    input: &[T],
    inserts: &[Insert],
    deltas: bool,
    out_len: usize,
) -> Vec<T> {
    let mut out = vec![T::default(); out_len];
    let mut oi = 0usize;
    let mut v = T::default();
    let mut ii = 0usize;
    let put = |out: &mut Vec<T>, oi: &mut usize, x: T| {
        if let Some(slot) = out.get_mut(*oi) {
            *slot = x;
        }
        *oi += 1;
    };
    for (i, d) in input.iter().enumerate() {
        if ii >= inserts.len() || i != inserts[ii].pos {
            put(&mut out, &mut oi, *d);
            v = v.add(*d);
            continue;
        }
        let mut first = true;
        while ii < inserts.len() && i == inserts[ii].pos {
            if deltas && first {
                put(&mut out, &mut oi, v.neg());
                first = false;
            } else {
                put(&mut out, &mut oi, T::default());
            }
            for _ in 1..inserts[ii].num {
                put(&mut out, &mut oi, T::default());
            }
            ii += 1;
        }
        put(&mut out, &mut oi, if deltas { d.add(v) } else { *d });
        v = v.add(*d);
    }
    while ii < inserts.len() {
        put(
            &mut out,
            &mut oi,
            if deltas { v.neg() } else { T::default() },
        );
        for _ in 1..inserts[ii].num {
            put(&mut out, &mut oi, T::default());
        }
        ii += 1;
        v = T::default();
    }
    out
}

/// The spans of `spans` widened by `inserts` (whose `bucket_idx` says where they go).
pub(crate) fn adjust_for_inserts(spans: &[Span], inserts: &[Insert]) -> Vec<Span> {
    if inserts.is_empty() {
        return spans.to_vec();
    }
    let mut merged = Vec::new();
    let mut last = 0i64;
    let mut i = 0usize;
    let mut insert_idx = inserts[0].bucket_idx;
    let mut insert_num = inserts[0].num;
    let consume = |i: &mut usize, insert_idx: &mut i64, insert_num: &mut usize| {
        *insert_num = insert_num.saturating_sub(1);
        if *insert_num == 0 {
            *i += 1;
            if let Some(ins) = inserts.get(*i) {
                *insert_idx = ins.bucket_idx;
                *insert_num = ins.num;
            }
        } else {
            *insert_idx += 1;
        }
    };
    let mut it = BucketIndices::new(spans);
    let mut bucket = it.next();
    while let Some(b) = bucket {
        if i < inserts.len() && insert_idx < b {
            push_bucket(&mut merged, &mut last, insert_idx);
            consume(&mut i, &mut insert_idx, &mut insert_num);
        } else {
            push_bucket(&mut merged, &mut last, b);
            bucket = it.next();
        }
    }
    while i < inserts.len() {
        push_bucket(&mut merged, &mut last, insert_idx);
        consume(&mut i, &mut insert_idx, &mut insert_num);
    }
    merged
}

/// Merges buckets of `schema` (above 8, from a newer Prometheus) down to schema 8.
/// `counts` are absolute; returns the new spans and absolute counts.
pub(crate) fn reduce_resolution<T: BucketCount>(
    spans: &[Span],
    counts: &[T],
    schema: i32,
) -> (Vec<Span>, Vec<T>) {
    let shift = (schema - EXPONENTIAL_SCHEMA_MAX).clamp(0, 63) as u32;
    let mut new_spans: Vec<Span> = Vec::new();
    let mut new_counts: Vec<T> = Vec::new();
    let mut last = 0i64;
    for (idx, c) in BucketIndices::new(spans).zip(counts) {
        let target = ((idx - 1) >> shift) + 1;
        if !new_counts.is_empty() && target == last {
            if let Some(x) = new_counts.last_mut() {
                *x = x.add(*c);
            }
            continue;
        }
        if new_spans.is_empty() {
            new_spans.push(Span {
                offset: target as i32,
                length: 1,
            });
        } else if target == last + 1 {
            if let Some(s) = new_spans.last_mut() {
                s.length += 1;
            }
        } else {
            new_spans.push(Span {
                offset: (target - last - 1) as i32,
                length: 1,
            });
        }
        new_counts.push(*c);
        last = target;
    }
    (new_spans, new_counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|(offset, length)| Span {
                offset: *offset,
                length: *length,
            })
            .collect()
    }

    #[test]
    fn zero_threshold_codes() {
        for (zt, len) in [
            (0.0, 1),
            (2f64.powi(-128), 1),
            (1024.0, 1),
            (0.001, 9),
            (3.0, 9),
        ] {
            let mut w = BitWriter::default();
            put_zero_threshold(&mut w, zt);
            assert_eq!(w.bytes().len(), len, "{zt}");
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            assert_eq!(read_zero_threshold(&mut r), Ok(zt));
        }
        // The default threshold 2^-128 is byte 116, as upstream documents.
        let mut w = BitWriter::default();
        put_zero_threshold(&mut w, 2f64.powi(-128));
        assert_eq!(w.bytes(), &[116]);
    }

    #[test]
    fn custom_bounds_round_trip() {
        let bounds = [
            0.0,
            0.001,
            0.5,
            1.0,
            2.5,
            33554.43,
            33554.431,
            -1.0,
            1e300,
            0.1 + 0.2,
        ];
        let mut w = BitWriter::default();
        for b in bounds {
            put_custom_bound(&mut w, b);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for b in bounds {
            assert_eq!(read_custom_bound(&mut r).map(f64::to_bits), Ok(b.to_bits()));
        }
    }

    #[test]
    fn bucket_indices_follow_spans() {
        let spans = sp(&[(0, 2), (2, 1), (3, 2), (3, 1), (1, 1)]);
        let idx: Vec<i64> = BucketIndices::new(&spans).collect();
        assert_eq!(idx, vec![0, 1, 4, 8, 9, 13, 15]);
        let with_empty = sp(&[(-2, 1), (0, 0), (1, 1)]);
        let idx: Vec<i64> = BucketIndices::new(&with_empty).collect();
        assert_eq!(idx, vec![-2, 0]);
    }

    #[test]
    fn upstream_expand_example() {
        // The example in Prometheus' expandIntSpansAndBuckets documentation.
        let a = sp(&[(0, 2), (2, 1), (3, 2), (3, 1), (1, 1)]);
        let b = sp(&[(0, 3), (1, 1), (1, 4), (3, 3)]);
        let a_counts = absolute_counts(&[6, -3, 0, -1, 2, 1, -4]);
        let b_counts = absolute_counts(&[6, -3, -3, 3, -3, 0, 2, 2, 1, -5, 1]);
        let (fwd, bwd) = expand_spans_and_buckets(&a, &b, &a_counts, &b_counts).unwrap();
        assert!(bwd.is_empty());
        let pos: Vec<(usize, usize)> = fwd.iter().map(|i| (i.pos, i.num)).collect();
        assert_eq!(pos, vec![(2, 1), (3, 2), (6, 1)]);
        let recoded = insert_buckets(&[6i64, -3, 0, -1, 2, 1, -4], &fwd, true, 11);
        assert_eq!(recoded, vec![6, -3, -3, 3, -3, 0, 2, 2, 1, -5, 1]);
        assert_eq!(adjust_for_inserts(&a, &fwd), b);
    }

    #[test]
    fn both_ways_merges_spans() {
        let a = sp(&[(0, 2)]);
        let b = sp(&[(1, 2)]);
        let (fwd, bwd, merged) = expand_spans_both_ways(&a, &b);
        assert_eq!(merged, sp(&[(0, 3)]));
        assert_eq!(
            fwd,
            vec![Insert {
                pos: 2,
                num: 1,
                bucket_idx: 0
            }]
        );
        assert_eq!(
            bwd,
            vec![Insert {
                pos: 0,
                num: 1,
                bucket_idx: 0
            }]
        );
    }

    #[test]
    fn missing_used_bucket_is_a_reset() {
        let a = sp(&[(0, 2)]);
        let b = sp(&[(0, 1)]);
        assert!(expand_spans_and_buckets(&a, &b, &[1i64, 1], &[2]).is_none());
        // An empty bucket may disappear: the histogram gets it back as a backward insert.
        let (fwd, bwd) = expand_spans_and_buckets(&a, &b, &[1i64, 0], &[2]).unwrap();
        assert!(fwd.is_empty());
        assert_eq!(
            bwd,
            vec![Insert {
                pos: 1,
                num: 1,
                bucket_idx: 1
            }]
        );
    }

    #[test]
    fn reduce_resolution_merges_pairs() {
        // Schema 9 indices 1..=4 map to schema 8 indices 1, 1, 2, 2.
        let (spans, counts) = reduce_resolution(&sp(&[(1, 4)]), &[1i64, 2, 3, 4], 9);
        assert_eq!(spans, sp(&[(1, 2)]));
        assert_eq!(counts, vec![3, 7]);
    }
}
