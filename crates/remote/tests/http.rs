//! The remote endpoints over loopback HTTP: the write receiver's status codes and
//! headers, and remote read round trips through [`RemoteReadClient`] (both response
//! types, frame splitting, limits, external labels, required matchers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use hearth_config::{Config, RemoteReadConfig};
use hearth_model::{CounterResetHint, Histogram, HistogramValue, Labels, Matcher, Span, labels};
use hearth_remote::http::{RemoteEndpoints, WRITE_DISABLED, router};
use hearth_remote::proto::{self, read_request::ResponseType};
use hearth_remote::read_client::{
    ReadQuery, RemoteReadClient, decode_read_response, encode_read_request,
};
use hearth_remote::{ReadHandler, ReadHandlerOptions, WriteReceiver};
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::Appendable;
use support::*;

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn write_server(storage: Arc<MemStorage>) -> u16 {
    serve(router(RemoteEndpoints {
        write: Some((Arc::new(WriteReceiver::default()), storage)),
        read: None,
    }))
}

fn post_write(port: u16, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_request(port, "POST", "/api/v1/write", headers, body)
}

#[test]
fn receiver_status_codes_over_http() {
    let storage = Arc::new(MemStorage::new());
    let port = write_server(storage.clone());
    let t = now();
    let v1 = encode(&proto::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up")], &[(t, 1.0)])],
        ..Default::default()
    });
    let snappy_protobuf = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];

    let r = post_write(port, &snappy_protobuf, &v1);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        r.header("X-Prometheus-Remote-Write-Samples-Written")
            .is_none()
    );

    // 2.0: the written counts come back.
    let v2 = encode(&hearth_remote::proto_v2::Request {
        symbols: vec!["".into(), "__name__".into(), "up2".into()],
        timeseries: vec![hearth_remote::proto_v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![hearth_remote::proto_v2::Sample {
                value: 2.0,
                timestamp: t,
                start_timestamp: 0,
            }],
            ..Default::default()
        }],
    });
    let r = post_write(
        port,
        &[
            ("Content-Type", V2),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ],
        &v2,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Samples-Written"),
        Some("1")
    );
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Histograms-Written"),
        Some("0")
    );
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Exemplars-Written"),
        Some("0")
    );

    // Wrong content type, unknown message, other encodings: 415.
    for headers in [
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "snappy"),
        ],
        [
            ("Content-Type", "application/x-protobuf;proto=foo.Bar"),
            ("Content-Encoding", "snappy"),
        ],
        [
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
    ] {
        let r = post_write(port, &headers, &v1);
        assert_eq!(r.status, 415, "{headers:?}: {}", r.text());
        assert!(!r.text().is_empty());
    }

    // Bad snappy, bad protobuf: 400 with the reason.
    let r = post_write(port, &snappy_protobuf, b"\xff\xff\xff\xff not snappy");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("snappy"), "{}", r.text());
    let r = post_write(port, &snappy_protobuf, &snappy(b"\x0a\xff\xff\xff\xff\x0f"));
    assert_eq!(r.status, 400);
    assert!(!r.text().trim().is_empty());

    // Out of order in 1.0: 400, nothing of that request written.
    let ooo = encode(&proto::WriteRequest {
        timeseries: vec![
            v1_series(&[("__name__", "new")], &[(t, 1.0)]),
            v1_series(&[("__name__", "up")], &[(t - 1000, 1.0)]),
        ],
        ..Default::default()
    });
    let r = post_write(port, &snappy_protobuf, &ooo);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "out of order sample for series {__name__=\"up\"}\n"
    );

    // Only what the good requests wrote is stored.
    assert_eq!(
        dump(storage.as_ref()),
        vec![
            (labels!("__name__" => "up"), floats(&[(t, 1.0)])),
            (labels!("__name__" => "up2"), floats(&[(t, 2.0)])),
        ]
    );

    let r = http_request(port, "GET", "/api/v1/write", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn disabled_receiver_answers_404_as_upstream() {
    let port = serve(router(RemoteEndpoints::default()));
    let r = post_write(port, &[("Content-Type", "application/x-protobuf")], b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), format!("{WRITE_DISABLED}\n"));
}

fn histogram(count: u64) -> HistogramValue {
    HistogramValue::Integer(Histogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 1,
        count,
        sum: count as f64,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, (count as i64) - 3],
        ..Default::default()
    })
}

/// 300 floats of `up{job="a"}`, 10 histograms of `h{job="a"}`, 5 floats of
/// `other{job="b"}`, from `t0`.
fn filled_storage(t0: i64) -> Arc<MemStorage> {
    let s = Arc::new(MemStorage::new());
    let mut app = s.appender();
    for i in 0..300 {
        app.append(
            None,
            &labels!("__name__" => "up", "job" => "a"),
            t0 + i * 1000,
            i as f64,
        )
        .unwrap();
    }
    for i in 0..10 {
        app.append_histogram(
            None,
            &labels!("__name__" => "h", "job" => "a"),
            t0 + i * 1000,
            &histogram(5 + i as u64),
        )
        .unwrap();
    }
    for i in 0..5 {
        app.append(
            None,
            &labels!("__name__" => "other", "job" => "b"),
            t0 + i * 1000,
            1.0,
        )
        .unwrap();
    }
    app.commit().unwrap();
    s
}

/// Series with histogram counter reset hints cleared: chunks re-encode the hint of a
/// chunk's first histogram.
fn without_hints(mut series: Vec<(Labels, Vec<(i64, Value)>)>) -> Vec<(Labels, Vec<(i64, Value)>)> {
    for (_, samples) in &mut series {
        for (_, v) in samples {
            if let Value::Histogram(HistogramValue::Integer(h)) = v {
                h.counter_reset_hint = CounterResetHint::Unknown;
            }
        }
    }
    series
}

fn read_server(storage: Arc<MemStorage>, options: ReadHandlerOptions, external: Labels) -> u16 {
    let handler = Arc::new(ReadHandler::new(options));
    handler.set_external_labels(external);
    serve(router(RemoteEndpoints {
        write: None,
        read: Some((handler, storage)),
    }))
}

fn read_config(port: u16, extra: &str) -> RemoteReadConfig {
    let yaml = format!("remote_read:\n  - url: http://127.0.0.1:{port}/api/v1/read\n{extra}");
    Config::load_str(&yaml, "test.yml")
        .unwrap()
        .remote_read
        .remove(0)
}

fn query(start: i64, end: i64, matchers: Vec<Matcher>) -> ReadQuery {
    ReadQuery {
        start,
        end,
        matchers,
        hints: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_round_trip_streamed_chunks() {
    let t0 = now() - 3_600_000;
    let storage = filled_storage(t0);
    let external = labels!("region" => "eu");
    let port = read_server(
        storage.clone(),
        ReadHandlerOptions {
            // Small frames: every series is split over several.
            max_bytes_in_frame: 100,
            ..Default::default()
        },
        external.clone(),
    );
    let client = RemoteReadClient::new(&read_config(port, ""), &external).unwrap();
    let all = query(t0, t0 + 1_000_000, vec![Matcher::equal("job", "a")]);
    let part = query(
        t0 + 10_000,
        t0 + 20_000,
        vec![Matcher::equal("__name__", "up")],
    );
    let sets = client.read(&[all, part]).await.unwrap();
    assert_eq!(sets.len(), 2);

    // The external label was a matcher and is gone again; everything else as stored.
    let expected: Vec<_> = dump(storage.as_ref())
        .into_iter()
        .filter(|(l, _)| l.get("job") == Some("a"))
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(without_hints(dump_set(&sets[0])), without_hints(expected));

    // A range cuts the chunks.
    let got = dump_set(&sets[1]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, labels!("__name__" => "up", "job" => "a"));
    let ts: Vec<i64> = got[0].1.iter().map(|(t, _)| *t - t0).collect();
    assert_eq!(ts, (10..=20).map(|i| i * 1000).collect::<Vec<_>>());

    // Without filtering, the external label comes back on every series.
    let client = RemoteReadClient::new(
        &read_config(port, "    filter_external_labels: false\n"),
        &external,
    )
    .unwrap();
    let sets = client
        .read(&[query(t0, t0 + 10_000, vec![Matcher::equal("job", "b")])])
        .await
        .unwrap();
    let got = dump_set(&sets[0]);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0,
        labels!("__name__" => "other", "job" => "b", "region" => "eu")
    );
    assert_eq!(got[0].1.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_samples_response_and_limits() {
    let t0 = now() - 3_600_000;
    let storage = filled_storage(t0);
    let port = read_server(
        storage.clone(),
        ReadHandlerOptions {
            sample_limit: 120,
            ..Default::default()
        },
        Labels::empty(),
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/read");
    let http = hearth_config::HttpClientConfig::default()
        .build_client("test")
        .unwrap();
    let post = |queries: Vec<ReadQuery>| {
        let body = encode_read_request(&queries, &[ResponseType::Samples]).unwrap();
        http.post(&url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0")
            .body(body)
            .send()
    };

    let q = vec![query(t0, t0 + 100_000, vec![Matcher::equal("job", "a")])];
    let resp = post(q.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["Content-Type"].to_str().unwrap().to_string();
    assert_eq!(ct, "application/x-protobuf");
    assert_eq!(resp.headers()["Content-Encoding"], "snappy");
    let body = resp.bytes().await.unwrap();
    let sets = decode_read_response(&ct, &body, &q, 1 << 20).unwrap();
    // SAMPLES answers come unsorted, as upstream's.
    let mut got = dump_set(&sets[0]);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, labels!("__name__" => "h", "job" => "a"));
    assert_eq!(got[0].1.len(), 10);
    assert_eq!(got[0].1[1].1, Value::Histogram(histogram(6)));
    assert_eq!(got[1].1.len(), 101);

    // Over the sample limit: 400 with upstream's text.
    let q = vec![query(t0, t0 + 1_000_000, vec![Matcher::equal("job", "a")])];
    let resp = post(q).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), "exceeded sample limit (120)\n");

    // Bad bodies: 400.
    let resp = http.post(&url).body("nonsense").send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_required_matchers_and_errors() {
    let t0 = now() - 3_600_000;
    let port = read_server(filled_storage(t0), Default::default(), Labels::empty());
    let client = RemoteReadClient::new(
        &read_config(port, "    required_matchers:\n      job: b\n"),
        &Labels::empty(),
    )
    .unwrap();
    let sets = client
        .read(&[
            query(t0, t0 + 10_000, vec![Matcher::equal("__name__", "up")]),
            query(t0, t0 + 10_000, vec![Matcher::equal("job", "b")]),
        ])
        .await
        .unwrap();
    // The first query lacks job="b" and is not sent.
    assert!(sets[0].series.is_empty());
    assert_eq!(dump_set(&sets[1]).len(), 1);

    // A server error names the status and the server's text.
    let mut config = read_config(port, "");
    config.url = Some(
        hearth_discovery::ConfigUrl::parse(&format!("http://127.0.0.1:{port}/api/v1/nothing"))
            .unwrap(),
    );
    let client = RemoteReadClient::new(&config, &Labels::empty()).unwrap();
    let err = client
        .read(&[query(t0, t0 + 10_000, vec![Matcher::equal("job", "b")])])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("returned HTTP status 404"),
        "{err}"
    );
}
