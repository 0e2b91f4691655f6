//! `hearth alertmanager` as a process on loopback:
//!
//! - a webhook receiver (a small HTTP server in the test) gets payload version 4 after
//!   `group_wait`; a silence suppresses its alert; restarts keep silences, alerts and
//!   the notification log, so nothing is sent twice and a resolution posted just before
//!   a restart is still notified after it;
//! - Debian's `amtool` (package `prometheus-alertmanager`) drives hearth's API v2:
//!   `alert add/query`, `silence add/query/expire/import`, `config show`,
//!   `config routes test`; skipped loudly when it cannot be installed;
//! - `hearth tool check-alertmanager-config` reports errors with file, line and column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ensure_debian, free_port, http, wait_ok};

mod support;

fn hearth() -> &'static str {
    env!("CARGO_BIN_EXE_hearth")
}

struct Am {
    child: Child,
    port: u16,
}

impl Am {
    fn start(config: &Path, data: &Path, port: u16) -> Am {
        let child = Command::new(hearth())
            .args([
                "alertmanager",
                &format!("--config.file={}", config.display()),
                &format!("--storage.path={}", data.display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--web.external-url=http://am.example.org:9093",
                "--cluster.listen-address=",
                "--log.level=warn",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let am = Am { child, port };
        assert!(
            wait_ok(port, "/-/ready", 200),
            "hearth alertmanager did not become ready"
        );
        am
    }

    /// SIGTERM and wait: the graceful stop that writes the state files.
    fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("hearth alertmanager did not stop on SIGTERM");
    }

    fn get(&self, path: &str) -> Value {
        let (code, body) = http(self.port, "GET", path, "", "");
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn post(&self, path: &str, body: &Value) -> (u16, String) {
        http(
            self.port,
            "POST",
            path,
            "application/json",
            &body.to_string(),
        )
    }
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A webhook receiver: records every JSON body posted to it.
struct Hook {
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    fn start() -> Hook {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = received.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_ok()
                    && let Ok(v) = serde_json::from_slice(&body)
                {
                    r.lock().unwrap().push(v);
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Hook { port, received }
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            if self.count() >= n {
                return self.received.lock().unwrap().clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "webhook got {} notifications, expected {n}: {:?}",
            self.count(),
            self.received.lock().unwrap()
        );
    }
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
    // Unix seconds to civil time (UTC).
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, dd) = hearth_model::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[test]
fn webhook_silences_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start();
    let cfg = dir.path().join("alertmanager.yml");
    // group_interval is long: a notification after the first comes from a restart
    // (new groups flush at once), never from the interval, within this test.
    std::fs::write(
        &cfg,
        format!(
            "route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 10m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{}/hook
",
            hook.port
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let am = Am::start(&cfg, &data, port);

    // A silence for B, then alerts A and B.
    let now = std::time::SystemTime::now();
    let (code, body) = am.post(
        "/api/v2/silences",
        &serde_json::json!({
            "matchers": [{"name": "alertname", "value": "B", "isRegex": false, "isEqual": true}],
            "startsAt": rfc3339(now),
            "endsAt": rfc3339(now + Duration::from_secs(3600)),
            "createdBy": "test",
            "comment": "quiet",
        }),
    );
    assert_eq!(code, 200, "{body}");
    let silence_id = serde_json::from_str::<Value>(&body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, body) = am.post(
        "/api/v2/alerts",
        &serde_json::json!([
            {"labels": {"alertname": "A", "instance": "i1", "severity": "page"},
             "annotations": {"summary": "A is down"},
             "generatorURL": "http://prometheus/graph?g0.expr=up"},
            {"labels": {"alertname": "B", "instance": "i2"}},
        ]),
    );
    assert_eq!(code, 200, "{body}");

    // Payload version 4 for A after group_wait.
    let got = hook.wait_for(1);
    let m = &got[0];
    assert_eq!(m["version"], "4");
    assert_eq!(m["receiver"], "hook");
    assert_eq!(m["status"], "firing");
    assert_eq!(m["groupKey"], "{}:{alertname=\"A\"}");
    assert_eq!(m["groupLabels"], serde_json::json!({"alertname": "A"}));
    assert_eq!(
        m["commonLabels"],
        serde_json::json!({"alertname": "A", "instance": "i1", "severity": "page"})
    );
    assert_eq!(
        m["commonAnnotations"],
        serde_json::json!({"summary": "A is down"})
    );
    assert_eq!(m["externalURL"], "http://am.example.org:9093");
    assert_eq!(m["truncatedAlerts"], 0);
    let a = &m["alerts"][0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["generatorURL"], "http://prometheus/graph?g0.expr=up");
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);

    // B is suppressed by the silence, A is active.
    let alerts = am.get("/api/v2/alerts");
    let by_name = |alerts: &Value, n: &str| -> Value {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name(&alerts, "A")["status"]["state"], "active");
    assert_eq!(by_name(&alerts, "B")["status"]["state"], "suppressed");
    assert_eq!(
        by_name(&alerts, "B")["status"]["silencedBy"][0],
        silence_id.as_str()
    );
    assert_eq!(by_name(&alerts, "A")["receivers"][0]["name"], "hook");
    let groups = am.get("/api/v2/alerts/groups");
    assert_eq!(groups.as_array().unwrap().len(), 2, "{groups}");

    // Restart: silences, alerts and the log survive; A is not sent again.
    am.terminate();
    let am = Am::start(&cfg, &data, port);
    let sil = am.get(&format!("/api/v2/silence/{silence_id}"));
    assert_eq!(sil["status"]["state"], "active");
    let alerts = am.get("/api/v2/alerts");
    assert_eq!(by_name(&alerts, "A")["status"]["state"], "active");
    assert_eq!(by_name(&alerts, "B")["status"]["state"], "suppressed");
    // New groups flush at once after a restart; give them a few group waits.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        hook.count(),
        1,
        "a restart must not re-send: {:?}",
        hook.received.lock().unwrap()
    );

    // Resolve A and expire B's silence, then restart at once: the resolution and B are
    // sent after the restart.
    let (code, body) = am.post(
        "/api/v2/alerts",
        &serde_json::json!([{
            "labels": {"alertname": "A", "instance": "i1", "severity": "page"},
            "annotations": {"summary": "A is down"},
            "endsAt": rfc3339(std::time::SystemTime::now() - Duration::from_secs(1)),
        }]),
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = http(
        port,
        "DELETE",
        &format!("/api/v2/silence/{silence_id}"),
        "",
        "",
    );
    assert_eq!(code, 200);
    am.terminate();
    let am = Am::start(&cfg, &data, port);
    let got = hook.wait_for(3);
    let resolved = got
        .iter()
        .find(|m| m["groupLabels"]["alertname"] == "A" && m["status"] == "resolved")
        .unwrap_or_else(|| panic!("no resolved notification for A: {got:?}"));
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        got.iter()
            .any(|m| m["groupLabels"]["alertname"] == "B" && m["status"] == "firing"),
        "B must be sent once its silence expired: {got:?}"
    );
    assert_eq!(am.get("/api/v2/silences")[0]["status"]["state"], "expired");

    // Metrics with upstream's names.
    let (code, metrics) = http(port, "GET", "/metrics", "", "");
    assert_eq!(code, 200);
    for name in [
        "alertmanager_alerts{",
        "alertmanager_notifications_total{integration=\"webhook\"}",
        "alertmanager_notifications_failed_total{",
        "alertmanager_silences{state=\"expired\"} 1",
        "alertmanager_config_last_reload_successful 1",
    ] {
        assert!(metrics.contains(name), "{name} missing in:\n{metrics}");
    }
    // Reload through the API; a broken file is refused and the old one stays.
    assert_eq!(http(port, "POST", "/-/reload", "", "").0, 200);
    std::fs::write(&cfg, "route: {receiver: nope}\nreceivers: [{name: a}]\n").unwrap();
    let (code, body) = http(port, "POST", "/-/reload", "", "");
    assert_eq!(code, 500);
    assert!(
        body.contains("undefined receiver \\\"nope\\\"")
            || body.contains("undefined receiver \"nope\""),
        "{body}"
    );
    let (_, metrics) = http(port, "GET", "/metrics", "", "");
    assert!(metrics.contains("alertmanager_config_last_reload_successful 0"));
    am.terminate();
}

fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        eprintln!(
            "amtool {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success(), stdout)
}

#[test]
fn amtool_against_hearth() {
    if let Err(e) = ensure_debian("amtool", "prometheus-alertmanager") {
        eprintln!("!!! SKIPPED amtool_against_hearth: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [severity=\"critical\"]
      receiver: oncall
    - match_re: {team: 'db|cache'}
      receiver: storage
      continue: true
    - matchers: [team=\"db\"]
      receiver: dba
receivers:
  - name: default
  - name: oncall
  - name: storage
  - name: dba
",
    )
    .unwrap();
    let port = free_port();
    let am = Am::start(&cfg, &dir.path().join("data"), port);
    let url = format!("http://127.0.0.1:{port}");

    let (ok, _) = amtool(
        &url,
        &[
            "alert",
            "add",
            "alertname=Foo",
            "severity=warning",
            "--annotation=summary=foo happened",
        ],
    );
    assert!(ok);
    let (ok, _) = amtool(
        &url,
        &["alert", "add", "alertname=Bar", "severity=critical"],
    );
    assert!(ok);
    let (ok, out) = amtool(&url, &["alert", "query"]);
    assert!(ok);
    assert!(
        out.contains("Foo") && out.contains("foo happened") && out.contains("Bar"),
        "{out}"
    );
    let (ok, out) = amtool(&url, &["alert", "query", "severity=critical"]);
    assert!(ok && out.contains("Bar") && !out.contains("Foo"), "{out}");

    // Silence Foo: it leaves the default query and shows as suppressed with -s.
    let (ok, id) = amtool(
        &url,
        &[
            "silence",
            "add",
            "alertname=Foo",
            "--comment=maintenance",
            "--author=tester",
            "--duration=2h",
        ],
    );
    assert!(ok);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let (ok, out) = amtool(&url, &["silence", "query"]);
    assert!(
        ok && out.contains(&id) && out.contains("alertname=\"Foo\"") && out.contains("tester"),
        "{out}"
    );
    let (ok, out) = amtool(&url, &["silence", "query", "-q"]);
    assert!(ok);
    assert_eq!(out.trim(), id);
    let (ok, out) = amtool(&url, &["alert", "query"]);
    assert!(ok && !out.contains("Foo") && out.contains("Bar"), "{out}");
    let (ok, out) = amtool(&url, &["alert", "query", "-s"]);
    assert!(
        ok && out.contains("Foo") && out.contains("suppressed"),
        "{out}"
    );

    // Export, expire, import.
    let (ok, json) = amtool(&url, &["silence", "query", "-o", "json"]);
    assert!(ok);
    let export = dir.path().join("silences.json");
    std::fs::write(&export, &json).unwrap();
    let (ok, _) = amtool(&url, &["silence", "expire", &id]);
    assert!(ok);
    let (ok, out) = amtool(&url, &["silence", "query", "-q"]);
    assert!(ok && out.trim().is_empty(), "{out}");
    let (ok, out) = amtool(&url, &["silence", "query", "--expired"]);
    assert!(ok && out.contains(&id), "{out}");
    let (ok, _) = amtool(&url, &["silence", "import", export.to_str().unwrap()]);
    assert!(ok);
    let (ok, out) = amtool(&url, &["silence", "query", "-q"]);
    assert!(ok);
    let imported = out.trim();
    assert!(imported.len() == 36 && imported != id, "{out}");
    let (ok, out) = amtool(&url, &["silence", "query"]);
    assert!(ok && out.contains("maintenance"), "{out}");

    // Configuration: amtool reads config.original back with Alertmanager's own parser.
    let (ok, out) = amtool(&url, &["config", "show"]);
    assert!(
        ok && out.contains("receiver: default") && out.contains("name: dba"),
        "{out}"
    );
    let (ok, out) = amtool(&url, &["config", "routes", "test", "severity=critical"]);
    assert!(ok);
    assert_eq!(out.trim(), "oncall");
    let (ok, out) = amtool(&url, &["config", "routes", "test", "team=db"]);
    assert!(ok);
    assert_eq!(out.trim(), "storage,dba");
    let (ok, out) = amtool(&url, &["config", "routes", "test", "team=web"]);
    assert!(ok);
    assert_eq!(out.trim(), "default");
    let (ok, out) = amtool(&url, &["config", "routes"]);
    assert!(ok && out.contains("receiver: oncall"), "{out}");
    am.terminate();
}

#[test]
fn check_alertmanager_config_tool() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "route:\n  receiver: a\nreceivers:\n  - name: a\n").unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "route:\n  receiver: a\n  group_wiat: 1m\nreceivers:\n  - name: a\n",
    )
    .unwrap();
    let run = |f: &PathBuf| {
        let out = Command::new(hearth())
            .args(["tool", "check-alertmanager-config", f.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&good);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("SUCCESS") && out.contains(" - 1 receivers"),
        "{out}"
    );
    let (code, _, err) = run(&bad);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad.yml:3:3: field \"group_wiat\" not found; did you mean \"group_wait\"?"),
        "{err}"
    );
}

/// Debian's Alertmanager as a process.
struct Upstream {
    child: Child,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drops the fields that depend on when each server received a request.
fn without_times(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for k in ["updatedAt", "uptime", "id"] {
                    o.remove(k);
                }
                for (_, x) in o.iter_mut() {
                    walk(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[test]
fn same_payloads_as_upstream_alertmanager() {
    if let Err(e) = ensure_debian("prometheus-alertmanager", "prometheus-alertmanager") {
        eprintln!("!!! SKIPPED same_payloads_as_upstream_alertmanager: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = |hook: &Hook, name: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [severity=\"critical\"]
      receiver: hook
      group_by: ['...']
inhibit_rules:
  - source_matchers: [severity=\"critical\"]
    target_matchers: [severity=\"warning\"]
    equal: [instance]
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{}/hook
        max_alerts: 2
",
                hook.port
            ),
        )
        .unwrap();
        p
    };
    let (hook_h, hook_u) = (Hook::start(), Hook::start());
    let port_h = free_port();
    let am = Am::start(&config(&hook_h, "h.yml"), &dir.path().join("h"), port_h);
    let port_u = free_port();
    let upstream = Upstream {
        child: Command::new("prometheus-alertmanager")
            .args([
                &format!("--config.file={}", config(&hook_u, "u.yml").display()),
                &format!("--storage.path={}", dir.path().join("u").display()),
                &format!("--web.listen-address=127.0.0.1:{port_u}"),
                "--web.external-url=http://am.example.org:9093",
                "--cluster.listen-address=",
                "--log.level=warn",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    assert!(
        wait_ok(port_u, "/-/ready", 300),
        "upstream alertmanager did not start"
    );

    let post = |port: u16, body: &Value| {
        http(
            port,
            "POST",
            "/api/v2/alerts",
            "application/json",
            &body.to_string(),
        )
    };
    // Start times are recent (the same for both servers), so each group waits
    // group_wait and its first notification holds every alert of the request.
    let start = std::time::SystemTime::now();
    let at = |ms: u64| rfc3339(start + Duration::from_millis(ms));
    let alerts = serde_json::json!([
        {"labels": {"alertname": "Disk", "instance": "a", "severity": "warning"},
         "annotations": {"summary": "disk <90%> & more"},
         "startsAt": at(0), "generatorURL": "http://p/graph?x=1&y=2"},
        {"labels": {"alertname": "Disk", "instance": "b", "severity": "warning"},
         "startsAt": at(5)},
        {"labels": {"alertname": "Disk", "instance": "c", "severity": "warning"},
         "startsAt": at(7)},
        {"labels": {"alertname": "Down", "instance": "b", "severity": "critical"},
         "startsAt": at(0)},
    ]);
    for port in [port_h, port_u] {
        assert_eq!(post(port, &alerts).0, 200);
    }
    // Two groups each: Disk (b inhibited by Down on the same instance; max_alerts 2
    // truncates nothing then) and Down.
    let h = hook_h.wait_for(2);
    let u = hook_u.wait_for(2);
    let key = |m: &Value| m["groupKey"].as_str().unwrap().to_string();
    let mut h: Vec<Value> = h.into_iter().take(2).collect();
    let mut u: Vec<Value> = u.into_iter().take(2).collect();
    h.sort_by_key(key);
    u.sort_by_key(key);
    assert_eq!(h, u, "first notifications differ");

    // Errors and answers of the API.
    for body in [
        serde_json::json!([{"labels": {}}]),
        serde_json::json!([{"labels": {"a": "b"}, "startsAt": "2024-05-01T10:00:00Z", "endsAt": "2024-05-01T09:00:00Z"}]),
        serde_json::json!([{"annotations": {}}]),
    ] {
        assert_eq!(post(port_h, &body), post(port_u, &body), "POST {body}");
    }
    let get = |port: u16, path: &str| {
        let (code, body) = http(port, "GET", path, "", "");
        (
            code,
            serde_json::from_str::<Value>(&body)
                .map(without_times)
                .unwrap_or(Value::String(body)),
        )
    };
    for path in [
        "/api/v2/receivers",
        "/api/v2/alerts?filter=alertname%3D%22Down%22",
        "/api/v2/alerts?inhibited=false",
        "/api/v2/alerts?filter=foo",
        "/api/v2/silence/abc",
    ] {
        let (ch, bh) = get(port_h, path);
        let (cu, bu) = get(port_u, path);
        // endsAt of alerts without one is "now + resolve_timeout" on each side.
        let strip = |v: Value| -> Value {
            let mut v = v;
            if let Value::Array(a) = &mut v {
                for x in a {
                    if let Some(o) = x.as_object_mut() {
                        o.remove("endsAt");
                    }
                }
            }
            v
        };
        assert_eq!((ch, strip(bh)), (cu, strip(bu)), "GET {path}");
    }
    let (_, sh) = get(port_h, "/api/v2/status");
    let (_, su) = get(port_u, "/api/v2/status");
    assert_eq!(sh["cluster"], su["cluster"]);
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&sh), keys(&su));
    assert_eq!(keys(&sh["versionInfo"]), keys(&su["versionInfo"]));

    // A silence answers the same way.
    let silence = serde_json::json!({
        "matchers": [{"name": "instance", "value": "c", "isRegex": false, "isEqual": true}],
        "startsAt": at(0), "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "test", "comment": "quiet c",
    });
    for port in [port_h, port_u] {
        let (code, body) = http(
            port,
            "POST",
            "/api/v2/silences",
            "application/json",
            &silence.to_string(),
        );
        assert_eq!(code, 200, "{body}");
    }
    let (ch, bh) = get(port_h, "/api/v2/silences");
    let (cu, bu) = get(port_u, "/api/v2/silences");
    let no_start = |mut v: Value| {
        if let Some(o) = v[0].as_object_mut() {
            o.remove("startsAt");
        }
        v
    };
    assert_eq!((ch, no_start(bh)), (cu, no_start(bu)));

    // Resolve Down: b is no longer inhibited, c is silenced, so the Disk group now
    // sends a and b; Down's group sends its resolution.
    let resolve = serde_json::json!([
        {"labels": {"alertname": "Down", "instance": "b", "severity": "critical"},
         "startsAt": at(0), "endsAt": at(500)},
    ]);
    for port in [port_h, port_u] {
        assert_eq!(post(port, &resolve).0, 200);
    }
    let h = hook_h.wait_for(4);
    let u = hook_u.wait_for(4);
    let mut h: Vec<Value> = h.into_iter().skip(2).take(2).collect();
    let mut u: Vec<Value> = u.into_iter().skip(2).take(2).collect();
    h.sort_by_key(key);
    u.sort_by_key(key);
    assert_eq!(h, u, "notifications after the resolution differ");
    drop(upstream);
    am.terminate();
}

#[test]
fn route_prefix_and_web_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, "route: {receiver: a}\nreceivers: [{name: a}]\n").unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let port = free_port();
    let mut child = Command::new(hearth())
        .args([
            "alertmanager",
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.path={}", dir.path().join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            &format!("--web.external-url=http://127.0.0.1:{port}/am/"),
            &format!("--web.config.file={}", web.display()),
            "--log.level=warn",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up);
    // Without credentials: 401; the API lives under the prefix.
    assert_eq!(http(port, "GET", "/am/api/v2/status", "", "").0, 401);
    let auth = |path: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // alice:s3cret
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(auth("/am/api/v2/status").starts_with("HTTP/1.1 200"));
    assert!(auth("/am/-/healthy").starts_with("HTTP/1.1 200"));
    assert!(auth("/api/v2/status").starts_with("HTTP/1.1 404"));
    if ensure_debian("amtool", "prometheus-alertmanager").is_ok() {
        let url = format!("http://alice:s3cret@127.0.0.1:{port}/am");
        let (ok, _) = amtool(&url, &["alert", "add", "alertname=Behind"]);
        assert!(ok);
        let (ok, out) = amtool(&url, &["alert", "query"]);
        assert!(ok && out.contains("Behind"), "{out}");
    } else {
        eprintln!("!!! SKIPPED the amtool part of route_prefix_and_web_config: amtool missing");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn prometheus_sends_alerts_to_hearth() {
    if let Err(e) = ensure_debian("prometheus", "prometheus") {
        eprintln!("!!! SKIPPED prometheus_sends_alerts_to_hearth: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &cfg,
        format!(
            "route:\n  receiver: hook\n  group_wait: 1s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{}/\n",
            hook.port
        ),
    )
    .unwrap();
    let am_port = free_port();
    let am = Am::start(&cfg, &dir.path().join("am"), am_port);
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n- name: t\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n    labels: {severity: page}\n    annotations: {summary: 'value {{ $value }}'}\n",
    )
    .unwrap();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let mut prom = Command::new("prometheus")
        .args([
            &format!("--config.file={}", prom_cfg.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            // Alerts found before discovery delivered the Alertmanager are dropped;
            // resend soon instead of after a minute.
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = hook.wait_for(1);
    let _ = prom.kill();
    let _ = prom.wait();
    let a = &got[0]["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "AlwaysFiring");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["annotations"]["summary"], "value 1");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{a}"
    );
    let alerts = am.get("/api/v2/alerts");
    assert_eq!(alerts[0]["labels"]["alertname"], "AlwaysFiring");
    am.terminate();
}
