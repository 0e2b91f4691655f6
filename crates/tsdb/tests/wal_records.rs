#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Round trips and golden bytes of every WAL record type.

use hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA;
use hearth_model::{CounterResetHint, FloatHistogram, Histogram, Span, labels, stale_nan};
use hearth_tsdb::wal::record::{
    RecordDecoder, RecordEncoder, RecordErrorKind, RecordType, RefExemplar,
    RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefMmapMarker, RefSample, RefSeries,
    Tombstone, metric_type_from_wal, metric_type_to_wal,
};

const V1: RecordEncoder = RecordEncoder {
    start_timestamps: false,
};
const V2: RecordEncoder = RecordEncoder {
    start_timestamps: true,
};

fn series() -> Vec<RefSeries> {
    vec![
        RefSeries {
            series_ref: 1,
            labels: labels!("__name__" => "up", "job" => "node"),
        },
        RefSeries {
            series_ref: u64::MAX,
            labels: labels!("__name__" => "a.b", "ü" => "v\"\n"),
        },
        RefSeries {
            series_ref: 0,
            labels: labels!(),
        },
    ]
}

fn samples() -> Vec<RefSample> {
    vec![
        RefSample {
            series_ref: 100,
            st: 0,
            t: 1_700_000_000_000,
            v: 1.5,
        },
        RefSample {
            series_ref: 3,
            st: 0,
            t: 1_699_999_999_000,
            v: stale_nan(),
        },
        RefSample {
            series_ref: u64::MAX,
            st: 0,
            t: i64::MIN,
            v: -0.0,
        },
        RefSample {
            series_ref: 7,
            st: 0,
            t: i64::MAX,
            v: f64::INFINITY,
        },
    ]
}

fn same_samples(a: &[RefSample], b: &[RefSample]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.series_ref, x.st, x.t), (y.series_ref, y.st, y.t));
        assert_eq!(x.v.to_bits(), y.v.to_bits(), "values are bit-exact");
    }
}

fn exp_histogram(seed: u64) -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 3,
        zero_threshold: 0.001,
        zero_count: 2,
        count: 2 + 3 + seed,
        sum: 12.5,
        positive_spans: vec![
            Span {
                offset: -2,
                length: 2,
            },
            Span {
                offset: 3,
                length: 1,
            },
        ],
        positive_buckets: vec![1, 1, -2 + seed as i64],
        negative_spans: vec![Span {
            offset: 1,
            length: 1,
        }],
        negative_buckets: vec![1],
        custom_values: vec![],
    }
}

fn custom_histogram() -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 3,
        sum: 4.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 1],
        custom_values: vec![0.5, 1.0, 10.0],
        ..Default::default()
    }
}

#[test]
fn series_round_trip_and_golden() {
    let mut buf = Vec::new();
    V1.series(&series()[..1], &mut buf);
    // type | BE64 ref | n labels | len "__name__" | len "up" | len "job" | len "node"
    let mut golden = vec![1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 8];
    golden.extend_from_slice(b"__name__");
    golden.push(2);
    golden.extend_from_slice(b"up");
    golden.push(3);
    golden.extend_from_slice(b"job");
    golden.push(4);
    golden.extend_from_slice(b"node");
    assert_eq!(buf, golden);

    let mut buf = Vec::new();
    V1.series(&series(), &mut buf);
    assert_eq!(RecordType::of(&buf), RecordType::Series);
    let mut dec = RecordDecoder::new();
    let mut out = vec![RefSeries {
        series_ref: 9,
        labels: labels!("keep" => "me"),
    }];
    dec.series(&buf, &mut out).unwrap();
    assert_eq!(out.len(), 4, "decoders append");
    assert_eq!(&out[1..], &series()[..]);
}

#[test]
fn samples_v1_golden_and_round_trip() {
    let s = [
        RefSample {
            series_ref: 1,
            st: 0,
            t: 1000,
            v: 1.0,
        },
        RefSample {
            series_ref: 2,
            st: 0,
            t: 999,
            v: 2.0,
        },
    ];
    let mut buf = Vec::new();
    V1.samples(&s, &mut buf);
    #[rustfmt::skip]
    let golden = [
        2, // type
        0, 0, 0, 0, 0, 0, 0, 1, // base ref
        0, 0, 0, 0, 0, 0, 0x03, 0xe8, // base time 1000
        0, 0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, // +0 ref, +0 t, 1.0
        2, 1, 0x40, 0, 0, 0, 0, 0, 0, 0, // +1 ref, -1 t, 2.0
    ];
    assert_eq!(buf, golden);

    let mut buf = Vec::new();
    V1.samples(&samples(), &mut buf);
    let mut out = Vec::new();
    RecordDecoder::new().samples(&buf, &mut out).unwrap();
    same_samples(&out, &samples());

    // An empty record is just the type byte and decodes to nothing.
    let mut buf = Vec::new();
    V1.samples(&[], &mut buf);
    assert_eq!(buf, [2]);
    RecordDecoder::new().samples(&buf, &mut out).unwrap();
    assert_eq!(out.len(), samples().len());
}

#[test]
fn samples_v2_with_start_timestamps() {
    let mut s = samples();
    s[0].st = 1_600_000_000_000; // explicit
    s[1].st = 1_600_000_000_000; // same as previous
    s[2].st = 0; // none
    s[3].st = 1_500_000_000_000; // explicit, before the first
    let mut buf = Vec::new();
    V2.samples(&s, &mut buf);
    assert_eq!(RecordType::of(&buf), RecordType::SamplesV2);
    let mut out = Vec::new();
    RecordDecoder::new().samples(&buf, &mut out).unwrap();
    same_samples(&out, &s);

    // Golden: first entry raw varints, then ref delta to previous, t delta to first.
    let two = [
        RefSample {
            series_ref: 5,
            st: 10,
            t: 100,
            v: 0.0,
        },
        RefSample {
            series_ref: 4,
            st: 10,
            t: 101,
            v: 0.0,
        },
    ];
    let mut buf = Vec::new();
    V2.samples(&two, &mut buf);
    #[rustfmt::skip]
    let golden = [
        11,
        10, 200, 1, 20, 0, 0, 0, 0, 0, 0, 0, 0, // ref 5, t 100, st 10, value
        1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, // ref -1, t +1, same st, value
    ];
    assert_eq!(buf, golden);
}

#[test]
fn tombstones_exemplars_mmap_markers() {
    let t = vec![
        Tombstone {
            series_ref: 1,
            mint: -5,
            maxt: 10,
        },
        Tombstone {
            series_ref: u64::MAX,
            mint: i64::MIN,
            maxt: i64::MAX,
        },
    ];
    let mut buf = Vec::new();
    V1.tombstones(&t, &mut buf);
    let mut out = Vec::new();
    RecordDecoder::new().tombstones(&buf, &mut out).unwrap();
    assert_eq!(out, t);

    let e = vec![
        RefExemplar {
            series_ref: 10,
            t: 5000,
            v: 0.25,
            labels: labels!("trace_id" => "abc"),
        },
        RefExemplar {
            series_ref: 2,
            t: 4000,
            v: -1.0,
            labels: labels!(),
        },
    ];
    let mut buf = Vec::new();
    V1.exemplars(&e, &mut buf);
    let mut out = Vec::new();
    RecordDecoder::new().exemplars(&buf, &mut out).unwrap();
    assert_eq!(out, e);

    let m = vec![
        RefMmapMarker {
            series_ref: 3,
            mmap_ref: 1 << 40 | 17,
        },
        RefMmapMarker {
            series_ref: 4,
            mmap_ref: 0,
        },
    ];
    let mut buf = Vec::new();
    V1.mmap_markers(&m, &mut buf);
    let mut out = Vec::new();
    RecordDecoder::new().mmap_markers(&buf, &mut out).unwrap();
    assert_eq!(out, m);
}

#[test]
fn metadata_round_trip_and_unknown_fields() {
    let m = vec![
        RefMetadata {
            series_ref: 300,
            metric_type: metric_type_to_wal(hearth_model::MetricType::Counter),
            unit: "seconds".into(),
            help: "Time spent.".into(),
        },
        RefMetadata {
            series_ref: 1,
            metric_type: 200,
            unit: String::new(),
            help: String::new(),
        },
    ];
    let mut buf = Vec::new();
    V1.metadata(&m, &mut buf);
    let mut out = Vec::new();
    RecordDecoder::new().metadata(&buf, &mut out).unwrap();
    assert_eq!(out, m);
    assert_eq!(
        metric_type_from_wal(out[0].metric_type),
        hearth_model::MetricType::Counter
    );
    assert_eq!(metric_type_from_wal(200), hearth_model::MetricType::Unknown);

    // A future writer's extra field is skipped.
    let rec = [
        6, 5, 2, 2, 4, b'U', b'N', b'I', b'T', 1, b's', 3, b'X', b'Y', b'Z', 1, b'q',
    ];
    let mut out = Vec::new();
    RecordDecoder::new().metadata(&rec, &mut out).unwrap();
    assert_eq!(out[0].unit, "s");
    assert_eq!(out[0].metric_type, 2);
}

#[test]
fn histograms_split_by_bucket_kind() {
    let hs = vec![
        RefHistogramSample {
            series_ref: 7,
            st: 0,
            t: 100,
            h: exp_histogram(0),
        },
        RefHistogramSample {
            series_ref: 8,
            st: 0,
            t: 90,
            h: custom_histogram(),
        },
        RefHistogramSample {
            series_ref: 2,
            st: 0,
            t: 110,
            h: exp_histogram(4),
        },
    ];
    let mut exp = Vec::new();
    assert!(V1.histogram_samples(&hs, &mut exp), "custom ones left out");
    let mut custom = Vec::new();
    V1.custom_buckets_histogram_samples(&hs, &mut custom);
    assert_eq!(RecordType::of(&exp), RecordType::HistogramSamples);
    assert_eq!(
        RecordType::of(&custom),
        RecordType::CustomBucketsHistogramSamples
    );
    let mut dec = RecordDecoder::new();
    let mut out = Vec::new();
    dec.histogram_samples(&exp, &mut out).unwrap();
    dec.histogram_samples(&custom, &mut out).unwrap();
    assert_eq!(out, vec![hs[0].clone(), hs[2].clone(), hs[1].clone()]);

    // Only custom-bucket histograms: nothing in the exponential record.
    let mut exp = Vec::new();
    assert!(V1.histogram_samples(&hs[1..2], &mut exp));
    assert!(exp.is_empty());

    // V2 carries everything, with start timestamps, in one record.
    let mut v2 = hs.clone();
    v2[0].st = 50;
    v2[1].st = 50;
    v2[2].st = 60;
    let mut buf = Vec::new();
    assert!(!V2.histogram_samples(&v2, &mut buf));
    assert_eq!(RecordType::of(&buf), RecordType::HistogramSamplesV2);
    let mut out = Vec::new();
    dec.histogram_samples(&buf, &mut out).unwrap();
    assert_eq!(out, v2);
}

#[test]
fn float_histograms_split_by_bucket_kind() {
    let exp: FloatHistogram = exp_histogram(1).to_float();
    let custom: FloatHistogram = custom_histogram().to_float();
    let hs = vec![
        RefFloatHistogramSample {
            series_ref: 1,
            st: 0,
            t: 5,
            fh: custom.clone(),
        },
        RefFloatHistogramSample {
            series_ref: 2,
            st: 0,
            t: 6,
            fh: exp,
        },
    ];
    let mut a = Vec::new();
    assert!(V1.float_histogram_samples(&hs, &mut a));
    let mut b = Vec::new();
    V1.custom_buckets_float_histogram_samples(&hs, &mut b);
    assert_eq!(RecordType::of(&a), RecordType::FloatHistogramSamples);
    assert_eq!(
        RecordType::of(&b),
        RecordType::CustomBucketsFloatHistogramSamples
    );
    let mut dec = RecordDecoder::new();
    let mut out = Vec::new();
    dec.float_histogram_samples(&a, &mut out).unwrap();
    dec.float_histogram_samples(&b, &mut out).unwrap();
    assert_eq!(out, vec![hs[1].clone(), hs[0].clone()]);

    let mut v2 = Vec::new();
    assert!(!V2.float_histogram_samples(&hs, &mut v2));
    let mut out = Vec::new();
    dec.float_histogram_samples(&v2, &mut out).unwrap();
    assert_eq!(out, hs);
}

#[test]
fn unknown_schema_histograms_are_skipped() {
    let mut bad = exp_histogram(0);
    bad.schema = 60;
    let hs = vec![
        RefHistogramSample {
            series_ref: 1,
            st: 0,
            t: 1,
            h: bad,
        },
        RefHistogramSample {
            series_ref: 2,
            st: 0,
            t: 2,
            h: exp_histogram(0),
        },
    ];
    let mut buf = Vec::new();
    V1.histogram_samples(&hs, &mut buf);
    let mut dec = RecordDecoder::new();
    let mut out = Vec::new();
    dec.histogram_samples(&buf, &mut out).unwrap();
    assert_eq!(out, vec![hs[1].clone()]);
    assert_eq!(dec.skipped_histograms(), 1);
}

#[test]
fn min_valid_time() {
    let mut buf = Vec::new();
    V1.min_valid_time(-42, &mut buf);
    assert_eq!(buf, [14, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xd6]);
    assert_eq!(RecordDecoder::new().min_valid_time(&buf).unwrap(), -42);
    buf.push(0);
    let e = RecordDecoder::new().min_valid_time(&buf).unwrap_err();
    assert_eq!(e.kind, RecordErrorKind::TrailingBytes(1));
}

#[test]
fn every_truncation_is_an_error_and_leaves_output_alone() {
    let mut recs: Vec<Vec<u8>> = Vec::new();
    let mut b = Vec::new();
    V1.series(&series(), &mut b);
    recs.push(b);
    let mut b = Vec::new();
    V1.samples(&samples(), &mut b);
    recs.push(b);
    let mut b = Vec::new();
    V2.samples(&samples(), &mut b);
    recs.push(b);
    let mut b = Vec::new();
    let h = vec![RefHistogramSample {
        series_ref: 1,
        st: 0,
        t: 1,
        h: custom_histogram(),
    }];
    V1.custom_buckets_histogram_samples(&h, &mut b);
    recs.push(b);
    let mut dec = RecordDecoder::new();
    for rec in &recs {
        for cut in 1..rec.len() {
            let part = &rec[..cut];
            let mut s = vec![RefSeries {
                series_ref: 1,
                labels: labels!(),
            }];
            let mut f = Vec::new();
            let mut hs = Vec::new();
            let r = match RecordType::of(part) {
                RecordType::Series => dec.series(part, &mut s),
                RecordType::Samples | RecordType::SamplesV2 => dec.samples(part, &mut f),
                _ => dec.histogram_samples(part, &mut hs),
            };
            // A cut between entries is a valid, shorter record; any other cut fails
            // and leaves the output as it was.
            match r {
                Ok(()) => {
                    assert!(s.len() <= series().len() + 1);
                    assert!(f.len() <= samples().len() && hs.len() <= 1);
                    continue;
                }
                Err(e) => assert!(e.offset <= cut, "{e}"),
            }
            assert_eq!(s.len(), 1);
            assert!(f.is_empty() && hs.is_empty());
        }
    }
}

#[test]
fn wrong_type_and_empty() {
    let mut buf = Vec::new();
    V1.samples(&samples(), &mut buf);
    let e = RecordDecoder::new()
        .series(&buf, &mut Vec::new())
        .unwrap_err();
    assert_eq!(e.kind, RecordErrorKind::WrongType { found: 2 });
    let e = RecordDecoder::new()
        .samples(&[], &mut Vec::new())
        .unwrap_err();
    assert_eq!(e.kind, RecordErrorKind::Empty);
    assert_eq!(RecordType::of(&[99]), RecordType::Unknown);
    assert_eq!(RecordType::of(&[]), RecordType::Unknown);
}

#[test]
fn invalid_utf8_labels_are_errors() {
    let rec = [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, b'a', 1, 0xff];
    let e = RecordDecoder::new()
        .series(&rec, &mut Vec::new())
        .unwrap_err();
    assert_eq!(
        e.kind,
        RecordErrorKind::InvalidUtf8 {
            what: "label value"
        }
    );
}

#[test]
fn huge_counts_do_not_allocate() {
    // A histogram record claiming 2^62 positive spans in a few bytes.
    let mut rec = vec![7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    rec.extend_from_slice(&[0; 8]); // zero threshold
    rec.extend_from_slice(&[0, 0]); // zero count, count
    rec.extend_from_slice(&[0; 8]); // sum
    rec.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    let e = RecordDecoder::new()
        .histogram_samples(&rec, &mut Vec::new())
        .unwrap_err();
    assert!(
        matches!(e.kind, RecordErrorKind::CountTooLarge { .. }),
        "{e}"
    );
}
