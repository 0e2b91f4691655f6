//! The remote write sender end to end: samples appended to a real data directory are read
//! back from its WAL by the watcher and travel through
//! the queue to a loopback receiver (this crate's own, behind a handler that can fail
//! on demand), for 1.0 and 2.0, with retries, drops, relabeling and auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hearth_config::Config;
use hearth_model::{
    CounterResetHint, Exemplar, Histogram, HistogramValue, Metadata, MetricType, Span, labels,
};
use hearth_remote::http::into_axum;
use hearth_remote::{
    QueueOptions, QueueStats, RemoteWriteStorage, WalSource, WatcherOptions, WriteReceiver,
};
use hearth_tsdb::db::{Db, DbOptions};
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::Appendable;
use parking_lot::Mutex;
use support::*;

/// One request the receiver saw, and what it answered.
#[derive(Debug, Clone)]
struct Seen {
    status: u16,
    headers: HeaderMap,
}

/// A receiver that first answers with the queued failures, then writes for real.
struct Flaky {
    failures: Mutex<VecDeque<(u16, Option<&'static str>)>>,
    seen: Mutex<Vec<Seen>>,
    receiver: WriteReceiver,
    storage: Arc<dyn Appendable>,
}

async fn flaky_write(State(f): State<Arc<Flaky>>, headers: HeaderMap, body: Bytes) -> Response {
    let failure = f.failures.lock().pop_front();
    let response = match failure {
        Some((status, retry_after)) => {
            let mut r = (
                axum::http::StatusCode::from_u16(status).unwrap(),
                "try again later\n",
            )
                .into_response();
            if let Some(v) = retry_after {
                r.headers_mut().insert("Retry-After", v.parse().unwrap());
            }
            r
        }
        None => {
            let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
            into_axum(f.receiver.receive(
                f.storage.as_ref(),
                get("Content-Type"),
                get("Content-Encoding"),
                &body,
            ))
        }
    };
    f.seen.lock().push(Seen {
        status: response.status().as_u16(),
        headers,
    });
    response
}

fn flaky_server(
    storage: Arc<dyn Appendable>,
    failures: &[(u16, Option<&'static str>)],
) -> (u16, Arc<Flaky>) {
    let f = Arc::new(Flaky {
        failures: Mutex::new(failures.iter().copied().collect()),
        seen: Mutex::new(Vec::new()),
        receiver: WriteReceiver::default(),
        storage,
    });
    let router = axum::Router::new()
        .route("/api/v1/write", post(flaky_write))
        .with_state(f.clone());
    (serve(router), f)
}

/// Waits (without asserting any duration) until `done`, failing after a minute.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for {what}");
}

/// A data directory whose WAL the queues of `yaml`'s `remote_write` (with its external
/// labels) read.
struct Local {
    db: Arc<Db>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Local {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

fn start(yaml: &str) -> (Arc<RemoteWriteStorage>, Local) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DbOptions::default();
    opts.head.max_exemplars = 100;
    let db = Arc::new(Db::open(dir.path(), opts).unwrap());
    let c = Config::load_str(yaml, "prometheus.yml").unwrap();
    let rw = Arc::new(RemoteWriteStorage::new(QueueOptions::default()));
    rw.apply_config(&c.remote_write, &c.global.external_labels.0)
        .unwrap();
    let mut watcher = WatcherOptions::new(dir.path().join("wal"));
    watcher.read_period = Duration::from_millis(2);
    rw.set_wal(WalSource {
        watcher,
        progress_dir: None,
    });
    // Samples stamped from now on are newer than the watchers' start.
    std::thread::sleep(Duration::from_millis(2));
    (rw, Local { db, _dir: dir })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_sender_retries_a_500_then_delivers_relabeled_series() {
    let remote = Arc::new(MemStorage::new());
    let (port, flaky) = flaky_server(remote.clone(), &[(500, None)]);
    let yaml = format!(
        r#"
global:
  external_labels:
    region: eu
remote_write:
  - url: http://127.0.0.1:{port}/api/v1/write
    basic_auth:
      username: user
      password: secret
    headers:
      X-Scope-OrgID: tenant-1
    write_relabel_configs:
      - source_labels: [__name__]
        regex: drop_me
        action: drop
    queue_config:
      max_samples_per_send: 3
      batch_send_deadline: 20ms
      min_backoff: 5ms
      max_backoff: 20ms
"#
    );
    let (rw, local) = start(&yaml);

    let t = now();
    let mut app = local.appender();
    for i in 0..5 {
        app.append(
            None,
            &labels!("__name__" => "up", "job" => "a"),
            t + i,
            i as f64,
        )
        .unwrap();
    }
    app.append(None, &labels!("__name__" => "drop_me"), t, 1.0)
        .unwrap();
    // The series' own label wins over the external one.
    app.append(
        None,
        &labels!("__name__" => "kept", "region" => "us"),
        t,
        2.0,
    )
    .unwrap();
    app.commit().unwrap();
    // A rolled-back transaction is never sent.
    let mut app = local.appender();
    app.append(None, &labels!("__name__" => "rolled_back"), t, 1.0)
        .unwrap();
    app.rollback().unwrap();

    wait_for("6 samples to arrive", || {
        dump(remote.as_ref())
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>()
            == 6
    })
    .await;
    assert_eq!(
        dump(remote.as_ref()),
        vec![
            (
                labels!("__name__" => "kept", "region" => "us"),
                floats(&[(t, 2.0)])
            ),
            (
                labels!("__name__" => "up", "job" => "a", "region" => "eu"),
                floats(&[
                    (t, 0.0),
                    (t + 1, 1.0),
                    (t + 2, 2.0),
                    (t + 3, 3.0),
                    (t + 4, 4.0)
                ])
            ),
        ]
    );
    // Local storage has everything, including the relabeled-away series.
    let all = hearth_model::Matcher::new(hearth_model::MatchOp::Regex, "__name__", ".+").unwrap();
    let q = hearth_tsdb::storage::Queryable::querier(&*local.db, i64::MIN, i64::MAX).unwrap();
    assert_eq!(q.select(true, None, &[all]).unwrap().series.len(), 3);

    let q = rw.queues().remove(0);
    wait_for("the counters to settle", || {
        QueueStats::get(&q.stats().samples_total) == 6
    })
    .await;
    let seen = flaky.seen.lock().clone();
    assert_eq!(seen[0].status, 500);
    assert!(seen[1..].iter().all(|s| s.status == 204), "{seen:?}");
    assert_eq!(
        seen.len(),
        3,
        "two batches of at most 3, one retried: {seen:?}"
    );
    let h = &seen[1].headers;
    assert_eq!(h["Content-Type"], "application/x-protobuf");
    assert_eq!(h["Content-Encoding"], "snappy");
    assert_eq!(h["X-Prometheus-Remote-Write-Version"], "0.1.0");
    assert_eq!(h["X-Scope-OrgID"], "tenant-1");
    // user:secret
    assert_eq!(h["Authorization"], "Basic dXNlcjpzZWNyZXQ=");
    assert!(h["User-Agent"].to_str().unwrap().starts_with("hearth/"));

    let s = q.stats();
    assert_eq!(QueueStats::get(&s.samples_dropped_total), 1);
    assert_eq!(QueueStats::get(&s.samples_failed_total), 0);
    assert!(QueueStats::get(&s.samples_retried_total) >= 1);
    assert_eq!(q.pending(), 0);
    rw.stop().await;
}

fn histogram(count: u64) -> HistogramValue {
    HistogramValue::Integer(Histogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1,
        count,
        sum: 3.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, (count as i64) - 3],
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_sender_sends_histograms_exemplars_and_metadata_after_429() {
    let remote = RecordingStorage::default();
    let (port, flaky) = flaky_server(Arc::new(remote.clone()), &[(429, Some("0"))]);
    let yaml = format!(
        r#"
remote_write:
  - url: http://127.0.0.1:{port}/api/v1/write
    protobuf_message: io.prometheus.write.v2.Request
    send_exemplars: true
    send_native_histograms: true
    authorization:
      credentials: token-1
    queue_config:
      retry_on_http_429: true
      batch_send_deadline: 20ms
      min_backoff: 5ms
      max_backoff: 20ms
"#
    );
    let (rw, local) = start(&yaml);

    let t = now();
    let mut app = local.appender();
    let c_labels = labels!("__name__" => "requests_total", "job" => "api");
    let r = app.append(None, &c_labels, t, 10.0).unwrap();
    app.append_exemplar(
        r,
        &c_labels,
        &Exemplar {
            labels: labels!("trace_id" => "abc"),
            value: 1.0,
            timestamp: Some(t),
        },
    )
    .unwrap();
    app.update_metadata(
        r,
        &c_labels,
        &Metadata {
            metric_type: MetricType::Counter,
            help: "Requests.".into(),
            unit: String::new(),
        },
    )
    .unwrap();
    app.append_histogram(None, &labels!("__name__" => "latency"), t, &histogram(5))
        .unwrap();
    app.commit().unwrap();

    wait_for("2 series to arrive", || dump(&remote.mem).len() == 2).await;
    assert_eq!(
        dump(&remote.mem),
        vec![
            (
                labels!("__name__" => "latency"),
                vec![(t, Value::Histogram(histogram(5)))]
            ),
            (c_labels.clone(), floats(&[(t, 10.0)])),
        ]
    );
    {
        let rec = remote.recorded.lock();
        assert_eq!(rec.exemplars.len(), 1);
        assert_eq!(rec.exemplars[0].1.labels, labels!("trace_id" => "abc"));
        // The receiver records metadata of every 2.0 series (unspecified when absent).
        let m: Vec<_> = rec
            .metadata
            .iter()
            .filter(|(l, _)| *l == c_labels)
            .collect();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].1.help, "Requests.");
        assert_eq!(m[0].1.metric_type, MetricType::Counter);
    }
    let seen = flaky.seen.lock().clone();
    assert_eq!(seen[0].status, 429);
    assert_eq!(seen.last().unwrap().status, 204);
    let h = &seen[0].headers;
    assert_eq!(
        h["Content-Type"],
        "application/x-protobuf;proto=io.prometheus.write.v2.Request"
    );
    assert_eq!(h["X-Prometheus-Remote-Write-Version"], "2.0.0");
    assert_eq!(h["Authorization"], "Bearer token-1");

    let q = rw.queues().remove(0);
    wait_for("the counters to settle", || {
        QueueStats::get(&q.stats().samples_total) == 1
    })
    .await;
    // Counted from the receiver's written headers.
    assert_eq!(QueueStats::get(&q.stats().histograms_total), 1);
    assert_eq!(QueueStats::get(&q.stats().exemplars_total), 1);
    rw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_are_dropped_not_retried() {
    let remote = Arc::new(MemStorage::new());
    // 400 and (without retry_on_http_429) 429 drop the batch.
    let (port, flaky) = flaky_server(remote.clone(), &[(400, None), (429, None)]);
    let yaml = format!(
        r#"
remote_write:
  - url: http://127.0.0.1:{port}/api/v1/write
    queue_config:
      max_samples_per_send: 1
      batch_send_deadline: 20ms
      min_backoff: 5ms
      max_backoff: 20ms
"#
    );
    let (rw, local) = start(&yaml);
    let t = now();
    let mut app = local.appender();
    for i in 0..3 {
        app.append(None, &labels!("__name__" => "m"), t + i, i as f64)
            .unwrap();
    }
    app.commit().unwrap();

    let q = rw.queues().remove(0);
    wait_for("all three batches to be settled", || {
        QueueStats::get(&q.stats().samples_total) + QueueStats::get(&q.stats().samples_failed_total)
            == 3
    })
    .await;
    assert_eq!(QueueStats::get(&q.stats().samples_failed_total), 2);
    assert_eq!(QueueStats::get(&q.stats().samples_retried_total), 0);
    let statuses: Vec<u16> = flaky.seen.lock().iter().map(|s| s.status).collect();
    assert_eq!(statuses, [400, 429, 204]);
    assert_eq!(
        dump(remote.as_ref()),
        vec![(labels!("__name__" => "m"), floats(&[(t + 2, 2.0)]))]
    );

    // A configuration change restarts the queue; stopping flushes.
    rw.apply_config(&[], &hearth_model::Labels::empty())
        .unwrap();
    assert!(rw.queues().is_empty());
    rw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_flushes_pending_samples() {
    let remote = Arc::new(MemStorage::new());
    let (port, _flaky) = flaky_server(remote.clone(), &[]);
    // A deadline far away: only stopping sends the batch.
    let yaml = format!(
        r#"
remote_write:
  - url: http://127.0.0.1:{port}/api/v1/write
    queue_config:
      batch_send_deadline: 1h
"#
    );
    let (rw, local) = start(&yaml);
    let t = now();
    let mut app = local.appender();
    app.append(None, &labels!("__name__" => "m"), t, 1.0)
        .unwrap();
    app.commit().unwrap();
    assert!(remote.series_count() == 0);
    rw.stop().await;
    assert_eq!(
        dump(remote.as_ref()),
        vec![(labels!("__name__" => "m"), floats(&[(t, 1.0)]))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_replaced_on_reload_hands_over_its_position_and_a_removed_one_forgets_it() {
    let remote = Arc::new(MemStorage::new());
    let (port, _flaky) = flaky_server(remote.clone(), &[]);
    let config = |deadline: &str| {
        let yaml = format!(
            "remote_write:\n  - url: http://127.0.0.1:{port}/api/v1/write\n    name: q\n    queue_config:\n      batch_send_deadline: {deadline}\n"
        );
        Config::load_str(&yaml, "prometheus.yml").unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    let rw = RemoteWriteStorage::new(QueueOptions::default());
    let c = config("10ms");
    rw.apply_config(&c.remote_write, &c.global.external_labels.0)
        .unwrap();
    let mut watcher = WatcherOptions::new(dir.path().join("wal"));
    watcher.read_period = Duration::from_millis(2);
    watcher.progress_period = Duration::from_millis(10);
    let progress = dir.path().join("remote_write");
    rw.set_wal(WalSource {
        watcher,
        progress_dir: Some(progress.clone()),
    });
    std::thread::sleep(Duration::from_millis(2));
    let t = now();
    let append = |from: i64, to: i64| {
        let mut app = db.appender();
        for i in from..to {
            app.append(None, &labels!("__name__" => "m"), t + i, i as f64)
                .unwrap();
        }
        app.commit().unwrap();
    };
    append(0, 5);
    let old = rw.queues().remove(0);
    wait_for("the first samples", || {
        QueueStats::get(&old.stats().samples_total) == 5
    })
    .await;
    wait_for("the progress file", || progress.join("q.progress").exists()).await;

    // Same name, other settings: a new queue that goes on after what the old one read.
    let c = config("20ms");
    rw.apply_config(&c.remote_write, &c.global.external_labels.0)
        .unwrap();
    let new = rw.queues().remove(0);
    assert!(!Arc::ptr_eq(&old, &new));
    append(5, 8);
    wait_for("the next samples", || {
        QueueStats::get(&new.stats().samples_total) == 3
    })
    .await;
    // Each sample was sent once.
    assert_eq!(QueueStats::get(&old.stats().samples_total), 5);
    assert_eq!(
        dump(remote.as_ref()),
        vec![(
            labels!("__name__" => "m"),
            floats(&(0..8).map(|i| (t + i, i as f64)).collect::<Vec<_>>())
        )]
    );

    rw.apply_config(&[], &hearth_model::Labels::empty())
        .unwrap();
    assert!(!progress.join("q.progress").exists());
    rw.stop().await;
}

/// What a loopback OAuth2 token endpoint saw: (Authorization header, form body).
type TokenRequests = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `/token`, answering every request with the access token `rw-token`.
fn token_server() -> (u16, TokenRequests) {
    let seen: TokenRequests = Arc::default();
    let router = axum::Router::new()
        .route(
            "/token",
            post(
                |State(seen): State<TokenRequests>, headers: HeaderMap, body: String| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    seen.lock().push((auth, body));
                    (
                        [("Content-Type", "application/json")],
                        r#"{"access_token":"rw-token","token_type":"bearer","expires_in":3600}"#,
                    )
                },
            ),
        )
        .with_state(seen.clone());
    (serve(router), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_token_is_fetched_and_sent_as_bearer() {
    let remote = Arc::new(MemStorage::new());
    let (port, receiver) = flaky_server(remote.clone(), &[]);
    let (token_port, token_requests) = token_server();
    let yaml = format!(
        r#"
remote_write:
  - url: http://127.0.0.1:{port}/api/v1/write
    oauth2:
      client_id: hearth
      client_secret: s3cret
      scopes: [write]
      token_url: http://127.0.0.1:{token_port}/token
    queue_config:
      batch_send_deadline: 20ms
      min_backoff: 5ms
      max_backoff: 20ms
"#
    );
    let (rw, local) = start(&yaml);
    let mut app = local.appender();
    app.append(None, &labels!("__name__" => "authorized"), now(), 1.0)
        .unwrap();
    app.commit().unwrap();
    wait_for("the sample to arrive", || !dump(remote.as_ref()).is_empty()).await;
    wait_for("the request to be recorded", || {
        !receiver.seen.lock().is_empty()
    })
    .await;
    let seen = receiver.seen.lock().clone();
    assert!(
        seen.iter()
            .all(|s| s.headers["Authorization"] == "Bearer rw-token"),
        "{seen:?}"
    );
    let tokens = token_requests.lock().clone();
    assert_eq!(tokens.len(), 1, "one token, reused: {tokens:?}");
    // hearth:s3cret
    assert_eq!(tokens[0].0, "Basic aGVhcnRoOnMzY3JldA==");
    assert!(
        tokens[0].1.contains("grant_type=client_credentials")
            && tokens[0].1.contains("scope=write"),
        "{tokens:?}"
    );
    rw.stop().await;
}
