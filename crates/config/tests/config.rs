#![allow(clippy::unwrap_used, clippy::expect_used)]
//! prometheus.yml end to end: the big good fixture, upstream's example configurations,
//! every bad fixture with its error text and position, and the effective configuration
//! printed back as YAML.

use std::path::{Path, PathBuf};

use hearth_config::{Config, ModelDuration, ScrapeProtocol};
use hearth_model::ValidationScheme;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

fn load(name: &str) -> Config {
    Config::load_file(&testdata(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn good_config_loads_with_upstream_defaults() {
    let cfg = load("conf.good.yml");
    let dir = testdata("");
    let g = &cfg.global;
    assert_eq!(g.scrape_interval, ModelDuration::from_secs(15));
    assert_eq!(g.scrape_timeout, ModelDuration::from_secs(10));
    assert_eq!(g.evaluation_interval, ModelDuration::from_secs(30));
    assert_eq!(g.external_labels.0.get("monitor"), Some("codelab"));
    assert_eq!(g.body_size_limit.0, 15 << 20);
    assert_eq!(
        g.query_log_file,
        dir.join("query.log").display().to_string()
    );
    assert_eq!(cfg.runtime.gogc, 42);
    assert_eq!(
        cfg.rule_files,
        [dir.join("first.rules"), dir.join("my/*.rules")].map(|p| p.display().to_string())
    );

    let jobs: Vec<&str> = cfg
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(
        jobs,
        [
            "prometheus",
            "service-x",
            "service-y",
            "service-z",
            "service-kubernetes",
            "service-kubernetes-namespaces",
            "service-kuma-like-proxy",
            "legacy-names",
            "0123service-xxx",
            "測試"
        ]
    );
    let p = &cfg.scrape_configs[0];
    assert!(p.honor_labels && p.honor_timestamps);
    assert_eq!(p.scrape_interval, ModelDuration::from_secs(15));
    assert_eq!(p.scrape_timeout, ModelDuration::from_secs(10));
    assert_eq!(p.metrics_path, "/metrics");
    assert_eq!(p.scheme, "http");
    assert_eq!(p.sample_limit, 1500, "inherited from global");
    assert_eq!(p.scrape_protocols, hearth_config::DEFAULT_SCRAPE_PROTOCOLS);
    assert_eq!(
        p.fallback_scrape_protocol,
        Some(ScrapeProtocol::PrometheusText0_0_4)
    );
    assert_eq!(p.relabel_configs.len(), 6);
    assert_eq!(p.relabel_configs[0].replacement, "foo-${1}");
    let auth = p.http_client.authorization.as_ref().unwrap();
    assert_eq!(auth.kind, "Bearer");
    assert_eq!(
        auth.credentials_file,
        dir.join("valid_token_file").display().to_string()
    );
    assert_eq!(
        p.service_discovery.file_sd_configs[0].refresh_interval,
        ModelDuration::from_secs(600)
    );
    assert_eq!(
        p.service_discovery.file_sd_configs[1].files,
        [dir.join("bar/*.yaml").display().to_string()]
    );
    assert_eq!(p.service_discovery.static_configs[0].targets.len(), 2);

    let x = &cfg.scrape_configs[1];
    assert_eq!(x.scrape_timeout, ModelDuration::from_secs(5));
    assert_eq!(x.body_size_limit.0, 10 << 20);
    assert_eq!(
        x.service_discovery.dns_sd_configs[1].refresh_interval,
        ModelDuration::from_secs(30)
    );
    assert_eq!(x.service_discovery.dns_sd_configs[1].record_type, "SRV");
    assert_eq!(
        x.http_client.basic_auth.as_ref().unwrap().password.expose(),
        "multiline\\nmysecret\\ntest"
    );

    let z = &cfg.scrape_configs[3];
    assert!(!z.honor_timestamps && z.track_timestamps_staleness && !z.enable_compression);
    assert_eq!(
        z.scrape_protocols[0],
        ScrapeProtocol::PrometheusProto,
        "native histograms favour protobuf"
    );
    assert_eq!(z.params["module"], ["http_2xx"]);

    let legacy = cfg
        .scrape_configs
        .iter()
        .find(|s| s.job_name == "legacy-names")
        .unwrap();
    assert_eq!(legacy.validation_scheme(), ValidationScheme::Legacy);
    assert_eq!(legacy.metric_name_escaping_scheme, "dots");
    assert_eq!(
        legacy.relabel_configs[0].name_validation_scheme,
        Some(ValidationScheme::Legacy)
    );

    assert_eq!(cfg.alerting.alertmanagers.len(), 2);
    assert_eq!(
        cfg.alerting.alertmanagers[0].timeout,
        ModelDuration::from_secs(5)
    );
    assert_eq!(
        cfg.alerting.alertmanagers[1].timeout,
        ModelDuration::from_secs(10)
    );
    assert_eq!(cfg.alerting.alertmanagers[1].api_version, "v2");

    assert_eq!(cfg.remote_write.len(), 2);
    let rw = &cfg.remote_write[1];
    assert_eq!(rw.protobuf_message, "io.prometheus.write.v2.Request");
    assert_eq!(rw.queue_config.capacity, 2500);
    assert_eq!(rw.queue_config.max_samples_per_send, 2000, "default kept");
    assert!(!rw.metadata_config.send);
    assert!(
        !rw.http_client.enable_http2,
        "remote write defaults to HTTP/1.1"
    );
    assert_eq!(
        cfg.remote_read[0].remote_timeout,
        ModelDuration::from_secs(60)
    );
    assert!(cfg.remote_read[1].filter_external_labels);

    let tsdb = cfg.storage.tsdb.as_ref().unwrap();
    assert_eq!(
        tsdb.out_of_order_time_window,
        ModelDuration::from_secs(1800)
    );
    assert_eq!(
        cfg.storage.exemplars.as_ref().unwrap().max_exemplars,
        100_000
    );
    assert_eq!(cfg.tracing.endpoint, "localhost:4317");
    assert_eq!(cfg.otlp.translation_strategy, "NoUTF8EscapingWithSuffixes");
    assert_eq!(cfg.otlp.promote_resource_attributes.len(), 3);
}

#[test]
fn upstream_example_configs_load() {
    let cfg = load("prometheus.example.yml");
    assert_eq!(cfg.scrape_configs[0].job_name, "prometheus");
    assert_eq!(
        cfg.scrape_configs[0].service_discovery.static_configs[0]
            .labels
            .get("app"),
        Some("prometheus")
    );
    assert!(cfg.rule_files.is_empty());
    assert_eq!(cfg.alerting.alertmanagers.len(), 1);

    let k8s = load("prometheus-kubernetes.yml");
    assert_eq!(k8s.scrape_configs.len(), 7);
    let roles: Vec<&str> = k8s
        .scrape_configs
        .iter()
        .map(|s| s.service_discovery.kubernetes_sd_configs[0].role.as_str())
        .collect();
    assert_eq!(
        roles,
        [
            "endpoints",
            "node",
            "node",
            "endpoints",
            "service",
            "ingress",
            "pod"
        ]
    );
    let pods = &k8s.scrape_configs[6]
        .service_discovery
        .kubernetes_sd_configs[0];
    assert!(pods.attach_metadata.node);
    assert_eq!(pods.selectors[0].label, "app=web");
}

#[test]
fn empty_file_is_the_default_config() {
    let cfg = Config::load_str("", "empty.yml").unwrap();
    assert_eq!(cfg, Config::default());
    assert_eq!(cfg.global.scrape_interval, ModelDuration::from_secs(60));
    assert_eq!(cfg.global.evaluation_interval, ModelDuration::from_secs(60));
}

/// Every bad fixture: the exact message and the line and column it points at.
#[test]
fn bad_configs_fail_with_position_and_upstream_wording() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "unknown_attr.bad.yml",
            (3, 5),
            r#"field "consult_sd_configs" not found; expected one of: job_name,"#,
        ),
        (
            "unknown_global_attr.bad.yml",
            (2, 3),
            r#"field "nonexistent_field" not found"#,
        ),
        (
            "jobname_dup.bad.yml",
            (5, 5),
            r#"found multiple scrape configs with job name "prometheus""#,
        ),
        (
            "scrape_interval.bad.yml",
            (2, 5),
            r#"scrape timeout greater than scrape interval for scrape config with job name "prometheus""#,
        ),
        (
            "global_timeout.bad.yml",
            (2, 3),
            "global scrape timeout greater than scrape interval",
        ),
        (
            "labelname.bad.yml",
            (2, 3),
            r#""not$allowed" is not a valid label name"#,
        ),
        (
            "regex.bad.yml",
            (4, 9),
            "error parsing regexp: missing closing ): `abc(def`",
        ),
        (
            "relabel_action.bad.yml",
            (4, 9),
            r#"unknown relabel action "replaceall""#,
        ),
        (
            "modulus_missing.bad.yml",
            (4, 9),
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "target_label_missing.bad.yml",
            (4, 9),
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "target_label_legacy.bad.yml",
            (4, 5),
            r#""not.legacy" is invalid 'target_label' for replace action"#,
        ),
        (
            "url_in_targetgroup.bad.yml",
            (2, 5),
            r#""http://bad" is not a valid hostname"#,
        ),
        (
            "remote_write_url_missing.bad.yml",
            (2, 5),
            "url for remote_write is empty",
        ),
        (
            "remote_write_url_invalid.bad.yml",
            (2, 10),
            r#"parse "http://a b/push": "#,
        ),
        (
            "remote_write_dup.bad.yml",
            (4, 5),
            r#"found multiple remote write configs with job name "queue1""#,
        ),
        (
            "remote_write_authorization_header.bad.yml",
            (2, 5),
            "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
        ),
        (
            "bearertoken_basicauth.bad.yml",
            (2, 5),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "duration.bad.yml",
            (3, 22),
            r#"not a valid duration string: "5m1h""#,
        ),
        (
            "empty_scrape_config.bad.yml",
            (2, 4),
            "empty or null scrape config section",
        ),
        ("jobname_missing.bad.yml", (2, 5), "job_name is empty"),
        (
            "rules.bad.yml",
            (2, 5),
            r#"invalid rule file path "a/*/b.rules""#,
        ),
        (
            "file_sd_name.bad.yml",
            (2, 5),
            r#"path name "foo/*/bar.json" is not valid for file discovery"#,
        ),
        (
            "dns_port.bad.yml",
            (2, 5),
            "a port is required in DNS-SD configs for all record types except SRV",
        ),
        (
            "http_sd_url.bad.yml",
            (4, 9),
            "URL scheme must be 'http' or 'https'",
        ),
        (
            "kubernetes_role.bad.yml",
            (4, 9),
            r#"unknown Kubernetes SD role "pods""#,
        ),
        (
            "scrape_protocol.bad.yml",
            (3, 48),
            "unknown scrape protocol nope, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]",
        ),
        (
            "unsupported_sd.bad.yml",
            (2, 5),
            "consul_sd_configs is not supported by hearth yet",
        ),
        (
            "escaping.bad.yml",
            (2, 5),
            "utf8 metric names requested but validation scheme is not set to UTF8",
        ),
        (
            "tracing_endpoint.bad.yml",
            (2, 3),
            "tracing endpoint must be set",
        ),
        (
            "otlp_translation.bad.yml",
            (4, 3),
            r#"OTLP translation strategy "NoTranslation" is not allowed when UTF8 is disabled"#,
        ),
        (
            "alertmanager_api.bad.yml",
            (3, 7),
            "expected Alertmanager api version to be one of [v2] but got v1",
        ),
        ("yaml_syntax.bad.yml", (2, 15), "expected string scalar"),
    ];
    let fixtures = std::fs::read_dir(testdata("")).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".bad.yml")
    });
    assert_eq!(
        fixtures.count(),
        cases.len(),
        "every bad fixture has a case"
    );
    for (file, pos, want) in cases {
        let path = testdata(file);
        let err = Config::load_file(&path).expect_err(file);
        assert_eq!(err.position, Some(*pos), "{file}: {err}");
        assert!(err.message.starts_with(want), "{file}: {}", err.message);
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{}:{}:{}: ", path.display(), pos.0, pos.1)),
            "{shown}"
        );
    }
}

#[test]
fn misspelt_field_gets_a_suggestion() {
    let err = Config::load_str(
        "scrape_configs:\n  - job_name: a\n    scrap_interval: 1m\n",
        "prometheus.yml",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"prometheus.yml:3:5: field "scrap_interval" not found; did you mean "scrape_interval"?"#
    );
}

#[test]
fn effective_config_hides_secrets_and_round_trips() {
    let cfg = load("conf.good.yml");
    let yaml = cfg.to_yaml();
    for secret in ["admin_password", "mysecret", "456", "secret-token"] {
        assert!(!yaml.contains(secret), "{secret} leaked:\n{yaml}");
    }
    assert!(yaml.contains("password: <secret>"), "{yaml}");
    assert!(yaml.contains("credentials: <secret>"), "{yaml}");
    assert!(
        yaml.contains("source_labels: [job, __meta_dns_name]"),
        "{yaml}"
    );
    // Upstream's order: global, runtime, alerting, rule_files, scrape_configs, storage,
    // tracing, remote_write, remote_read, otlp.
    let order: Vec<usize> = [
        "global:",
        "runtime:",
        "alerting:",
        "rule_files:",
        "scrape_configs:",
        "storage:",
        "tracing:",
        "remote_write:",
        "remote_read:",
        "otlp:",
    ]
    .iter()
    .map(|k| yaml.find(&format!("\n{k}")).map_or(0, |i| i + 1))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{yaml}");

    // The printed configuration loads again (secrets now read `<secret>`) and gives the
    // same structure.
    let again = Config::load_str(&yaml, "effective.yml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(again.scrape_configs.len(), cfg.scrape_configs.len());
    for (a, b) in again.scrape_configs.iter().zip(&cfg.scrape_configs) {
        assert_eq!(a.job_name, b.job_name);
        assert_eq!(a.scrape_interval, b.scrape_interval);
        assert_eq!(a.relabel_configs, b.relabel_configs);
        assert_eq!(
            a.service_discovery.configs().len(),
            b.service_discovery.configs().len()
        );
    }
    assert_eq!(again.to_yaml(), yaml, "printing is a fixed point");
}

#[test]
fn example_prints_like_upstream() {
    let cfg = load("prometheus.example.yml");
    let yaml = cfg.to_yaml();
    let want = "\
scrape_configs:
- job_name: prometheus
  honor_timestamps: true
  track_timestamps_staleness: false
  scrape_interval: 15s
  scrape_timeout: 10s
  scrape_protocols:
  - OpenMetricsText1.0.0
  - OpenMetricsText0.0.1
  - PrometheusText1.0.0
  - PrometheusText0.0.4
";
    assert!(yaml.contains(want), "{yaml}");
    assert!(yaml.contains("  static_configs:\n  - targets:\n    - localhost:9090\n    labels:\n      app: prometheus\n"), "{yaml}");
}

#[test]
fn external_labels_expand_environment_variables() {
    // SAFETY: only this test uses this variable; no thread reads it concurrently.
    unsafe { std::env::set_var("HEARTH_TEST_REGION", "eu-west") };
    let cfg = Config::load_str(
        "global:\n  external_labels:\n    region: ${HEARTH_TEST_REGION}\n    literal: $$HEARTH_TEST_REGION\n    missing: a-${HEARTH_TEST_UNSET_VAR}\n",
        "env.yml",
    )
    .unwrap();
    let l = &cfg.global.external_labels.0;
    assert_eq!(l.get("region"), Some("eu-west"));
    assert_eq!(l.get("literal"), Some("$HEARTH_TEST_REGION"));
    assert_eq!(l.get("missing"), Some("a-"));
    // Nowhere else: a relabel replacement keeps its `$1`.
    let cfg = Config::load_str(
        "scrape_configs:\n  - job_name: ${HEARTH_TEST_REGION}\n",
        "env.yml",
    )
    .unwrap();
    assert_eq!(cfg.scrape_configs[0].job_name, "${HEARTH_TEST_REGION}");
}

#[test]
fn scrape_config_files_join_the_main_jobs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  scrape_interval: 20s\nscrape_config_files: [\"jobs/*.yml\"]\nscrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    std::fs::write(
        dir.path().join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: extra\n    file_sd_configs: [{files: [targets.json]}]\n",
    )
    .unwrap();
    let cfg = Config::load_file(&dir.path().join("prometheus.yml")).unwrap();
    let all = cfg.all_scrape_configs().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].scrape_interval,
        ModelDuration::from_secs(20),
        "global applies"
    );
    assert_eq!(
        all[1].service_discovery.file_sd_configs[0].files[0],
        dir.path().join("jobs/targets.json").display().to_string(),
        "relative to the scrape config file"
    );
    std::fs::write(
        dir.path().join("jobs/b.yml"),
        "scrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let err = cfg.all_scrape_configs().unwrap_err().to_string();
    assert!(err.contains("b.yml:2:5: found multiple scrape configs with job name \"main\", first found in main config file"), "{err}");
}
