#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scraping end to end over loopback HTTP into `MemStorage`: negotiation, gzip,
//! relabeling, honor_labels/honor_timestamps, limits, staleness, failures, reloads and
//! credentials. Waits poll with generous deadlines; nothing asserts a duration.

mod common;

use std::time::Duration;

use common::*;
use hearth_config::{DEFAULT_SCRAPE_PROTOCOLS, ScrapeProtocol};
use hearth_exposition::proto;
use hearth_model::{Matcher, is_stale_nan};
use hearth_scrape::{GlobalUrlOptions, TargetHealth, accept_header};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scrape_with_report_series_and_target_health() {
    let exp = Exporter::start(Reply::text(
        "# HELP foo_total A counter.\n# TYPE foo_total counter\nfoo_total{a=\"1\"} 3\nbar 1.5\n",
    ))
    .await;
    let (m, st) = manager();
    apply(&m, &yaml(&[job_yaml("t", &exp.addr, "")])).await;
    wait_scrapes(&st, "t", 2).await;

    let foo = by_name(&st, "foo_total");
    assert_eq!(foo.len(), 1);
    assert_eq!(
        foo[0].0.to_string(),
        format!(
            r#"{{__name__="foo_total", a="1", instance="{}", job="t"}}"#,
            exp.addr
        )
    );
    assert_eq!(foo[0].1[0].1.f(), 3.0);
    assert_eq!(last(&st, "up", "t").unwrap().f(), 1.0);
    assert_eq!(last(&st, "scrape_samples_scraped", "t").unwrap().f(), 2.0);
    assert_eq!(
        last(&st, "scrape_samples_post_metric_relabeling", "t")
            .unwrap()
            .f(),
        2.0
    );
    // Series are new only in the first scrape.
    let added = job_series(&st, "scrape_series_added", "t");
    assert_eq!(added[0].1[0].1.f(), 2.0);
    assert_eq!(added[0].1.last().unwrap().1.f(), 0.0);
    assert!(last(&st, "scrape_duration_seconds", "t").unwrap().f() >= 0.0);

    // Headers as upstream sends them.
    assert_eq!(
        exp.last_header("accept").unwrap(),
        accept_header(DEFAULT_SCRAPE_PROTOCOLS, "allow-utf-8")
    );
    assert_eq!(exp.last_header("accept-encoding").unwrap(), "gzip");
    assert_eq!(
        exp.last_header("x-prometheus-scrape-timeout-seconds")
            .unwrap(),
        "0.2"
    );
    assert_eq!(exp.seen()[0].uri, "/metrics");

    // The API view.
    let active = m.active_targets(&GlobalUrlOptions::default());
    assert_eq!(active.len(), 1);
    let t = &active[0];
    assert_eq!(t.health, TargetHealth::Up);
    assert_eq!(t.scrape_pool, "t");
    assert_eq!(t.scrape_url, format!("http://{}/metrics", exp.addr));
    assert_eq!(t.last_error, "");
    assert!(t.last_scrape.is_some());
    assert_eq!(
        (t.scrape_interval.as_str(), t.scrape_timeout.as_str()),
        ("200ms", "200ms")
    );
    assert_eq!(
        t.discovered_labels.get("__address__"),
        Some(exp.addr.as_str())
    );
    assert_eq!(t.labels.get("instance"), Some(exp.addr.as_str()));

    // Metadata per target.
    let targets = m.targets_active();
    let target = &targets["t"][0];
    let md = target.get_metadata("foo_total").unwrap();
    assert_eq!(md.help, "A counter.");
    assert_eq!(md.metric_type, hearth_model::MetricType::Counter);
    assert_eq!(target.list_metadata().len(), 1);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_with_exemplars_and_protobuf_native_histograms() {
    let om = Exporter::start(Reply::with_type(
        b"# TYPE req counter\n# HELP req Requests.\nreq_total 7 # {trace_id=\"abc\"} 1.0\nreq_created 1.7e9\n# EOF\n",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    ))
    .await;
    let fam = proto::MetricFamily {
        name: "lat".into(),
        help: "Latency.".into(),
        r#type: proto::MetricType::Histogram as i32,
        metric: vec![proto::Metric {
            histogram: Some(proto::Histogram {
                sample_count: 3,
                sample_sum: 1.5,
                schema: 0,
                zero_threshold: 1e-128,
                zero_count: 1,
                positive_span: vec![proto::BucketSpan {
                    offset: 0,
                    length: 2,
                }],
                positive_delta: vec![1, 0],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let body = hearth_exposition::protobuf::encode_delimited(&[fam]);
    let pb = Exporter::start(Reply::with_type(
        &body,
        hearth_exposition::protobuf::PROTOBUF_CONTENT_TYPE,
    ))
    .await;
    let pb_classic = Exporter::start(Reply::with_type(
        &body,
        hearth_exposition::protobuf::PROTOBUF_CONTENT_TYPE,
    ))
    .await;
    let (m, st) = scrape_jobs(
        &[
            job_yaml("om", &om.addr, ""),
            job_yaml("pb", &pb.addr, "  scrape_native_histograms: true\n"),
            job_yaml(
                "pbc",
                &pb_classic.addr,
                "  scrape_protocols: [PrometheusProto]\n",
            ),
        ],
        1,
    )
    .await;

    assert_eq!(last(&st, "req_total", "om").unwrap().f(), 7.0);
    // Without created-timestamp ingestion, `_created` is a series of its own.
    assert_eq!(last(&st, "req_created", "om").unwrap().f(), 1.7e9);
    assert_eq!(last(&st, "up", "om").unwrap().f(), 1.0);

    // Native histograms asked for: protobuf offered first, the histogram arrives native.
    assert!(
        om.last_header("accept")
            .unwrap()
            .starts_with("application/openmetrics-text;version=1.0.0")
    );
    assert!(
        pb.last_header("accept")
            .unwrap()
            .starts_with("application/vnd.google.protobuf")
    );
    assert_eq!(last(&st, "lat", "pb"), Some(Val::H));
    assert!(job_series(&st, "lat_bucket", "pb").is_empty());
    // Without native histograms the same body is ingested as a classic histogram.
    assert!(job_series(&st, "lat", "pbc").is_empty());
    assert_eq!(last(&st, "lat_count", "pbc").unwrap().f(), 3.0);
    let inf = select(
        &st,
        &[
            Matcher::equal("__name__", "lat_bucket"),
            Matcher::equal("job", "pbc"),
            Matcher::equal("le", "+Inf"),
        ],
    );
    assert_eq!(inf[0].1.last().unwrap().1.f(), 3.0);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_type_fallback_and_unknown_types() {
    let mut r = Reply::text("x 1\n");
    r.content_type = None;
    let blank = Exporter::start(r.clone()).await;
    let blank_fb = Exporter::start(r).await;
    let html = Exporter::start(Reply::with_type(b"x 1\n", "text/html")).await;
    let (m, st) = scrape_jobs(
        &[
            job_yaml("blank", &blank.addr, ""),
            job_yaml(
                "fb",
                &blank_fb.addr,
                "  fallback_scrape_protocol: PrometheusText0.0.4\n",
            ),
            job_yaml("html", &html.addr, ""),
        ],
        1,
    )
    .await;
    assert_eq!(last(&st, "up", "fb").unwrap().f(), 1.0);
    assert_eq!(last(&st, "x", "fb").unwrap().f(), 1.0);
    assert_eq!(last(&st, "up", "blank").unwrap().f(), 0.0);
    assert_eq!(last(&st, "up", "html").unwrap().f(), 0.0);
    let errors: Vec<(String, String)> = m
        .active_targets(&GlobalUrlOptions::default())
        .into_iter()
        .map(|t| (t.scrape_pool, t.last_error))
        .collect();
    assert!(errors.contains(&(
        "html".into(),
        r#"received unsupported Content-Type "text/html" and no fallback_scrape_protocol specified for target"#.into()
    )));
    assert!(errors.contains(&(
        "blank".into(),
        "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".into()
    )));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_identity() {
    let mut r = Reply::text("zipped 42\n");
    r.gzip = true;
    let gz = Exporter::start(r.clone()).await;
    let plain = Exporter::start(r).await;
    let (m, st) = scrape_jobs(
        &[
            job_yaml("gz", &gz.addr, ""),
            job_yaml("plain", &plain.addr, "  enable_compression: false\n"),
        ],
        1,
    )
    .await;
    assert_eq!(last(&st, "zipped", "gz").unwrap().f(), 42.0);
    assert_eq!(last(&st, "zipped", "plain").unwrap().f(), 42.0);
    assert_eq!(gz.last_header("accept-encoding").unwrap(), "gzip");
    assert_eq!(plain.last_header("accept-encoding").unwrap(), "identity");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabeling_params_and_metric_relabeling() {
    let exp = Exporter::start(Reply::text("keep_me{x=\"a\"} 1\ndrop_me 2\nrename_me 3\n")).await;
    let (m, st) = manager();
    let extra = format!(
        "  params:\n    module: [m1]\n  static_configs:\n  - targets: ['{}', 'gone:1']\n    labels: {{env: prod}}\n  relabel_configs:\n  - source_labels: [__address__]\n    regex: gone:1\n    action: drop\n  - target_label: __metrics_path__\n    replacement: /probe\n  - target_label: __param_target\n    replacement: x y\n  metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: drop_me\n    action: drop\n  - source_labels: [__name__]\n    regex: rename_me\n    target_label: __name__\n    replacement: renamed\n",
        exp.addr
    );
    apply(
        &m,
        &format!("scrape_configs:\n- job_name: r\n  scrape_interval: 200ms\n{extra}"),
    )
    .await;
    wait_scrapes(&st, "r", 2).await;
    let keep = by_name(&st, "keep_me");
    assert_eq!(keep[0].0.get("env"), Some("prod"));
    assert!(by_name(&st, "drop_me").is_empty());
    assert!(by_name(&st, "rename_me").is_empty());
    assert_eq!(last(&st, "renamed", "r").unwrap().f(), 3.0);
    assert_eq!(last(&st, "scrape_samples_scraped", "r").unwrap().f(), 3.0);
    assert_eq!(
        last(&st, "scrape_samples_post_metric_relabeling", "r")
            .unwrap()
            .f(),
        2.0
    );
    let uri = &exp.seen()[0].uri;
    assert_eq!(uri, "/probe?module=m1&target=x+y");
    let dropped = m.dropped_targets();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        dropped[0].discovered_labels.get("__address__"),
        Some("gone:1")
    );
    assert_eq!(m.dropped_target_counts()["r"], 1);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_and_timestamps() {
    let body = "m{job=\"exposed\",instance=\"i\",exported_job=\"e\"} 1\nts_metric 5 1000\n";
    let a = Exporter::start(Reply::text(body)).await;
    let b = Exporter::start(Reply::text(body)).await;
    let (m, st) = manager();
    apply(
        &m,
        &yaml(&[
            job_yaml("plain", &a.addr, "  honor_timestamps: false\n"),
            job_yaml("honor", &b.addr, "  honor_labels: true\n"),
        ]),
    )
    .await;
    wait_scrapes(&st, "plain", 2).await;
    wait_for("honored series", || {
        !job_series(&st, "m", "exposed").is_empty()
    })
    .await;

    let plain = job_series(&st, "m", "plain");
    assert_eq!(
        plain[0].0.to_string(),
        format!(
            r#"{{__name__="m", exported_exported_job="exposed", exported_instance="i", exported_job="e", instance="{}", job="plain"}}"#,
            a.addr
        )
    );
    let honored = job_series(&st, "m", "exposed");
    assert_eq!(
        honored[0].0.to_string(),
        r#"{__name__="m", exported_job="e", instance="i", job="exposed"}"#
    );
    // honor_timestamps: the exposed 1000 ms is kept (once: later scrapes are duplicates).
    let ts = job_series(&st, "ts_metric", "honor");
    assert_eq!(ts[0].1.iter().map(|s| s.0).collect::<Vec<_>>(), [1000]);
    // Without it, each scrape gets the scrape time.
    let ts = job_series(&st, "ts_metric", "plain");
    assert!(ts[0].1.len() >= 2 && ts[0].1.iter().all(|s| s.0 > 1000));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_limit_rolls_back_the_whole_scrape() {
    let exp = Exporter::start(Reply::text("a 1\nb 2\n")).await;
    let (m, st) = manager();
    apply(
        &m,
        &yaml(&[job_yaml("l", &exp.addr, "  sample_limit: 2\n")]),
    )
    .await;
    wait_scrapes(&st, "l", 1).await;
    assert_eq!(last(&st, "a", "l").unwrap().f(), 1.0);

    exp.set(Reply::text("a 10\nb 20\nc 30\n"));
    wait_for("up=0 after the limit", || {
        last(&st, "up", "l").is_some_and(|v| v.f() == 0.0)
    })
    .await;
    // Nothing of the over-limit scrape was stored: a and b end with staleness markers.
    for name in ["a", "b"] {
        let s = job_series(&st, name, "l");
        assert!(s[0].1.iter().all(|(_, v)| v.is_stale() || v.f() < 10.0));
        assert!(
            s[0].1.last().unwrap().1.is_stale(),
            "{name} not marked stale"
        );
    }
    assert!(by_name(&st, "c").is_empty());
    assert_eq!(last(&st, "scrape_samples_scraped", "l").unwrap().f(), 3.0);
    let t = &m.active_targets(&GlobalUrlOptions::default())[0];
    assert_eq!(t.last_error, "sample limit exceeded");
    assert_eq!(t.health, TargetHealth::Down);

    // Back under the limit: samples flow again.
    exp.set(Reply::text("a 100\n"));
    wait_for("a=100", || {
        last(&st, "a", "l").is_some_and(|v| !v.is_stale() && v.f() == 100.0)
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_size_and_label_limits() {
    let big = Exporter::start(Reply::text(&"x 1\n".repeat(100))).await;
    let mut gz = Reply::text(&"y 1\n".repeat(100));
    gz.gzip = true;
    let big_gz = Exporter::start(gz).await;
    let labels = Exporter::start(Reply::text("z{a=\"1\",b=\"2\"} 1\n")).await;
    let (m, st) = manager();
    apply(
        &m,
        &yaml(&[
            job_yaml("big", &big.addr, "  body_size_limit: 100B\n"),
            job_yaml("gz", &big_gz.addr, "  body_size_limit: 100B\n"),
            job_yaml("labels", &labels.addr, "  label_limit: 4\n"),
        ]),
    )
    .await;
    for j in ["big", "gz", "labels"] {
        wait_scrapes(&st, j, 1).await;
        assert_eq!(last(&st, "up", j).unwrap().f(), 0.0, "{j}");
    }
    assert!(by_name(&st, "x").is_empty() && by_name(&st, "y").is_empty());
    let errs: Vec<String> = m
        .active_targets(&GlobalUrlOptions::default())
        .into_iter()
        .map(|t| t.last_error)
        .collect();
    assert_eq!(
        errs.iter()
            .filter(|e| *e == "body size limit exceeded")
            .count(),
        2
    );
    assert!(
        errs.contains(
            &"label_limit exceeded (metric: z, number of labels: 5, limit: 4)".to_string()
        )
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_when_a_series_disappears_and_when_the_target_goes() {
    let exp = Exporter::start(Reply::text("a 1\nb 2\n")).await;
    let (m, st) = manager();
    let cfg = apply(&m, &yaml(&[job_yaml("s", &exp.addr, "")])).await;
    wait_scrapes(&st, "s", 2).await;

    exp.set(Reply::text("a 1\n"));
    wait_for("b marked stale", || {
        job_series(&st, "b", "s")[0].1.last().unwrap().1.is_stale()
    })
    .await;
    let before = job_series(&st, "a", "s")[0].1.len();
    wait_for("a still scraped", || {
        job_series(&st, "a", "s")[0].1.len() > before + 1
    })
    .await;
    // Exactly one marker for b.
    let b = &job_series(&st, "b", "s")[0].1;
    assert_eq!(b.iter().filter(|(_, v)| v.is_stale()).count(), 1);

    // The target goes away: its series and its report series go stale.
    let mut sets = static_sets(&cfg);
    sets.insert("s".into(), Vec::new());
    m.sync(&sets).await;
    assert!(m.active_targets(&GlobalUrlOptions::default()).is_empty());
    wait_for("a and up marked stale", || {
        job_series(&st, "a", "s")[0].1.last().unwrap().1.is_stale()
            && job_series(&st, "up", "s")[0].1.last().unwrap().1.is_stale()
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_targets_report_up_zero_and_stale_markers() {
    let exp = Exporter::start(Reply::text("a 1\n")).await;
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("failures.log");
    let log = format!("  scrape_failure_log_file: {}\n", log_path.display());
    let (m, st) = manager();
    apply(
        &m,
        &yaml(&[
            job_yaml("f", &exp.addr, &log),
            job_yaml("closed", &closed, ""),
        ]),
    )
    .await;
    wait_scrapes(&st, "f", 1).await;
    let mut r = Reply::text("oops");
    r.status = 500;
    exp.set(r);
    wait_for("up=0", || {
        last(&st, "up", "f").is_some_and(|v| v.f() == 0.0)
    })
    .await;
    assert!(job_series(&st, "a", "f")[0].1.last().unwrap().1.is_stale());
    wait_scrapes(&st, "closed", 1).await;
    assert_eq!(last(&st, "up", "closed").unwrap().f(), 0.0);
    // The failing scrapes of `f` are logged to its scrape_failure_log_file.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = log.lines().next().unwrap();
    assert!(line.contains(r#""level":"ERROR","msg":"server returned HTTP status 500 Internal Server Error","job_name":"f""#), "{line}");
    let targets = m.active_targets(&GlobalUrlOptions::default());
    let f = targets.iter().find(|t| t.scrape_pool == "f").unwrap();
    assert_eq!(f.health, TargetHealth::Down);
    assert_eq!(
        f.last_error,
        "server returned HTTP status 500 Internal Server Error"
    );
    let c = targets.iter().find(|t| t.scrape_pool == "closed").unwrap();
    assert!(
        c.last_error
            .starts_with(&format!("Get \"http://{closed}/metrics\": ")),
        "{}",
        c.last_error
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_fail_the_scrape() {
    let mut r = Reply::text("slow 1\n");
    r.delay = Duration::from_secs(2);
    let exp = Exporter::start(r).await;
    let (m, st) = manager();
    apply(&m, &yaml(&[job_yaml("slow", &exp.addr, "")])).await;
    wait_scrapes(&st, "slow", 1).await;
    assert_eq!(last(&st, "up", "slow").unwrap().f(), 0.0);
    let t = &m.active_targets(&GlobalUrlOptions::default())[0];
    assert!(
        t.last_error.ends_with("context deadline exceeded"),
        "{}",
        t.last_error
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_loops_and_restarts_changed_ones() {
    let a = Exporter::start(Reply::text("a 1\n")).await;
    let b = Exporter::start(Reply::text("b 1\n")).await;
    let (m, st) = manager();
    let jobs = |b_extra: &str| yaml(&[job_yaml("a", &a.addr, ""), job_yaml("b", &b.addr, b_extra)]);
    apply(&m, &jobs("")).await;
    wait_scrapes(&st, "a", 2).await;
    wait_scrapes(&st, "b", 2).await;
    let a_loops = m.loop_ids("a");
    let b_loops = m.loop_ids("b");
    assert_eq!(a_loops.len(), 1);

    apply(&m, &jobs("  sample_limit: 10\n")).await;
    assert_eq!(
        m.loop_ids("a"),
        a_loops,
        "unchanged job's loop was restarted"
    );
    assert_ne!(
        m.loop_ids("b"),
        b_loops,
        "changed job's loop was not restarted"
    );
    assert_eq!(m.scrape_config("b").unwrap().sample_limit, 10);
    // Both keep scraping, and a reusable cache means no staleness markers for b.
    let n = job_series(&st, "b", "b")[0].1.len();
    wait_for("b scraped after reload", || {
        job_series(&st, "b", "b")[0].1.len() > n + 2
    })
    .await;
    assert!(
        job_series(&st, "b", "b")[0]
            .1
            .iter()
            .all(|(_, v)| !v.is_stale())
    );
    let n = job_series(&st, "a", "a")[0].1.len();
    wait_for("a scraped after reload", || {
        job_series(&st, "a", "a")[0].1.len() > n + 1
    })
    .await;

    // A discovery update with the same targets keeps every loop.
    let cfg = config(&jobs("  sample_limit: 10\n"));
    let before = (m.loop_ids("a"), m.loop_ids("b"));
    m.sync(&static_sets(&cfg)).await;
    assert_eq!((m.loop_ids("a"), m.loop_ids("b")), before);

    // Removing a job stops its pool and its series go stale.
    apply(&m, &yaml(&[job_yaml("a", &a.addr, "")])).await;
    assert_eq!(m.scrape_pools(), ["a"]);
    wait_for("b marked stale after its job was removed", || {
        job_series(&st, "b", "b")[0].1.last().unwrap().1.is_stale()
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sent() {
    let basic = Exporter::start(Reply::text("a 1\n")).await;
    let bearer = Exporter::start(Reply::text("a 1\n")).await;
    let (m, _st) = scrape_jobs(
        &[
            job_yaml(
                "basic",
                &basic.addr,
                "  basic_auth:\n    username: user\n    password: pass\n",
            ),
            job_yaml(
                "bearer",
                &bearer.addr,
                "  authorization:\n    credentials: s3cr3t\n",
            ),
        ],
        1,
    )
    .await;
    assert_eq!(
        basic.last_header("authorization").unwrap(),
        "Basic dXNlcjpwYXNz"
    );
    assert_eq!(
        bearer.last_header("authorization").unwrap(),
        "Bearer s3cr3t"
    );
    assert!(
        basic
            .last_header("user-agent")
            .unwrap()
            .starts_with("hearth/")
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_fails_every_target_of_the_pool() {
    let a = Exporter::start(Reply::text("a 1\n")).await;
    let b = Exporter::start(Reply::text("a 1\n")).await;
    let (m, st) = manager();
    apply(
        &m,
        &format!(
            "scrape_configs:\n- job_name: tl\n  scrape_interval: 200ms\n  target_limit: 1\n  static_configs:\n  - targets: ['{}', '{}']\n",
            a.addr, b.addr
        ),
    )
    .await;
    wait_for("both targets report", || {
        job_series(&st, "up", "tl").len() == 2
    })
    .await;
    let targets = m.active_targets(&GlobalUrlOptions::default());
    assert!(
        targets
            .iter()
            .all(|t| { t.last_error == "target_limit exceeded (number of targets: 2, limit: 1)" })
    );
    assert!(by_name(&st, "a").is_empty());
    assert!(
        a.seen().is_empty() && b.seen().is_empty(),
        "a target over the limit was scraped"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_manager_feeds_the_scrape_manager() {
    let exp = Exporter::start(Reply::text("d 1\n")).await;
    let (m, st) = manager();
    let cfg = config(&yaml(&[job_yaml("d", &exp.addr, "")]));
    m.apply_config(&cfg).await.unwrap();
    let mut dm = hearth_discovery::DiscoveryManager::new("hearth-test");
    dm.apply_config(&hearth_config::Config::scrape_discovery(
        &cfg.scrape_configs,
    ));
    let runner = m.run(dm.subscribe());
    wait_scrapes(&st, "d", 1).await;
    assert_eq!(last(&st, "d", "d").unwrap().f(), 1.0);
    m.stop().await;
    runner.await.unwrap();
    // Stopping the server writes no staleness markers.
    assert!(
        job_series(&st, "d", "d")[0]
            .1
            .iter()
            .all(|(_, v)| !v.is_stale())
    );
    let _ = ScrapeProtocol::PrometheusProto;
    let _ = is_stale_nan(0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_histograms_converted_to_nhcb() {
    let body = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n# TYPE g gauge\ng 1\n";
    let a = Exporter::start(Reply::text(body)).await;
    let b = Exporter::start(Reply::text(body)).await;
    let both =
        "  convert_classic_histograms_to_nhcb: true\n  always_scrape_classic_histograms: true\n";
    let (m, st) = scrape_jobs(
        &[
            job_yaml(
                "nhcb",
                &a.addr,
                "  convert_classic_histograms_to_nhcb: true\n",
            ),
            job_yaml("both", &b.addr, both),
        ],
        2,
    )
    .await;
    assert_eq!(last(&st, "h", "nhcb"), Some(Val::H));
    assert!(job_series(&st, "h_bucket", "nhcb").is_empty());
    assert!(job_series(&st, "h_count", "nhcb").is_empty());
    assert_eq!(last(&st, "g", "nhcb").unwrap().f(), 1.0);
    assert_eq!(
        last(&st, "scrape_samples_scraped", "nhcb").unwrap().f(),
        2.0
    );
    assert_eq!(last(&st, "h", "both"), Some(Val::H));
    assert_eq!(job_series(&st, "h_bucket", "both").len(), 3);
    assert_eq!(last(&st, "h_count", "both").unwrap().f(), 4.0);
    m.stop().await;
}
