#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Chunk encodings: byte-exact vectors, round trips, appendability, corruption.

use hearth_model::sample::{STALE_NAN_BITS, stale_nan};
use hearth_model::{CounterResetHint, FloatHistogram, Histogram, Span};
use hearth_tsdb::chunkenc::{
    AppendError, AppendOutcome, Chunk, ChunkAppender, ChunkIterator, ChunkSampleIterator,
    CounterResetHeader, Encoding, ValueType, XorAppender,
};

fn floats(enc: Encoding, samples: &[(i64, i64, f64)]) -> ChunkAppender {
    let mut app = ChunkAppender::new(enc);
    for (st, t, v) in samples {
        app.append(*st, *t, *v).unwrap();
    }
    app
}

fn read_floats(it: &mut ChunkIterator<'_>) -> Vec<(i64, i64, u64)> {
    let mut out = Vec::new();
    while it.next() == ValueType::Float {
        let (t, v) = it.at();
        out.push((it.at_st(), t, v.to_bits()));
    }
    assert_eq!(it.err(), None);
    out
}

#[test]
fn xor_golden_bytes() {
    // Worked by hand from the format: count, varint(1000), 1.0, uvarint(1000), XOR of 2.0
    // (new window: leading 1, 11 significant bits), dod 0 + same value, dod 0 + new window.
    let app = floats(
        Encoding::Xor,
        &[
            (0, 1000, 1.0),
            (0, 2000, 2.0),
            (0, 3000, 2.0),
            (0, 4000, 3.0),
        ],
    );
    assert_eq!(
        app.bytes(),
        &[
            0x00, 0x04, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xE8, 0x07, 0xC2, 0x5F, 0xFF,
            0x1B, 0x01, 0x80
        ]
    );
    let one = floats(Encoding::Xor, &[(0, 0, 0.0)]);
    assert_eq!(one.bytes(), &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn histogram_golden_bytes() {
    let h = Histogram {
        count: 1,
        sum: 1.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![1],
        ..Default::default()
    };
    let mut app = ChunkAppender::new(Encoding::Histogram);
    app.append_histogram(None, 0, 0, &h, false).unwrap();
    assert_eq!(
        app.bytes(),
        &[
            0, 1, 0, 0x00, 0x46, 0x22, 0x23, 0xFF, 0, 0, 0, 0, 0, 0, 0x08, 0x80
        ]
    );
}

fn tricky_floats() -> Vec<(i64, i64, f64)> {
    let values = [
        0.0,
        -0.0,
        1.0,
        1.0,
        f64::NAN,
        stale_nan(),
        stale_nan(),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -1e300,
        0.1,
        0.2,
        0.30000000000000004,
        f64::from_bits(0x7ff8_0000_0000_0001),
        42.0,
    ];
    // Irregular steps exercising every delta-of-delta width, negative timestamps first.
    let steps = [
        15_000i64,
        15_000,
        15_001,
        14_990,
        20_000,
        1,
        70_000,
        600_000,
        0,
        2_000_000_000,
        5,
        -3,
        15_000,
        8_191,
        -8_191,
        131_072,
        524_288,
        1,
    ];
    let mut t = -1_000_000i64;
    values
        .iter()
        .zip(steps)
        .enumerate()
        .map(|(i, (v, s))| {
            t += s;
            (if i % 3 == 0 { 0 } else { t - 100 - i as i64 }, t, *v)
        })
        .collect()
}

#[test]
fn float_round_trips_keep_bits() {
    let samples = tricky_floats();
    for enc in [Encoding::Xor, Encoding::Xor2] {
        let app = floats(enc, &samples);
        assert_eq!(app.num_samples(), samples.len());
        let got = read_floats(&mut app.iter());
        for (i, ((st, t, v), (gst, gt, gv))) in samples.iter().zip(&got).enumerate() {
            assert_eq!(*t, *gt, "{enc} sample {i}");
            assert_eq!(v.to_bits(), *gv, "{enc} sample {i}");
            if enc == Encoding::Xor2 {
                assert_eq!(st, gst, "{enc} st of sample {i}");
            } else {
                assert_eq!(*gst, 0);
            }
        }
        assert_eq!(got.len(), samples.len());
    }
}

#[test]
fn extreme_timestamps_do_not_panic() {
    for enc in [Encoding::Xor, Encoding::Xor2] {
        let samples = [
            (0, i64::MIN, 1.0),
            (0, i64::MAX, 2.0),
            (0, i64::MIN, 3.0),
            (0, 0, 4.0),
        ];
        let app = floats(enc, &samples);
        let got = read_floats(&mut app.iter());
        let ts: Vec<i64> = got.iter().map(|s| s.1).collect();
        assert_eq!(ts, vec![i64::MIN, i64::MAX, i64::MIN, 0]);
    }
}

#[test]
fn xor2_stale_markers_and_start_timestamps() {
    // 200 samples: ST constant, then changing, stale markers in between, crossing the
    // sample-127 point where ST storage is forced.
    let mut samples = Vec::new();
    for i in 0..200i64 {
        let t = 1_000 + i * 15_000 + (i % 7);
        let st = if i < 50 { 500 } else { t - 15_000 + (i % 3) };
        let v = if i % 11 == 5 {
            stale_nan()
        } else {
            (i / 4) as f64 * 0.5
        };
        samples.push((st, t, v));
    }
    let app = floats(Encoding::Xor2, &samples);
    let got = read_floats(&mut app.iter());
    assert_eq!(got.len(), samples.len());
    for ((st, t, v), (gst, gt, gv)) in samples.iter().zip(got) {
        assert_eq!((*st, *t, v.to_bits()), (gst, gt, gv));
    }
    // Without start timestamps the ST header stays zero and costs no bits before 127.
    let plain: Vec<(i64, i64, f64)> = (0..100).map(|i| (0, i * 1000, 1.0)).collect();
    let app = floats(Encoding::Xor2, &plain);
    assert_eq!(app.bytes()[2], 0);
    // A stale marker at unchanged dod costs five bits, far less than XOR's 77.
    let mut with_stale = plain.clone();
    with_stale.push((0, 100_000, stale_nan()));
    let xor2 = floats(Encoding::Xor2, &with_stale).bytes().len();
    let xor = floats(Encoding::Xor, &with_stale).bytes().len();
    assert!(xor2 < xor, "{xor2} vs {xor}");
}

#[test]
fn reopening_continues_byte_identically() {
    let samples = tricky_floats();
    for enc in [Encoding::Xor, Encoding::Xor2] {
        let full = floats(enc, &samples);
        for split in 0..samples.len() {
            let head = floats(enc, &samples[..split]);
            let mut app = ChunkAppender::from_bytes(enc, head.bytes().to_vec()).unwrap();
            for (st, t, v) in &samples[split..] {
                app.append(*st, *t, *v).unwrap();
            }
            let got = read_floats(&mut app.iter());
            let want = read_floats(&mut full.iter());
            assert_eq!(got, want, "{enc} split at {split}");
            if split >= 3 {
                // Once a window exists the reopened appender codes exactly as before.
                assert_eq!(
                    app.bytes().len(),
                    full.bytes().len(),
                    "{enc} split at {split}"
                );
            }
        }
    }
}

#[test]
fn seek_follows_prometheus_semantics() {
    let app = floats(Encoding::Xor, &[(0, 10, 1.0), (0, 20, 2.0), (0, 30, 3.0)]);
    let mut it = app.iter();
    assert_eq!(it.seek(15), ValueType::Float);
    assert_eq!(it.at(), (20, 2.0));
    // Already at or past the target: no move.
    assert_eq!(it.seek(5), ValueType::Float);
    assert_eq!(it.at_t(), 20);
    assert_eq!(it.seek(30), ValueType::Float);
    assert_eq!(it.at_t(), 30);
    assert_eq!(it.seek(31), ValueType::None);
    assert_eq!(it.next(), ValueType::None);
    let mut it = app.iter();
    assert_eq!(it.seek(i64::MIN), ValueType::Float);
    assert_eq!(it.at_t(), 10);
}

#[test]
fn xor_chunk_fills_at_u16_max() {
    let mut app = XorAppender::new();
    for i in 0..u16::MAX as i64 {
        app.append(i, 1.0).unwrap();
    }
    assert!(matches!(
        app.append(1 << 20, 1.0),
        Err(AppendError::ChunkFull { .. })
    ));
}

fn hist(count: u64, buckets: &[(i32, &[i64])]) -> Histogram {
    let mut h = Histogram {
        schema: 1,
        zero_threshold: 2f64.powi(-128),
        count,
        sum: count as f64 * 1.5,
        ..Default::default()
    };
    let mut last = 0;
    for (i, (start, counts)) in buckets.iter().enumerate() {
        h.positive_spans.push(Span {
            offset: if i == 0 { *start } else { start - last },
            length: counts.len() as u32,
        });
        last = start + counts.len() as i32;
        h.positive_buckets.extend_from_slice(counts);
    }
    h
}

fn read_histograms(app: &ChunkAppender) -> Vec<(i64, i64, Histogram)> {
    let mut it = app.iter();
    let mut out = Vec::new();
    while it.next() == ValueType::Histogram {
        let (t, h) = it.at_histogram().unwrap();
        out.push((it.at_st(), t, h));
    }
    assert_eq!(it.err(), None);
    out
}

#[test]
fn histogram_round_trip_both_flavours() {
    for enc in [Encoding::Histogram, Encoding::HistogramSt] {
        let mut app = ChunkAppender::new(enc);
        let mut want = Vec::new();
        for i in 0..50u64 {
            let mut h = hist(10 + i * 3, &[(-2, &[2, 1, -1]), (4, &[3, 0])]);
            h.zero_count = i;
            h.count += i;
            h.negative_spans = vec![Span {
                offset: 1,
                length: 1,
            }];
            h.negative_buckets = vec![i as i64];
            h.count += i;
            let st = if i < 20 { 0 } else { 900 + i as i64 };
            let t = 1000 * i as i64 + (i as i64 % 3);
            assert!(matches!(
                app.append_histogram(None, st, t, &h, false).unwrap(),
                AppendOutcome::Appended
            ));
            want.push((if enc == Encoding::HistogramSt { st } else { 0 }, t, h));
        }
        let got = read_histograms(&app);
        assert_eq!(got.len(), want.len());
        for (i, ((st, t, h), (gst, gt, gh))) in want.iter().zip(&got).enumerate() {
            assert_eq!((st, t), (gst, gt), "{enc} {i}");
            let mut h = h.clone();
            h.counter_reset_hint = if i == 0 {
                CounterResetHint::Unknown
            } else {
                CounterResetHint::NotCounterReset
            };
            assert_eq!(&h, gh, "{enc} sample {i}");
        }
        // Reopening reproduces the same appender state.
        let mut reopened = ChunkAppender::from_bytes(enc, app.bytes().to_vec()).unwrap();
        let next = hist(1000, &[(-2, &[2, 1, -1]), (4, &[3, 0])]);
        let mut next_n = next.clone();
        next_n.negative_spans = want[0].2.negative_spans.clone();
        next_n.negative_buckets = vec![60];
        next_n.zero_count = 60;
        next_n.count += 160;
        reopened
            .append_histogram(None, 0, 60_000, &next_n, false)
            .unwrap();
        app.append_histogram(None, 0, 60_000, &next_n, false)
            .unwrap();
        assert_eq!(reopened.bytes(), app.bytes(), "{enc}");
    }
}

#[test]
fn custom_buckets_round_trip_and_bound_change() {
    let mut h = Histogram {
        schema: -53,
        count: 6,
        sum: 3.0,
        custom_values: vec![0.1, 0.5, 1.0, 2.5, 10.0],
        positive_spans: vec![Span {
            offset: 0,
            length: 3,
        }],
        positive_buckets: vec![1, 1, 0],
        ..Default::default()
    };
    let mut app = ChunkAppender::new(Encoding::Histogram);
    app.append_histogram(None, 0, 0, &h, false).unwrap();
    h.count = 8;
    h.positive_buckets = vec![2, 0, 1];
    assert!(matches!(
        app.append_histogram(None, 0, 10, &h, false).unwrap(),
        AppendOutcome::Appended
    ));
    let got = read_histograms(&app);
    assert_eq!(got[1].2.custom_values, h.custom_values);
    assert_eq!(got[1].2.positive_buckets, vec![2, 0, 1]);
    // Changed bounds are a counter reset: a new chunk.
    h.custom_values[4] = 20.0;
    h.count = 9;
    match app.append_histogram(None, 0, 20, &h, false).unwrap() {
        AppendOutcome::NewChunk(next) => {
            let ChunkAppender::Histogram(n) = &next else {
                panic!("wrong encoding")
            };
            assert_eq!(n.counter_reset_header(), CounterResetHeader::CounterReset);
        }
        other => panic!("expected a new chunk, got {other:?}"),
    }
}

#[test]
fn new_buckets_recode_the_chunk() {
    let mut app = ChunkAppender::new(Encoding::Histogram);
    let h1 = hist(4, &[(0, &[1, 1])]);
    let h2 = hist(7, &[(0, &[1, 2])]);
    // A bucket before, one between (after a gap) and one after.
    let h3 = hist(12, &[(-1, &[1, 0, 2, -2, 0, 1])]);
    app.append_histogram(None, 0, 0, &h1, false).unwrap();
    app.append_histogram(None, 0, 1, &h2, false).unwrap();
    assert!(matches!(
        app.append_histogram(None, 0, 2, &h3, true),
        Err(AppendError::LayoutChange { .. })
    ));
    assert!(matches!(
        app.append_histogram(None, 0, 2, &h3, false).unwrap(),
        AppendOutcome::Recoded
    ));
    let got = read_histograms(&app);
    assert_eq!(got.len(), 3);
    let fh: Vec<Vec<f64>> = got
        .iter()
        .map(|(_, _, h)| h.to_float().positive_buckets)
        .collect();
    assert_eq!(fh[0], vec![0.0, 1.0, 2.0, 0.0, 0.0, 0.0]);
    assert_eq!(fh[1], vec![0.0, 1.0, 3.0, 0.0, 0.0, 0.0]);
    assert_eq!(fh[2], h3.to_float().positive_buckets);
    // A histogram lacking a bucket that is empty in the chunk fits (backward insert).
    let mut app = ChunkAppender::new(Encoding::Histogram);
    app.append_histogram(None, 0, 0, &hist(3, &[(0, &[1, -1, 2])]), false)
        .unwrap();
    let lacking = hist(5, &[(0, &[2]), (2, &[1])]);
    assert!(matches!(
        app.append_histogram(None, 0, 1, &lacking, false).unwrap(),
        AppendOutcome::Appended
    ));
    let got = read_histograms(&app);
    assert_eq!(
        got[1].2.positive_spans,
        vec![Span {
            offset: 0,
            length: 3
        }]
    );
    assert_eq!(got[1].2.to_float().positive_buckets, vec![2.0, 0.0, 3.0]);
}

#[test]
fn counter_resets_and_schema_changes_cut_chunks() {
    let mut app = ChunkAppender::new(Encoding::Histogram);
    app.append_histogram(None, 0, 0, &hist(10, &[(0, &[5, 0])]), false)
        .unwrap();
    // Count went down.
    let reset = hist(3, &[(0, &[1, 0])]);
    assert!(matches!(
        app.append_histogram(None, 0, 1, &reset, true),
        Err(AppendError::CounterReset { .. })
    ));
    let AppendOutcome::NewChunk(next) = app.append_histogram(None, 0, 1, &reset, false).unwrap()
    else {
        panic!("expected new chunk")
    };
    let ChunkAppender::Histogram(n) = &next else {
        panic!()
    };
    assert_eq!(n.counter_reset_header(), CounterResetHeader::CounterReset);
    // Schema change: unknown reset status.
    let mut other = hist(20, &[(0, &[5, 5])]);
    other.schema = 2;
    let AppendOutcome::NewChunk(next) = app.append_histogram(None, 0, 2, &other, false).unwrap()
    else {
        panic!("expected new chunk")
    };
    let ChunkAppender::Histogram(n) = &next else {
        panic!()
    };
    assert_eq!(n.counter_reset_header(), CounterResetHeader::Unknown);
    // A new chunk continuing a series learns the header from the previous appender.
    let mut fresh = ChunkAppender::new(Encoding::Histogram);
    fresh
        .append_histogram(Some(&app), 0, 3, &hist(11, &[(0, &[5, 1])]), false)
        .unwrap();
    let ChunkAppender::Histogram(f) = &fresh else {
        panic!()
    };
    assert_eq!(
        f.counter_reset_header(),
        CounterResetHeader::NotCounterReset
    );
    // The decoded hint of the first sample stays unknown, later ones are "no reset".
    let got = read_histograms(&fresh);
    assert_eq!(got[0].2.counter_reset_hint, CounterResetHint::Unknown);
}

#[test]
fn gauge_histograms_go_up_and_down() {
    let mut app = ChunkAppender::new(Encoding::Histogram);
    let mut g1 = hist(10, &[(0, &[5, 0])]);
    g1.counter_reset_hint = CounterResetHint::Gauge;
    let mut g2 = hist(4, &[(1, &[2, 1])]);
    g2.counter_reset_hint = CounterResetHint::Gauge;
    app.append_histogram(None, 0, 0, &g1, false).unwrap();
    let ChunkAppender::Histogram(a) = &app else {
        panic!()
    };
    assert_eq!(a.counter_reset_header(), CounterResetHeader::Gauge);
    // Decreasing counts and buckets moving both ways: recoded, not cut.
    assert!(matches!(
        app.append_histogram(None, 0, 1, &g2, true),
        Err(AppendError::LayoutChange { .. })
    ));
    assert!(matches!(
        app.append_histogram(None, 0, 1, &g2, false).unwrap(),
        AppendOutcome::Recoded
    ));
    let got = read_histograms(&app);
    assert_eq!(got[1].2.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(got[0].2.to_float().positive_buckets, vec![5.0, 5.0, 0.0]);
    assert_eq!(got[1].2.to_float().positive_buckets, vec![0.0, 2.0, 3.0]);
    // A counter histogram does not go into a gauge chunk.
    assert!(matches!(
        app.append_histogram(None, 0, 2, &hist(10, &[(0, &[5, 0])]), false)
            .unwrap(),
        AppendOutcome::NewChunk(_)
    ));
}

#[test]
fn stale_histograms_round_trip() {
    for enc in [Encoding::Histogram, Encoding::HistogramSt] {
        let mut app = ChunkAppender::new(enc);
        app.append_histogram(None, 0, 0, &hist(10, &[(0, &[5, 0])]), false)
            .unwrap();
        let stale = Histogram {
            sum: stale_nan(),
            ..Default::default()
        };
        app.append_histogram(None, 0, 1, &stale, false).unwrap();
        app.append_histogram(None, 0, 2, &stale, false).unwrap();
        // After a stale marker only stale markers fit.
        assert!(matches!(
            app.append_histogram(None, 0, 3, &hist(10, &[(0, &[5, 0])]), false)
                .unwrap(),
            AppendOutcome::NewChunk(_)
        ));
        let got = read_histograms(&app);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].2.sum.to_bits(), STALE_NAN_BITS);
        assert_eq!(got[2].2.sum.to_bits(), STALE_NAN_BITS);
    }
}

fn fhist(count: f64, start: i32, buckets: &[f64]) -> FloatHistogram {
    FloatHistogram {
        schema: 0,
        count,
        sum: count * 0.25,
        zero_count: 0.5,
        positive_spans: vec![Span {
            offset: start,
            length: buckets.len() as u32,
        }],
        positive_buckets: buckets.to_vec(),
        ..Default::default()
    }
}

fn read_float_histograms(app: &ChunkAppender) -> Vec<(i64, FloatHistogram)> {
    let mut it = app.iter();
    let mut out = Vec::new();
    while it.next() == ValueType::FloatHistogram {
        out.push(it.at_float_histogram().unwrap());
    }
    assert_eq!(it.err(), None);
    out
}

#[test]
fn float_histograms_round_trip_recode_and_reset() {
    for enc in [Encoding::FloatHistogram, Encoding::FloatHistogramSt] {
        let mut app = ChunkAppender::new(enc);
        let samples = [
            fhist(2.5, 0, &[1.0, 1.5]),
            fhist(3.5, 0, &[1.5, 2.0]),
            fhist(4.75, 0, &[1.5, 3.25]),
        ];
        for (i, h) in samples.iter().enumerate() {
            app.append_float_histogram(None, 0, i as i64 * 10, h, false)
                .unwrap();
        }
        let grown = fhist(9.0, -1, &[0.5, 2.0, 3.5, 3.0]);
        assert!(matches!(
            app.append_float_histogram(None, 0, 30, &grown, false)
                .unwrap(),
            AppendOutcome::Recoded
        ));
        let got = read_float_histograms(&app);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].1.positive_buckets, vec![0.0, 1.0, 1.5, 0.0]);
        assert_eq!(got[3].1.positive_buckets, grown.positive_buckets);
        assert_eq!(got[3].1.positive_spans, grown.positive_spans);
        // A bucket going down is a reset.
        let down = fhist(10.0, -1, &[0.5, 1.0, 3.5, 3.0]);
        let AppendOutcome::NewChunk(next) = app
            .append_float_histogram(None, 0, 40, &down, false)
            .unwrap()
        else {
            panic!("expected new chunk")
        };
        let ChunkAppender::FloatHistogram(n) = &next else {
            panic!()
        };
        assert_eq!(n.counter_reset_header(), CounterResetHeader::CounterReset);
        // Reopen and continue.
        let again = fhist(9.5, -1, &[0.5, 2.0, 4.0, 3.0]);
        let mut reopened = ChunkAppender::from_bytes(enc, app.bytes().to_vec()).unwrap();
        reopened
            .append_float_histogram(None, 0, 50, &again, false)
            .unwrap();
        app.append_float_histogram(None, 0, 50, &again, false)
            .unwrap();
        assert_eq!(reopened.bytes(), app.bytes(), "{enc}");
    }
}

#[test]
fn wrong_value_types_and_invalid_histograms_are_errors() {
    let mut xor = ChunkAppender::new(Encoding::Xor);
    assert!(matches!(
        xor.append_histogram(None, 0, 0, &Histogram::default(), false),
        Err(AppendError::WrongValueType { .. })
    ));
    let mut h = ChunkAppender::new(Encoding::Histogram);
    assert!(h.append(0, 0, 1.0).is_err());
    let mut bad = hist(1, &[(0, &[1])]);
    bad.positive_buckets.push(3);
    assert!(matches!(
        h.append_histogram(None, 0, 0, &bad, false),
        Err(AppendError::InvalidHistogram { .. })
    ));
}

#[test]
fn truncated_and_flipped_chunks_error_without_panicking() {
    let mut chunks: Vec<(Encoding, Vec<u8>)> = Vec::new();
    for enc in [Encoding::Xor, Encoding::Xor2] {
        chunks.push((enc, floats(enc, &tricky_floats()).bytes().to_vec()));
    }
    for enc in [Encoding::Histogram, Encoding::HistogramSt] {
        let mut app = ChunkAppender::new(enc);
        for i in 0..20u64 {
            let h = hist(10 + i, &[(0, &[5 + i as i64, 0])]);
            app.append_histogram(None, i as i64, i as i64 * 7, &h, false)
                .unwrap();
        }
        chunks.push((enc, app.bytes().to_vec()));
    }
    for enc in [Encoding::FloatHistogram, Encoding::FloatHistogramSt] {
        let mut app = ChunkAppender::new(enc);
        for i in 0..20 {
            let h = fhist(3.0 + f64::from(i), 0, &[1.0, 2.0 + f64::from(i)]);
            app.append_float_histogram(None, 0, i64::from(i), &h, false)
                .unwrap();
        }
        chunks.push((enc, app.bytes().to_vec()));
    }
    for (enc, bytes) in chunks {
        let total = Chunk::new(enc, bytes.clone()).unwrap().num_samples();
        for cut in 0..bytes.len() - 1 {
            let mut it = ChunkIterator::new(enc, &bytes[..cut]);
            let mut n = 0;
            while it.next() != ValueType::None {
                n += 1;
            }
            if cut < enc.header_size() {
                assert!(it.err().is_some());
            } else if n < total {
                let e = it.err().expect("truncation must be reported");
                assert!(!e.to_string().is_empty());
            }
            assert!(ChunkAppender::from_bytes(enc, bytes[..cut].to_vec()).is_err() || n == total);
        }
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                let mut it = ChunkIterator::new(enc, &b);
                while it.next() != ValueType::None {
                    let _ = it.at_float_histogram();
                    let _ = it.at_histogram();
                }
            }
        }
    }
}

#[test]
fn implausible_layout_sizes_are_rejected_before_allocating() {
    // A histogram chunk claiming a span of 2^32-1 buckets in a few bytes.
    let mut app = ChunkAppender::new(Encoding::Histogram);
    app.append_histogram(None, 0, 0, &hist(1, &[(0, &[1])]), false)
        .unwrap();
    let mut b = app.bytes().to_vec();
    // Layout: zero threshold byte, schema, then span count; rewrite from the span on.
    b.truncate(4);
    b.extend_from_slice(&[0b1000_1111, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0]);
    let mut it = ChunkIterator::new(Encoding::Histogram, &b);
    assert_eq!(it.next(), ValueType::None);
    assert!(it.err().is_some());
}
