//! The HTTP API against a server on loopback over `MemStorage`: literal JSON of small
//! answers, GET and POST forms, error shapes and status codes, readiness, lifecycle and
//! admin gating, federation, compression and the route prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;

use support::{Builder, enc, load_test_data, start};

use hearth_web::Readiness;

const UP_AT_60: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a:9090","job":"prom"},"value":[60,"1"]},{"metric":{"__name__":"up","instance":"b:9100","job":"node"},"value":[60,"0"]}]}}"#;

#[test]
fn instant_vector_literal_json_get_and_post() {
    let s = start();
    let r = s.get("/api/v1/query?query=up&time=60");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), UP_AT_60);
    // The same as a POST form, as Grafana sends it.
    let r = s.post_form("/api/v1/query", "query=up&time=60");
    assert_eq!(r.text(), UP_AT_60);
    // RFC 3339 time.
    let r = s.get("/api/v1/query?query=up&time=1970-01-01T00:01:00Z");
    assert_eq!(r.text(), UP_AT_60);
    // Body values win over URL values, as Go's FormValue.
    let r = s.post_form("/api/v1/query?time=0", "query=up&time=60");
    assert_eq!(r.text(), UP_AT_60);
}

#[test]
fn scalar_string_and_matrix_results() {
    let s = start();
    assert_eq!(
        s.get("/api/v1/query?query=1%2B1&time=100.5").text(),
        r#"{"status":"success","data":{"resultType":"scalar","result":[100.500,"2"]}}"#
    );
    assert_eq!(
        s.get(&format!("/api/v1/query?query={}&time=1", enc("\"a<b\"")))
            .text(),
        r#"{"status":"success","data":{"resultType":"string","result":[1,"a\u003cb"]}}"#
    );
    assert_eq!(
        s.get(&format!(
            "/api/v1/query?query={}&time=30",
            enc("up{job=\"prom\"}[30s]")
        ))
        .text(),
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a:9090","job":"prom"},"values":[[15,"1"],[30,"1"]]}]}}"#
    );
    // Small values in exponent form, label values escaped as Go does.
    assert_eq!(
        s.get("/api/v1/query?query=weird&time=60").text(),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"weird","l":"\u003c\u0026\u003e\"\n"},"value":[60,"1e-07"]}]}}"#
    );
}

#[test]
fn range_query_get_post_and_grafana_style() {
    let s = start();
    let want = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a:9090","job":"prom"},"values":[[0,"1"],[15,"1"],[30,"1"]]}]}}"#;
    let q = enc("up{job=\"prom\"}");
    assert_eq!(
        s.get(&format!(
            "/api/v1/query_range?query={q}&start=0&end=30&step=15s"
        ))
        .text(),
        want
    );
    // Grafana: POST form, step in seconds as a number, times as Unix seconds.
    let r = s.post_form(
        "/api/v1/query_range",
        &format!("query={q}&start=0&end=30&step=15"),
    );
    assert_eq!(r.text(), want);
    let r = s.post_form(
        "/api/v1/query_range",
        &format!(
            "query={}&start=60&end=120&step=30",
            enc("sum by (job) (rate(http_requests_total[1m]))")
        ),
    );
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "matrix");
    let series = v["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["metric"], serde_json::json!({"job": "api"}));
    let values = series[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    let first: f64 = values[0][1].as_str().unwrap().parse().unwrap();
    assert!((first - 10.0 / 15.0).abs() < 1e-9, "{first}");
}

#[test]
fn native_histograms_render_with_buckets() {
    let s = start();
    assert_eq!(
        s.get("/api/v1/query?query=hist&time=60").text(),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"hist"},"histogram":[60,{"count":"5","sum":"10","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","2"],[0,"1","2","2"]]}]}]}}"#
    );
    let r = s.get("/api/v1/query_range?query=hist&start=60&end=60&step=1");
    assert_eq!(
        r.text(),
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"hist"},"histograms":[[60,{"count":"5","sum":"10","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","2"],[0,"1","2","2"]]}]]}]}}"#
    );
}

fn error_of(r: &support::Resp) -> (u16, String, String) {
    let v = r.json();
    assert_eq!(v["status"], "error", "{}", r.text());
    assert!(v.get("data").is_none());
    (
        r.status,
        v["errorType"].as_str().unwrap().to_string(),
        v["error"].as_str().unwrap().to_string(),
    )
}

#[test]
fn query_errors_have_upstream_types_statuses_and_texts() {
    let s = start();
    let (st, typ, msg) = error_of(&s.get("/api/v1/query?query=up%7B&time=1"));
    assert_eq!((st, typ.as_str()), (400, "bad_data"));
    assert!(msg.starts_with("invalid parameter \"query\": 1:"), "{msg}");
    assert!(msg.contains("parse error"), "{msg}");

    let (st, typ, msg) = error_of(&s.get("/api/v1/query?query=up&time=abc"));
    assert_eq!((st, typ.as_str()), (400, "bad_data"));
    assert_eq!(
        msg,
        "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"abc\" to a valid timestamp"
    );

    let (_, _, msg) = error_of(&s.get("/api/v1/query_range?query=up&end=1&step=1"));
    assert_eq!(
        msg,
        "invalid parameter \"start\": cannot parse \"\" to a valid timestamp"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query_range?query=up&start=2&end=1&step=1"));
    assert_eq!(
        msg,
        "invalid parameter \"end\": end timestamp must not be before start time"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query_range?query=up&start=1&end=2&step=0"));
    assert_eq!(
        msg,
        "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query_range?query=up&start=1&end=2&step=x"));
    assert_eq!(
        msg,
        "invalid parameter \"step\": cannot parse \"x\" to a valid duration"
    );
    let (st, typ, msg) = error_of(&s.get("/api/v1/query_range?query=up&start=0&end=11001&step=1"));
    assert_eq!((st, typ.as_str()), (400, "bad_data"));
    assert_eq!(
        msg,
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query_range?query=up%5B5m%5D&start=0&end=1&step=1"));
    assert_eq!(
        msg,
        "invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query?query=up&limit=x"));
    assert_eq!(
        msg,
        "invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query?query=up&timeout=soon"));
    assert_eq!(
        msg,
        "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"
    );
    let (_, _, msg) = error_of(&s.get("/api/v1/query?query=up&lookback_delta=x"));
    assert_eq!(
        msg,
        "error parsing lookback delta duration: cannot parse \"x\" to a valid duration"
    );

    // An evaluation error is an execution error, 422.
    let q = enc(
        "label_replace(label_replace(up, \"instance\", \"x\", \"\", \"\"), \"job\", \"x\", \"\", \"\")",
    );
    let (st, typ, msg) = error_of(&s.get(&format!("/api/v1/query?query={q}&time=60")));
    assert_eq!((st, typ.as_str()), (422, "execution"));
    assert_eq!(msg, "vector cannot contain metrics with the same labelset");
}

#[test]
fn limit_truncates_with_a_warning_and_annotations_come_back() {
    let s = start();
    let v = s.get("/api/v1/query?query=up&time=60&limit=1").json();
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
    // rate() over a metric without a counter suffix: an info annotation with position.
    let v = s
        .get(&format!(
            "/api/v1/query?query={}&time=120",
            enc("rate(up[1m])")
        ))
        .json();
    let infos = v["infos"].as_array().unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(
        infos[0],
        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"
    );
    assert!(v.get("warnings").is_none());
}

#[test]
fn stats_are_reported_when_asked() {
    let s = start();
    let v = s.get("/api/v1/query?query=up&time=60&stats=all").json();
    let stats = &v["data"]["stats"];
    let keys: Vec<&str> = stats["timings"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(keys.contains(&k), "{k} missing in {stats}");
    }
    assert_eq!(stats["samples"]["totalQueryableSamples"], 2);
    assert_eq!(stats["samples"]["peakSamples"], 2);
    let v = s.get("/api/v1/query?query=up&time=60").json();
    assert!(v["data"].get("stats").is_none());
}

#[test]
fn series_labels_and_label_values() {
    let s = start();
    let r = s.get(&format!("/api/v1/series?match[]={}", enc("up")));
    assert_eq!(
        r.text(),
        r#"{"status":"success","data":[{"__name__":"up","instance":"a:9090","job":"prom"},{"__name__":"up","instance":"b:9100","job":"node"}]}"#
    );
    // Two match[] in a POST body, overlapping: deduplicated and sorted.
    let r = s.post_form(
        "/api/v1/series",
        &format!(
            "match[]={}&match[]={}&start=0&end=300",
            enc("up{job=\"node\"}"),
            enc("{__name__=~\"up|http_requests_total\"}")
        ),
    );
    let v = r.json();
    let names: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["__name__"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["http_requests_total", "up", "up"]);
    let (st, typ, msg) = error_of(&s.get("/api/v1/series"));
    assert_eq!(
        (st, typ.as_str(), msg.as_str()),
        (400, "bad_data", "no match[] parameter provided")
    );
    let (_, _, msg) = error_of(&s.get(&format!("/api/v1/series?match[]={}", enc("{job=~\".*\"}"))));
    assert_eq!(
        msg,
        "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"
    );
    let v = s
        .get(&format!("/api/v1/series?match[]={}&limit=1", enc("up")))
        .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["warnings"][0], "results truncated due to limit");

    assert_eq!(
        s.get("/api/v1/labels").text(),
        r#"{"status":"success","data":["__name__","code","instance","job","l"]}"#
    );
    assert_eq!(
        s.get(&format!("/api/v1/labels?match[]={}", enc("up")))
            .text(),
        r#"{"status":"success","data":["__name__","instance","job"]}"#
    );
    assert_eq!(
        s.get("/api/v1/label/job/values").text(),
        r#"{"status":"success","data":["api","node","prom"]}"#
    );
    assert_eq!(
        s.get(&format!("/api/v1/label/job/values?match[]={}", enc("up")))
            .text(),
        r#"{"status":"success","data":["node","prom"]}"#
    );
    // U__ escaping of label names in the path.
    assert_eq!(
        s.get("/api/v1/label/U__job/values").text(),
        r#"{"status":"success","data":["api","node","prom"]}"#
    );
    assert_eq!(
        s.get("/api/v1/label/__name__/values?limit=2").text(),
        r#"{"status":"success","data":["hist","http_requests_total"],"warnings":["results truncated due to limit"]}"#
    );
}

#[test]
fn empty_shapes_of_components_not_plugged_in() {
    let s = start();
    let cases = [
        (
            "/api/v1/targets",
            r#"{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}"#,
        ),
        ("/api/v1/targets/metadata", "[]"),
        ("/api/v1/metadata", "{}"),
        ("/api/v1/rules", r#"{"groups":[]}"#),
        ("/api/v1/alerts", r#"{"alerts":[]}"#),
        (
            "/api/v1/alertmanagers",
            r#"{"activeAlertmanagers":[],"droppedAlertmanagers":[]}"#,
        ),
        (
            "/api/v1/status/walreplay",
            r#"{"min":0,"max":0,"current":0}"#,
        ),
        ("/api/v1/query_exemplars?query=up", "[]"),
    ];
    for (path, data) in cases {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.text(),
            format!(r#"{{"status":"success","data":{data}}}"#),
            "{path}"
        );
    }
    let (_, _, msg) = error_of(&s.get("/api/v1/rules?type=x"));
    assert_eq!(msg, "invalid parameter \"type\": not supported value \"x\"");
}

#[test]
fn status_endpoints() {
    let mut b = Builder::default();
    b.opts
        .flags
        .insert("web.enable-lifecycle".into(), "false".into());
    b.opts.flags.insert("query.timeout".into(), "2m".into());
    b.opts.storage_retention = "15d".into();
    b.opts.build_info.version = "0.1.0".into();
    b.config = hearth_config::Config::load_str(
        "global:\n  scrape_interval: 10s\n  external_labels:\n    dc: eu\n",
        "prometheus.yml",
    )
    .unwrap();
    let s = b.start();
    assert_eq!(
        s.get("/api/v1/status/flags").text(),
        r#"{"status":"success","data":{"query.timeout":"2m","web.enable-lifecycle":"false"}}"#
    );
    let v = s.get("/api/v1/status/buildinfo").json();
    assert_eq!(
        v["data"],
        serde_json::json!({"version":"0.1.0","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":""})
    );
    let v = s.get("/api/v1/status/config").json();
    let yaml = v["data"]["yaml"].as_str().unwrap();
    assert!(yaml.contains("scrape_interval: 10s"), "{yaml}");
    assert!(yaml.contains("dc: eu"), "{yaml}");
    let r = s.get("/api/v1/status/runtimeinfo");
    // Keys in upstream's order.
    let text = r.text();
    let mut last = 0;
    for k in [
        "startTime",
        "CWD",
        "hostname",
        "serverTime",
        "reloadConfigSuccess",
        "lastConfigTime",
        "corruptionCount",
        "goroutineCount",
        "GOMAXPROCS",
        "GOMEMLIMIT",
        "GOGC",
        "GODEBUG",
        "storageRetention",
    ] {
        let at = text
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} in {text}"));
        assert!(at > last, "{k} out of order in {text}");
        last = at;
    }
    let v = r.json();
    assert_eq!(v["data"].as_object().unwrap().len(), 13);
    assert_eq!(v["data"]["storageRetention"], "15d");
    assert_eq!(v["data"]["reloadConfigSuccess"], true);
    let v = s.get("/api/v1/status/tsdb").json();
    assert_eq!(
        v["data"],
        serde_json::json!({"headStats":{"numSeries":0,"numLabelPairs":0,"chunkCount":0,"minTime":0,"maxTime":0},"seriesCountByMetricName":[],"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]})
    );
}

#[test]
fn format_and_parse_query() {
    let s = start();
    assert_eq!(
        s.get(&format!("/api/v1/format_query?query={}", enc("foo/bar")))
            .text(),
        r#"{"status":"success","data":"foo / bar"}"#
    );
    assert_eq!(
        s.post_form("/api/v1/parse_query", "query=1").text(),
        r#"{"status":"success","data":{"type":"numberLiteral","val":"1"}}"#
    );
    let (st, _, msg) = error_of(&s.get("/api/v1/parse_query?query=foo%7B"));
    assert_eq!(st, 400);
    assert!(msg.starts_with("invalid parameter \"query\": "), "{msg}");
    let (st, _, msg) = error_of(&s.get("/api/v1/format_query?query=foo%7B"));
    assert_eq!(st, 400);
    assert!(msg.starts_with("invalid parameter \"query\": "), "{msg}");
}

#[test]
fn readiness_gates_the_api_and_federation() {
    let s = start();
    s.set_ready(Readiness::NotReady);
    for path in ["/api/v1/query?query=up", "/-/ready", "/federate?match[]=up"] {
        let r = s.get(path);
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.text(), "Service Unavailable");
        assert_eq!(r.header("X-Prometheus-Stopping"), Some("false"));
    }
    let r = s.get("/-/healthy");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Prometheus Server is Healthy.\n")
    );
    // WAL replay progress stays readable while the server starts, as upstream.
    let r = s.get("/api/v1/status/walreplay");
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            200,
            r#"{"status":"success","data":{"min":0,"max":0,"current":0}}"#
        )
    );
    s.set_ready(Readiness::Ready);
    let r = s.get("/-/ready");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Prometheus Server is Ready.\n")
    );
    assert_eq!(s.req("HEAD", "/-/ready", &[], b"").status, 200);
    s.set_ready(Readiness::Stopping);
    assert_eq!(
        s.get("/-/ready").header("X-Prometheus-Stopping"),
        Some("true")
    );
}

#[test]
fn lifecycle_is_forbidden_unless_enabled() {
    let s = start();
    for path in ["/-/reload", "/-/quit"] {
        for m in ["POST", "PUT"] {
            let r = s.req(m, path, &[], b"");
            assert_eq!(r.status, 403, "{m} {path}");
            assert_eq!(r.text(), "Lifecycle API is not enabled.");
        }
        assert_eq!(s.get(path).status, 405);
    }

    let mut b = Builder::default();
    b.opts.enable_lifecycle = true;
    let mut s = b.start();
    // Answer reload requests: first a failure, then success.
    let mut reloads = std::mem::replace(&mut s.handle.reloads, tokio::sync::mpsc::channel(1).1);
    s.runtime().spawn(async move {
        let mut n = 0;
        while let Some(tx) = reloads.recv().await {
            n += 1;
            let _ = tx.send(if n == 1 {
                Err("prometheus.yml:3:1: field \"x\" not found".to_string())
            } else {
                Ok(())
            });
        }
    });
    let r = s.req("POST", "/-/reload", &[], b"");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "failed to reload config: prometheus.yml:3:1: field \"x\" not found\n"
    );
    assert_eq!(s.req("PUT", "/-/reload", &[], b"").status, 200);
    let r = s.req("POST", "/-/quit", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Requesting termination... Goodbye!")
    );
    s.runtime().block_on(s.handle.quit_requested());
    let r = s.req("POST", "/-/quit", &[], b"");
    assert_eq!(r.text(), "Termination already in progress.");
}

#[test]
fn admin_api_is_unavailable_unless_enabled() {
    let s = start();
    for path in [
        "/api/v1/admin/tsdb/snapshot",
        "/api/v1/admin/tsdb/clean_tombstones",
        "/api/v1/admin/tsdb/delete_series?match[]=up",
    ] {
        let r = s.req("POST", path, &[], b"");
        assert_eq!(
            (r.status, r.text().as_str()),
            (
                500,
                r#"{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}"#
            ),
            "{path}"
        );
    }
}

#[test]
fn federation_text_with_external_labels() {
    let b = Builder {
        config: hearth_config::Config::load_str(
            "global:\n  external_labels:\n    dc: eu\n",
            "prometheus.yml",
        )
        .unwrap(),
        ..Builder::default()
    };
    let now = hearth_model::sample::now_ms() - 10_000;
    {
        use hearth_tsdb::storage::Appendable;
        let mut app = b.storage.appender();
        let l = support::labels;
        app.append(
            None,
            &l(&[("__name__", "up"), ("job", "prom"), ("instance", "a")]),
            now,
            1.0,
        )
        .unwrap();
        app.append(
            None,
            &l(&[("__name__", "up"), ("job", "node"), ("instance", "b")]),
            now - 5000,
            0.0,
        )
        .unwrap();
        app.append(
            None,
            &l(&[("__name__", "up"), ("job", "node"), ("instance", "b")]),
            now,
            1.0,
        )
        .unwrap();
        app.append(
            None,
            &l(&[("__name__", "errors_total"), ("job", "api"), ("dc", "us")]),
            now,
            3.0,
        )
        .unwrap();
        app.append(
            None,
            &l(&[("__name__", "gone"), ("job", "api")]),
            now,
            hearth_model::stale_nan(),
        )
        .unwrap();
        app.commit().unwrap();
    }
    let s = b.start();
    let r = s.get(&format!(
        "/federate?match[]={}&match[]={}&match[]={}",
        enc("up"),
        enc("{job=\"api\"}"),
        enc("{__name__=\"up\",job=\"node\"}")
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
    );
    assert_eq!(
        r.text(),
        format!(
            "# TYPE errors_total untyped\n\
             errors_total{{dc=\"us\",job=\"api\",instance=\"\"}} 3 {now}\n\
             # TYPE up untyped\n\
             up{{instance=\"a\",job=\"prom\",dc=\"eu\"}} 1 {now}\n\
             up{{instance=\"b\",job=\"node\",dc=\"eu\"}} 1 {now}\n"
        )
    );
    let r = s.get("/federate?match[]=up%7B");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("parse error"), "{}", r.text());
    // No match[]: nothing.
    assert_eq!(s.get("/federate").text(), "");
}

#[test]
fn gzip_when_accepted() {
    let s = start();
    let r = s.req(
        "GET",
        "/api/v1/query?query=up&time=60",
        &[("Accept-Encoding", "gzip, deflate, br")],
        b"",
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, UP_AT_60);
    let r = s.get("/api/v1/query?query=up&time=60");
    assert!(r.header("content-encoding").is_none());
}

#[test]
fn route_prefix_and_options() {
    let mut b = Builder::default();
    b.opts.route_prefix = "/prom".into();
    load_test_data(&b.storage);
    let s = b.start();
    assert_eq!(
        s.get("/prom/api/v1/query?query=up&time=60").text(),
        UP_AT_60
    );
    assert_eq!(s.get("/api/v1/query?query=up&time=60").status, 404);
    let r = s.get("/");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/prom/"));
    assert_eq!(s.get("/prom/-/healthy").status, 200);
    let r = s.req(
        "OPTIONS",
        "/prom/api/v1/query",
        &[("Origin", "http://grafana")],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://grafana")
    );
    assert_eq!(s.get("/prom/api/v1/nope").status, 404);
}

#[test]
fn remote_write_is_refused_until_enabled() {
    let s = start();
    let r = s.req("POST", "/api/v1/write", &[], b"x");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n"
    );
}
