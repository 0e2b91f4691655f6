//! Against a real Prometheus (Debian's `prometheus`, 2.42): it scrapes itself and
//! remote-writes to hearth's receiver (this crate's router over `MemStorage`), and it
//! remote-reads a series only hearth has from hearth's read server. Skipped, loudly,
//! when `/usr/bin/prometheus` is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hearth_model::labels;
use hearth_remote::http::{RemoteEndpoints, router};
use hearth_remote::{ReadHandler, WriteReceiver};
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::Appendable;
use support::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_remote_writes_to_and_reads_from_hearth() {
    if !std::path::Path::new(PROMETHEUS).exists() {
        eprintln!("SKIPPED: {PROMETHEUS} not found (apt-get install prometheus)");
        return;
    }
    let storage = Arc::new(MemStorage::new());
    // A series only hearth has, for Prometheus to read remotely.
    let t = now();
    let mut app = storage.appender();
    app.append(
        None,
        &labels!("__name__" => "hearth_only_metric", "origin" => "hearth"),
        t,
        42.0,
    )
    .unwrap();
    app.commit().unwrap();
    let hearth = serve(router(RemoteEndpoints {
        write: Some((Arc::new(WriteReceiver::default()), storage.clone())),
        read: Some((
            Arc::new(ReadHandler::new(Default::default())),
            storage.clone(),
        )),
    }));

    let dir = tempfile::tempdir().unwrap();
    let prom = free_port();
    let config = format!(
        r#"
global:
  scrape_interval: 1s
  external_labels:
    sender: prom
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:{prom}']
remote_write:
  - url: http://127.0.0.1:{hearth}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 50ms
remote_read:
  - url: http://127.0.0.1:{hearth}/api/v1/read
    read_recent: true
    filter_external_labels: false
"#
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = KillOnDrop(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    // Prometheus scrapes itself and sends `up` with its external label.
    let up = labels!("__name__" => "up", "instance" => format!("127.0.0.1:{prom}").as_str(), "job" => "prometheus", "sender" => "prom");
    let mut arrived = false;
    for _ in 0..600 {
        let series = dump(storage.as_ref());
        if series
            .iter()
            .any(|(l, s)| *l == up && s.iter().any(|(_, v)| *v == Value::Float(1.0)))
            && series.len() > 50
        {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(
        arrived,
        "samples from prometheus never arrived; {} series; prometheus log:\n{log}",
        dump(storage.as_ref()).len()
    );
    let names: Vec<String> = dump(storage.as_ref())
        .iter()
        .filter_map(|(l, _)| l.metric_name().map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "prometheus_build_info"),
        "{names:?}"
    );
    assert!(
        dump(storage.as_ref())
            .iter()
            .all(|(l, _)| l.get("sender") == Some("prom") || l.get("origin") == Some("hearth")),
        "every written series carries the sender's external label"
    );

    // Prometheus reads hearth's series through remote read.
    let url = format!("http://127.0.0.1:{prom}/api/v1/query");
    let client = hearth_config::HttpClientConfig::default()
        .build_client("test")
        .unwrap();
    let body = client
        .get(format!(
            "{url}?query=hearth_only_metric&time={}",
            t as f64 / 1000.0
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{body}");
    let result = &v["data"]["result"];
    assert_eq!(result.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(result[0]["metric"]["origin"], "hearth", "{body}");
    assert_eq!(result[0]["value"][1], "42", "{body}");
}
