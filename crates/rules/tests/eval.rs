//! Rule evaluation on synthetic time: recording results and staleness, the alert
//! state machine with its `ALERTS` series and notifications, templates, limits, `for`
//! state restore after a restart, and reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use hearth_model::{Labels, Matcher, is_stale_nan};
use hearth_promql::engine::{Engine, EngineOptions, QueryOptions, Value};
use hearth_rules::{
    AlertState, ChannelNotifier, EvalEnv, GroupOptions, LoadSettings, PostableAlert, Rule,
    RuleManager,
};
use hearth_tsdb::chunkenc::ValueType;
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::{Appendable, Queryable};

const M: i64 = 60_000;

struct Env {
    storage: MemStorage,
    engine: Arc<Engine>,
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Env {
    fn new(rules: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.yml");
        std::fs::write(&file, rules).unwrap();
        Env {
            storage: MemStorage::new(),
            engine: Arc::new(Engine::new(EngineOptions::default())),
            _dir: dir,
            file,
        }
    }

    fn manager(&self) -> (RuleManager, Receiver<Vec<PostableAlert>>) {
        let env = EvalEnv {
            engine: self.engine.clone(),
            queryable: Arc::new(self.storage.clone()),
            external_labels: Labels::new([("cluster", "c1")]),
            external_url: "http://hearth:9090".into(),
        };
        let (n, rx) = ChannelNotifier::new();
        let mut opts = GroupOptions::new(env, Arc::new(self.storage.clone()));
        opts.notifier = Some(Arc::new(n));
        let m = RuleManager::new(opts);
        m.update(&[&self.file], &LoadSettings::default()).unwrap();
        (m, rx)
    }

    /// Appends `value(t)` for the series every 15s in `[from, to)`.
    fn series(&self, labels: &[(&str, &str)], from: i64, to: i64, value: impl Fn(i64) -> f64) {
        let l = Labels::new(labels.iter().copied());
        let mut app = self.storage.appender();
        let mut t = from;
        while t < to {
            app.append(None, &l, t, value(t)).unwrap();
            t += 15_000;
        }
        app.commit().unwrap();
    }

    /// `(labels, value)` of an instant query, sorted.
    fn query(&self, q: &str, t: i64) -> Vec<(String, f64)> {
        let r = self
            .engine
            .instant_query(&self.storage, q, t, &QueryOptions::default());
        let mut out: Vec<(String, f64)> = match r.value.unwrap() {
            Value::Vector(v) => v.into_iter().map(|s| (s.metric.to_string(), s.f)).collect(),
            other => panic!("unexpected {other:?}"),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every raw sample of the series matching `name` with these labels.
    fn raw(&self, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
        let q = self.storage.querier(i64::MIN / 4, i64::MAX / 4).unwrap();
        let set = q.select(true, None, matchers).unwrap();
        set.series
            .iter()
            .map(|s| {
                let mut it = s.iterator();
                let mut v = Vec::new();
                while it.next() == ValueType::Float {
                    v.push(it.at());
                }
                (s.labels().to_string(), v)
            })
            .collect()
    }
}

fn drain(rx: &Receiver<Vec<PostableAlert>>) -> Vec<PostableAlert> {
    rx.try_iter().flatten().collect()
}

#[test]
fn recording_rule_writes_series_and_staleness_markers() {
    let env = Env::new(
        "groups:\n- name: rec\n  labels: {team: x}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {source: rule}\n",
    );
    env.series(
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        0,
        20 * M,
        |_| 1.0,
    );
    env.series(
        &[("__name__", "up"), ("job", "a"), ("instance", "2")],
        0,
        20 * M,
        |_| 1.0,
    );
    env.series(
        &[("__name__", "up"), ("job", "b"), ("instance", "1")],
        0,
        2 * M,
        |_| 1.0,
    );
    let (m, _rx) = env.manager();
    m.eval_all(M);
    assert_eq!(
        env.query("job:up:sum", M),
        [
            (
                r#"{__name__="job:up:sum", job="a", source="rule", team="x"}"#.to_string(),
                2.0
            ),
            (
                r#"{__name__="job:up:sum", job="b", source="rule", team="x"}"#.to_string(),
                1.0
            ),
        ]
    );
    // job b's input is older than the lookback at 10m: its result disappears and the
    // recorded series gets a staleness marker at that evaluation.
    m.eval_all(10 * M);
    let raw = env.raw(&[
        Matcher::equal("__name__", "job:up:sum"),
        Matcher::equal("job", "b"),
    ]);
    assert_eq!(raw.len(), 1);
    let samples = &raw[0].1;
    assert_eq!(samples.len(), 2, "{samples:?}");
    assert_eq!(samples[0], (M, 1.0));
    assert_eq!(samples[1].0, 10 * M);
    assert!(is_stale_nan(samples[1].1));
    assert_eq!(env.query("job:up:sum", 10 * M).len(), 1);
    let groups = m.rule_groups();
    let json = serde_json::to_value(&groups).unwrap();
    let rule = &json["groups"][0]["rules"][0];
    assert_eq!(rule["type"], "recording");
    assert_eq!(rule["health"], "ok");
    assert_eq!(rule["query"], "sum by (job) (up)");
    assert_eq!(rule["lastEvaluation"], "1970-01-01T00:10:00Z");
    assert_eq!(json["groups"][0]["interval"], 60.0);
}

#[test]
fn alert_goes_pending_firing_resolved_with_alerts_series_and_notifications() {
    let env = Env::new(concat!(
        "groups:\n- name: alerts\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    for: 3m\n",
        "    labels:\n      severity: page\n      where: '{{ $labels.instance }}'\n",
        "    annotations:\n",
        "      summary: '{{ $labels.instance }} in {{ $externalLabels.cluster }} down, value {{ $value }}'\n",
        "      link: '{{ $externalURL }}'\n",
        "      total: '{{ with query \"sum(up)\" }}{{ . | first | value }}{{ end }}'\n",
        "      broken: '{{ index $labels 1 }}'\n",
    ));
    // Down from 0 to 5m, up afterwards.
    env.series(
        &[("__name__", "up"), ("instance", "i1"), ("job", "j")],
        0,
        30 * M,
        |t| {
            if t < 5 * M { 0.0 } else { 1.0 }
        },
    );
    let (m, rx) = env.manager();
    let alerts_at = |t: i64| env.query("ALERTS", t);

    m.eval_all(M);
    m.eval_all(2 * M); // `for` state restored here (nothing to restore).
    assert!(alerts_at(2 * M).is_empty(), "no ALERTS before the restore");
    let api = m.alerts();
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].state, "pending");
    assert_eq!(api[0].active_at_ms, Some(M));
    assert_eq!(api[0].value, "0e+00");
    assert_eq!(
        api[0].annotations.get("summary"),
        Some("i1 in c1 down, value 0")
    );
    assert_eq!(api[0].annotations.get("link"), Some("http://hearth:9090"));
    assert_eq!(api[0].annotations.get("total"), Some("0"));
    assert!(
        api[0].annotations.get("broken").unwrap().starts_with(
            "<error expanding template: error executing template __alert_InstanceDown:"
        ),
        "{:?}",
        api[0].annotations
    );
    assert_eq!(api[0].labels.get("where"), Some("i1"));
    assert!(drain(&rx).is_empty(), "pending alerts are not sent");

    m.eval_all(3 * M);
    assert_eq!(
        alerts_at(3 * M),
        [(
            r#"{__name__="ALERTS", alertname="InstanceDown", alertstate="pending", instance="i1", job="j", severity="page", where="i1"}"#
                .to_string(),
            1.0
        )]
    );
    assert_eq!(
        env.query("ALERTS_FOR_STATE", 3 * M),
        [(
            r#"{__name__="ALERTS_FOR_STATE", alertname="InstanceDown", instance="i1", job="j", severity="page", where="i1"}"#
                .to_string(),
            60.0
        )]
    );

    m.eval_all(4 * M);
    let firing = alerts_at(4 * M);
    assert_eq!(firing.len(), 1);
    assert!(firing[0].0.contains(r#"alertstate="firing""#), "{firing:?}");
    let sent = drain(&rx);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].starts_at_ms, Some(4 * M));
    assert_eq!(sent[0].ends_at_ms, Some(8 * M), "valid for 4 resend delays");
    let json = serde_json::to_value(&sent[0]).unwrap();
    assert_eq!(json["startsAt"], "1970-01-01T00:04:00Z");
    assert_eq!(
        json["generatorURL"],
        "http://hearth:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
    assert_eq!(json["labels"]["alertname"], "InstanceDown");

    // Within the resend delay: not sent again.
    m.eval_all(4 * M + 30_000);
    assert!(drain(&rx).is_empty());

    // Up again: resolved, the ALERTS series goes stale, a resolve is sent.
    m.eval_all(6 * M);
    assert!(alerts_at(6 * M).is_empty());
    let stale = env.raw(&[
        Matcher::equal("__name__", "ALERTS"),
        Matcher::equal("alertstate", "firing"),
    ]);
    assert!(is_stale_nan(stale[0].1.last().unwrap().1));
    let sent = drain(&rx);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ends_at_ms, Some(6 * M));
    assert!(m.alerts().is_empty(), "resolved alerts are not active");

    // The resolved alert is resent while retained (15m), then dropped.
    m.eval_all(8 * M);
    assert_eq!(drain(&rx).len(), 1);
    m.eval_all(22 * M);
    let group = m.groups()[0].clone();
    let Rule::Alerting(r) = &group.lock().rules[0] else {
        panic!()
    };
    assert!(r.active.is_empty(), "dropped after the retention");
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let env = Env::new(
        "groups:\n- name: g\n  rules:\n  - alert: Flappy\n    expr: v > 0\n    keep_firing_for: 2m\n",
    );
    env.series(&[("__name__", "v")], 0, 30 * M, |t| {
        if t < 3 * M { 1.0 } else { 0.0 }
    });
    let (m, _rx) = env.manager();
    let state = |m: &RuleManager| {
        let g = m.groups()[0].clone();
        let g = g.lock();
        let Rule::Alerting(r) = &g.rules[0] else {
            panic!()
        };
        r.active.values().next().map(|a| a.state)
    };
    m.eval_all(M);
    m.eval_all(2 * M);
    assert_eq!(state(&m), Some(AlertState::Firing));
    m.eval_all(4 * M); // condition gone: keeps firing since 4m
    assert_eq!(state(&m), Some(AlertState::Firing));
    assert_eq!(m.alerts()[0].keep_firing_since_ms, Some(4 * M));
    m.eval_all(5 * M);
    assert_eq!(state(&m), Some(AlertState::Firing));
    m.eval_all(6 * M); // 2m after: resolved
    assert_eq!(state(&m), Some(AlertState::Inactive));
}

#[test]
fn limits_fail_the_rule() {
    let env = Env::new(concat!(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: up\n",
        "  - alert: A\n    expr: up\n",
    ));
    env.series(&[("__name__", "up"), ("i", "1")], 0, 10 * M, |_| 1.0);
    env.series(&[("__name__", "up"), ("i", "2")], 0, 10 * M, |_| 1.0);
    let (m, _rx) = env.manager();
    m.eval_all(M);
    assert!(
        env.query("r", M).is_empty(),
        "nothing written over the limit"
    );
    let json = serde_json::to_value(m.rule_groups()).unwrap();
    let rules = &json["groups"][0]["rules"];
    assert_eq!(rules[0]["health"], "err");
    assert_eq!(rules[0]["lastError"], "exceeded limit of 1 with 2 series");
    assert_eq!(rules[1]["health"], "err");
    assert_eq!(rules[1]["lastError"], "exceeded limit of 1 with 2 alerts");
    assert!(m.alerts().is_empty());
}

/// Runs a server "life" evaluating every minute in `[from, to]`.
fn life(env: &Env, from: i64, to: i64, mut each: impl FnMut(&RuleManager, i64)) {
    let (m, _rx) = env.manager();
    let mut t = from;
    while t <= to {
        m.eval_all(t);
        each(&m, t);
        t += M;
    }
}

fn alert_state(m: &RuleManager) -> Option<(AlertState, i64)> {
    let g = m.groups()[0].clone();
    let g = g.lock();
    let Rule::Alerting(r) = &g.rules[0] else {
        panic!()
    };
    r.active.values().next().map(|a| (a.state, a.active_at))
}

#[test]
fn restart_restores_for_state() {
    let rules = "groups:\n- name: g\n  rules:\n  - alert: Slow\n    expr: v > 0\n    for: 20m\n";
    // Down at 10m after 9m pending; back at 15m, restore at 16m. 11m of `for` remain
    // (more than the 10m grace period), so the outage is added: fires at 27m, not 35m.
    let env = Env::new(rules);
    env.series(&[("__name__", "v")], 0, 60 * M, |_| 1.0);
    life(&env, M, 10 * M, |_, _| {});
    let mut fired = None;
    life(&env, 15 * M, 40 * M, |m, t| {
        if t == 16 * M {
            assert_eq!(alert_state(m), Some((AlertState::Pending, 7 * M)));
        }
        if fired.is_none() && alert_state(m).is_some_and(|s| s.0 == AlertState::Firing) {
            fired = Some(t);
        }
    });
    assert_eq!(fired, Some(27 * M));

    // Down at 15m after 14m pending; restore at 18m: 6m remain, less than the grace
    // period, so it fires 10m after the restore.
    let env = Env::new(rules);
    env.series(&[("__name__", "v")], 0, 60 * M, |_| 1.0);
    life(&env, M, 15 * M, |_, _| {});
    let mut fired = None;
    life(&env, 17 * M, 40 * M, |m, t| {
        if fired.is_none() && alert_state(m).is_some_and(|s| s.0 == AlertState::Firing) {
            fired = Some(t);
        }
    });
    assert_eq!(fired, Some(28 * M));

    // Without restore (outage longer than the tolerance) `for` starts over.
    let env = Env::new(rules);
    env.series(&[("__name__", "v")], 0, 200 * M, |_| 1.0);
    life(&env, M, 10 * M, |_, _| {});
    let mut fired = None;
    life(&env, 75 * M, 100 * M, |m, t| {
        if fired.is_none() && alert_state(m).is_some_and(|s| s.0 == AlertState::Firing) {
            fired = Some(t);
        }
    });
    assert_eq!(fired, Some(95 * M));
}

#[test]
fn reload_keeps_state_of_unchanged_rules() {
    let env =
        Env::new("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: v > 0\n    for: 5m\n");
    env.series(&[("__name__", "v")], 0, 30 * M, |_| 1.0);
    let (m, _rx) = env.manager();
    m.eval_all(M);
    m.eval_all(2 * M);
    let before = m.groups()[0].clone();
    // Same file: the very same group keeps running.
    m.update(&[&env.file], &LoadSettings::default()).unwrap();
    assert!(Arc::ptr_eq(&before, &m.groups()[0]));
    // A changed group takes over the alert of the unchanged rule; the removed rule's
    // series are marked stale at the next evaluation.
    std::fs::write(
        &env.file,
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: v > 0\n    for: 5m\n  - record: r\n    expr: v\n",
    )
    .unwrap();
    m.update(&[&env.file], &LoadSettings::default()).unwrap();
    assert!(!Arc::ptr_eq(&before, &m.groups()[0]));
    assert_eq!(alert_state(&m), Some((AlertState::Pending, M)));
    m.eval_all(6 * M);
    assert_eq!(alert_state(&m), Some((AlertState::Firing, M)));
    // A broken file changes nothing.
    std::fs::write(
        &env.file,
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: v >\n",
    )
    .unwrap();
    let errs = m
        .update(&[&env.file], &LoadSettings::default())
        .unwrap_err();
    assert!(
        errs[0].to_string().contains("could not parse expression"),
        "{errs:?}"
    );
    assert_eq!(m.groups()[0].lock().rules.len(), 2);
}

#[test]
fn evaluation_times_are_aligned_per_group() {
    let env = Env::new("groups:\n- name: g\n  interval: 1m\n  rules: []\n");
    let (m, _rx) = env.manager();
    let g = m.groups()[0].clone();
    let g = g.lock();
    let a = g.eval_timestamp(1_000_000_000_000);
    let b = g.eval_timestamp(1_000_000_000_000 + 7 * M + 1234);
    assert!(a <= 1_000_000_000_000 && a > 1_000_000_000_000 - M);
    assert_eq!((b - a) % M, 0, "same phase within the interval");
    assert_eq!(b - a, 7 * M);
}
