//! The receivers against loopback servers: what webhook, Slack and PagerDuty post
//! (default templates expanded as upstream's), retries on 5xx and none on 4xx, and
//! email through a minimal SMTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hearth_alertmanager::alert::Alert;
use hearth_alertmanager::config::Config;
use hearth_alertmanager::labelset::LabelSet;
use hearth_alertmanager::metrics::Metrics;
use hearth_alertmanager::nflog::NotificationLog;
use hearth_alertmanager::notify::{GroupContext, Pipeline, Shared};
use hearth_alertmanager::silence::Silences;
use hearth_alertmanager::store::AlertStore;
use hearth_alertmanager::time::{now, parse_rfc3339, zero};
use serde_json::Value;

#[derive(Clone, Default)]
struct Capture {
    bodies: Arc<Mutex<Vec<(String, HeaderMap, Value)>>>,
    /// Statuses to answer with, in order; then 200.
    statuses: Arc<Mutex<Vec<u16>>>,
}

async fn handler(
    State(c): State<Capture>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    c.bodies
        .lock()
        .unwrap()
        .push((uri.path().to_string(), headers, v));
    let mut s = c.statuses.lock().unwrap();
    if s.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        let code = s.remove(0);
        (StatusCode::from_u16(code).unwrap(), "nope")
    }
}

async fn capture() -> (Capture, u16) {
    let c = Capture::default();
    let app = axum::Router::new()
        .fallback(axum::routing::post(handler))
        .with_state(c.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    (c, port)
}

fn pipeline(yaml: &str) -> (Pipeline, Arc<NotificationLog>) {
    let cfg = Config::load_str(yaml, "t.yml").unwrap();
    let mut reg = prometheus_client::registry::Registry::default();
    let shared = Shared {
        silences: Arc::new(Silences::open(None, Duration::from_secs(3600)).0),
        store: Arc::new(AlertStore::open(None).0),
        nflog: Arc::new(NotificationLog::open(None, Duration::from_secs(3600)).0),
        metrics: Arc::new(Metrics::new(&mut reg)),
        external_url: "http://am.example.org".into(),
        user_agent: "Alertmanager/test".into(),
    };
    let templates = hearth_alertmanager::server::load_templates(&cfg).unwrap();
    let nflog = shared.nflog.clone();
    (Pipeline::new(&cfg, templates, &shared).unwrap(), nflog)
}

fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)], resolved: bool) -> Alert {
    let ls = |p: &[(&str, &str)]| -> LabelSet {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    Alert {
        labels: ls(labels),
        annotations: ls(annotations),
        starts_at: parse_rfc3339("2024-05-01T10:00:00Z").unwrap(),
        ends_at: if resolved {
            parse_rfc3339("2024-05-01T11:00:00Z").unwrap()
        } else {
            zero()
        },
        updated_at: now(),
        generator_url: "http://prom/graph".into(),
        timeout: false,
    }
}

fn ctx(receiver: &str, group: &[(&str, &str)]) -> GroupContext {
    let group_labels: LabelSet = group
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    GroupContext {
        receiver: receiver.into(),
        group_key: format!(
            "{{}}:{}",
            hearth_alertmanager::labelset::to_string(&group_labels)
        ),
        group_labels,
        repeat_interval: Duration::from_secs(3600),
        group_interval: Duration::from_secs(10),
        mute_time_intervals: vec![],
        active_time_intervals: vec![],
    }
}

#[tokio::test]
async fn slack_default_templates() {
    let (cap, port) = capture().await;
    let (p, _) = pipeline(&format!(
        "global:\n  slack_api_url: http://127.0.0.1:{port}/slack\nroute: {{receiver: s}}\nreceivers:\n- name: s\n  slack_configs:\n  - channel: '#ops'\n    send_resolved: true\n    fields:\n    - title: Severity\n      value: '{{{{ .CommonLabels.severity }}}}'\n"
    ));
    let alerts = vec![
        alert(
            &[
                ("alertname", "Disk"),
                ("instance", "a"),
                ("severity", "page"),
            ],
            &[("summary", "full")],
            false,
        ),
        alert(
            &[
                ("alertname", "Disk"),
                ("instance", "b"),
                ("severity", "page"),
            ],
            &[],
            false,
        ),
    ];
    assert!(
        p.exec(&ctx("s", &[("alertname", "Disk")]), alerts, now())
            .await
    );
    let got = cap.bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (path, headers, body) = &got[0];
    assert_eq!(path, "/slack");
    assert_eq!(headers["user-agent"], "Alertmanager/test");
    assert_eq!(body["channel"], "#ops");
    assert_eq!(body["username"], "Alertmanager");
    let att = &body["attachments"][0];
    assert_eq!(att["title"], "[FIRING:2] Disk (page)");
    assert_eq!(
        att["title_link"],
        "http://am.example.org/#/alerts?receiver=s"
    );
    assert_eq!(
        att["fallback"],
        "[FIRING:2] Disk (page) | http://am.example.org/#/alerts?receiver=s"
    );
    assert_eq!(att["color"], "danger");
    assert_eq!(att["text"], "");
    assert_eq!(
        att["fields"],
        serde_json::json!([{"title": "Severity", "value": "page", "short": false}])
    );
    assert_eq!(
        att["mrkdwn_in"],
        serde_json::json!(["fallback", "pretext", "text"])
    );
}

#[tokio::test]
async fn pagerduty_events_v2() {
    let (cap, port) = capture().await;
    let (p, _) = pipeline(&format!(
        "route: {{receiver: pd}}\nreceivers:\n- name: pd\n  pagerduty_configs:\n  - routing_key: 'key-{{{{ .CommonLabels.team }}}}'\n    url: http://127.0.0.1:{port}/v2/enqueue\n    severity: critical\n"
    ));
    let c = ctx("pd", &[("alertname", "Down")]);
    let firing = vec![alert(&[("alertname", "Down"), ("team", "db")], &[], false)];
    assert!(p.exec(&c, firing, now()).await);
    let resolved = vec![alert(&[("alertname", "Down"), ("team", "db")], &[], true)];
    assert!(p.exec(&c, resolved, now()).await);
    let got = cap.bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let t = &got[0].2;
    assert_eq!(t["routing_key"], "key-db");
    assert_eq!(t["event_action"], "trigger");
    assert_eq!(t["dedup_key"].as_str().unwrap().len(), 64);
    assert_eq!(t["client"], "Alertmanager");
    assert_eq!(
        t["client_url"],
        "http://am.example.org/#/alerts?receiver=pd"
    );
    assert_eq!(t["payload"]["summary"], "[FIRING:1] Down (db)");
    assert_eq!(t["payload"]["source"], "Alertmanager");
    assert_eq!(t["payload"]["severity"], "critical");
    assert_eq!(t["payload"]["custom_details"]["num_firing"], "1");
    assert!(
        t["payload"]["custom_details"]["firing"]
            .as_str()
            .unwrap()
            .contains(" - team = db"),
        "{t}"
    );
    let r = &got[1].2;
    assert_eq!(r["event_action"], "resolve");
    assert_eq!(r["dedup_key"], t["dedup_key"]);
}

#[tokio::test]
async fn webhook_retries_5xx_not_4xx_and_truncates() {
    let (cap, port) = capture().await;
    let (p, nflog) = pipeline(&format!(
        "route: {{receiver: w}}\nreceivers:\n- name: w\n  webhook_configs:\n  - url: http://127.0.0.1:{port}/hook\n    max_alerts: 1\n"
    ));
    cap.statuses.lock().unwrap().extend([503, 500]);
    let alerts = vec![
        alert(&[("alertname", "X"), ("i", "1")], &[], false),
        alert(&[("alertname", "X"), ("i", "2")], &[], false),
    ];
    let c = ctx("w", &[("alertname", "X")]);
    assert!(p.exec(&c, alerts.clone(), now()).await);
    let got = cap.bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "two failures then success");
    assert_eq!(got[2].2["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(got[2].2["truncatedAlerts"], 1);
    assert_eq!(nflog.len(), 1);
    // Same alerts again: deduplicated by the log.
    assert!(p.exec(&c, alerts.clone(), now()).await);
    assert_eq!(cap.bodies.lock().unwrap().len(), 3);
    // A new group answered with 400: one attempt, failure reported.
    cap.statuses.lock().unwrap().push(400);
    let c2 = ctx("w", &[("alertname", "Y")]);
    let y = vec![alert(&[("alertname", "Y")], &[], false)];
    assert!(!p.exec(&c2, y, now()).await);
    assert_eq!(cap.bodies.lock().unwrap().len(), 4);
}

/// A minimal SMTP server that accepts one message per connection and records it.
async fn smtp_server() -> (Arc<Mutex<Vec<String>>>, u16) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let g = g.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 localhost ESMTP test\r\n").await.unwrap();
                let mut transcript = String::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        break;
                    }
                    transcript.push_str(&line);
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-localhost\r\n250 AUTH PLAIN LOGIN\r\n"
                    } else if cmd.starts_with("AUTH") {
                        b"235 2.7.0 Authentication successful\r\n"
                    } else if cmd.starts_with("DATA") {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                break;
                            }
                            transcript.push_str(&line);
                            if line == ".\r\n" {
                                break;
                            }
                        }
                        b"250 2.0.0 queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
                g.lock().unwrap().push(transcript);
            });
        }
    });
    (got, port)
}

#[tokio::test]
async fn email_over_smtp() {
    let (got, port) = smtp_server().await;
    let (p, _) = pipeline(&format!(
        "global:\n  smtp_smarthost: 127.0.0.1:{port}\n  smtp_from: am@example.org\n  smtp_require_tls: false\nroute: {{receiver: e}}\nreceivers:\n- name: e\n  email_configs:\n  - to: 'ops@example.org'\n    headers: {{X-Team: '{{{{ .CommonLabels.team }}}}'}}\n"
    ));
    let alerts = vec![alert(
        &[("alertname", "Down"), ("team", "db")],
        &[("summary", "db down")],
        false,
    )];
    assert!(
        p.exec(&ctx("e", &[("alertname", "Down")]), alerts, now())
            .await
    );
    let t = got.lock().unwrap().join("");
    assert!(t.contains("MAIL FROM:<am@example.org>"), "{t}");
    assert!(t.contains("RCPT TO:<ops@example.org>"), "{t}");
    assert!(t.contains("Subject: [FIRING:1] Down (db)"), "{t}");
    assert!(t.contains("X-Team: db"), "{t}");
    assert!(t.contains("text/html"), "{t}");
}
