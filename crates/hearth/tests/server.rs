//! `hearth server` as a process on loopback, with data backfilled into its data directory
//! by `hearth tool tsdb create-blocks-from openmetrics`: Debian's `promtool query
//! instant|range|series|labels` against it, Grafana-style POST forms, admin snapshot,
//! reload and quit over HTTP, a bad configuration's exit code and message, and Debian's
//! `prometheus` scraping hearth's `/federate`. Without promtool or prometheus (and no
//! root to install them) those parts print SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::server::{KillOnDrop, Server, hearth, query, query_until};
use support::{ensure_debian, free_port, http, wait_ok};

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An hour of `up` (two targets) and a counter, every 15s, ending at `end` (seconds),
/// written as blocks into `dir/data`.
fn backfill(dir: &Path, end: i64) -> PathBuf {
    let start = end - 3600;
    let mut om = String::from("# TYPE up gauge\n");
    for t in (start..end).step_by(15) {
        om.push_str(&format!("up{{job=\"prom\",instance=\"a:9090\"}} 1 {t}\n"));
        om.push_str(&format!("up{{job=\"node\",instance=\"b:9100\"}} 0 {t}\n"));
    }
    om.push_str("# TYPE reqs counter\n");
    for t in (start..end).step_by(15) {
        om.push_str(&format!("reqs_total{{job=\"api\"}} {} {t}\n", t - start));
    }
    om.push_str("# EOF\n");
    let input = dir.join("data.om");
    std::fs::write(&input, om).unwrap();
    let data = dir.join("data");
    let out = hearth()
        .args(["tool", "tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backfill failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn promtool_queries_work_against_hearth() {
    if let Err(why) = ensure_debian("promtool", "prometheus") {
        eprintln!("SKIPPED promtool_queries_work_against_hearth: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let end = now_s();
    backfill(dir.path(), end);
    let s = Server::start(dir.path(), &[]);
    let url = s.url();

    let out = promtool(&["query", "instant", &url, "sum by (job) (up)"]);
    let mut lines: Vec<&str> = out
        .lines()
        .map(|l| l.split(" @[").next().unwrap())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        ["{job=\"node\"} => 0", "{job=\"prom\"} => 1"],
        "{out}"
    );

    // Three steps, five minutes apart, ending at the last sample.
    let last = end - 15;
    let out = promtool(&[
        "query",
        "range",
        &format!("--start={}", last - 600),
        &format!("--end={last}"),
        "--step=5m",
        &url,
        "reqs_total",
    ]);
    let want = format!(
        "reqs_total{{job=\"api\"}} =>\n{} @[{}]\n{} @[{}]\n{} @[{}]\n",
        3600 - 15 - 600,
        last - 600,
        3600 - 15 - 300,
        last - 300,
        3600 - 15,
        last
    );
    assert_eq!(out, want);

    let out = promtool(&["query", "series", "--match=up", &url]);
    assert_eq!(
        out,
        "{__name__=\"up\", instance=\"a:9090\", job=\"prom\"}\n{__name__=\"up\", instance=\"b:9100\", job=\"node\"}\n"
    );
    let out = promtool(&["query", "labels", &url, "job"]);
    assert_eq!(out, "api\nnode\nprom\n");
}

#[test]
fn grafana_style_requests_admin_reload_and_quit() {
    let dir = tempfile::tempdir().unwrap();
    let end = now_s();
    let data = backfill(dir.path(), end);
    let s = Server::start(
        dir.path(),
        &["--web.enable-lifecycle", "--web.enable-admin-api"],
    );

    // Grafana's data source: POST form, Unix seconds, step in seconds.
    let last = end - 15;
    let (status, body) = s.post(
        "/api/v1/query_range",
        &format!("query=sum%28up%29&start={}&end={last}&step=60", last - 120),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[[{},"1"],[{},"1"],[{last},"1"]]}}]}}}}"#,
            last - 120,
            last - 60
        )
    );
    let (status, body) = s.post("/api/v1/query", "query=up%7B&time=1");
    assert_eq!(status, 400);
    assert!(
        body.starts_with(
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:"#
        ),
        "{body}"
    );

    // Admin: a snapshot holds the backfilled block.
    let (status, body) = s.post("/api/v1/admin/tsdb/snapshot", "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = v["data"]["name"].as_str().unwrap();
    let snap = data.join("snapshots").join(name);
    let blocks = std::fs::read_dir(&snap).unwrap().count();
    assert!(blocks >= 1, "no block in {}", snap.display());

    // Reload: a bad file keeps the old configuration and says where the problem is.
    let config = s.dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_intervalx: 15s\n").unwrap();
    let (status, body) = s.post("/-/reload", "");
    assert_eq!(status, 500);
    assert!(
        body.starts_with("failed to reload config: ")
            && body.contains("prometheus.yml:2:3: field \"scrape_intervalx\" not found"),
        "{body}"
    );
    let (_, body) = s.get("/api/v1/status/runtimeinfo");
    assert!(body.contains(r#""reloadConfigSuccess":false"#), "{body}");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 15s\n  external_labels:\n    dc: eu\n",
    )
    .unwrap();
    assert_eq!(s.post("/-/reload", "").0, 200);
    let (_, body) = s.get("/api/v1/status/config");
    assert!(body.contains("dc: eu"), "{body}");
    let (_, body) = s.get("/api/v1/status/runtimeinfo");
    assert!(body.contains(r#""reloadConfigSuccess":true"#), "{body}");

    let mut s = s;
    let (status, body) = s.post("/-/quit", "");
    assert_eq!(
        (status, body.as_str()),
        (200, "Requesting termination... Goodbye!")
    );
    let code = s.child.wait().unwrap();
    assert!(code.success(), "{code}");
    // The lock was released: the directory opens again.
    assert!(!data.join("lock").exists());
}

#[test]
fn bad_config_exits_2_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  scrape_intervalx: 15s\n",
    )
    .unwrap();
    let out = hearth()
        .current_dir(dir.path())
        .args(["server", "--web.listen-address=127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error loading config (--config.file=prometheus.yml): prometheus.yml:2:3: field \"scrape_intervalx\" not found; did you mean \"scrape_interval\"?"),
        "{err}"
    );
    // Nothing was created before the configuration was known to be good.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn external_url_path_prefixes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    backfill(dir.path(), now_s());
    let s = Server::start_at(
        dir.path(),
        &["--web.external-url=http://hearth.example:9090/prom/"],
        "/prom",
    );
    let (status, body) = s.get("/prom/api/v1/label/job/values");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"success","data":["api","node","prom"]}"#)
    );
    assert_eq!(s.get("/api/v1/label/job/values").0, 404);
    let (_, flags) = s.get("/prom/api/v1/status/flags");
    assert!(
        flags.contains(r#""web.external-url":"http://hearth.example:9090/prom/""#),
        "{flags}"
    );
    // Grafana sends steps with fractions too.
    let (status, body) = s.post(
        "/prom/api/v1/query_range",
        &format!(
            "query=up&start={}&end={}&step=7.5",
            now_s() - 30,
            now_s() - 15
        ),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn bad_web_config_file_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), "").unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    )
    .unwrap();
    let out = hearth()
        .current_dir(dir.path())
        .args([
            "server",
            "--web.listen-address=127.0.0.1:0",
            "--web.config.file=web.yml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.crt"), "{err}");
}

#[test]
fn lifecycle_and_admin_are_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(
        s.post("/-/reload", ""),
        (403, "Lifecycle API is not enabled.".to_string())
    );
    assert_eq!(
        s.post("/api/v1/admin/tsdb/snapshot", ""),
        (
            500,
            r#"{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}"#
                .to_string()
        )
    );
    let (status, body) = s.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains("prometheus_config_last_reload_successful 1"),
        "{body}"
    );
}

#[test]
fn real_prometheus_scrapes_hearth_federate() {
    if let Err(why) = ensure_debian("prometheus", "prometheus") {
        eprintln!("SKIPPED real_prometheus_scrapes_hearth_federate: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Samples up to now, so the latest is within federation's lookback.
    backfill(dir.path(), now_s() + 1);
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  external_labels:\n    dc: eu\n",
    )
    .unwrap();
    let hearth = Server::start(dir.path(), &[]);

    let prom_port = free_port();
    let _prom = start_prometheus(prom_port, |_| {
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{{__name__=~\"up|reqs_total\"}}']\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            hearth.port
        )
    });
    // Wait for the scrape to land (bounded attempts; the check is on content).
    let q = "/api/v1/query?query=count%20by%20%28job%2Cdc%29%20%28%7Bjob%3D~%22prom%7Cnode%7Capi%22%7D%29";
    let mut body = String::new();
    for _ in 0..300 {
        body = http(prom_port, "GET", q, "", "").1;
        if body.contains("\"api\"") && body.contains("\"node\"") && body.contains("\"prom\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut got: Vec<String> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}={}",
                r["metric"]["job"].as_str().unwrap_or(""),
                r["metric"]["dc"].as_str().unwrap_or(""),
                r["value"][1].as_str().unwrap_or("")
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, ["api/eu=1", "node/eu=1", "prom/eu=1"], "{body}");
}

const PY_APP: &str = r#"
import sys, time
from prometheus_client import start_http_server, Counter, Gauge, Histogram, Summary
c = Counter('app_requests', 'Requests served.', ['path'])
g = Gauge('app_temperature_celsius', 'Temperature.')
h = Histogram('app_latency_seconds', 'Latency.', buckets=[0.1, 0.5, 1.0])
s = Summary('app_size_bytes', 'Sizes.')
c.labels('/').inc(3)
g.set(21.5)
for v in (0.05, 0.3, 2.0):
    h.observe(v)
s.observe(512)
start_http_server(int(sys.argv[1]), addr='127.0.0.1')
deadline = time.time() + 300
while time.time() < deadline:
    time.sleep(0.2)
"#;

fn python_with_client() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import prometheus_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[test]
fn scraped_series_come_back_through_the_query_api_and_go_stale() {
    let Some(py) = python_with_client() else {
        eprintln!(
            "SKIPPED scraped_series_come_back_through_the_query_api_and_go_stale: no python3 with prometheus_client (pip install prometheus_client)"
        );
        return;
    };
    let node = match ensure_debian("prometheus-node-exporter", "prometheus-node-exporter") {
        Ok(()) => {
            let port = free_port();
            let child = Command::new("prometheus-node-exporter")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            Some((KillOnDrop(child), port))
        }
        Err(why) => {
            eprintln!("SKIPPED (node exporter part): {why}");
            None
        }
    };
    let app_port = free_port();
    let mut app = Command::new(py)
        .args(["-c", PY_APP, &app_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{app_port}']\n"
    );
    if let Some((_, port)) = &node {
        config.push_str(&format!(
            "  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ));
    }
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let s = Server::start(dir.path(), &[]);

    let got = query_until(&s, "app_requests_total", |r| !r.is_empty());
    assert_eq!(
        got,
        [format!(
            "{{\"__name__\":\"app_requests_total\",\"instance\":\"127.0.0.1:{app_port}\",\"job\":\"app\",\"path\":\"/\"}}=3"
        )]
    );
    assert!(query(&s, "app_temperature_celsius")[0].ends_with("=21.5"));
    assert!(query(&s, "app_latency_seconds_bucket{le=\"0.5\"}")[0].ends_with("=2"));
    assert!(query(&s, "app_latency_seconds_count")[0].ends_with("=3"));
    assert!(query(&s, "app_size_bytes_sum")[0].ends_with("=512"));
    assert!(query(&s, "up{job=\"app\"}")[0].ends_with("=1"));
    if node.is_some() {
        let load = query_until(&s, "node_load1", |r| !r.is_empty());
        assert_eq!(load.len(), 1, "{load:?}");
        let cpus = query(&s, "count(node_cpu_seconds_total{mode=\"idle\"})");
        assert_eq!(cpus.len(), 1, "{cpus:?}");
    }
    let (status, body) = s.get("/api/v1/targets");
    assert_eq!(status, 200);
    assert!(body.contains("\"health\":\"up\""), "{body}");

    // The target stops: its series are marked stale at the next scrape, so an instant
    // query no longer returns them (well within the 5m lookback), and up turns 0.
    let _ = app.kill();
    let _ = app.wait();
    let gone = query_until(&s, "app_temperature_celsius", |r| r.is_empty());
    assert!(gone.is_empty(), "still there: {gone:?}");
    let up = query_until(&s, "up{job=\"app\"}", |r| {
        r.iter().any(|x| x.ends_with("=0"))
    });
    assert!(up[0].ends_with("=0"), "{up:?}");
    let (_, body) = s.get("/api/v1/targets");
    assert!(body.contains("\"health\":\"down\""), "{body}");
}

#[test]
fn real_prometheus_remote_writes_into_hearth() {
    if let Err(why) = ensure_debian("prometheus", "prometheus") {
        eprintln!("SKIPPED real_prometheus_remote_writes_into_hearth: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--web.enable-remote-write-receiver"]);

    let prom_port = free_port();
    let prom = start_prometheus(prom_port, |p| {
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    sender: debian\nscrape_configs:\n  - job_name: prom\n    static_configs:\n      - targets: ['127.0.0.1:{p}']\nremote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n",
            s.port
        )
    });
    let got = query_until(&s, "up{job=\"prom\"}", |r| !r.is_empty());
    assert_eq!(
        got,
        [format!(
            "{{\"__name__\":\"up\",\"instance\":\"127.0.0.1:{prom_port}\",\"job\":\"prom\",\"sender\":\"debian\"}}=1"
        )]
    );
    // A counter Prometheus sent is there with its whole series set.
    let sent = query_until(&s, "count(prometheus_http_requests_total)", |r| {
        !r.is_empty()
    });
    assert_eq!(sent.len(), 1, "{sent:?}");
    drop(prom);
}

/// Debian's `prometheus` on `port` with the configuration `config(port)` gives, in a
/// temporary directory, ready; killed on drop.
fn start_prometheus(port: u16, config: impl Fn(u16) -> String) -> (KillOnDrop, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), config(port)).unwrap();
    let child = Command::new("prometheus")
        .current_dir(dir.path())
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.path=data")
        .arg("--config.file=prometheus.yml")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = KillOnDrop(child);
    assert!(wait_ok(port, "/-/ready", 300), "prometheus never ready");
    (p, dir)
}
