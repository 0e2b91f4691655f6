//! Tests of histogram arithmetic, iteration and trimming, with hand-checked values.

use super::*;
use crate::histogram::CUSTOM_BUCKETS_SCHEMA;
use crate::histogram_trim::TrimSide;

/// Spans and counts from runs of `(offset, counts)`.
fn side(runs: &[(i32, &[f64])]) -> (Vec<Span>, Vec<f64>) {
    let spans = runs
        .iter()
        .map(|(offset, counts)| Span {
            offset: *offset,
            length: counts.len() as u32,
        })
        .collect();
    let counts = runs.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    (spans, counts)
}

/// A histogram whose count is the total of its buckets.
fn hist(schema: i32, positive: &[(i32, &[f64])], negative: &[(i32, &[f64])]) -> FloatHistogram {
    let (positive_spans, positive_buckets) = side(positive);
    let (negative_spans, negative_buckets) = side(negative);
    let count = positive_buckets.iter().chain(&negative_buckets).sum();
    FloatHistogram {
        schema,
        count,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        ..Default::default()
    }
}

fn custom(bounds: &[f64], runs: &[(i32, &[f64])]) -> FloatHistogram {
    FloatHistogram {
        custom_values: bounds.to_vec(),
        ..hist(CUSTOM_BUCKETS_SCHEMA, runs, &[])
    }
}

/// `(index, count)` of one side.
fn indexed(spans: &[Span], counts: &[f64]) -> Vec<(i32, f64)> {
    span_indices(spans).map(|(i, p)| (i, counts[p])).collect()
}

fn positive(h: &FloatHistogram) -> Vec<(i32, f64)> {
    indexed(&h.positive_spans, &h.positive_buckets)
}

fn negative(h: &FloatHistogram) -> Vec<(i32, f64)> {
    indexed(&h.negative_spans, &h.negative_buckets)
}

#[test]
fn kahan_inc_is_neumaier() {
    let (mut s, mut c) = (0.0, 0.0);
    for v in [3.1, 1e100, -1e100, 1.3] {
        (s, c) = kahan_inc(v, s, c);
    }
    assert_eq!((s, c, s + c), (1.3, 3.1, 4.4));
    // An infinite sum drops the compensation.
    assert_eq!(kahan_inc(f64::INFINITY, 1.0, 0.5), (f64::INFINITY, 0.0));
}

#[test]
fn mul_and_div() {
    let mut h = hist(0, &[(0, &[1.0, 2.0])], &[(1, &[4.0])]);
    h.zero_count = 1.0;
    h.sum = 3.0;
    h.mul(2.0);
    assert_eq!(h.positive_buckets, vec![2.0, 4.0]);
    assert_eq!(h.negative_buckets, vec![8.0]);
    assert_eq!((h.zero_count, h.count, h.sum), (2.0, 14.0, 6.0));
    assert_eq!(h.counter_reset_hint, CounterResetHint::Unknown);
    h.div(4.0);
    assert_eq!(h.positive_buckets, vec![0.5, 1.0]);
    assert_eq!(h.counter_reset_hint, CounterResetHint::Unknown);
    h.mul(-1.0);
    assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(h.positive_buckets, vec![-0.5, -1.0]);

    let mut h = hist(0, &[(0, &[1.0])], &[(0, &[1.0])]);
    h.sum = -3.0;
    h.zero_count = 0.0;
    h.div(0.0);
    assert!(h.positive_spans.is_empty() && h.positive_buckets.is_empty());
    assert!(h.negative_spans.is_empty() && h.negative_buckets.is_empty());
    assert_eq!((h.count, h.sum), (f64::INFINITY, f64::NEG_INFINITY));
    assert!(h.zero_count.is_nan());
    // Division by zero keeps the hint (the sign check comes after the early return).
    assert_eq!(h.counter_reset_hint, CounterResetHint::Unknown);
}

#[test]
fn add_same_layout_in_place() {
    let mut a = hist(0, &[(0, &[1.0, 2.0])], &[]);
    let b = hist(0, &[(0, &[10.0, 20.0])], &[]);
    let outcome = a.add(&b).unwrap();
    assert_eq!(outcome, AddOutcome::default());
    assert_eq!(positive(&a), vec![(0, 11.0), (1, 22.0)]);
    assert_eq!(a.count, 33.0);
}

#[test]
fn add_inserts_missing_buckets() {
    let mut a = hist(0, &[(-2, &[1.0]), (3, &[2.0, 0.0])], &[(0, &[1.0])]);
    let b = hist(0, &[(-1, &[5.0]), (0, &[7.0]), (3, &[9.0])], &[(2, &[3.0])]);
    a.add(&b).unwrap();
    // The receiver's explicit empty bucket 3 stays.
    assert_eq!(
        positive(&a),
        vec![(-2, 1.0), (-1, 5.0), (0, 7.0), (2, 2.0), (3, 0.0), (4, 9.0)]
    );
    assert_eq!(negative(&a), vec![(0, 1.0), (2, 3.0)]);
    // Adjacent buckets share a span.
    assert_eq!(
        a.positive_spans,
        vec![
            Span {
                offset: -2,
                length: 3
            },
            Span {
                offset: 1,
                length: 3
            }
        ]
    );
    assert_eq!(a.count, 28.0);
}

#[test]
fn add_reduces_the_finer_schema() {
    // Other is finer: its buckets merge into the receiver's schema.
    let mut a = hist(0, &[(0, &[5.0])], &[]);
    let b = hist(1, &[(0, &[1.0, 2.0])], &[]);
    a.add(&b).unwrap();
    assert_eq!(a.schema, 0);
    assert_eq!(positive(&a), vec![(0, 6.0), (1, 2.0)]);

    // The receiver is finer: it is reduced and takes the other's schema.
    let mut a = hist(1, &[(0, &[1.0, 2.0, 3.0])], &[(-1, &[1.0, 1.0])]);
    let b = hist(0, &[(1, &[10.0])], &[]);
    a.add(&b).unwrap();
    assert_eq!(a.schema, 0);
    assert_eq!(positive(&a), vec![(0, 1.0), (1, 15.0)]);
    assert_eq!(negative(&a), vec![(0, 2.0)]);
}

#[test]
fn add_widens_the_zero_bucket() {
    // Receiver: zero bucket 0.001 with 2, buckets (0.25,0.5]:3 (0.5,1]:1 (1,2]:4.
    let mut a = hist(0, &[(-1, &[3.0, 1.0, 4.0])], &[]);
    a.zero_threshold = 0.001;
    a.zero_count = 2.0;
    a.count = 10.0;
    // Other: zero bucket 0.5 with 5 and (1,2]:1.
    let mut b = hist(0, &[(1, &[1.0])], &[]);
    b.zero_threshold = 0.5;
    b.zero_count = 5.0;
    b.count = 6.0;
    a.add(&b).unwrap();
    assert_eq!(a.zero_threshold, 0.5);
    assert_eq!(a.zero_count, 10.0);
    assert_eq!(positive(&a), vec![(0, 1.0), (1, 5.0)]);
    assert_eq!(a.count, 16.0);

    // A threshold inside a populated bucket moves to that bucket's upper bound, and
    // the other histogram's buckets below it go into its zero count.
    let mut a = hist(0, &[(-1, &[3.0, 1.0, 4.0])], &[(0, &[7.0])]);
    a.zero_threshold = 0.001;
    let mut b = hist(0, &[(0, &[2.0, 1.0])], &[]);
    b.zero_threshold = 0.7;
    b.zero_count = 5.0;
    a.add(&b).unwrap();
    assert_eq!(a.zero_threshold, 1.0);
    // 3 + 1 + 7 (the negative bucket (-1,-0.5] also lies within 1) + 5 + 2.
    assert_eq!(a.zero_count, 18.0);
    assert_eq!(positive(&a), vec![(1, 5.0)]);
    assert!(negative(&a).is_empty());

    // Widening compacts the receiver: its other empty buckets disappear too.
    let mut a = hist(0, &[(-1, &[1.0, 0.0, 0.0, 3.0])], &[]);
    let mut b = hist(0, &[], &[]);
    b.zero_threshold = 0.5;
    a.add(&b).unwrap();
    assert_eq!(positive(&a), vec![(2, 3.0)]);
    assert_eq!(a.zero_count, 1.0);
}

#[test]
fn sub_keeps_the_union_and_negates_new_buckets() {
    let mut a = hist(0, &[(0, &[5.0])], &[]);
    a.counter_reset_hint = CounterResetHint::NotCounterReset;
    let mut b = hist(0, &[(0, &[2.0, 3.0])], &[]);
    b.counter_reset_hint = CounterResetHint::NotCounterReset;
    a.sub(&b).unwrap();
    assert_eq!(positive(&a), vec![(0, 3.0), (1, -3.0)]);
    assert_eq!(a.count, 0.0);
    // Sub keeps the hint; PromQL's `-` makes it a gauge itself.
    assert_eq!(a.counter_reset_hint, CounterResetHint::NotCounterReset);
    // An explicit empty bucket only in the subtrahend becomes -0.
    let mut a = hist(0, &[], &[]);
    a.sub(&hist(0, &[(0, &[0.0])], &[])).unwrap();
    assert_eq!(a.positive_buckets[0].to_bits(), (-0.0f64).to_bits());
}

#[test]
fn counter_reset_hints_of_sums() {
    use CounterResetHint::*;
    let cases = [
        (Unknown, Unknown, Unknown, false),
        (CounterReset, CounterReset, CounterReset, false),
        (Gauge, CounterReset, Gauge, false),
        (NotCounterReset, Gauge, Gauge, false),
        (Unknown, NotCounterReset, Unknown, false),
        (CounterReset, Unknown, Unknown, false),
        (CounterReset, NotCounterReset, Unknown, true),
        (NotCounterReset, CounterReset, Unknown, true),
    ];
    for (a_hint, b_hint, want, collision) in cases {
        let mut a = hist(0, &[(0, &[1.0])], &[]);
        a.counter_reset_hint = a_hint;
        let mut b = hist(0, &[(0, &[1.0])], &[]);
        b.counter_reset_hint = b_hint;
        let outcome = a.add(&b).unwrap();
        assert_eq!(a.counter_reset_hint, want, "{a_hint:?} + {b_hint:?}");
        assert_eq!(outcome.counter_reset_collision, collision);
    }
}

#[test]
fn custom_buckets() {
    let mut a = custom(&[1.0, 2.0], &[(0, &[1.0, 2.0, 3.0])]);
    let b = custom(&[1.0, 2.0], &[(1, &[10.0])]);
    let outcome = a.add(&b).unwrap();
    assert!(!outcome.nhcb_bounds_reconciled);
    assert_eq!(positive(&a), vec![(0, 1.0), (1, 12.0), (2, 3.0)]);

    // Different bounds are reconciled to the shared ones: [1, 3].
    let mut a = custom(&[1.0, 2.0, 3.0], &[(0, &[1.0, 2.0, 3.0, 4.0])]);
    let b = custom(&[1.0, 3.0, 5.0], &[(0, &[10.0, 20.0, 30.0, 40.0])]);
    let outcome = a.add(&b).unwrap();
    assert!(outcome.nhcb_bounds_reconciled);
    assert_eq!(a.custom_values, vec![1.0, 3.0]);
    assert_eq!(positive(&a), vec![(0, 11.0), (1, 25.0), (2, 74.0)]);
    assert_eq!(a.count, 110.0);

    // Nothing shared: everything lands in the overflow bucket; zero buckets vanish.
    let mut a = custom(&[1.0], &[(0, &[1.0, 2.0])]);
    let b = custom(&[2.0], &[(0, &[3.0])]);
    a.sub(&b).unwrap();
    assert!(a.custom_values.is_empty());
    assert!(positive(&a).is_empty());
    assert_eq!(a.count, 0.0);
}

#[test]
fn mixing_exponential_and_custom_is_an_error() {
    let mut a = hist(0, &[(0, &[1.0])], &[]);
    let before = a.clone();
    let b = custom(&[1.0], &[(0, &[1.0])]);
    assert_eq!(a.add(&b), Err(HistogramOpError::IncompatibleSchema));
    assert_eq!(a.sub(&b), Err(HistogramOpError::IncompatibleSchema));
    assert_eq!(a, before);
}

#[test]
fn malformed_input_is_an_error() {
    let mut a = hist(0, &[(0, &[1.0])], &[]);
    let mut b = hist(0, &[(0, &[1.0, 2.0])], &[]);
    b.positive_buckets.pop();
    assert!(matches!(
        a.add(&b),
        Err(HistogramOpError::SpansBucketsMismatch { .. })
    ));
    let b = hist(9, &[(0, &[1.0])], &[]);
    assert_eq!(a.add(&b), Err(HistogramOpError::InvalidSchema(9)));
    let b = hist(0, &[(0, &[1.0]), (-3, &[1.0])], &[]);
    assert_eq!(a.add(&b), Err(HistogramOpError::NegativeSpanOffset));
    let mut b = hist(0, &[(0, &[1.0])], &[]);
    b.zero_threshold = f64::NAN;
    assert_eq!(a.add(&b), Err(HistogramOpError::InvalidZeroThreshold));
}

#[test]
fn kahan_add_compensates() {
    let sums = [3.1, 1e100, -1e100, 1.3];
    let mut acc = hist(0, &[(0, &[1.0])], &[]);
    acc.sum = sums[0];
    let mut comp = None;
    for s in &sums[1..] {
        let mut h = hist(1, &[(0, &[1.0, 1.0])], &[]);
        h.sum = *s;
        acc.kahan_add(&h, &mut comp).unwrap();
    }
    let comp = comp.unwrap();
    assert_eq!((acc.sum, comp.sum), (1.3, 3.1));
    assert_eq!(comp.schema, acc.schema);
    assert_eq!(comp.positive_spans, acc.positive_spans);
    acc.add(&comp).unwrap();
    assert_eq!(acc.sum, 4.4);
    assert_eq!(positive(&acc), vec![(0, 4.0), (1, 3.0)]);
    assert_eq!(acc.count, 7.0);

    // Buckets too: 1e100 and -1e100 in one bucket do not absorb the small counts.
    let mut acc = hist(0, &[(0, &[3.0])], &[]);
    let mut comp = None;
    for v in [1e100, -1e100, 2.0] {
        acc.kahan_add(&hist(0, &[(0, &[v])], &[]), &mut comp)
            .unwrap();
    }
    let comp = comp.unwrap();
    acc.add(&comp).unwrap();
    assert_eq!(positive(&acc), vec![(0, 5.0)]);

    // Zero-threshold changes keep the compensation in step with the layout.
    let mut acc = hist(0, &[(-1, &[1.0, 1e100])], &[]);
    let mut comp = None;
    acc.kahan_add(&hist(0, &[(0, &[-1e100])], &[]), &mut comp)
        .unwrap();
    let mut wide = hist(0, &[(1, &[2.0])], &[]);
    wide.zero_threshold = 0.5;
    acc.kahan_add(&wide, &mut comp).unwrap();
    let comp = comp.unwrap();
    assert_eq!(comp.positive_spans, acc.positive_spans);
    assert_eq!(comp.positive_buckets.len(), acc.positive_buckets.len());
    assert_eq!(acc.zero_threshold, 0.5);
    assert_eq!(acc.zero_count, 1.0);
}

#[test]
fn kahan_add_custom_buckets() {
    let mut acc = custom(&[1.0, 2.0], &[(0, &[1.0])]);
    let mut comp = None;
    acc.kahan_add(&custom(&[1.0, 2.0], &[(0, &[1e100, 2.0])]), &mut comp)
        .unwrap();
    acc.kahan_add(&custom(&[1.0, 5.0], &[(0, &[-1e100])]), &mut comp)
        .unwrap();
    let comp = comp.unwrap();
    assert_eq!(acc.custom_values, vec![1.0]);
    assert_eq!(comp.custom_values, vec![1.0]);
    acc.add(&comp).unwrap();
    assert_eq!(positive(&acc), vec![(0, 1.0), (1, 2.0)]);
}

/// A tiny deterministic generator for property tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    fn histogram(&mut self, schema: i32) -> FloatHistogram {
        let mut h = FloatHistogram {
            schema,
            zero_threshold: 0.001,
            zero_count: self.next(5) as f64,
            sum: self.next(100) as f64,
            ..Default::default()
        };
        for positive in [true, false] {
            let mut spans = Vec::new();
            let mut counts = Vec::new();
            for i in 0..self.next(4) {
                // Buckets stay outside the zero bucket, where addition is symmetric.
                let offset = if i == 0 {
                    self.next(20) as i32 - 5
                } else {
                    self.next(4) as i32
                };
                let length = self.next(4) as u32;
                spans.push(Span { offset, length });
                counts.extend((0..length).map(|_| self.next(10) as f64));
            }
            if positive {
                (h.positive_spans, h.positive_buckets) = (spans, counts);
            } else {
                (h.negative_spans, h.negative_buckets) = (spans, counts);
            }
        }
        h.count = h.zero_count
            + h.positive_buckets.iter().sum::<f64>()
            + h.negative_buckets.iter().sum::<f64>();
        h
    }
}

#[test]
fn add_then_sub_gives_back_the_original() {
    let mut rng = Lcg(1);
    for _ in 0..500 {
        let schema = rng.next(9) as i32;
        let a = rng.histogram(schema);
        let b = rng.histogram(schema);
        let mut r = a.clone();
        r.add(&b).unwrap();
        r.sub(&b).unwrap();
        let mut want = a.clone();
        want.compact(0);
        r.compact(0);
        assert!(r.equals(&want), "{a:?}\n{b:?}\n{r:?}");
        // Addition commutes (with integer counts).
        let mut ab = a.clone();
        ab.add(&b).unwrap();
        let mut ba = b.clone();
        ba.add(&a).unwrap();
        assert!(ab.equals(&ba));
    }
}

#[test]
fn reduce_resolution_preserves_totals() {
    let mut rng = Lcg(7);
    for _ in 0..500 {
        let schema = rng.next(9) as i32;
        let target = schema - 1 - rng.next(schema as u64 + 4) as i32;
        let h = rng.histogram(schema);
        let r = h.copy_to_schema(target).unwrap();
        assert_eq!(
            (r.count, r.sum, r.zero_count),
            (h.count, h.sum, h.zero_count)
        );
        assert_eq!(r.schema, target);
        for (pos, spans, counts) in [
            (true, &h.positive_spans, &h.positive_buckets),
            (false, &h.negative_spans, &h.negative_buckets),
        ] {
            let got = if pos { positive(&r) } else { negative(&r) };
            let mut want: Vec<(i32, f64)> = Vec::new();
            for (idx, c) in indexed(spans, counts) {
                let t = target_index(i64::from(idx), schema, target) as i32;
                match want.last_mut() {
                    Some(last) if last.0 == t => last.1 += c,
                    _ => want.push((t, c)),
                }
            }
            assert_eq!(got, want);
            // Indices strictly ascend.
            assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        }
        let mut in_place = h.clone();
        in_place.reduce_resolution(target).unwrap();
        assert!(in_place.equals(&r));
        // The integer form reduces the same way.
        let mut int = Histogram {
            schema,
            count: h.count as u64,
            zero_count: h.zero_count as u64,
            zero_threshold: h.zero_threshold,
            sum: h.sum,
            positive_spans: h.positive_spans.clone(),
            negative_spans: h.negative_spans.clone(),
            positive_buckets: deltas(&h.positive_buckets),
            negative_buckets: deltas(&h.negative_buckets),
            ..Default::default()
        };
        int.reduce_resolution(target).unwrap();
        assert!(int.to_float().equals(&r));
    }
}

fn deltas(abs: &[f64]) -> Vec<i64> {
    let mut prev = 0;
    abs.iter()
        .map(|&c| {
            let d = c as i64 - prev;
            prev = c as i64;
            d
        })
        .collect()
}

#[test]
fn reduce_resolution_errors() {
    let mut h = hist(2, &[(0, &[1.0])], &[]);
    assert_eq!(
        h.reduce_resolution(2),
        Err(HistogramOpError::CannotReduceResolution { from: 2, to: 2 })
    );
    assert_eq!(
        h.reduce_resolution(CUSTOM_BUCKETS_SCHEMA),
        Err(HistogramOpError::ReduceToCustomBuckets)
    );
    assert_eq!(
        h.reduce_resolution(-5),
        Err(HistogramOpError::InvalidSchema(-5))
    );
    let mut c = custom(&[1.0], &[(0, &[1.0])]);
    assert_eq!(
        c.reduce_resolution(0),
        Err(HistogramOpError::ReduceCustomBuckets)
    );
    // A copy to a different schema forgets the hint, as upstream's CopyToSchema.
    h.counter_reset_hint = CounterResetHint::Gauge;
    assert_eq!(
        h.copy_to_schema(1).unwrap().counter_reset_hint,
        CounterResetHint::Unknown
    );
    assert_eq!(
        h.copy_to_schema(2).unwrap().counter_reset_hint,
        CounterResetHint::Gauge
    );
}

#[test]
fn equality() {
    let a = hist(0, &[(0, &[1.0, 2.0])], &[]);
    // The same buckets split differently, with a zero-length span.
    let mut b = hist(0, &[(0, &[1.0]), (0, &[2.0])], &[]);
    b.positive_spans.push(Span {
        offset: 5,
        length: 0,
    });
    b.counter_reset_hint = CounterResetHint::Gauge;
    assert!(a.equals(&b));
    // An explicit empty bucket is a difference.
    let c = hist(0, &[(0, &[1.0, 2.0, 0.0])], &[]);
    assert!(!a.equals(&c));
    // Bits are compared: NaN equals NaN, -0 differs from 0.
    let (mut x, mut y) = (a.clone(), a.clone());
    x.sum = f64::NAN;
    y.sum = f64::NAN;
    assert!(x.equals(&y));
    y.positive_buckets[0] = 1.0;
    let mut z = hist(0, &[(0, &[0.0, 2.0])], &[]);
    z.count = 3.0;
    let mut w = z.clone();
    w.positive_buckets[0] = -0.0;
    assert!(!z.equals(&w));
    // Schema, threshold and custom bounds matter.
    let mut s = a.clone();
    s.schema = 1;
    assert!(!a.equals(&s));
    let mut t = a.clone();
    t.zero_threshold = 0.1;
    assert!(!a.equals(&t));
    assert!(!custom(&[1.0], &[(0, &[1.0])]).equals(&custom(&[2.0], &[(0, &[1.0])])));
}

#[test]
fn detect_reset() {
    let prev = hist(0, &[(0, &[1.0, 2.0]), (2, &[3.0])], &[(0, &[1.0])]);
    let mut cur = prev.clone();
    assert!(!cur.detect_reset(&prev));
    // Hints shortcut the check.
    cur.counter_reset_hint = CounterResetHint::CounterReset;
    assert!(cur.detect_reset(&prev));
    let mut cur = hist(0, &[], &[]);
    cur.counter_reset_hint = CounterResetHint::NotCounterReset;
    assert!(!cur.detect_reset(&prev));
    // A gauge is checked like a counter.
    let mut cur = prev.clone();
    cur.counter_reset_hint = CounterResetHint::Gauge;
    cur.positive_buckets[2] = 2.0;
    cur.count = prev.count;
    assert!(cur.detect_reset(&prev));
    // Missing populated bucket; a missing empty one is fine.
    let cur = hist(0, &[(0, &[1.0, 2.0])], &[(0, &[1.0, 5.0])]);
    assert!(cur.detect_reset(&prev));
    let prev_with_empty = hist(0, &[(0, &[1.0, 0.0])], &[]);
    assert!(!hist(0, &[(0, &[1.0])], &[]).detect_reset(&prev_with_empty));
    // Count decrease; sum decrease is not a reset.
    let mut cur = prev.clone();
    cur.count -= 1.0;
    assert!(cur.detect_reset(&prev));
    let mut cur = prev.clone();
    cur.sum = -100.0;
    assert!(!cur.detect_reset(&prev));
    // A higher schema is always a reset; a lower one compares merged buckets.
    let mut cur = prev.clone();
    cur.schema = 1;
    assert!(cur.detect_reset(&prev));
    let fine = hist(1, &[(1, &[1.0, 1.0])], &[]);
    assert!(!hist(0, &[(1, &[2.0])], &[]).detect_reset(&fine));
    assert!(hist(0, &[(1, &[1.5])], &[]).detect_reset(&fine));
    // Zero threshold: narrower is a reset; wider absorbs the previous buckets.
    let mut prev_z = hist(0, &[(-1, &[1.0, 2.0])], &[]);
    prev_z.zero_threshold = 0.25;
    prev_z.zero_count = 1.0;
    let mut cur = prev_z.clone();
    cur.zero_threshold = 0.1;
    assert!(cur.detect_reset(&prev_z));
    let mut cur = hist(0, &[(0, &[2.0])], &[]);
    cur.zero_threshold = 0.5;
    cur.zero_count = 2.0;
    cur.count = prev_z.count;
    assert!(!cur.detect_reset(&prev_z));
    cur.zero_count = 1.5;
    assert!(cur.detect_reset(&prev_z));
    // A wider threshold inside a populated previous bucket is a reset.
    let mut cur = hist(0, &[(1, &[2.0])], &[]);
    cur.zero_threshold = 0.7;
    cur.zero_count = 5.0;
    assert!(cur.detect_reset(&prev_z));
}

#[test]
fn detect_reset_custom_buckets() {
    let prev = custom(&[1.0, 2.0, 3.0], &[(0, &[1.0, 2.0, 3.0, 4.0])]);
    assert!(!prev.detect_reset(&prev));
    assert!(prev.detect_reset(&hist(0, &[(0, &[1.0])], &[])));
    assert!(hist(0, &[(0, &[1.0])], &[]).detect_reset(&prev));
    // Different bounds compare cumulative counts at shared bounds 1 and 3 (and +Inf):
    // previous has 1, 5 (=2+3), 4 there.
    let cur = custom(&[1.0, 3.0], &[(0, &[1.0, 5.0, 4.0])]);
    assert!(!cur.detect_reset(&prev));
    let cur = custom(&[1.0, 3.0], &[(0, &[1.0, 4.0, 5.0])]);
    assert!(cur.detect_reset(&prev));
}

#[test]
fn integer_histogram_equality() {
    let a = Histogram {
        count: 3,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 1],
        ..Default::default()
    };
    let mut b = a.clone();
    b.positive_spans = vec![
        Span {
            offset: 0,
            length: 1,
        },
        Span {
            offset: 0,
            length: 1,
        },
    ];
    assert!(a.equals(&b));
    b.positive_buckets[1] = 0;
    assert!(!a.equals(&b));
}

#[test]
fn iteration_orders() {
    let mut h = hist(0, &[(0, &[1.0, 2.0]), (1, &[3.0])], &[(-1, &[4.0, 5.0])]);
    h.zero_threshold = 0.75;
    h.zero_count = 6.0;
    let up: Vec<(f64, f64, f64)> = h
        .all_bucket_iter()
        .map(|b| (b.lower, b.upper, b.count))
        .collect();
    assert_eq!(
        up,
        vec![
            (-1.0, -0.75, 5.0), // (-1,-0.5] clipped to the zero bucket
            (-0.5, -0.75, 4.0), // inside the zero bucket: clipped all the same
            (-0.75, 0.75, 6.0),
            (0.75, 1.0, 1.0),
            (1.0, 2.0, 2.0),
            (4.0, 8.0, 3.0),
        ]
    );
    let mut down: Vec<(f64, f64, f64)> = h
        .all_reverse_bucket_iter()
        .map(|b| (b.lower, b.upper, b.count))
        .collect();
    down.reverse();
    assert_eq!(down, up);
    let rev: Vec<i32> = h.positive_reverse_bucket_iter().map(|b| b.index).collect();
    assert_eq!(rev, vec![3, 1, 0]);
    let neg: Vec<i32> = h.negative_bucket_iter().map(|b| b.index).collect();
    assert_eq!(neg, vec![-1, 0]);
    let neg_rev: Vec<(i32, f64)> = h
        .negative_reverse_bucket_iter()
        .map(|b| (b.index, b.lower))
        .collect();
    assert_eq!(neg_rev, vec![(0, -1.0), (-1, -0.5)]);
    // The zero bucket is left out when empty, and custom buckets have none.
    h.zero_count = 0.0;
    assert_eq!(h.all_bucket_iter().count(), 5);
    assert!(custom(&[1.0], &[(0, &[1.0])]).zero_bucket().is_none());
    let c: Vec<(f64, f64, bool)> = custom(&[1.0, 5.0], &[(0, &[1.0, 2.0, 3.0])])
        .all_bucket_iter()
        .map(|b| (b.lower, b.upper, b.lower_inclusive))
        .collect();
    assert_eq!(
        c,
        vec![
            (f64::NEG_INFINITY, 1.0, true),
            (1.0, 5.0, false),
            (5.0, f64::INFINITY, false)
        ]
    );
}

#[test]
fn merged_iteration_skips_the_zero_bucket() {
    let h = hist(2, &[(-4, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0])], &[]);
    // Schema 2 buckets -4..=1 merge into schema 1 buckets -2 (from -4), -1 (from -3
    // and -2), 0 (from -1 and 0) and 1 (from 1).
    let merged: Vec<(i32, f64)> = h
        .side_iter(true, 1, 0.0)
        .map(|b| (b.index, b.count))
        .collect();
    assert_eq!(merged, vec![(-2, 1.0), (-1, 2.0), (0, 2.0), (1, 1.0)]);
    // Skipping buckets with an upper bound ≤ 0.75 (schema 1 bucket -1 ends at √½).
    let skipped: Vec<i32> = h.side_iter(true, 1, 0.75).map(|b| b.index).collect();
    assert_eq!(skipped, vec![0, 1]);
}

#[test]
fn malformed_histograms_never_panic() {
    let mut h = hist(0, &[(0, &[1.0, 2.0, 3.0])], &[(0, &[1.0, 2.0])]);
    h.positive_buckets.truncate(1);
    h.negative_spans.push(Span {
        offset: -7,
        length: u32::MAX,
    });
    h.zero_count = 1.0;
    assert_eq!(h.positive_bucket_iter().count(), 1);
    assert_eq!(h.positive_reverse_bucket_iter().count(), 1);
    assert_eq!(h.all_bucket_iter().count(), 4);
    assert_eq!(h.all_reverse_bucket_iter().count(), 4);
    let other = hist(0, &[(0, &[1.0])], &[]);
    assert!(h.clone().add(&other).is_err());
    let _ = h.detect_reset(&other);
    let _ = other.detect_reset(&h);
    let _ = h.equals(&other);
    let _ = h.trim_buckets(1.5, TrimSide::KeepBelow);
    let mut weird = hist(-40, &[(i32::MAX, &[1.0, 1.0])], &[]);
    weird.schema = 100;
    assert_eq!(weird.positive_bucket_iter().count(), 2);
    let _ = weird.trim_buckets(0.5, TrimSide::KeepAbove);
}

#[test]
fn trimming() {
    // Buckets (0.5,1]:2 (1,2]:4 (2,4]:8 and a zero bucket [-0.001,0.001]:1.
    let mut h = hist(0, &[(0, &[2.0, 4.0, 8.0])], &[]);
    h.zero_threshold = 0.001;
    h.zero_count = 1.0;
    h.count = 15.0;
    h.sum = 40.0;
    // On a bucket boundary: exact.
    let t = h.trim_buckets(2.0, TrimSide::KeepBelow);
    assert_eq!(positive(&t), vec![(0, 2.0), (1, 4.0)]);
    assert_eq!(t.count, 7.0);
    // Sum from geometric means (√½·2 + √2·4) and the zero bucket's (0+0.001)/2.
    let want = 0.5f64.sqrt() * 2.0 + 2f64.sqrt() * 4.0 + 0.0005;
    assert!((t.sum - want).abs() < 1e-12, "{}", t.sum);
    // Inside a bucket: exponential interpolation, √2 is half of (1,2].
    let t = h.trim_buckets(std::f64::consts::SQRT_2, TrimSide::KeepAbove);
    assert!((positive(&t)[0].1 - 2.0).abs() < 1e-12);
    assert_eq!(positive(&t)[1], (2, 8.0));
    assert_eq!(t.zero_count, 0.0);
    // Nothing removed: unchanged, sum included.
    let t = h.trim_buckets(f64::INFINITY, TrimSide::KeepBelow);
    assert!(t.equals(&h));
    // Everything removed.
    let t = h.trim_buckets(f64::NEG_INFINITY, TrimSide::KeepBelow);
    assert_eq!((t.count, t.sum, t.zero_count), (0.0, 0.0, 0.0));
    assert!(t.positive_buckets.is_empty());
    // The zero bucket counts only its positive half when there are no negatives.
    let t = h.trim_buckets(0.0005, TrimSide::KeepBelow);
    assert_eq!(t.zero_count, 0.5);
    assert_eq!(t.count, 0.5);
}
