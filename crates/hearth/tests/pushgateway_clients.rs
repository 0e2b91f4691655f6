//! `hearth pushgateway` against real clients and real upstream programs, all on loopback:
//!
//! - Python's `prometheus_client` (`push_to_gateway`, `pushadd_to_gateway`,
//!   `delete_from_gateway`, grouping keys with `/` and empty values): hearth's `/metrics`
//!   and `/api/v1/metrics` show exactly the pushed samples with the grouping labels;
//! - a restart with `--persistence.file` keeps every group, push times included;
//! - a real Prometheus (Debian's `prometheus`) scrapes hearth with `honor_labels: true`
//!   and its query API returns the pushed series with their grouping labels;
//! - Debian's `prometheus-pushgateway` 1.5.1 receives the same requests as hearth: status
//!   codes, response texts and `/metrics` output are compared, and each loads the
//!   other's persistence file.
//!
//! A missing program is installed (pip or apt) when possible; otherwise the test prints
//! "SKIPPED: …" and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth_exposition::{FamilyCollector, TextParser};
use support::{ensure_debian, free_port};

mod support;

struct Proc {
    child: Child,
    port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// SIGTERM and wait: the graceful stop that writes the persistence file.
    fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("process {} did not stop on SIGTERM", self.child.id());
    }
}

struct Response {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A server that answers before reading the whole body (Go's pushgateway on a bad path)
    // may reset the connection after its answer: keep what arrived.
    if let Err(e) = s.read_to_end(&mut raw)
        && (e.kind() != std::io::ErrorKind::ConnectionReset || raw.is_empty())
    {
        return Err(e.to_string());
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok(Response {
        status,
        headers: head.to_ascii_lowercase(),
        body: raw[split + 4..].to_vec(),
    })
}

fn get(port: u16, path: &str) -> String {
    let r = request(port, "GET", path, &[("Accept", "text/plain")], b"").unwrap();
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.text()
}

fn wait_ready(p: &Proc, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(p.port, "GET", "/-/ready", &[], b"").map(|r| r.status) != Ok(200) {
        assert!(
            Instant::now() < deadline,
            "{what} did not answer on {}",
            p.port
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_hearth(args: &[&str]) -> Proc {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("pushgateway")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc { child, port };
    wait_ready(&p, "hearth pushgateway");
    p
}

/// Python with `prometheus_client`, installed with pip when missing.
fn ensure_python_client() -> Result<(), String> {
    let have = || {
        Command::new("python3")
            .args(["-c", "import prometheus_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have() {
        return Ok(());
    }
    let _ = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "prometheus_client",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if have() {
        Ok(())
    } else {
        Err("python3 with prometheus_client is not available and pip install failed".into())
    }
}

const CLIENT: &str = r#"
import sys
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, Summary,
    delete_from_gateway, generate_latest, push_to_gateway, pushadd_to_gateway)

gateway, step = sys.argv[1], sys.argv[2]
key = {"instance": "host/1", "empty": ""}

def full():
    r = CollectorRegistry()
    Gauge("job_last_success_unixtime", "Last time the batch job succeeded.", registry=r).set(1234.5)
    c = Counter("job_records", "Records processed.", ["kind"], registry=r)
    c.labels("a").inc(3)
    c.labels("b").inc(0.5)
    h = Histogram("job_duration_seconds", "Duration of the job.", buckets=(0.1, 1.0), registry=r)
    h.observe(0.5)
    h.observe(3)
    s = Summary("job_batch_size", "Batch sizes.", registry=r)
    s.observe(7)
    return r

def extra(name, value):
    r = CollectorRegistry()
    Gauge(name, "An extra gauge.", registry=r).set(value)
    return r

if step == "push":
    r = full()
    push_to_gateway(gateway, job="batch", registry=r, grouping_key=key)
    sys.stdout.write(generate_latest(r).decode())
elif step == "pushadd":
    r = extra("job_extra", 42)
    pushadd_to_gateway(gateway, job="batch", registry=r, grouping_key=key)
    sys.stdout.write(generate_latest(r).decode())
elif step == "replace":
    r = extra("job_other", 7)
    push_to_gateway(gateway, job="batch", registry=r, grouping_key=key)
    sys.stdout.write(generate_latest(r).decode())
elif step == "second":
    r = extra("job_extra", 1)
    push_to_gateway(gateway, job="nightly", registry=r)
    sys.stdout.write(generate_latest(r).decode())
elif step == "delete":
    delete_from_gateway(gateway, job="batch", grouping_key=key)
"#;

fn client(dir: &Path, port: u16, step: &str) -> String {
    let script = dir.join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(format!("127.0.0.1:{port}"))
        .arg(step)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client step {step} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `name{labels} value` lines of an exposition, sorted; `keep` filters by labels.
fn samples(text: &str, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> Vec<String> {
    let mut p = TextParser::new(text.as_bytes()).unwrap();
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().unwrap() {
        c.push(&e);
    }
    let mut out = Vec::new();
    for f in c.finish() {
        for s in f.samples {
            let labels: BTreeMap<String, String> = s.labels.iter().cloned().collect();
            if keep(&labels) {
                out.push(format!("{} {labels:?} {}", s.name, s.value));
            }
        }
    }
    out.sort();
    out
}

/// What the client pushed, with the grouping labels hearth must add.
fn expected(pushed: &str, grouping: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = samples(pushed, |_| true)
        .into_iter()
        .map(|line| {
            let (name, rest) = line.split_once(' ').unwrap();
            let (labels, value) = rest.rsplit_once(' ').unwrap();
            let mut map: BTreeMap<String, String> = if labels == "{}" {
                BTreeMap::new()
            } else {
                labels
                    .trim_matches(|c| c == '{' || c == '}')
                    .split(", ")
                    .map(|kv| {
                        let (k, v) = kv.split_once(": ").unwrap();
                        (
                            k.trim_matches('"').to_string(),
                            v.trim_matches('"').to_string(),
                        )
                    })
                    .collect()
            };
            for (k, v) in grouping {
                map.insert(k.to_string(), v.to_string());
            }
            format!("{name} {map:?} {value}")
        })
        .collect();
    out.sort();
    out
}

fn group_samples(metrics: &str, job: &str) -> Vec<String> {
    samples(metrics, |l| {
        l.get("job").map(String::as_str) == Some(job) && !l.contains_key("__never__")
    })
    .into_iter()
    .filter(|s| !s.starts_with("push_time_seconds") && !s.starts_with("push_failure_time_seconds"))
    .collect()
}

const GROUPING: &[(&str, &str)] = &[("empty", ""), ("instance", "host/1"), ("job", "batch")];

#[test]
fn python_client_push_pushadd_delete_and_restart() {
    if let Err(why) = ensure_python_client() {
        println!("SKIPPED: prometheus_client test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pushgateway.db");
    let file_arg = format!("--persistence.file={}", file.display());
    let pg = start_hearth(&[&file_arg]);

    // push_to_gateway: exactly the pushed samples, with the grouping labels.
    let pushed = client(dir.path(), pg.port, "push");
    let metrics = get(pg.port, "/metrics");
    assert_eq!(
        group_samples(&metrics, "batch"),
        expected(&pushed, GROUPING)
    );
    assert!(metrics.contains("push_time_seconds{empty=\"\",instance=\"host/1\",job=\"batch\"} "));
    assert!(
        metrics.contains(
            "push_failure_time_seconds{empty=\"\",instance=\"host/1\",job=\"batch\"} 0\n"
        )
    );
    assert!(metrics.contains("# TYPE job_duration_seconds histogram\n"));
    assert!(metrics.contains("# HELP job_records_total Records processed.\n"));

    // pushadd_to_gateway adds a family and keeps the others.
    let added = client(dir.path(), pg.port, "pushadd");
    let mut both = expected(&pushed, GROUPING);
    both.extend(expected(&added, GROUPING));
    both.sort();
    assert_eq!(group_samples(&get(pg.port, "/metrics"), "batch"), both);

    // push_to_gateway replaces the whole group.
    let replaced = client(dir.path(), pg.port, "replace");
    assert_eq!(
        group_samples(&get(pg.port, "/metrics"), "batch"),
        expected(&replaced, GROUPING)
    );

    // Another group; /api/v1/metrics lists both with their labels and values.
    client(dir.path(), pg.port, "second");
    let api: serde_json::Value = serde_json::from_str(&get(pg.port, "/api/v1/metrics")).unwrap();
    assert_eq!(api["status"], "success");
    let groups = api["data"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let batch = groups
        .iter()
        .find(|g| g["labels"]["job"] == "batch")
        .unwrap();
    assert_eq!(
        batch["labels"],
        serde_json::json!({"empty": "", "instance": "host/1", "job": "batch"})
    );
    assert_eq!(batch["last_push_successful"], true);
    assert_eq!(batch["job_other"]["type"], "GAUGE");
    assert_eq!(batch["job_other"]["help"], "An extra gauge.");
    assert_eq!(batch["job_other"]["metrics"][0]["value"], "7");
    assert_eq!(
        batch["job_other"]["metrics"][0]["labels"],
        serde_json::json!({"empty": "", "instance": "host/1", "job": "batch"})
    );
    assert!(batch.get("job_last_success_unixtime").is_none());

    // A restart keeps every group, push times included.
    let before = get(pg.port, "/api/v1/metrics");
    pg.terminate();
    assert!(file.exists(), "the persistence file is written on shutdown");
    let pg = start_hearth(&[&file_arg]);
    assert_eq!(get(pg.port, "/api/v1/metrics"), before);

    // delete_from_gateway removes the group, the other stays.
    client(dir.path(), pg.port, "delete");
    let metrics = get(pg.port, "/metrics");
    assert!(group_samples(&metrics, "batch").is_empty());
    assert_eq!(group_samples(&metrics, "nightly").len(), 1);
}

#[test]
fn prometheus_scrapes_pushed_series_with_grouping_labels() {
    if let Err(why) = ensure_debian("prometheus", "prometheus") {
        println!("SKIPPED: Prometheus scrape test: {why}");
        return;
    }
    let pg = start_hearth(&[]);
    let body = "# TYPE batch_rows gauge\nbatch_rows{table=\"t1\"} 17\n\
                # TYPE batch_runs_total counter\nbatch_runs_total 3\n";
    let r = request(
        pg.port,
        "PUT",
        "/metrics/job/nightly/instance@base64/ZGIvMQ",
        &[],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pushgateway\n    \
             honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            pg.port
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prom = Proc { child, port };
    wait_ready(&prom, "prometheus");
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let r = request(prom.port, "GET", "/api/v1/query?query=batch_rows", &[], b"");
        if let Ok(r) = r {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if v["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                break v["data"]["result"].clone();
            }
        }
        assert!(Instant::now() < deadline, "Prometheus never saw batch_rows");
        std::thread::sleep(Duration::from_millis(300));
    };
    let series = &result[0];
    assert_eq!(
        series["metric"],
        serde_json::json!({"__name__": "batch_rows", "instance": "db/1", "job": "nightly", "table": "t1"})
    );
    assert_eq!(series["value"][1], "17");
    // push_time_seconds came along, and the scrape itself was healthy.
    let q = request(
        prom.port,
        "GET",
        "/api/v1/query?query=up%7Bjob%3D%22pushgateway%22%7D",
        &[],
        b"",
    )
    .unwrap();
    let up: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let q = request(
        prom.port,
        "GET",
        "/api/v1/query?query=push_time_seconds",
        &[],
        b"",
    )
    .unwrap();
    let pt: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
    assert_eq!(pt["data"]["result"][0]["metric"]["job"], "nightly", "{pt}");
}

/// Requests both gateways get, in order: (method, path, content type, body).
fn cases() -> Vec<(&'static str, String, &'static str, Vec<u8>)> {
    let text = |s: &str| s.as_bytes().to_vec();
    let proto = {
        use hearth_exposition::proto;
        let f = proto::MetricFamily {
            name: "proto_gauge".into(),
            help: "Pushed as protobuf.".into(),
            r#type: proto::MetricType::Gauge as i32,
            metric: vec![proto::Metric {
                label: vec![proto::LabelPair {
                    name: "k".into(),
                    value: "v".into(),
                }],
                gauge: Some(proto::Gauge { value: 2.5 }),
                ..Default::default()
            }],
            unit: String::new(),
        };
        hearth_exposition::protobuf::encode_delimited(&[f])
    };
    let pb = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    vec![
        (
            "PUT",
            "/metrics/job/j1".into(),
            "",
            text("# TYPE a gauge\n# HELP a Help of a.\na{x=\"1\"} 1\na{x=\"2\"} 2\nb 3\n"),
        ),
        (
            "POST",
            "/metrics/job/j1".into(),
            "",
            text("b 4\nc_total{job=\"ignored\"} 5\n"),
        ),
        (
            "PUT",
            "/metrics/job/j2/instance/i1".into(),
            "",
            text(
                "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n",
            ),
        ),
        (
            "PUT",
            "/metrics/job@base64/L2pvYi8z/path@base64/L3Zhci90bXA/empty@base64/=".into(),
            "",
            text("d 1\n"),
        ),
        ("PUT", "/metrics/job/j4".into(), pb, proto),
        ("POST", "/metrics/job/j1".into(), "", Vec::new()),
        ("PUT", "/metrics/job/j5/a".into(), "", text("e 1\n")),
        ("PUT", "/metrics/job/j5/__a/1".into(), "", text("e 1\n")),
        (
            "PUT",
            "/metrics/job/j5/a@base64/a=b".into(),
            "",
            text("e 1\n"),
        ),
        ("PUT", "/metrics/job@base64/=".into(), "", text("e 1\n")),
        ("PUT", "/metrics/job/j6".into(), "", text("e 1 1234\n")),
        (
            "PUT",
            "/metrics/job/j7".into(),
            "",
            text("# TYPE a counter\na 1\n"),
        ),
        ("PUT", "/metrics/job/j8".into(), "", text("a{x=\"1\"} 1\n")),
        ("PUT", "/metrics/job/j9".into(), "", text("f 1\nf 2\n")),
        (
            "PUT",
            "/metrics/job/j10".into(),
            "",
            text("# HELP g x\n# HELP g y\ng 1\n"),
        ),
        (
            "PUT",
            "/metrics/job/j11".into(),
            "",
            text("# TYPE process_cpu_seconds_total gauge\nprocess_cpu_seconds_total 1\n"),
        ),
        (
            "PUT",
            "/metrics/job/j12".into(),
            "",
            text("# HELP process_max_fds Mine.\n# TYPE process_max_fds gauge\nprocess_max_fds 1\n"),
        ),
        (
            "PUT",
            "/metrics/job/j13/a/1".into(),
            "",
            text("h_count 1\n"),
        ),
        ("PUT", "/metrics/job/j1/x//y".into(), "", text("e 1\n")),
        ("GET", "/metrics/job/j1".into(), "", Vec::new()),
        (
            "DELETE",
            "/metrics/job/j2/instance/i1".into(),
            "",
            Vec::new(),
        ),
        ("DELETE", "/metrics/job/nonexistent".into(), "", Vec::new()),
        (
            "PUT",
            "/metrics/job/j14".into(),
            "",
            text("broken line here\n"),
        ),
        ("GET", "/-/healthy".into(), "", Vec::new()),
        ("GET", "/-/ready".into(), "", Vec::new()),
        ("PUT", "/-/quit".into(), "", Vec::new()),
        ("GET", "/-/quit".into(), "", Vec::new()),
        ("GET", "/nonexistent".into(), "", Vec::new()),
    ]
}

/// The first line of a response text, with protobuf's two text styles (`<…>` in old Go,
/// `{…}` in new) and Go's odd spacing made alike.
fn normalize(s: &str) -> String {
    s.replace(":<", ":{")
        .replace(" >", "}")
        .replace("> ", "} ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Own metrics (`process_*`, `go_*`, build info, HTTP counters) differ by nature.
fn pushed_only(metrics: &str) -> Vec<String> {
    let own = |n: &str| {
        n.starts_with("go_")
            || (n.starts_with("process_") && !n.starts_with("process_max_fds"))
            || n.starts_with("pushgateway_")
            || n.starts_with("promhttp_")
    };
    let mut lines: Vec<String> = Vec::new();
    let mut skip = false;
    for l in metrics.lines() {
        let name = l
            .strip_prefix("# HELP ")
            .or_else(|| l.strip_prefix("# TYPE "))
            .unwrap_or(l)
            .split(['{', ' '])
            .next()
            .unwrap_or("");
        if l.starts_with("# HELP ") {
            skip = own(name);
        }
        if skip || own(name) {
            continue;
        }
        // Push times differ by when each gateway got the push.
        let l = if name.starts_with("push_") && !l.ends_with(" 0") {
            format!("{} <time>", l.rsplit_once(' ').unwrap().0)
        } else {
            l.to_string()
        };
        lines.push(l);
    }
    lines
}

#[test]
fn same_answers_as_upstream_pushgateway() {
    if let Err(why) = ensure_debian("prometheus-pushgateway", "prometheus-pushgateway") {
        println!("SKIPPED: comparison with upstream's pushgateway: {why}");
        return;
    }
    let hearth = start_hearth(&["--web.enable-admin-api"]);
    let port = free_port();
    let child = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-admin-api")
        // Debian's default keeps a file in /var/lib/prometheus; keep this one in memory.
        .arg("--persistence.file=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let upstream = Proc { child, port };
    wait_ready(&upstream, "prometheus-pushgateway");
    let mut report = String::new();
    let mut differences = Vec::new();
    for (method, path, ct, body) in cases() {
        let headers: Vec<(&str, &str)> = if ct.is_empty() {
            vec![]
        } else {
            vec![("Content-Type", ct)]
        };
        let h = request(hearth.port, method, &path, &headers, &body).unwrap();
        let u = request(upstream.port, method, &path, &headers, &body)
            .unwrap_or_else(|e| panic!("upstream {method} {path}: {e}"));
        let (ht, ut) = (normalize(&h.text()), normalize(&u.text()));
        report.push_str(&format!(
            "{method} {path}: hearth {} {ht:?} | upstream {} {ut:?}\n",
            h.status, u.status
        ));
        if h.status != u.status {
            differences.push(format!(
                "{method} {path}: status {} vs {}",
                h.status, u.status
            ));
        }
        // Parse errors are worded by different parsers, and which of two inconsistent
        // families upstream reports first depends on Go's map order; the rest matches.
        let either_order = ut.starts_with("pushed metrics are invalid or inconsistent")
            && ht.starts_with("pushed metrics are invalid or inconsistent")
            && [" is not a ", "error(s) occurred", " collides with "]
                .iter()
                .any(|w| ut.contains(w));
        if ht != ut && !ut.starts_with("text format parsing error") && !either_order {
            differences.push(format!("{method} {path}: {ht:?} vs {ut:?}"));
        }
        if u.status == 301 {
            assert!(
                h.headers.contains("location: /metrics/job/j1/x/y"),
                "{}",
                h.headers
            );
        }
    }
    let (hm, um) = (get(hearth.port, "/metrics"), get(upstream.port, "/metrics"));
    assert_eq!(pushed_only(&hm), pushed_only(&um), "{report}");
    // The protobuf exposition holds the same families.
    let accept = [(
        "Accept",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    )];
    let hp = request(hearth.port, "GET", "/metrics", &accept, b"").unwrap();
    let up = request(upstream.port, "GET", "/metrics", &accept, b"").unwrap();
    assert!(hp.headers.contains("application/vnd.google.protobuf"));
    let names = |b: &[u8]| -> Vec<String> {
        let mut p = hearth_exposition::ProtobufParser::new(b, Default::default());
        let mut out = Vec::new();
        while let Some(e) = p.next().unwrap() {
            if let hearth_exposition::Entry::Type { name, .. } = e
                && !name.starts_with("go_")
                && !name.starts_with("process_")
                && !name.starts_with("pushgateway_")
                && !name.starts_with("promhttp_")
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        out
    };
    assert_eq!(names(&hp.body), names(&up.body));
    // The JSON API agrees group by group (upstream lists groups in random order).
    let groups = |port: u16| -> BTreeMap<String, serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&get(port, "/api/v1/metrics")).unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let mut g = g.clone();
                for (_, f) in g.as_object_mut().unwrap().iter_mut() {
                    if let Some(o) = f.as_object_mut() {
                        o.remove("time_stamp");
                        if let Some(ms) = o.get_mut("metrics").and_then(|m| m.as_array_mut()) {
                            for m in ms {
                                if let Some(v) = m.get_mut("value")
                                    && v != "0"
                                    && v.as_str().is_some_and(|s| s.contains("e+09"))
                                {
                                    *v = "<time>".into();
                                }
                            }
                        }
                    }
                }
                (g["labels"].to_string(), g)
            })
            .collect()
    };
    assert_eq!(groups(hearth.port), groups(upstream.port), "{report}");
    // Wipe empties both.
    for p in [hearth.port, upstream.port] {
        assert_eq!(
            request(p, "PUT", "/api/v1/admin/wipe", &[], b"")
                .unwrap()
                .status,
            202
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(groups(hearth.port).is_empty());
    assert!(groups(upstream.port).is_empty());
    println!("{report}");
    assert!(
        differences.is_empty(),
        "differences from upstream:\n{}\n\n{report}",
        differences.join("\n")
    );
}

#[test]
fn persistence_files_are_interchangeable_with_upstream() {
    if let Err(why) = ensure_debian("prometheus-pushgateway", "prometheus-pushgateway") {
        println!("SKIPPED: persistence file comparison with upstream: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let start_upstream = |file: &PathBuf| {
        let port = free_port();
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--persistence.file={}", file.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Proc { child, port };
        wait_ready(&p, "prometheus-pushgateway");
        p
    };
    let push_some = |port: u16| {
        for (path, body) in [
            (
                "/metrics/job/a/instance/x",
                "# HELP m Help.\n# TYPE m counter\nm{k=\"v\"} 1\n",
            ),
            (
                "/metrics/job/b/path@base64/L3Zhci90bXA",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            ),
            (
                "/metrics/job/c/empty@base64/=",
                "# TYPE s summary\ns{quantile=\"0.9\"} 1\ns_sum 1\ns_count 1\n",
            ),
        ] {
            let r = request(port, "PUT", path, &[], body.as_bytes()).unwrap();
            assert_eq!(r.status, 200);
        }
        // A refused push leaves a failure time.
        let r = request(port, "PUT", "/metrics/job/a/instance/x", &[], b"m 1 5\n").unwrap();
        assert_eq!(r.status, 400);
    };
    let api = |port: u16| -> BTreeMap<String, serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&get(port, "/api/v1/metrics")).unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["labels"].to_string(), g.clone()))
            .collect()
    };

    // Upstream writes, hearth reads.
    let up_file = dir.path().join("upstream.db");
    let up = start_upstream(&up_file);
    push_some(up.port);
    let written = api(up.port);
    up.terminate();
    let h = start_hearth(&[&format!("--persistence.file={}", up_file.display())]);
    let mut read = api(h.port);
    // Go keeps the zone of the local clock in times; hearth writes UTC. Compare instants.
    let strip_times = |m: &mut BTreeMap<String, serde_json::Value>| {
        for g in m.values_mut() {
            for (_, f) in g.as_object_mut().unwrap().iter_mut() {
                if let Some(o) = f.as_object_mut() {
                    o.remove("time_stamp");
                }
            }
        }
    };
    let mut written_no_times = written.clone();
    strip_times(&mut written_no_times);
    strip_times(&mut read);
    assert_eq!(read, written_no_times);
    h.terminate();

    // hearth writes, upstream reads.
    let h_file = dir.path().join("hearth.db");
    let h = start_hearth(&[&format!("--persistence.file={}", h_file.display())]);
    push_some(h.port);
    let mut written = api(h.port);
    h.terminate();
    let up = start_upstream(&h_file);
    let mut read = api(up.port);
    strip_times(&mut written);
    strip_times(&mut read);
    assert_eq!(read, written);
    drop(up);
}
