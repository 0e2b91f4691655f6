//! The Alertmanager sender against a loopback axum server: external labels and alert
//! relabeling in the payload, batches no larger than the batch size, the oldest alerts
//! dropped past the queue capacity, failures counted, the queue drained at shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hearth_config::Config;
use hearth_discovery::TargetGroup;
use hearth_model::Labels;
use hearth_rules::{Notifier, NotifierManager, PostableAlert, SenderOptions};

#[derive(Clone, Default)]
struct Am {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    status: Arc<AtomicU16>,
}

async fn start_am() -> (Am, u16) {
    let am = Am::default();
    am.status.store(200, Ordering::SeqCst);
    let app = Router::new()
        .route(
            "/api/v2/alerts",
            post(|State(am): State<Am>, body: String| async move {
                am.bodies
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::from_u16(am.status.load(Ordering::SeqCst)).unwrap()
            }),
        )
        .with_state(am.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (am, port)
}

fn alert(name: &str) -> PostableAlert {
    PostableAlert {
        labels: Labels::new([("alertname", name)]),
        annotations: Labels::new([("summary", "s")]),
        starts_at_ms: Some(1_000),
        ends_at_ms: Some(61_000),
        generator_url: "http://hearth/graph".into(),
    }
}

async fn manager(port: u16, opts: SenderOptions) -> NotifierManager {
    let cfg = Config::load_str(
        &format!(
            "global:\n  external_labels:\n    dc: eu\nalerting:\n  alert_relabel_configs:\n    - source_labels: [alertname]\n      regex: Ignored\n      action: drop\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{port}']\n"
        ),
        "prometheus.yml",
    )
    .unwrap();
    let m = NotifierManager::new(opts);
    m.apply_config(&cfg).unwrap();
    let sets: HashMap<String, Vec<TargetGroup>> = [(
        "config-0".to_string(),
        vec![TargetGroup::from_addresses(
            [format!("127.0.0.1:{port}").as_str()],
            Labels::empty(),
            "0".into(),
        )],
    )]
    .into_iter()
    .collect();
    m.sync(&sets);
    m
}

fn names(am: &Am) -> Vec<Vec<String>> {
    am.bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            b.as_array()
                .unwrap()
                .iter()
                .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_relabeling_overflow_and_drain() {
    let (am, port) = start_am().await;
    let m = manager(
        port,
        SenderOptions {
            queue_capacity: 3,
            max_batch_size: 2,
            ..SenderOptions::default()
        },
    )
    .await;
    assert_eq!(
        m.active(),
        [format!("http://127.0.0.1:{port}/api/v2/alerts")]
    );

    // Five alerts at once into a queue of three: the two oldest are dropped; one is
    // dropped by alert relabeling.
    m.send(
        ["A", "B", "Ignored", "C", "D", "E"]
            .into_iter()
            .map(alert)
            .collect(),
    );
    // Stopping drains what is queued.
    m.stop().await;
    let sent: Vec<String> = names(&am).into_iter().flatten().collect();
    assert_eq!(sent, ["C", "D", "E"]);
    assert!(names(&am).iter().all(|b| b.len() <= 2), "{:?}", names(&am));
    let first = am.bodies.lock().unwrap()[0][0].clone();
    assert_eq!(
        first["labels"],
        serde_json::json!({"alertname": "C", "dc": "eu"})
    );
    assert_eq!(first["startsAt"], "1970-01-01T00:00:01Z");
    assert_eq!(first["endsAt"], "1970-01-01T00:01:01Z");
    assert_eq!(first["generatorURL"], "http://hearth/graph");
    // After stop, alerts are ignored.
    m.send(vec![alert("Late")]);
    assert_eq!(names(&am).into_iter().flatten().count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_batches_are_counted_and_dropped() {
    let (am, port) = start_am().await;
    am.status.store(500, Ordering::SeqCst);
    let m = manager(port, SenderOptions::default()).await;
    m.send(vec![alert("A"), alert("B")]);
    let mut stats = m.stats();
    for _ in 0..100 {
        stats = m.stats();
        if stats.alertmanagers[0].errors == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let a = &stats.alertmanagers[0];
    assert_eq!((a.sent, a.errors, a.dropped), (0, 2, 2), "{stats:?}");
    assert_eq!(stats.alertmanagers_discovered, 1);
    assert_eq!(stats.queue_capacity, 10_000);

    am.status.store(200, Ordering::SeqCst);
    m.send(vec![alert("C")]);
    for _ in 0..100 {
        if m.stats().alertmanagers[0].sent == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let a = &m.stats().alertmanagers[0];
    assert_eq!((a.sent, a.errors), (1, 2));
    assert_eq!(a.latency.count, 1);
    m.stop().await;
}
