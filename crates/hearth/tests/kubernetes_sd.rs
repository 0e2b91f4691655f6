#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `hearth server` with a `kubernetes_sd_configs` job pointing at a fake API server on
//! loopback (the one the discovery crate's tests use) whose pod points at a real
//! loopback exporter: the target appears in `/api/v1/targets` with the pod's
//! discovered labels, is scraped, and goes when the API server sends DELETED.

mod support;

#[path = "../../discovery/tests/support/fake_apiserver.rs"]
mod fake_apiserver;

use serde_json::{Value, json};
use support::server::{Server, get_until, query_until};

fn pod(name: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "labels": {"app": "exporter"}},
        "spec": {"nodeName": "node-1", "containers": [
            {"name": "exporter", "image": "exporter:1",
             "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

#[test]
fn pods_from_the_api_server_are_scraped_and_removed() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let api = rt.block_on(fake_apiserver::FakeApiServer::start());
    let exporter = rt.block_on(async {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { "# TYPE k8s_demo_value gauge\nk8s_demo_value 42\n" }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await });
        port
    });
    api.apply("pods", pod("exporter-0", exporter));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: k8s\n    \
             kubernetes_sd_configs:\n      - role: pod\n        api_server: {}\n        namespaces: {{names: [shop]}}\n    \
             relabel_configs:\n      - source_labels: [__meta_kubernetes_pod_name]\n        target_label: pod\n",
            api.url()
        ),
    )
    .unwrap();
    let s = Server::start(dir.path(), &[]);

    let body = get_until(&s, "/api/v1/targets", |b| {
        b.contains("exporter-0") && b.contains("\"health\":\"up\"")
    });
    let v: Value = serde_json::from_str(&body).unwrap();
    let active = v["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{body}");
    let t = &active[0];
    let d = &t["discoveredLabels"];
    let addr = format!("127.0.0.1:{exporter}");
    for (name, value) in [
        ("__address__", addr.as_str()),
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_pod_name", "exporter-0"),
        ("__meta_kubernetes_pod_label_app", "exporter"),
        ("__meta_kubernetes_pod_labelpresent_app", "true"),
        ("__meta_kubernetes_pod_container_name", "exporter"),
        ("__meta_kubernetes_pod_container_port_name", "metrics"),
        (
            "__meta_kubernetes_pod_container_port_number",
            &exporter.to_string(),
        ),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "node-1"),
        ("job", "k8s"),
    ] {
        assert_eq!(d[name].as_str(), Some(value), "{name} in {d}");
    }
    assert_eq!(t["labels"]["pod"], "exporter-0");
    assert_eq!(t["labels"]["instance"].as_str(), Some(addr.as_str()));
    let r = query_until(&s, "k8s_demo_value{pod=\"exporter-0\"}", |r| !r.is_empty());
    assert!(!r.is_empty(), "the pod's exporter was never scraped");

    let metrics = s.get("/metrics").1;
    assert!(
        value(
            &metrics,
            "prometheus_sd_kubernetes_events_total{event=\"add\",role=\"pod\"}"
        ) >= 1.0
    );
    assert_eq!(
        value(
            &metrics,
            "prometheus_target_scrape_pool_targets{scrape_job=\"k8s\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "prometheus_sd_discovered_targets{config=\"k8s\",name=\"scrape\"}"
        ),
        1.0
    );
    assert!(value(&metrics, "prometheus_target_scrape_pools_total") >= 1.0);
    assert!(
        value(
            &metrics,
            "prometheus_target_scrape_pool_sync_total{scrape_job=\"k8s\"}"
        ) >= 1.0
    );
    assert!(value(&metrics, "prometheus_sd_updates_total{name=\"scrape\"}") >= 1.0);

    api.delete("pods", "shop", "exporter-0");
    let body = get_until(&s, "/api/v1/targets", |b| {
        serde_json::from_str::<Value>(b).is_ok_and(|v| {
            v["data"]["activeTargets"]
                .as_array()
                .is_some_and(|a| a.is_empty())
        })
    });
    assert!(!body.contains("exporter-0"), "{body}");
    let metrics = s.get("/metrics").1;
    assert!(
        value(
            &metrics,
            "prometheus_sd_kubernetes_events_total{event=\"delete\",role=\"pod\"}"
        ) >= 1.0
    );
    assert_eq!(
        value(
            &metrics,
            "prometheus_target_scrape_pool_targets{scrape_job=\"k8s\"}"
        ),
        0.0
    );
}

/// The value of the sample written exactly as `series` (or `series{}`) in an exposition.
fn value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(series)?;
            let rest = rest.strip_prefix("{}").unwrap_or(rest);
            rest.strip_prefix(' ')?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {series} in:\n{exposition}"))
}
