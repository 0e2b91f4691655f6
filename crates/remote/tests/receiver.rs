//! The write receiver on the in-memory storage: 1.0 and 2.0 requests, partial writes,
//! histograms, exemplars, metadata, start timestamps, negotiation, limits and failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use hearth_model::{CounterResetHint, Histogram, HistogramValue, MetricType, Span, labels};
use hearth_remote::convert::histogram_to_proto;
use hearth_remote::proto::{self, Exemplar};
use hearth_remote::proto_v2;
use hearth_remote::receiver::{
    EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, SAMPLES_WRITTEN_HEADER,
};
use hearth_remote::{RemoteResponse, WriteMessage, WriteReceiver, WriteReceiverOptions};
use hearth_tsdb::mem_storage::MemStorage;
use support::*;

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn receive_v1(
    rx: &WriteReceiver,
    storage: &dyn hearth_tsdb::storage::Appendable,
    req: &proto::WriteRequest,
) -> RemoteResponse {
    rx.receive(
        storage,
        Some("application/x-protobuf"),
        Some("snappy"),
        &encode(req),
    )
}

fn receive_v2(
    rx: &WriteReceiver,
    storage: &dyn hearth_tsdb::storage::Appendable,
    req: &proto_v2::Request,
) -> RemoteResponse {
    rx.receive(storage, Some(V2), Some("snappy"), &encode(req))
}

fn written(r: &RemoteResponse) -> (String, String, String) {
    (
        r.header(SAMPLES_WRITTEN_HEADER).unwrap_or("-").to_string(),
        r.header(HISTOGRAMS_WRITTEN_HEADER)
            .unwrap_or("-")
            .to_string(),
        r.header(EXEMPLARS_WRITTEN_HEADER)
            .unwrap_or("-")
            .to_string(),
    )
}

fn histogram(count: u64) -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1,
        count,
        sum: 10.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, (count as i64) - 3],
        ..Default::default()
    }
}

#[test]
fn v1_valid_request_is_written() {
    let s = MemStorage::new();
    let rx = WriteReceiver::default();
    let t = now();
    let req = proto::WriteRequest {
        timeseries: vec![
            v1_series(
                &[("__name__", "up"), ("job", "a")],
                &[(t, 1.0), (t + 1000, 0.0)],
            ),
            v1_series(&[("__name__", "up"), ("job", "b")], &[(t, 1.0)]),
        ],
        metadata: vec![proto::MetricMetadata {
            r#type: 2,
            metric_family_name: "up".into(),
            help: "ignored in 1.0".into(),
            unit: String::new(),
        }],
    };
    let r = receive_v1(&rx, &s, &req);
    assert_eq!(r.status, 204, "{}", r.body_text());
    assert!(r.body.is_empty());
    // 1.0 answers never carry the 2.0 headers.
    assert_eq!(written(&r), ("-".into(), "-".into(), "-".into()));
    assert_eq!(
        dump(&s),
        vec![
            (
                labels!("__name__" => "up", "job" => "a"),
                floats(&[(t, 1.0), (t + 1000, 0.0)])
            ),
            (
                labels!("__name__" => "up", "job" => "b"),
                floats(&[(t, 1.0)])
            ),
        ]
    );
}

#[test]
fn v1_missing_headers_mean_snappy_protobuf_1_0() {
    let s = MemStorage::new();
    let rx = WriteReceiver::default();
    let req = proto::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "x")], &[(now(), 1.0)])],
        ..Default::default()
    };
    let r = rx.receive(&s, None, None, &encode(&req));
    assert_eq!(r.status, 204);
    assert_eq!(s.series_count(), 1);
    let r = rx.receive(
        &s,
        Some("application/x-protobuf;proto=prometheus.WriteRequest"),
        Some("SNAPPY"),
        &encode(&req),
    );
    assert_eq!(r.status, 204);
}

fn v1_partial() -> WriteReceiver {
    WriteReceiver::new(WriteReceiverOptions {
        v1_partial_writes: true,
        ..Default::default()
    })
}

#[test]
fn v1_invalid_series_are_skipped_as_upstream_or_reported_when_partial() {
    let t = now();
    let req = proto::WriteRequest {
        timeseries: vec![
            v1_series(&[("job", "no-name")], &[(t, 1.0)]),
            v1_series(&[("__name__", "ok")], &[(t, 1.0)]),
            v1_series(
                &[("__name__", "dup"), ("zone", "a"), ("zone", "b")],
                &[(t, 1.0), (t + 1, 2.0)],
            ),
            v1_series(&[("__name__", "")], &[(t, 1.0)]),
            v1_series(&[("", "v"), ("__name__", "empty_label_name")], &[(t, 1.0)]),
            // Unsorted pairs are sorted, as upstream does.
            v1_series(&[("job", "j"), ("__name__", "unsorted")], &[(t, 3.0)]),
        ],
        ..Default::default()
    };
    let expected = vec![
        (labels!("__name__" => "ok"), floats(&[(t, 1.0)])),
        (
            labels!("__name__" => "unsorted", "job" => "j"),
            floats(&[(t, 3.0)]),
        ),
    ];

    // Upstream: invalid series are dropped (and counted), the answer is still 204.
    let s = MemStorage::new();
    let rx = WriteReceiver::default();
    let r = receive_v1(&rx, &s, &req);
    assert_eq!(r.status, 204, "{}", r.body_text());
    assert_eq!(dump(&s), expected);
    assert_eq!(rx.invalid_labels_samples_total(), 5);

    // Partial writes: the same series written, the invalid ones reported with 400.
    let s = MemStorage::new();
    let rx = v1_partial();
    let r = receive_v1(&rx, &s, &req);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body_text(),
        concat!(
            "invalid metric name or labels, got {job=\"no-name\"}\n",
            "invalid labels for series, labels {__name__=\"dup\", zone=\"a\", zone=\"b\"}, duplicated label zone\n",
            "invalid metric name or labels, got {__name__=\"\"}\n",
            "invalid metric name or labels, got {\"\"=\"v\", __name__=\"empty_label_name\"}\n",
        )
    );
    assert_eq!(dump(&s), expected);
    assert_eq!(rx.invalid_labels_samples_total(), 5);

    // With the option on, unsorted labels are refused as well.
    let strict = WriteReceiver::new(WriteReceiverOptions {
        reject_unsorted_labels: true,
        v1_partial_writes: true,
        ..Default::default()
    });
    let s = MemStorage::new();
    let r = receive_v1(
        &strict,
        &s,
        &proto::WriteRequest {
            timeseries: vec![v1_series(
                &[("job", "j"), ("__name__", "unsorted")],
                &[(t, 3.0)],
            )],
            ..Default::default()
        },
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().contains("label names are not sorted"),
        "{}",
        r.body_text()
    );
    assert_eq!(s.series_count(), 0);
}

#[test]
fn v1_refused_sample_rolls_the_request_back_as_upstream() {
    let s = MemStorage::new();
    let rx = WriteReceiver::default();
    let t = now();
    let first = proto::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "m")], &[(t, 1.0)])],
        ..Default::default()
    };
    assert_eq!(receive_v1(&rx, &s, &first).status, 204);
    let req = proto::WriteRequest {
        timeseries: vec![
            v1_series(&[("__name__", "other")], &[(t, 7.0)]),
            // Older than what is stored.
            v1_series(&[("__name__", "m")], &[(t - 1000, 5.0), (t + 1000, 2.0)]),
            v1_series(&[("__name__", "late")], &[(t, 7.0)]),
        ],
        ..Default::default()
    };
    let r = receive_v1(&rx, &s, &req);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body_text(),
        "out of order sample for series {__name__=\"m\"}\n"
    );
    // Nothing of the refused request, everything from before.
    assert_eq!(
        dump(&s),
        vec![(labels!("__name__" => "m"), floats(&[(t, 1.0)]))]
    );
    let future = proto::WriteRequest {
        timeseries: vec![v1_series(
            &[("__name__", "future")],
            &[(t + 3_600_000, 1.0)],
        )],
        ..Default::default()
    };
    let r = receive_v1(&rx, &s, &future);
    assert_eq!(r.status, 400);
    assert_eq!(s.series_count(), 1);
}

#[test]
fn v1_refused_samples_are_a_partial_write_when_enabled() {
    let s = MemStorage::new();
    let rx = v1_partial();
    let t = now();
    let first = proto::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "m")], &[(t, 1.0)])],
        ..Default::default()
    };
    assert_eq!(receive_v1(&rx, &s, &first).status, 204);
    let req = proto::WriteRequest {
        timeseries: vec![
            // Same timestamp, other value.
            v1_series(&[("__name__", "m")], &[(t, 9.0)]),
            // Same timestamp, same value: silently accepted.
            v1_series(&[("__name__", "m")], &[(t, 1.0)]),
            // Older than what is stored.
            v1_series(&[("__name__", "m")], &[(t - 1000, 5.0), (t + 1000, 2.0)]),
            // An hour ahead.
            v1_series(&[("__name__", "future")], &[(t + 3_600_000, 1.0)]),
            v1_series(&[("__name__", "other")], &[(t, 7.0)]),
        ],
        ..Default::default()
    };
    let r = receive_v1(&rx, &s, &req);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body_text(),
        concat!(
            "duplicate sample for timestamp for series {__name__=\"m\"}\n",
            "out of order sample for series {__name__=\"m\"}\n",
            "out of bounds: timestamp is too far in the future for series {__name__=\"future\"}\n",
        )
    );
    assert_eq!(
        dump(&s),
        vec![
            (
                labels!("__name__" => "m"),
                floats(&[(t, 1.0), (t + 1000, 2.0)])
            ),
            (labels!("__name__" => "other"), floats(&[(t, 7.0)])),
        ]
    );
}

#[test]
fn v1_histograms_and_exemplars() {
    let s = RecordingStorage::default();
    let rx = WriteReceiver::default();
    let t = now();
    let int = HistogramValue::Integer(histogram(5));
    let float = HistogramValue::Float(histogram(7).to_float());
    let nhcb = HistogramValue::Integer(Histogram {
        schema: -53,
        count: 3,
        sum: 2.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 1],
        custom_values: vec![0.5, 1.0],
        ..Default::default()
    });
    let invalid = HistogramValue::Integer(Histogram {
        count: 100,
        ..histogram(5)
    });
    let mut series = v1_series(&[("__name__", "h")], &[]);
    series.histograms = vec![
        histogram_to_proto(t, &int),
        histogram_to_proto(t + 1000, &float),
    ];
    let mut custom = v1_series(&[("__name__", "nhcb")], &[]);
    custom.histograms = vec![histogram_to_proto(t, &nhcb)];
    let mut bad = v1_series(&[("__name__", "bad_h")], &[]);
    bad.histograms = vec![histogram_to_proto(t, &invalid)];
    let mut with_exemplars = v1_series(&[("__name__", "c")], &[(t, 1.0)]);
    with_exemplars.exemplars = vec![
        Exemplar {
            labels: vec![label("trace_id", "abc")],
            value: 0.5,
            timestamp: t,
        },
        // Out of order: dropped quietly in 1.0.
        Exemplar {
            labels: vec![],
            value: -1.0,
            timestamp: 0,
        },
    ];
    let req = proto::WriteRequest {
        timeseries: vec![series, custom, with_exemplars],
        ..Default::default()
    };
    let r = receive_v1(&rx, &s, &req);
    assert_eq!(r.status, 204, "{}", r.body_text());
    // An invalid histogram refuses its whole request (upstream's 1.0).
    let refused = proto::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "c")], &[(t + 5000, 2.0)]), bad],
        ..Default::default()
    };
    let r = receive_v1(&rx, &s, &refused);
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().starts_with("invalid histogram: ")
            && r.body_text().ends_with("for series {__name__=\"bad_h\"}\n"),
        "{}",
        r.body_text()
    );
    assert_eq!(
        dump(&s.mem),
        vec![
            (labels!("__name__" => "c"), floats(&[(t, 1.0)])),
            (
                labels!("__name__" => "h"),
                vec![
                    (t, Value::Histogram(int)),
                    (t + 1000, Value::Histogram(float))
                ]
            ),
            (
                labels!("__name__" => "nhcb"),
                vec![(t, Value::Histogram(nhcb))]
            ),
        ]
    );
    let rec = s.recorded.lock();
    assert_eq!(rec.exemplars.len(), 1);
    assert_eq!(rec.exemplars[0].0, labels!("__name__" => "c"));
    assert_eq!(rec.exemplars[0].1.labels, labels!("trace_id" => "abc"));
    assert_eq!(rec.exemplars[0].1.timestamp, Some(t));
    assert!(rec.metadata.is_empty(), "1.0 metadata is not recorded");
}

/// A 2.0 request builder keeping the symbols table.
#[derive(Default)]
struct V2Builder {
    symbols: Vec<String>,
}

impl V2Builder {
    fn new() -> V2Builder {
        V2Builder {
            symbols: vec![String::new()],
        }
    }

    fn sym(&mut self, s: &str) -> u32 {
        if let Some(i) = self.symbols.iter().position(|x| x == s) {
            return i as u32;
        }
        self.symbols.push(s.to_string());
        (self.symbols.len() - 1) as u32
    }

    fn refs(&mut self, labels: &[(&str, &str)]) -> Vec<u32> {
        labels
            .iter()
            .flat_map(|(n, v)| [self.sym(n), self.sym(v)])
            .collect()
    }

    fn request(self, timeseries: Vec<proto_v2::TimeSeries>) -> proto_v2::Request {
        proto_v2::Request {
            symbols: self.symbols.into_iter().map(Bytes::from).collect(),
            timeseries,
        }
    }
}

fn v2_samples(samples: &[(i64, f64)]) -> Vec<proto_v2::Sample> {
    samples
        .iter()
        .map(|(t, v)| proto_v2::Sample {
            value: *v,
            timestamp: *t,
            start_timestamp: 0,
        })
        .collect()
}

#[test]
fn v2_with_symbols_metadata_exemplars_and_histograms() {
    let s = RecordingStorage::default();
    let rx = WriteReceiver::default();
    let t = now();
    let mut b = V2Builder::new();
    let counter = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("__name__", "http_requests_total"), ("job", "api")]),
        samples: v2_samples(&[(t, 10.0), (t + 1000, 12.0)]),
        exemplars: vec![proto_v2::Exemplar {
            labels_refs: b.refs(&[("trace_id", "t1")]),
            value: 1.0,
            timestamp: t,
        }],
        metadata: Some(proto_v2::Metadata {
            r#type: proto_v2::metadata::MetricType::Counter as i32,
            help_ref: b.sym("Requests."),
            unit_ref: 0,
        }),
        ..Default::default()
    };
    let h = HistogramValue::Integer(histogram(5));
    let hist = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("__name__", "latency"), ("job", "api")]),
        histograms: vec![histogram_to_proto(t, &h)],
        metadata: Some(proto_v2::Metadata {
            r#type: proto_v2::metadata::MetricType::Histogram as i32,
            help_ref: b.sym("Latency."),
            unit_ref: b.sym("seconds"),
        }),
        ..Default::default()
    };
    let req = b.request(vec![counter, hist]);
    let r = receive_v2(&rx, &s, &req);
    assert_eq!(r.status, 204, "{}", r.body_text());
    assert_eq!(written(&r), ("2".into(), "1".into(), "1".into()));
    assert_eq!(
        dump(&s.mem),
        vec![
            (
                labels!("__name__" => "http_requests_total", "job" => "api"),
                floats(&[(t, 10.0), (t + 1000, 12.0)])
            ),
            (
                labels!("__name__" => "latency", "job" => "api"),
                vec![(t, Value::Histogram(h))]
            ),
        ]
    );
    let rec = s.recorded.lock();
    assert_eq!(rec.exemplars[0].1.labels, labels!("trace_id" => "t1"));
    let metadata: Vec<_> = rec
        .metadata
        .iter()
        .map(|(l, m)| {
            (
                l.metric_name().unwrap().to_string(),
                m.metric_type,
                m.help.clone(),
                m.unit.clone(),
            )
        })
        .collect();
    assert_eq!(
        metadata,
        vec![
            (
                "http_requests_total".into(),
                MetricType::Counter,
                "Requests.".into(),
                String::new()
            ),
            (
                "latency".into(),
                MetricType::Histogram,
                "Latency.".into(),
                "seconds".into()
            ),
        ]
    );
}

#[test]
fn v2_partial_writes_report_counts_and_problems() {
    let s = RecordingStorage::default();
    let rx = WriteReceiver::default();
    let t = now();
    let mut b = V2Builder::new();
    let good = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("__name__", "good")]),
        samples: v2_samples(&[(t, 1.0)]),
        exemplars: vec![
            proto_v2::Exemplar {
                labels_refs: vec![],
                value: 2.0,
                timestamp: t,
            },
            // Out of order: a problem of the request in 2.0.
            proto_v2::Exemplar {
                labels_refs: vec![],
                value: -2.0,
                timestamp: t,
            },
        ],
        ..Default::default()
    };
    let odd_refs = proto_v2::TimeSeries {
        labels_refs: vec![1],
        samples: v2_samples(&[(t, 1.0)]),
        ..Default::default()
    };
    let out_of_table = proto_v2::TimeSeries {
        labels_refs: vec![1, 999],
        samples: v2_samples(&[(t, 1.0)]),
        ..Default::default()
    };
    let no_name = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("job", "x")]),
        samples: v2_samples(&[(t, 1.0), (t + 1, 1.0)]),
        ..Default::default()
    };
    let exemplar_only = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("__name__", "lonely")]),
        exemplars: vec![proto_v2::Exemplar {
            labels_refs: vec![],
            value: 2.0,
            timestamp: t,
        }],
        ..Default::default()
    };
    let bad_help = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("__name__", "bad_meta")]),
        samples: v2_samples(&[(t, 1.0)]),
        metadata: Some(proto_v2::Metadata {
            r#type: 1,
            help_ref: 12345,
            unit_ref: 0,
        }),
        ..Default::default()
    };
    let ooo = proto_v2::TimeSeries {
        labels_refs: b.refs(&[("__name__", "good")]),
        samples: v2_samples(&[(t - 5000, 1.0), (t + 2000, 3.0)]),
        ..Default::default()
    };
    let req = b.request(vec![
        good,
        odd_refs,
        out_of_table,
        no_name,
        exemplar_only,
        bad_help,
        ooo,
    ]);
    let r = receive_v2(&rx, &s, &req);
    assert_eq!(r.status, 400);
    assert_eq!(written(&r), ("2".into(), "0".into(), "1".into()));
    assert_eq!(
        r.body_text(),
        concat!(
            "out of order exemplar for series {__name__=\"good\"}\n",
            "parsing labels for series [1]: invalid labels_refs length 1\n",
            "parsing labels for series [1, 999]: labels_refs[1] = 999 is outside of the symbols table (size 7)\n",
            "invalid metric name or labels, got {job=\"x\"}\n",
            "exemplars were sent without samples or histograms for series {__name__=\"lonely\"}\n",
            "metadata help_ref 12345 is outside of the symbols table (size 7) for series {__name__=\"bad_meta\"}\n",
            "out of order sample for series {__name__=\"good\"}\n",
        )
    );
    assert_eq!(
        dump(&s.mem),
        vec![(
            labels!("__name__" => "good"),
            floats(&[(t, 1.0), (t + 2000, 3.0)])
        )]
    );
    assert_eq!(rx.invalid_labels_samples_total(), 4);
}

#[test]
fn v2_start_timestamps_become_zero_samples_when_enabled() {
    let t = now();
    let mut b = V2Builder::new();
    let h = histogram(5);
    let mut hp = histogram_to_proto(t, &HistogramValue::Integer(h.clone()));
    hp.start_timestamp = t - 30_000;
    let series = vec![
        proto_v2::TimeSeries {
            labels_refs: b.refs(&[("__name__", "c_total")]),
            samples: vec![
                proto_v2::Sample {
                    value: 5.0,
                    timestamp: t,
                    start_timestamp: t - 60_000,
                },
                // Same start: no second zero.
                proto_v2::Sample {
                    value: 6.0,
                    timestamp: t + 1000,
                    start_timestamp: t - 60_000,
                },
            ],
            ..Default::default()
        },
        proto_v2::TimeSeries {
            labels_refs: b.refs(&[("__name__", "h")]),
            histograms: vec![hp],
            ..Default::default()
        },
        // rc.3 senders put it on the series.
        proto_v2::TimeSeries {
            labels_refs: b.refs(&[("__name__", "legacy_total")]),
            samples: v2_samples(&[(t, 2.0)]),
            created_timestamp: t - 10_000,
            ..Default::default()
        },
    ];
    let req = b.request(series);

    // Off by default: start timestamps do not reach the storage.
    let s = MemStorage::new();
    let r = receive_v2(&WriteReceiver::default(), &s, &req);
    assert_eq!(r.status, 204);
    assert_eq!(dump(&s)[0].1, floats(&[(t, 5.0), (t + 1000, 6.0)]));

    let s = MemStorage::new();
    let rx = WriteReceiver::new(WriteReceiverOptions {
        ingest_start_timestamp_zero_samples: true,
        ..Default::default()
    });
    let r = receive_v2(&rx, &s, &req);
    assert_eq!(r.status, 204, "{}", r.body_text());
    // Zero samples are not counted as written samples.
    assert_eq!(written(&r), ("3".into(), "1".into(), "0".into()));
    let zero_h = Histogram {
        counter_reset_hint: CounterResetHint::CounterReset,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        ..Default::default()
    };
    assert_eq!(
        dump(&s),
        vec![
            (
                labels!("__name__" => "c_total"),
                floats(&[(t - 60_000, 0.0), (t, 5.0), (t + 1000, 6.0)])
            ),
            (
                labels!("__name__" => "h"),
                vec![
                    (
                        t - 30_000,
                        Value::Histogram(HistogramValue::Integer(zero_h))
                    ),
                    (t, Value::Histogram(HistogramValue::Integer(h))),
                ]
            ),
            (
                labels!("__name__" => "legacy_total"),
                floats(&[(t - 10_000, 0.0), (t, 2.0)])
            ),
        ]
    );
}

#[test]
fn negotiation_failures_are_415_and_write_nothing() {
    let s = MemStorage::new();
    let rx = WriteReceiver::default();
    let body = encode(&proto::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "x")], &[(now(), 1.0)])],
        ..Default::default()
    });
    let cases = [
        (
            Some("application/json"),
            Some("snappy"),
            "expected application/x-protobuf as the first (media) part, got application/json content-type",
        ),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            None,
            "got application/x-protobuf;proto=io.prometheus.write.v3.Request content type; unknown type for remote write protobuf message io.prometheus.write.v3.Request, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request",
        ),
        (
            Some("application/x-protobuf;proto"),
            None,
            "as per https://www.rfc-editor.org/rfc/rfc9110#parameter expected parameters to be key-values, got proto in application/x-protobuf;proto content-type",
        ),
        (
            Some("application/x-protobuf"),
            Some("gzip"),
            "gzip encoding (compression) is not accepted by this server; only snappy is acceptable",
        ),
    ];
    for (ct, ce, message) in cases {
        let r = rx.receive(&s, ct, ce, &body);
        assert_eq!(r.status, 415, "{ct:?}");
        assert_eq!(r.body_text(), format!("{message}\n"));
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    }
    let only_v2 = WriteReceiver::new(WriteReceiverOptions {
        accepted: vec![WriteMessage::V2],
        ..Default::default()
    });
    let r = only_v2.receive(&s, None, None, &body);
    assert_eq!(r.status, 415);
    assert_eq!(
        r.body_text(),
        "prometheus.WriteRequest protobuf message is not accepted by this server; only accepts io.prometheus.write.v2.Request\n"
    );
    // Whitespace around parameters is allowed.
    let r = rx.receive(
        &s,
        Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
        None,
        &encode(&proto_v2::Request::default()),
    );
    assert_eq!(r.status, 204);
    assert!(r.header(SAMPLES_WRITTEN_HEADER).is_some());
    assert_eq!(s.series_count(), 0);
}

#[test]
fn bad_bodies_are_refused_and_write_nothing() {
    let s = MemStorage::new();
    let rx = WriteReceiver::new(WriteReceiverOptions {
        max_body_bytes: 1000,
        max_decoded_bytes: 5000,
        ..Default::default()
    });
    let r = rx.receive(&s, None, None, b"not snappy at all");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (400, "snappy: corrupt input\n")
    );
    let r = rx.receive(&s, None, None, b"");
    assert_eq!(r.status, 400);
    let r = rx.receive(&s, None, None, &snappy(b"\x0a\x05\x0a\x03"));
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().contains("failed to decode Protobuf message"),
        "{}",
        r.body_text()
    );
    let r = rx.receive(&s, Some(V2), None, &snappy(b"\x22\xff"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header(SAMPLES_WRITTEN_HEADER),
        None,
        "no counts before decoding"
    );

    let r = rx.receive(&s, None, None, &vec![0u8; 1001]);
    assert_eq!(r.status, 413);
    assert_eq!(
        r.body_text(),
        "remote write request body is larger than the limit of 1000 bytes\n"
    );
    // Small on the wire, too large decoded.
    let big = proto::WriteRequest {
        timeseries: vec![v1_series(
            &[("__name__", &"x".repeat(6000))],
            &[(now(), 1.0)],
        )],
        ..Default::default()
    };
    let body = encode(&big);
    assert!(body.len() <= 1000);
    let r = rx.receive(&s, None, None, &body);
    assert_eq!(r.status, 413, "{}", r.body_text());
    assert_eq!(s.series_count(), 0);
}

#[test]
fn storage_failure_rolls_everything_back() {
    let s = RecordingStorage {
        fail_metric: Some("boom".into()),
        ..Default::default()
    };
    let rx = WriteReceiver::default();
    let t = now();
    let mut b = V2Builder::new();
    let req = b_request(&mut b, t);
    let r = receive_v2(&rx, &s, &b.request(req));
    assert_eq!(r.status, 500);
    assert_eq!(r.body_text(), "storage failure: disk on fire\n");
    assert_eq!(written(&r), ("0".into(), "0".into(), "0".into()));
    assert_eq!(s.mem.series_count(), 0);
    assert_eq!(s.recorded.lock().rollbacks, 1);

    let r = receive_v1(
        &rx,
        &s,
        &proto::WriteRequest {
            timeseries: vec![
                v1_series(&[("__name__", "fine")], &[(t, 1.0)]),
                v1_series(&[("__name__", "boom")], &[(t, 1.0)]),
            ],
            ..Default::default()
        },
    );
    assert_eq!(r.status, 500);
    assert_eq!(s.mem.series_count(), 0);
}

fn b_request(b: &mut V2Builder, t: i64) -> Vec<proto_v2::TimeSeries> {
    vec![
        proto_v2::TimeSeries {
            labels_refs: b.refs(&[("__name__", "fine")]),
            samples: v2_samples(&[(t, 1.0)]),
            ..Default::default()
        },
        proto_v2::TimeSeries {
            labels_refs: b.refs(&[("__name__", "boom")]),
            samples: v2_samples(&[(t, 1.0)]),
            ..Default::default()
        },
    ]
}

#[test]
fn a_v2_body_sent_as_v1_decodes_as_empty() {
    // The reserved fields make the two messages decode as empty into each other: the
    // reason 2.0 senders must see the written headers.
    let s = MemStorage::new();
    let rx = WriteReceiver::default();
    let mut b = V2Builder::new();
    let req = b_request(&mut b, now());
    let r = rx.receive(
        &s,
        Some("application/x-protobuf"),
        None,
        &encode(&b.request(req)),
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header(SAMPLES_WRITTEN_HEADER), None);
    assert_eq!(s.series_count(), 0);
}
