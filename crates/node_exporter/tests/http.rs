//! The HTTP endpoint over a real loopback socket: text format by default, OpenMetrics
//! when asked (and valid by hearth's strict validator), `collect[]`/`exclude[]`, the
//! landing page, exporter metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use hearth_exposition::{OpenMetricsOptions, OpenMetricsParser, OpenMetricsValidator};
use hearth_node_exporter::http::{self, HttpOptions};
use hearth_node_exporter::{HostPaths, NodeExporter, NodeExporterConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(port: u16, path: &str, accept: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.0\r\nHost: x\r\nAccept: {accept}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn telemetry_path_negotiates_formats_and_filters_collectors() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let config = NodeExporterConfig {
        paths: HostPaths::under(&fixtures.join("host")),
        ..Default::default()
    };
    let exporter = Arc::new(NodeExporter::new(&config).unwrap());
    let opts = HttpOptions {
        telemetry_path: "/node/metrics".into(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = http::router(exporter, opts);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (head, body) = get(port, "/node/metrics", "*/*").await;
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(body.contains("# TYPE node_cpu_seconds_total counter\n"));
    assert!(body.contains("node_exporter_build_info{"));
    assert!(body.contains("process_cpu_seconds_total "));
    assert!(!body.contains("# EOF"));

    let (head, body) = get(
        port,
        "/node/metrics",
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3",
    )
    .await;
    assert!(
        head.contains("application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"));
    let mut p = OpenMetricsParser::new(
        body.as_bytes(),
        OpenMetricsOptions {
            strict: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut v = OpenMetricsValidator::new();
    while let Some(e) = p
        .next()
        .unwrap_or_else(|e| panic!("invalid OpenMetrics: {e}"))
    {
        v.entry(&e)
            .unwrap_or_else(|e| panic!("invalid OpenMetrics at line {}: {e}", p.entry_line()));
    }
    v.finish().unwrap();

    let (_, body) = get(
        port,
        "/node/metrics?collect[]=loadavg&collect%5B%5D=meminfo",
        "*/*",
    )
    .await;
    assert!(body.contains("node_load1 0.21"));
    assert!(body.contains("node_memory_MemTotal_bytes"));
    assert!(!body.contains("node_cpu_seconds_total"));
    assert!(body.contains("node_scrape_collector_success{collector=\"loadavg\"} 1"));

    let (_, body) = get(port, "/node/metrics?exclude[]=cpu", "*/*").await;
    assert!(!body.contains("node_cpu_seconds_total") && body.contains("node_load1"));

    let (head, body) = get(port, "/node/metrics?collect[]=nope", "*/*").await;
    assert!(
        head.starts_with("HTTP/1.0 400") || head.starts_with("HTTP/1.1 400"),
        "{head}"
    );
    assert!(body.contains("missing collector: nope"));

    let (head, body) = get(port, "/", "text/html").await;
    assert!(head.contains(" 200 "), "{head}");
    assert!(body.contains("href=\"/node/metrics\""));
}
