//! The endpoints backed by other components, with fake implementations of the traits:
//! targets, target metadata, metric metadata, rules and alerts, Alertmanagers,
//! exemplars and the TSDB admin API — literal JSON where the answer is small.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hearth_model::{Exemplar, Labels, Matcher, MetricType};
use hearth_web::sources::{
    AlertStatus, AlertingRuleStatus, EvalStatus, RecordingRuleStatus, RuleGroupStatus,
    RuleStatusJson,
};
use hearth_web::{
    ActiveTarget, AlertmanagersSource, DroppedTarget, ExemplarSource, HeadStats, MetricMetadata,
    RulesSource, SeriesExemplars, TargetHealth, TargetsSource, TsdbAdmin, TsdbStat, TsdbStatus,
    WalReplayStatus,
};
use support::{Builder, enc, labels};

struct Targets;

impl TargetsSource for Targets {
    fn active(&self) -> Vec<ActiveTarget> {
        vec![ActiveTarget {
            discovered_labels: labels(&[("__address__", "127.0.0.1:9090"), ("job", "prom")]),
            labels: labels(&[("instance", "127.0.0.1:9090"), ("job", "prom")]),
            scrape_pool: "prom".into(),
            scrape_url: "http://127.0.0.1:9090/metrics".into(),
            global_url: "http://host:9090/metrics".into(),
            last_error: String::new(),
            last_scrape: "2026-01-01T00:00:00.5Z".into(),
            last_scrape_duration: 0.0125,
            health: TargetHealth::Up,
            scrape_interval: "15s".into(),
            scrape_timeout: "10s".into(),
        }]
    }
    fn dropped(&self) -> Vec<DroppedTarget> {
        vec![DroppedTarget {
            discovered_labels: labels(&[("__address__", "x:1"), ("job", "node")]),
            scrape_pool: "node".into(),
        }]
    }
    fn dropped_counts(&self) -> BTreeMap<String, usize> {
        [("node".to_string(), 3)].into_iter().collect()
    }
    fn metadata(&self, metric: Option<&str>) -> Vec<(Labels, Vec<MetricMetadata>)> {
        let all = vec![
            MetricMetadata {
                metric: "up".into(),
                metric_type: MetricType::Gauge,
                help: "Up.".into(),
                unit: String::new(),
            },
            MetricMetadata {
                metric: "reqs_total".into(),
                metric_type: MetricType::Counter,
                help: "Requests.".into(),
                unit: String::new(),
            },
        ];
        let pick = |v: &Vec<MetricMetadata>| {
            v.iter()
                .filter(|m| metric.is_none_or(|n| n == m.metric))
                .cloned()
                .collect()
        };
        vec![
            (labels(&[("instance", "a"), ("job", "prom")]), pick(&all)),
            (labels(&[("instance", "b"), ("job", "prom")]), pick(&all)),
        ]
    }
}

struct Rules;

fn eval(kind: &'static str, seconds: f64) -> EvalStatus {
    EvalStatus {
        health: "ok".into(),
        last_error: String::new(),
        evaluation_time: seconds,
        // 2026-01-01T00:00:01Z
        last_evaluation_ms: Some(1_767_225_601_000),
        kind,
    }
}

impl RulesSource for Rules {
    fn groups(&self) -> Vec<RuleGroupStatus> {
        let alert = AlertStatus {
            labels: labels(&[("alertname", "Down"), ("severity", "page")]),
            annotations: labels(&[("summary", "it is down")]),
            state: "firing".into(),
            active_at_ms: Some(1_767_225_600_000),
            keep_firing_since_ms: None,
            value: "1e+00".into(),
        };
        let group = |name: &str, file: &str, rules: Vec<RuleStatusJson>| RuleGroupStatus {
            name: name.into(),
            file: file.into(),
            rules,
            interval: 60.0,
            limit: 0,
            evaluation_time: 0.002,
            last_evaluation_ms: Some(1_767_225_601_000),
        };
        vec![
            group(
                "example",
                "/rules.yml",
                vec![
                    RuleStatusJson::Alerting(AlertingRuleStatus {
                        state: "firing".into(),
                        name: "Down".into(),
                        query: "up == 0".into(),
                        duration: 600.0,
                        keep_firing_for: 0.0,
                        labels: labels(&[("severity", "page")]),
                        annotations: labels(&[("summary", "it is down")]),
                        alerts: Some(vec![alert]),
                        eval: eval("alerting", 0.001),
                    }),
                    RuleStatusJson::Recording(RecordingRuleStatus {
                        name: "job:up:sum".into(),
                        query: "sum by (job) (up)".into(),
                        labels: Labels::empty(),
                        eval: eval("recording", 0.0005),
                    }),
                ],
            ),
            group(
                "other",
                "/more.yml",
                vec![RuleStatusJson::Recording(RecordingRuleStatus {
                    name: "x:y".into(),
                    query: "vector(1)".into(),
                    labels: labels(&[("team", "db")]),
                    eval: eval("recording", 0.0005),
                })],
            ),
            group("empty", "/more.yml", vec![]),
        ]
    }
}

struct Ams;

impl AlertmanagersSource for Ams {
    fn active(&self) -> Vec<String> {
        vec!["http://127.0.0.1:9093/api/v2/alerts".into()]
    }
    fn dropped(&self) -> Vec<String> {
        Vec::new()
    }
}

struct Exemplars;

impl ExemplarSource for Exemplars {
    fn exemplars(
        &self,
        mint: i64,
        maxt: i64,
        sets: &[Vec<Matcher>],
    ) -> Result<Vec<SeriesExemplars>, String> {
        assert_eq!((mint, maxt), (1_000, 2_000));
        assert_eq!(sets.len(), 1);
        Ok(vec![SeriesExemplars {
            series_labels: labels(&[("__name__", "reqs_bucket"), ("le", "0.5")]),
            exemplars: vec![Exemplar {
                labels: labels(&[("trace_id", "abc")]),
                value: 0.25,
                timestamp: Some(1_500),
            }],
        }])
    }
}

#[derive(Default)]
struct Admin {
    calls: Mutex<Vec<String>>,
}

impl TsdbAdmin for Admin {
    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), String> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("snapshot {} {with_head}", dir.display()));
        Ok(())
    }
    fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), String> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete {mint} {maxt} {}", matchers.len()));
        Ok(())
    }
    fn clean_tombstones(&self) -> Result<(), String> {
        Err("disk on fire".into())
    }
    fn stats(&self, limit: usize) -> Result<TsdbStatus, String> {
        // The statistics of up{job="a"} and up{job="b"}, largest first.
        let top = |v: &[(&str, u64)]| {
            v.iter()
                .take(limit)
                .map(|&(name, value)| TsdbStat {
                    name: name.to_string(),
                    value,
                })
                .collect()
        };
        Ok(TsdbStatus {
            head_stats: HeadStats {
                num_series: 2,
                num_label_pairs: 3,
                ..HeadStats::default()
            },
            series_count_by_metric_name: top(&[("up", 2)]),
            label_value_count_by_label_name: top(&[("job", 2), ("__name__", 1)]),
            memory_in_bytes_by_label_name: top(&[("__name__", 4), ("job", 2)]),
            series_count_by_label_value_pair: top(&[
                ("__name__=up", 2),
                ("job=a", 1),
                ("job=b", 1),
            ]),
        })
    }
    fn wal_replay_status(&self) -> WalReplayStatus {
        WalReplayStatus {
            min: 0,
            max: 3,
            current: 3,
        }
    }
}

fn start() -> (support::Server, Arc<Admin>, tempfile::TempDir) {
    let admin = Arc::new(Admin::default());
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::default();
    b.components.targets = Arc::new(Targets);
    b.components.rules = Arc::new(Rules);
    b.components.alertmanagers = Arc::new(Ams);
    b.components.exemplars = Some(Arc::new(Exemplars));
    b.components.tsdb = Some(admin.clone());
    b.opts.enable_admin_api = true;
    b.opts.data_dir = dir.path().to_path_buf();
    (b.start(), admin, dir)
}

fn data(r: &support::Resp) -> String {
    let t = r.text();
    t.strip_prefix(r#"{"status":"success","data":"#)
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a success: {t}"))
        .to_string()
}

#[test]
fn targets() {
    let (s, _, _d) = start();
    assert_eq!(
        data(&s.get("/api/v1/targets")),
        r#"{"activeTargets":[{"discoveredLabels":{"__address__":"127.0.0.1:9090","job":"prom"},"labels":{"instance":"127.0.0.1:9090","job":"prom"},"scrapePool":"prom","scrapeUrl":"http://127.0.0.1:9090/metrics","globalUrl":"http://host:9090/metrics","lastError":"","lastScrape":"2026-01-01T00:00:00.5Z","lastScrapeDuration":0.0125,"health":"up","scrapeInterval":"15s","scrapeTimeout":"10s"}],"droppedTargets":[{"discoveredLabels":{"__address__":"x:1","job":"node"},"scrapePool":"node"}],"droppedTargetCounts":{"node":3}}"#
    );
    assert_eq!(
        data(&s.get("/api/v1/targets?state=dropped")),
        r#"{"activeTargets":[],"droppedTargets":[{"discoveredLabels":{"__address__":"x:1","job":"node"},"scrapePool":"node"}],"droppedTargetCounts":{"node":3}}"#
    );
    let v = s.get("/api/v1/targets?scrapePool=node").json();
    assert_eq!(v["data"]["activeTargets"], serde_json::json!([]));
}

#[test]
fn metadata() {
    let (s, _, _d) = start();
    assert_eq!(
        data(&s.get("/api/v1/metadata")),
        r#"{"reqs_total":[{"type":"counter","help":"Requests.","unit":""}],"up":[{"type":"gauge","help":"Up.","unit":""}]}"#
    );
    assert_eq!(
        data(&s.get("/api/v1/metadata?metric=up")),
        r#"{"up":[{"type":"gauge","help":"Up.","unit":""}]}"#
    );
    assert_eq!(
        data(&s.get("/api/v1/metadata?limit=1"))
            .matches("type")
            .count(),
        1
    );
    let v = s.get("/api/v1/metadata?limit=x").json();
    assert_eq!(v["error"], "limit must be a number");
    assert_eq!(
        data(&s.get(&format!(
            "/api/v1/targets/metadata?match_target={}&metric=up",
            enc("{instance=\"b\"}")
        ))),
        r#"[{"target":{"instance":"b","job":"prom"},"type":"gauge","help":"Up.","unit":""}]"#
    );
    assert_eq!(
        data(&s.get("/api/v1/targets/metadata?limit=1")),
        r#"[{"target":{"instance":"a","job":"prom"},"metric":"up","type":"gauge","help":"Up.","unit":""}]"#
    );
}

#[test]
fn rules_alerts_and_alertmanagers() {
    let (s, _, _d) = start();
    let other = r#"{"name":"other","file":"/more.yml","rules":[{"name":"x:y","query":"vector(1)","labels":{"team":"db"},"health":"ok","evaluationTime":0.0005,"lastEvaluation":"2026-01-01T00:00:01Z","type":"recording"}],"interval":60,"limit":0,"evaluationTime":0.002,"lastEvaluation":"2026-01-01T00:00:01Z"}"#;
    // The group without rules is left out, as upstream does.
    assert_eq!(
        data(&s.get("/api/v1/rules")),
        format!(
            r#"{{"groups":[{{"name":"example","file":"/rules.yml","rules":[{{"state":"firing","name":"Down","query":"up == 0","duration":600,"keepFiringFor":0,"labels":{{"severity":"page"}},"annotations":{{"summary":"it is down"}},"alerts":[{{"labels":{{"alertname":"Down","severity":"page"}},"annotations":{{"summary":"it is down"}},"state":"firing","activeAt":"2026-01-01T00:00:00Z","value":"1e+00"}}],"health":"ok","evaluationTime":0.001,"lastEvaluation":"2026-01-01T00:00:01Z","type":"alerting"}},{{"name":"job:up:sum","query":"sum by (job) (up)","health":"ok","evaluationTime":0.0005,"lastEvaluation":"2026-01-01T00:00:01Z","type":"recording"}}],"interval":60,"limit":0,"evaluationTime":0.002,"lastEvaluation":"2026-01-01T00:00:01Z"}},{other}]}}"#
        )
    );
    let v = s.get("/api/v1/rules?type=record").json();
    let rules = v["data"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["type"], "recording");
    // Upstream leaves the alerts out as null.
    let v = s.get("/api/v1/rules?exclude_alerts=true").json();
    assert_eq!(
        v["data"]["groups"][0]["rules"][0]["alerts"],
        serde_json::Value::Null
    );
    let v = s.get("/api/v1/rules?rule_name[]=nope").json();
    assert_eq!(v["data"]["groups"], serde_json::json!([]));
    let names = |path: &str| -> Vec<String> {
        let v = s.get(path).json();
        v["data"]["groups"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("/api/v1/rules?file[]=/more.yml"), ["other"]);
    assert_eq!(names("/api/v1/rules?rule_group[]=example"), ["example"]);
    // match[] selects on the rules' labels.
    assert_eq!(
        names(&format!("/api/v1/rules?match[]={}", enc("{team=\"db\"}"))),
        ["other"]
    );
    assert_eq!(
        s.get(&format!("/api/v1/rules?match[]={}", enc("{team=~\".*\"}")))
            .text(),
        r#"{"status":"error","errorType":"bad_data","error":"match[] must contain at least one non-empty matcher"}"#
    );

    // Pagination: one group per page, then the token of the next.
    let v = s.get("/api/v1/rules?group_limit=1").json();
    assert_eq!(v["data"]["groups"][0]["name"], "example");
    let token = v["data"]["groupNextToken"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 40);
    let v = s
        .get(&format!(
            "/api/v1/rules?group_limit=1&group_next_token={token}"
        ))
        .json();
    assert_eq!(v["data"]["groups"][0]["name"], "other");
    assert!(v["data"].get("groupNextToken").is_none(), "{v}");
    assert_eq!(
        s.get("/api/v1/rules?group_next_token=abc").text(),
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"group_next_token\": group_limit needs to be present in order to paginate over the groups"}"#
    );
    assert_eq!(
        s.get("/api/v1/rules?group_limit=0").text(),
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"group_limit\": group_limit needs to be greater than 0"}"#
    );
    assert_eq!(
        s.get("/api/v1/rules?group_limit=1&group_next_token=abc")
            .text(),
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"group_next_token\": invalid group_next_token 'abc'. were rule groups changed?"}"#
    );

    assert_eq!(
        data(&s.get("/api/v1/alerts")),
        r#"{"alerts":[{"labels":{"alertname":"Down","severity":"page"},"annotations":{"summary":"it is down"},"state":"firing","activeAt":"2026-01-01T00:00:00Z","value":"1e+00"}]}"#
    );
    assert_eq!(
        data(&s.get("/api/v1/alertmanagers")),
        r#"{"activeAlertmanagers":[{"url":"http://127.0.0.1:9093/api/v2/alerts"}],"droppedAlertmanagers":[]}"#
    );
}

#[test]
fn exemplars() {
    let (s, _, _d) = start();
    assert_eq!(
        data(&s.get(&format!(
            "/api/v1/query_exemplars?query={}&start=1&end=2",
            enc("rate(reqs_bucket[5m])")
        ))),
        r#"[{"seriesLabels":{"__name__":"reqs_bucket","le":"0.5"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"0.25","timestamp":1.500}]}]"#
    );
    let r = s.get("/api/v1/query_exemplars?query=1&start=1&end=2");
    assert_eq!(r.status, 204);
    let v = s
        .get("/api/v1/query_exemplars?query=up&start=2&end=1")
        .json();
    assert_eq!(
        v["error"],
        "end timestamp must not be before start timestamp"
    );
}

#[test]
fn tsdb_admin_and_status() {
    let (s, admin, dir) = start();
    let r = s.req(
        "PUT",
        &format!(
            "/api/v1/admin/tsdb/delete_series?match[]={}&match[]=up&start=1&end=2",
            enc("{job=\"a\"}")
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let v = s
        .req("POST", "/api/v1/admin/tsdb/delete_series", &[], b"")
        .json();
    assert_eq!(v["error"], "no match[] parameter provided");
    let r = s.req(
        "POST",
        "/api/v1/admin/tsdb/snapshot?skip_head=true",
        &[],
        b"",
    );
    let v = r.json();
    let name = v["data"]["name"].as_str().unwrap().to_string();
    assert_eq!(
        name.len(),
        "20060102T150405Z-0123456789abcdef".len(),
        "{name}"
    );
    assert!(dir.path().join("snapshots").join(&name).is_dir());
    let v = s
        .req(
            "POST",
            "/api/v1/admin/tsdb/snapshot?skip_head=maybe",
            &[],
            b"",
        )
        .json();
    assert_eq!(
        v["error"],
        "invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    let r = s.req("POST", "/api/v1/admin/tsdb/clean_tombstones", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            500,
            r#"{"status":"error","errorType":"internal","error":"disk on fire"}"#
        )
    );
    let calls = admin.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0], "delete 1000 2000 1");
    assert_eq!(calls[1], "delete 1000 2000 1");
    assert!(calls[2].ends_with(" false"), "{}", calls[2]);

    assert_eq!(
        data(&s.get("/api/v1/status/tsdb?limit=1")),
        r#"{"headStats":{"numSeries":2,"numLabelPairs":3,"chunkCount":0,"minTime":0,"maxTime":0},"seriesCountByMetricName":[{"name":"up","value":2}],"labelValueCountByLabelName":[{"name":"job","value":2}],"memoryInBytesByLabelName":[{"name":"__name__","value":4}],"seriesCountByLabelValuePair":[{"name":"__name__=up","value":2}]}"#
    );
    let v = s.get("/api/v1/status/tsdb?limit=0").json();
    assert_eq!(v["error"], "limit must be a positive number");
    assert_eq!(
        data(&s.get("/api/v1/status/walreplay")),
        r#"{"min":0,"max":3,"current":3}"#
    );
}
