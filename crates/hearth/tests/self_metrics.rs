//! hearth's own scrape and discovery metrics on `/metrics`: a server scraping itself
//! under jobs that hit the sample, label and target limits, fail to build a target, read
//! a broken SD file, look a name up in DNS and poll an HTTP SD endpoint nobody serves;
//! every `prometheus_target_*` / `prometheus_sd_*` family appears with upstream's type
//! and the ones whose event happened move. The exposition stays valid OpenMetrics, with
//! no `{}` on unlabelled samples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::free_port;
use support::server::{Server, get_until};

/// The value of the sample whose name and labels are `series` (`name{a="b"}`).
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// The `# TYPE` of `family`.
fn type_of<'a>(body: &'a str, family: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("# TYPE {family} ")))
}

#[test]
fn scrape_and_discovery_self_metrics_appear_and_move() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nobody = free_port();
    std::fs::write(dir.path().join("broken.json"), "this is not json").unwrap();
    let me = format!("['127.0.0.1:{port}']");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            r#"global:
  scrape_interval: 200ms
  scrape_timeout: 150ms
scrape_configs:
  - job_name: self
    static_configs: [{{targets: {me}}}]
  - job_name: limited
    sample_limit: 1
    static_configs: [{{targets: {me}}}]
  - job_name: labels
    label_limit: 1
    static_configs: [{{targets: {me}}}]
  - job_name: targets
    target_limit: 1
    static_configs: [{{targets: ['127.0.0.1:{port}', 'localhost:{port}']}}]
  - job_name: bad
    relabel_configs:
      - target_label: __address__
        replacement: bad/address
    static_configs: [{{targets: {me}}}]
  - job_name: files
    file_sd_configs: [{{files: [broken.json]}}]
  - job_name: dns
    dns_sd_configs: [{{names: [hearth-self-metrics.invalid], type: A, port: 1}}]
  - job_name: httpsd
    http_sd_configs: [{{url: 'http://127.0.0.1:{nobody}/sd'}}]
"#
        ),
    )
    .unwrap();
    let s = Server::start_on(dir.path(), port, &[], "");

    let interval_count = r#"prometheus_target_interval_length_seconds_count{interval="200ms"}"#;
    let moved = |b: &str| {
        value(b, interval_count).is_some_and(|v| v >= 3.0)
            && value(
                b,
                "prometheus_target_scrape_pool_exceeded_label_limits_total",
            )
            .is_some_and(|v| v >= 1.0)
            && value(b, "prometheus_target_scrapes_exceeded_sample_limit_total")
                .is_some_and(|v| v >= 1.0)
            && value(
                b,
                "prometheus_target_scrape_pool_exceeded_target_limit_total",
            )
            .is_some_and(|v| v >= 1.0)
            && value(b, "prometheus_sd_http_failures_total").is_some_and(|v| v >= 1.0)
            && value(b, "prometheus_sd_file_read_errors_total").is_some_and(|v| v >= 1.0)
            && value(b, "prometheus_sd_dns_lookups_total").is_some_and(|v| v >= 1.0)
            && value(
                b,
                r#"prometheus_target_metadata_cache_entries{scrape_job="self"}"#,
            )
            .is_some_and(|v| v > 0.0)
            && value(
                b,
                r#"prometheus_target_sync_failed_total{scrape_job="bad"}"#,
            )
            .is_some_and(|v| v >= 1.0)
    };
    let body = get_until(&s, "/metrics", moved);
    assert!(moved(&body), "{body}");

    for (family, typ) in [
        ("prometheus_target_interval_length_seconds", "summary"),
        ("prometheus_target_sync_length_seconds", "summary"),
        ("prometheus_target_sync_failed", "counter"),
        (
            "prometheus_target_scrape_pool_exceeded_label_limits",
            "counter",
        ),
        (
            "prometheus_target_scrape_pool_exceeded_target_limit",
            "counter",
        ),
        ("prometheus_target_scrapes_cache_flush_forced", "counter"),
        ("prometheus_target_scrapes_exemplar_out_of_order", "counter"),
        ("prometheus_target_metadata_cache_entries", "gauge"),
        ("prometheus_target_metadata_cache_bytes", "gauge"),
        ("prometheus_sd_file_read_errors", "counter"),
        ("prometheus_sd_file_scan_duration_seconds", "summary"),
        ("prometheus_sd_dns_lookups", "counter"),
        ("prometheus_sd_dns_lookup_failures", "counter"),
        ("prometheus_sd_http_failures", "counter"),
    ] {
        assert_eq!(type_of(&body, family), Some(typ), "{family} in\n{body}");
    }
    // Upstream's quantiles of the interval summary.
    for q in ["0.01", "0.05", "0.5", "0.9", "0.99"] {
        let series = format!(
            r#"prometheus_target_interval_length_seconds{{interval="200ms",quantile="{q}"}}"#
        );
        assert!(
            value(&body, &series).is_some_and(|v| v > 0.0),
            "{series} in\n{body}"
        );
    }
    assert!(
        value(
            &body,
            r#"prometheus_target_sync_length_seconds_count{scrape_job="self"}"#
        )
        .is_some_and(|v| v >= 1.0),
        "{body}"
    );
    assert!(
        value(
            &body,
            r#"prometheus_target_metadata_cache_bytes{scrape_job="self"}"#
        )
        .is_some_and(|v| v > 0.0),
        "{body}"
    );
    assert!(
        value(&body, "prometheus_sd_file_scan_duration_seconds_count").is_some_and(|v| v >= 1.0),
        "{body}"
    );
    // The good job's sync failed nothing, and says so.
    assert_eq!(
        value(
            &body,
            r#"prometheus_target_sync_failed_total{scrape_job="self"}"#
        ),
        Some(0.0),
        "{body}"
    );

    // The interval summary keeps moving with the scrapes.
    let before = value(&body, interval_count).unwrap();
    let later = get_until(&s, "/metrics", |b| {
        value(b, interval_count).is_some_and(|v| v > before)
    });
    assert!(value(&later, interval_count).unwrap() > before);

    // Unlabelled samples print without braces, and the whole is valid OpenMetrics.
    assert!(!later.contains("{} "), "{later}");
    assert!(
        value(&later, "prometheus_tsdb_head_series").is_some(),
        "{later}"
    );
    assert!(
        value(&later, "prometheus_target_scrape_pools_total").is_some(),
        "{later}"
    );
    let mut p =
        hearth_exposition::OpenMetricsParser::new(later.as_bytes(), Default::default()).unwrap();
    while p
        .next()
        .unwrap_or_else(|e| panic!("{e}\n{later}"))
        .is_some()
    {}
}
