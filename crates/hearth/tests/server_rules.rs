//! Rules and alerting in `hearth server`, as a process on loopback: recording rules
//! written to the TSDB, an alert going pending → firing with its `ALERTS` series,
//! `/api/v1/rules` and `/api/v1/alerts`, reloads with a changed and a broken rule file,
//! a bad rule file at startup, `for` state kept over a restart, and notifications to a
//! fake Alertmanager (axum on loopback) and to Debian's real `prometheus-alertmanager`
//! (skipped loudly when it cannot be installed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use support::server::{KillOnDrop, Server, get_until, hearth, query, query_until};
use support::{ensure_debian, free_port, http, wait_ok};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

const RULES: &str = r#"groups:
  - name: hearth
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: HearthUp
        expr: up{job="hearth"} == 1
        for: 4s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} is up ({{ $value }}) in {{ $externalLabels.dc }}"
"#;

fn self_scrape_config(port: u16, extra: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    dc: eu\nrule_files:\n  - rules.yml\nscrape_configs:\n  - job_name: hearth\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n{extra}"
    )
}

fn start_with(dir: &Path, config: impl Fn(u16) -> String, extra: &[&str]) -> Server {
    let port = free_port();
    std::fs::write(dir.join("prometheus.yml"), config(port)).unwrap();
    Server::start_on(dir, port, extra, "")
}

#[test]
fn rules_evaluate_alert_fires_and_reload_keeps_old_rules_on_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let s = start_with(
        dir.path(),
        |p| self_scrape_config(p, ""),
        &["--web.enable-lifecycle"],
    );
    let instance = format!("127.0.0.1:{}", s.port);

    // The recording rule's result is in the TSDB.
    let got = query_until(&s, "job:up:sum", |r| !r.is_empty());
    assert_eq!(
        got,
        [r#"{"__name__":"job:up:sum","job":"hearth"}=1"#.to_string()]
    );

    // The alert is pending first, then firing.
    let pending = get_until(&s, "/api/v1/alerts", |b| b.contains("\"state\""));
    assert!(pending.contains(r#""state":"pending""#), "{pending}");
    let firing = get_until(&s, "/api/v1/alerts", |b| b.contains(r#""state":"firing""#));
    let v = json(&firing);
    let alert = &v["data"]["alerts"][0];
    assert_eq!(v["data"]["alerts"].as_array().unwrap().len(), 1, "{firing}");
    assert_eq!(
        alert["labels"],
        serde_json::json!({"alertname": "HearthUp", "instance": instance, "job": "hearth", "severity": "page"})
    );
    assert_eq!(
        alert["annotations"]["summary"],
        format!("{instance} is up (1) in eu")
    );
    assert_eq!(alert["value"], "1e+00");
    assert!(
        alert["activeAt"].as_str().unwrap().ends_with('Z'),
        "{firing}"
    );

    // ALERTS and ALERTS_FOR_STATE are written (without external labels).
    let alerts = query_until(&s, "ALERTS{alertstate=\"firing\"}", |r| !r.is_empty());
    assert_eq!(
        alerts,
        [format!(
            r#"{{"__name__":"ALERTS","alertname":"HearthUp","alertstate":"firing","instance":"{instance}","job":"hearth","severity":"page"}}=1"#
        )]
    );
    assert_eq!(query(&s, "ALERTS_FOR_STATE").len(), 1);

    // /api/v1/rules: the group with both rules; the file as the glob found it
    // (relative to the configuration file's directory).
    let (status, body) = s.get("/api/v1/rules");
    assert_eq!(status, 200);
    let v = json(&body);
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "hearth");
    let rules_file = g["file"].as_str().unwrap().to_string();
    assert!(rules_file.ends_with("rules.yml"), "{body}");
    assert_eq!(g["interval"], 1.0);
    assert_eq!(g["limit"], 0);
    let rec = &g["rules"][0];
    assert_eq!(
        (&rec["name"], &rec["query"], &rec["health"], &rec["type"]),
        (
            &serde_json::json!("job:up:sum"),
            &serde_json::json!("sum by (job) (up)"),
            &serde_json::json!("ok"),
            &serde_json::json!("recording")
        )
    );
    let al = &g["rules"][1];
    assert_eq!(al["type"], "alerting");
    assert_eq!(al["state"], "firing");
    assert_eq!(al["duration"], 4.0);
    assert_eq!(al["query"], "up{job=\"hearth\"} == 1");
    assert_eq!(al["labels"], serde_json::json!({"severity": "page"}));
    assert_eq!(al["alerts"][0]["state"], "firing");
    let v = json(&s.get("/api/v1/rules?type=alert&exclude_alerts=true").1);
    assert_eq!(v["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    assert!(v["data"]["groups"][0]["rules"][0]["alerts"].is_null());

    // The rule manager's metrics, under upstream's names.
    let (_, metrics) = s.get("/metrics");
    let key = format!("{rules_file};hearth");
    for line in [
        format!("prometheus_rule_group_rules{{rule_group=\"{key}\"}} 2"),
        format!("prometheus_rule_group_interval_seconds{{rule_group=\"{key}\"}} 1"),
    ] {
        assert!(metrics.contains(&line), "missing {line} in:\n{metrics}");
    }
    for name in [
        "prometheus_rule_evaluations_total{",
        "prometheus_rule_evaluation_failures_total{",
        "prometheus_rule_group_last_duration_seconds{",
        "prometheus_rule_group_last_evaluation_timestamp_seconds{",
        "prometheus_rule_group_iterations_total{",
        "prometheus_rule_group_iterations_missed_total{",
        "prometheus_rule_evaluation_duration_seconds{quantile=\"0.5\"}",
        "prometheus_notifications_queue_capacity 10000",
        "prometheus_notifications_alertmanagers_discovered 0",
    ] {
        assert!(metrics.contains(name), "missing {name} in:\n{metrics}");
    }
    assert!(metrics.ends_with("# EOF\n"));

    // Reload with a changed rule file: the new rule runs.
    std::fs::write(
        dir.path().join("rules.yml"),
        RULES
            .replace("job:up:sum", "job:up:count")
            .replace("sum by", "count by"),
    )
    .unwrap();
    let (status, body) = s.post("/-/reload", "");
    assert_eq!(status, 200, "{body}");
    let got = query_until(&s, "job:up:count", |r| !r.is_empty());
    assert_eq!(got.len(), 1, "{got:?}");
    let v = json(&s.get("/api/v1/rules").1);
    assert_eq!(v["data"]["groups"][0]["rules"][0]["name"], "job:up:count");
    // The unchanged alert kept its state over the reload.
    assert_eq!(v["data"]["groups"][0]["rules"][1]["state"], "firing");

    // A broken rule file: the reload fails naming the file and line, the old rules stay.
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: hearth\n    rules:\n      - record: broken\n        expr: sum(\n",
    )
    .unwrap();
    let (status, body) = s.post("/-/reload", "");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("failed to reload config: ")
            && body.contains("error loading rules, previous rule set restored: ")
            && body.contains(&format!("{rules_file}:")),
        "{body}"
    );
    let v = json(&s.get("/api/v1/rules").1);
    assert_eq!(v["data"]["groups"][0]["rules"][0]["name"], "job:up:count");
    let (_, body) = s.get("/api/v1/status/runtimeinfo");
    assert!(body.contains(r#""reloadConfigSuccess":false"#), "{body}");
    let (_, metrics) = s.get("/metrics");
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 0"),
        "{metrics}"
    );
}

#[test]
fn bad_rule_file_at_startup_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "rule_files:\n  - rules.yml\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: 'x'\n        expr: up +\n",
    )
    .unwrap();
    let out = hearth()
        .current_dir(dir.path())
        .args(["server", "--web.listen-address=127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error loading rules, previous rule set restored")
            && err.contains("rules.yml"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());
}

/// `(value, timestamp in seconds)` of a one-series instant query.
fn value_at(s: &Server, q: &str) -> Option<(f64, f64)> {
    let v = query(s, q);
    let val: f64 = v.first()?.rsplit('=').next()?.parse().ok()?;
    let ts = query(s, &format!("timestamp({q})"));
    let t: f64 = ts.first()?.rsplit('=').next()?.parse().ok()?;
    Some((val, t))
}

#[test]
fn restart_keeps_for_state() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 10m\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\n",
    )
    .unwrap();
    let flags = [
        "--web.enable-lifecycle",
        "--rules.alert.for-grace-period=1s",
    ];
    let mut s = Server::start(dir.path(), &flags);
    // Pending for at least 5s (the condition is on content: ActiveAt's age).
    let aged = query_until(&s, "time() - ALERTS_FOR_STATE >= 5", |r| !r.is_empty());
    assert_eq!(aged.len(), 1, "{aged:?}");
    let (active_before, _) = value_at(&s, "ALERTS_FOR_STATE").unwrap();
    assert_eq!(s.post("/-/quit", "").0, 200);
    assert!(s.child.wait().unwrap().success());
    // An outage of whole seconds: ActiveAt is stored in seconds, so a restart within
    // the same second would leave it where it was.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let restarted = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    drop(s);

    let s = Server::start(dir.path(), &flags);
    // The first ALERTS_FOR_STATE sample after the restore.
    let mut after = None;
    for _ in 0..600 {
        after = value_at(&s, "ALERTS_FOR_STATE").filter(|(_, t)| *t >= restarted);
        if after.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (active_after, t) = after.expect("no ALERTS_FOR_STATE after the restart");
    // The outage does not count (ActiveAt moved forward), the time pending before it
    // does: without the restore the alert would be only a couple of evaluations old.
    assert!(
        active_after > active_before,
        "{active_after} {active_before}"
    );
    assert!(
        t - active_after >= 5.0,
        "ActiveAt {active_after} at {t}: the pending time before the restart was lost"
    );
    let v = json(&s.get("/api/v1/alerts").1);
    assert_eq!(v["data"]["alerts"][0]["state"], "pending");
}

/// An Alertmanager stand-in: records every `POST /api/v2/alerts` body, and serves a
/// `flag` gauge at `/metrics` for hearth to scrape.
struct FakeAlertmanager {
    port: u16,
    /// `(received at, ms since the epoch; body)`.
    posts: Arc<Mutex<Vec<(i64, serde_json::Value)>>>,
    flag: Arc<AtomicU64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl FakeAlertmanager {
    fn start() -> FakeAlertmanager {
        use axum::Router;
        use axum::extract::State;
        use axum::routing::{get, post};
        type St = (Arc<Mutex<Vec<(i64, serde_json::Value)>>>, Arc<AtomicU64>);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let flag = Arc::new(AtomicU64::new(1));
        let state: St = (posts.clone(), flag.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route(
                        "/api/v2/alerts",
                        post(|State(st): State<St>, body: String| async move {
                            st.0.lock().unwrap().push((now_ms(), json(&body)));
                            "ok"
                        }),
                    )
                    .route(
                        "/metrics",
                        get(|State(st): State<St>| async move {
                            format!("# TYPE flag gauge\nflag {}\n", st.1.load(Ordering::SeqCst))
                        }),
                    )
                    .with_state(state);
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        FakeAlertmanager { port, posts, flag }
    }

    /// Every alert received so far, with when it was received.
    fn alerts(&self) -> Vec<(i64, serde_json::Value)> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(t, b)| {
                b.as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |a| (*t, a))
            })
            .collect()
    }

    /// Waits (bounded attempts) until an alert satisfies `done(received_ms, alert)`.
    fn wait_for(
        &self,
        done: impl Fn(i64, &serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        for _ in 0..600 {
            if let Some((_, a)) = self.alerts().into_iter().find(|(t, a)| done(*t, a)) {
                return Some(a);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }
}

/// Milliseconds since the epoch of an RFC 3339 UTC time (`…Z`, optional fraction).
fn rfc3339_ms(s: &str) -> i64 {
    let s = s
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("not UTC: {s}"));
    let (date, time) = s.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000) + ms
}

#[test]
fn alerts_reach_a_fake_alertmanager_and_resolve() {
    let am = FakeAlertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: flags\n    interval: 1s\n    rules:\n      - alert: FlagRaised\n        expr: flag == 1\n        for: 1s\n        labels:\n          severity: warn\n        annotations:\n          summary: 'flag is {{ $value }} on {{ $labels.instance }}'\n",
    )
    .unwrap();
    let am_port = am.port;
    let s = start_with(
        dir.path(),
        |_| {
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    dc: eu\nrule_files:\n  - rules.yml\nscrape_configs:\n  - job_name: flag\n    static_configs:\n      - targets: ['127.0.0.1:{am_port}']\nalerting:\n  alert_relabel_configs:\n    - target_label: relabeled\n      replacement: 'yes'\n  alertmanagers:\n    - timeout: 5s\n      static_configs:\n        - targets: ['127.0.0.1:{am_port}', '127.0.0.1:1']\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: '.*:1'\n          action: drop\n"
            )
        },
        &[
            "--rules.alert.resend-delay=1s",
            "--web.external-url=http://hearth.example:9090/",
        ],
    );
    let instance = format!("127.0.0.1:{am_port}");
    let firing = am
        .wait_for(|_, a| a["labels"]["alertname"] == "FlagRaised")
        .expect("no alert reached the fake Alertmanager");
    assert_eq!(
        firing["labels"],
        serde_json::json!({
            "alertname": "FlagRaised", "dc": "eu", "instance": instance, "job": "flag",
            "relabeled": "yes", "severity": "warn"
        })
    );
    assert_eq!(
        firing["annotations"],
        serde_json::json!({"summary": format!("flag is 1 on {instance}")})
    );
    assert_eq!(
        firing["generatorURL"],
        "http://hearth.example:9090/graph?g0.expr=flag+%3D%3D+1&g0.tab=1"
    );
    let starts = rfc3339_ms(firing["startsAt"].as_str().unwrap());
    let ends = rfc3339_ms(firing["endsAt"].as_str().unwrap());
    // A firing alert is valid for a few resend intervals past its last evaluation.
    assert!(ends > starts, "{firing}");

    let v = json(&s.get("/api/v1/alertmanagers").1);
    assert_eq!(
        v["data"],
        serde_json::json!({
            "activeAlertmanagers": [{"url": format!("http://127.0.0.1:{am_port}/api/v2/alerts")}],
            "droppedAlertmanagers": [{"url": "http://127.0.0.1:1/api/v2/alerts"}]
        })
    );
    let (_, metrics) = s.get("/metrics");
    let url = format!("http://127.0.0.1:{am_port}/api/v2/alerts");
    for name in [
        "prometheus_notifications_alertmanagers_discovered 1".to_string(),
        format!("prometheus_notifications_sent_total{{alertmanager=\"{url}\"}} "),
        format!("prometheus_notifications_errors_total{{alertmanager=\"{url}\"}} 0"),
        format!("prometheus_notifications_queue_length{{alertmanager=\"{url}\"}} "),
        format!("prometheus_notifications_latency_seconds_count{{alertmanager=\"{url}\"}} "),
    ] {
        assert!(metrics.contains(&name), "missing {name} in:\n{metrics}");
    }

    // The flag goes down: the resolved alert is sent with endsAt at its resolution (a
    // firing alert's endsAt is always in the future when it arrives).
    am.flag.store(0, Ordering::SeqCst);
    let resolved = am
        .wait_for(|received, a| {
            a["labels"]["alertname"] == "FlagRaised"
                && a["startsAt"] == firing["startsAt"]
                && a["endsAt"]
                    .as_str()
                    .is_some_and(|e| rfc3339_ms(e) <= received)
        })
        .expect("no resolved alert reached the fake Alertmanager");
    assert!(rfc3339_ms(resolved["endsAt"].as_str().unwrap()) > starts);
    drop(s);
}

#[test]
fn alerts_reach_debians_alertmanager() {
    if let Err(why) = ensure_debian("prometheus-alertmanager", "prometheus-alertmanager") {
        eprintln!("SKIPPED alerts_reach_debians_alertmanager: {why}");
        return;
    }
    let am_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        am_dir.path().join("alertmanager.yml"),
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let am_port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .current_dir(am_dir.path())
        .arg("--config.file=alertmanager.yml")
        .arg("--storage.path=data")
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _am = KillOnDrop(child);
    assert!(
        wait_ok(am_port, "/-/ready", 300),
        "prometheus-alertmanager never became ready"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysOn\n        expr: vector(1)\n        labels:\n          severity: info\n        annotations:\n          summary: 'value {{ $value }}'\n",
    )
    .unwrap();
    let _s = start_with(
        dir.path(),
        |_| {
            format!(
                "global:\n  evaluation_interval: 1s\n  external_labels:\n    dc: eu\nrule_files:\n  - rules.yml\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
            )
        },
        &["--rules.alert.resend-delay=1s"],
    );
    let mut body = String::new();
    for _ in 0..600 {
        body = http(am_port, "GET", "/api/v2/alerts", "", "").1;
        if body.contains("AlwaysOn") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let v = json(&body);
    let a = &v[0];
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "AlwaysOn", "dc": "eu", "severity": "info"}),
        "{body}"
    );
    assert_eq!(a["annotations"]["summary"], "value 1");
    assert_eq!(a["status"]["state"], "active");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/graph?g0.expr=vector%281%29&g0.tab=1"),
        "{body}"
    );
}
