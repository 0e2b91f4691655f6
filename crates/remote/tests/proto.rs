//! Every wire message round-trips, and field numbers and wire types match the upstream
//! `.proto` files byte for byte (hand-computed encodings).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use hearth_remote::proto::{self, histogram};
use hearth_remote::proto_v2;
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let bytes = m.encode_to_vec();
    assert_eq!(&M::decode(&bytes[..]).unwrap(), m);
    // Decoding from `Bytes` (the receiver's path, borrowing label bytes) agrees.
    assert_eq!(&M::decode(Bytes::from(bytes)).unwrap(), m);
}

fn histogram_int() -> proto::Histogram {
    proto::Histogram {
        count: Some(histogram::Count::CountInt(9)),
        sum: 12.5,
        schema: 3,
        zero_threshold: 1e-3,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(2)),
        negative_spans: vec![proto::BucketSpan {
            offset: -2,
            length: 1,
        }],
        negative_deltas: vec![1],
        negative_counts: vec![],
        positive_spans: vec![proto::BucketSpan {
            offset: 1,
            length: 2,
        }],
        positive_deltas: vec![3, -1],
        positive_counts: vec![],
        reset_hint: histogram::ResetHint::No as i32,
        timestamp: 1_700_000_000_000,
        custom_values: vec![],
        start_timestamp: 0,
    }
}

fn histogram_float() -> proto::Histogram {
    proto::Histogram {
        count: Some(histogram::Count::CountFloat(4.5)),
        zero_count: Some(histogram::ZeroCount::ZeroCountFloat(0.5)),
        positive_counts: vec![1.5, 2.5],
        positive_deltas: vec![],
        negative_spans: vec![],
        negative_deltas: vec![],
        reset_hint: histogram::ResetHint::Gauge as i32,
        schema: -53,
        custom_values: vec![0.1, 1.0],
        start_timestamp: 1_699_999_000_000,
        ..histogram_int()
    }
}

#[test]
fn remote_write_1_0_messages_round_trip() {
    let ts = proto::TimeSeries {
        labels: vec![
            proto::Label::new("__name__", "up"),
            proto::Label::new("job", "é"),
        ],
        samples: vec![
            proto::Sample {
                value: 1.0,
                timestamp: 1,
            },
            proto::Sample {
                value: f64::from_bits(0x7ff0_0000_0000_0002),
                timestamp: 2,
            },
        ],
        exemplars: vec![proto::Exemplar {
            labels: vec![proto::Label::new("trace_id", "abc")],
            value: 0.25,
            timestamp: 3,
        }],
        histograms: vec![histogram_int(), histogram_float()],
    };
    let req = proto::WriteRequest {
        timeseries: vec![ts.clone(), proto::TimeSeries::default()],
        metadata: vec![proto::MetricMetadata {
            r#type: proto::metric_metadata::MetricType::Gaugehistogram as i32,
            metric_family_name: "up".into(),
            help: "help".into(),
            unit: "seconds".into(),
        }],
    };
    // NaNs compare unequal; compare the bytes of a re-encoding instead.
    let bytes = req.encode_to_vec();
    assert_eq!(
        proto::WriteRequest::decode(&bytes[..])
            .unwrap()
            .encode_to_vec(),
        bytes
    );
    let without_nan = proto::TimeSeries {
        samples: vec![proto::Sample {
            value: 2.0,
            timestamp: -5,
        }],
        ..ts
    };
    round_trip(&without_nan);
    round_trip(&proto::WriteRequest {
        timeseries: vec![without_nan],
        metadata: req.metadata,
    });
}

#[test]
fn remote_write_2_0_messages_round_trip() {
    let req = proto_v2::Request {
        symbols: ["", "__name__", "up", "job", "a", "help text", "seconds"]
            .map(|s: &'static str| Bytes::from_static(s.as_bytes()))
            .to_vec(),
        timeseries: vec![
            proto_v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![proto_v2::Sample {
                    value: 1.0,
                    timestamp: 10,
                    start_timestamp: 5,
                }],
                histograms: vec![],
                exemplars: vec![proto_v2::Exemplar {
                    labels_refs: vec![3, 4],
                    value: 2.0,
                    timestamp: 10,
                }],
                metadata: Some(proto_v2::Metadata {
                    r#type: proto_v2::metadata::MetricType::Counter as i32,
                    help_ref: 5,
                    unit_ref: 6,
                }),
                created_timestamp: 0,
            },
            proto_v2::TimeSeries {
                labels_refs: vec![1, 2],
                histograms: vec![histogram_int(), histogram_float()],
                created_timestamp: 4,
                ..Default::default()
            },
        ],
    };
    round_trip(&req);
}

#[test]
fn remote_read_messages_round_trip() {
    let read = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: 1,
            end_timestamp_ms: 2,
            matchers: vec![
                proto::LabelMatcher {
                    r#type: proto::label_matcher::Type::Eq as i32,
                    name: "__name__".into(),
                    value: "up".into(),
                },
                proto::LabelMatcher {
                    r#type: proto::label_matcher::Type::Nre as i32,
                    name: "job".into(),
                    value: "a|b".into(),
                },
            ],
            hints: Some(proto::ReadHints {
                step_ms: 15_000,
                func: "rate".into(),
                start_ms: 1,
                end_ms: 2,
                grouping: vec!["job".into()],
                by: true,
                range_ms: 300_000,
            }),
        }],
        accepted_response_types: vec![1, 0],
    };
    round_trip(&read);
    let response = proto::ReadResponse {
        results: vec![
            proto::QueryResult {
                timeseries: vec![proto::TimeSeries {
                    labels: vec![proto::Label::new("__name__", "up")],
                    samples: vec![proto::Sample {
                        value: 1.0,
                        timestamp: 1,
                    }],
                    histograms: vec![histogram_float()],
                    ..Default::default()
                }],
            },
            proto::QueryResult::default(),
        ],
    };
    round_trip(&response);
    let chunked = proto::ChunkedReadResponse {
        chunked_series: vec![proto::ChunkedSeries {
            labels: vec![proto::Label::new("__name__", "up")],
            chunks: vec![
                proto::Chunk {
                    min_time_ms: 1,
                    max_time_ms: 2,
                    r#type: proto::chunk::Encoding::Xor as i32,
                    data: vec![0, 1, 2],
                },
                proto::Chunk {
                    min_time_ms: 3,
                    max_time_ms: 4,
                    r#type: proto::chunk::Encoding::FloatHistogram as i32,
                    data: vec![9],
                },
            ],
        }],
        query_index: 3,
    };
    round_trip(&chunked);
}

#[test]
fn field_numbers_and_wire_types_match_upstream() {
    assert_eq!(
        proto::Label::new("a", "b").encode_to_vec(),
        b"\x0a\x01a\x12\x01b"
    );
    let mut sample = vec![0x09];
    sample.extend_from_slice(&1.0f64.to_le_bytes());
    sample.extend_from_slice(&[0x10, 0x01]);
    assert_eq!(
        proto::Sample {
            value: 1.0,
            timestamp: 1
        }
        .encode_to_vec(),
        sample
    );
    // sint32 schema -53 is zigzag 105; count_int is field 1; start_timestamp field 17.
    let h = proto::Histogram {
        count: Some(histogram::Count::CountInt(3)),
        schema: -53,
        positive_deltas: vec![-1],
        start_timestamp: 5,
        ..Default::default()
    };
    assert_eq!(
        h.encode_to_vec(),
        b"\x08\x03\x20\x69\x62\x01\x01\x88\x01\x05"
    );
    // 2.0: symbols are field 4, series field 5; refs packed; start_timestamp field 3.
    let req = proto_v2::Request {
        symbols: vec![Bytes::from_static(b"")],
        timeseries: vec![proto_v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![proto_v2::Sample {
                value: 0.0,
                timestamp: 7,
                start_timestamp: 6,
            }],
            ..Default::default()
        }],
    };
    assert_eq!(
        req.encode_to_vec(),
        b"\x22\x00\x2a\x0a\x0a\x02\x01\x02\x12\x04\x10\x07\x18\x06"
    );
    // Enums in a repeated field are packed.
    let read = proto::ReadRequest {
        queries: vec![],
        accepted_response_types: vec![1],
    };
    assert_eq!(read.encode_to_vec(), b"\x12\x01\x01");
    let frame = proto::ChunkedReadResponse {
        chunked_series: vec![],
        query_index: 2,
    };
    assert_eq!(frame.encode_to_vec(), b"\x10\x02");
}

#[test]
fn the_two_write_messages_decode_as_empty_into_each_other() {
    let v1 = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![proto::Label::new("__name__", "up")],
            ..Default::default()
        }],
        metadata: vec![proto::MetricMetadata {
            metric_family_name: "up".into(),
            ..Default::default()
        }],
    };
    assert_eq!(
        proto_v2::Request::decode(&v1.encode_to_vec()[..]).unwrap(),
        proto_v2::Request::default()
    );
    let v2 = proto_v2::Request {
        symbols: vec![Bytes::from_static(b""), Bytes::from_static(b"x")],
        timeseries: vec![proto_v2::TimeSeries {
            labels_refs: vec![1, 1],
            ..Default::default()
        }],
    };
    assert_eq!(
        proto::WriteRequest::decode(&v2.encode_to_vec()[..]).unwrap(),
        proto::WriteRequest::default()
    );
}
