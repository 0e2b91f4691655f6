#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scraping real programs on loopback: Debian's `prometheus-node-exporter` and a Python
//! `prometheus_client` app (text and OpenMetrics). Each test says loudly when the
//! program is missing and skips.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use hearth_model::MetricType;
use hearth_scrape::GlobalUrlOptions;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child (which this test started) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_listening(addr: &str) {
    let addr = addr.to_string();
    wait_for(&format!("{addr} to listen"), || {
        std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(200))
            .is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_debian_node_exporter() {
    if !std::path::Path::new(NODE_EXPORTER).exists() {
        eprintln!(
            "SKIPPED: {NODE_EXPORTER} is not installed (apt-get install prometheus-node-exporter)"
        );
        return;
    }
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Guard(child);
    wait_listening(&addr).await;

    let (m, st) = manager();
    apply(
        &m,
        &format!(
            "scrape_configs:\n- job_name: node\n  scrape_interval: 2s\n  static_configs:\n  - targets: ['{addr}']\n"
        ),
    )
    .await;
    wait_scrapes(&st, "node", 1).await;
    let t = &m.active_targets(&GlobalUrlOptions::default())[0];
    assert_eq!(
        last(&st, "up", "node").unwrap().f(),
        1.0,
        "{}",
        t.last_error
    );
    let cpu = job_series(&st, "node_cpu_seconds_total", "node");
    assert!(!cpu.is_empty(), "no node_cpu_seconds_total");
    assert!(cpu.iter().all(|(l, _)| l.has("cpu") && l.has("mode")));
    assert!(last(&st, "node_load1", "node").is_some());
    assert!(last(&st, "scrape_samples_scraped", "node").unwrap().f() > 100.0);
    let targets = m.targets_active();
    let md = targets["node"][0].get_metadata("node_load1").unwrap();
    assert_eq!(md.metric_type, MetricType::Gauge);
    assert_eq!(md.help, "1m load average.");
    m.stop().await;
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

fn python_with_client() -> Option<String> {
    for py in ["python3", "python"] {
        let ok = Command::new(py)
            .args(["-c", "import prometheus_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(py.to_string());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_python_prometheus_client_in_text_and_openmetrics() {
    let Some(py) = python_with_client() else {
        eprintln!("SKIPPED: no python3 with prometheus_client (pip install prometheus_client)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("app.py");
    std::fs::write(&script, PY_APP).unwrap();
    let port = free_port();
    let child = Command::new(py)
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Guard(child);
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&addr).await;

    let (m, st) = manager();
    apply(
        &m,
        &format!(
            "scrape_configs:\n\
             - job_name: text\n  scrape_interval: 1s\n  scrape_protocols: [PrometheusText0.0.4]\n  static_configs:\n  - targets: ['{addr}']\n\
             - job_name: om\n  scrape_interval: 1s\n  scrape_protocols: [OpenMetricsText1.0.0]\n  static_configs:\n  - targets: ['{addr}']\n"
        ),
    )
    .await;
    for job in ["text", "om"] {
        wait_scrapes(&st, job, 1).await;
        let t = m
            .active_targets(&GlobalUrlOptions::default())
            .into_iter()
            .find(|t| t.scrape_pool == job)
            .unwrap();
        assert_eq!(
            last(&st, "up", job).unwrap().f(),
            1.0,
            "{job}: {}",
            t.last_error
        );
        let c = job_series(&st, "app_requests_total", job);
        assert_eq!(c[0].0.get("path"), Some("/"), "{job}");
        assert_eq!(c[0].1.last().unwrap().1.f(), 3.0, "{job}");
        assert_eq!(last(&st, "app_temperature_celsius", job).unwrap().f(), 21.5);
        let buckets = job_series(&st, "app_latency_seconds_bucket", job);
        let les: Vec<&str> = buckets.iter().map(|(l, _)| l.get_or_empty("le")).collect();
        assert_eq!(les.len(), 4, "{job}: {les:?}");
        assert!(les.contains(&"+Inf"));
        assert_eq!(
            last(&st, "app_latency_seconds_count", job).unwrap().f(),
            3.0
        );
        assert_eq!(last(&st, "app_size_bytes_sum", job).unwrap().f(), 512.0);
        // Both expositions of the Python client carry `_created` series, which are
        // ingested as series without created-timestamp ingestion.
        assert!(
            !job_series(&st, "app_requests_created", job).is_empty(),
            "{job}"
        );
        let targets = m.targets_active();
        let md = targets[job][0].get_metadata("app_latency_seconds").unwrap();
        assert_eq!(md.metric_type, MetricType::Histogram, "{job}");
        assert_eq!(md.help, "Latency.");
    }
    m.stop().await;
}
