use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use super::*;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::nflog::NotificationLog;
use crate::notify::{BoxFuture, Integration, Notification, NotifyError, Shared};
use crate::silence::Silences;

/// Upstream's routing test tree (dispatch/route_test.go).
const TREE: &str = r#"
route:
  receiver: 'notify-def'
  routes:
  - match:
      owner: 'team-A'
    receiver: 'notify-A'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      group_by: ['...']
    - match:
        env: "production"
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - match_re:
        env: "produ.*"
        job: ".*"
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - match_re:
      owner: 'team-(B|C)'
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
  - matchers: ['group_by="role"']
    group_by: ['role']
    routes:
    - matchers: ['env="testing"']
      receiver: 'notify-testing'
      routes:
      - match:
          wait: 'long'
        group_wait: 2m
receivers:
- name: notify-def
- name: notify-A
- name: notify-testing
- name: notify-productionA
- name: notify-productionB
- name: notify-BC
"#;

fn ls(p: &[(&str, &str)]) -> LabelSet {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn route_of(y: &str) -> Arc<Route> {
    Route::new(&Config::load_str(y, "t").unwrap().route)
}

#[test]
fn upstream_routing_examples() {
    let root = route_of(TREE);
    let check = |labels: &[(&str, &str)], want: &[(&str, &[&str], bool, u64)]| {
        let got = root.matches(&ls(labels));
        let got: Vec<(String, Vec<String>, bool, u64)> = got
            .iter()
            .map(|r| {
                (
                    r.opts.receiver.clone(),
                    r.opts.group_by.iter().cloned().collect(),
                    r.opts.group_by_all,
                    r.opts.group_wait.as_secs(),
                )
            })
            .collect();
        let want: Vec<(String, Vec<String>, bool, u64)> = want
            .iter()
            .map(|(r, g, all, w)| {
                (
                    r.to_string(),
                    g.iter().map(|s| s.to_string()).collect(),
                    *all,
                    *w,
                )
            })
            .collect();
        assert_eq!(got, want, "for {labels:?}");
    };
    check(&[("owner", "team-A")], &[("notify-A", &[], false, 30)]);
    check(
        &[("owner", "team-A"), ("env", "unset")],
        &[("notify-A", &[], false, 30)],
    );
    check(
        &[("owner", "team-C")],
        &[("notify-BC", &["bar", "foo"], false, 120)],
    );
    check(
        &[("owner", "team-A"), ("env", "testing")],
        &[("notify-testing", &[], true, 30)],
    );
    // continue: both production routes.
    check(
        &[("owner", "team-A"), ("env", "production")],
        &[
            ("notify-productionA", &[], false, 60),
            ("notify-productionB", &["job"], false, 30),
        ],
    );
    check(
        &[("group_by", "role")],
        &[("notify-def", &["role"], false, 30)],
    );
    check(
        &[("env", "testing"), ("group_by", "role")],
        &[("notify-testing", &["role"], false, 30)],
    );
    check(
        &[("env", "testing"), ("group_by", "role"), ("wait", "long")],
        &[("notify-testing", &["role"], false, 120)],
    );
    check(&[("nothing", "matches")], &[("notify-def", &[], false, 30)]);
    // Keys as upstream's Route.Key().
    let r = root.matches(&ls(&[("owner", "team-A"), ("env", "production")]));
    assert_eq!(r[0].key, r#"{}/{owner="team-A"}/{env="production"}"#);
    assert_eq!(root.key, "{}");
}

#[test]
fn group_labels_and_wildcard() {
    let root = route_of(TREE);
    let a = ls(&[("owner", "team-A"), ("env", "testing"), ("x", "y")]);
    let r = root.matches(&a);
    assert_eq!(
        r[0].group_labels(&a),
        a,
        "group_by ['...'] groups by every label"
    );
    let c = ls(&[("owner", "team-C"), ("foo", "1"), ("z", "2")]);
    let r = root.matches(&c);
    assert_eq!(r[0].group_labels(&c), ls(&[("foo", "1")]));
}

/// An integration that records what it was sent.
pub struct Recorder {
    pub sent: parking_lot::Mutex<Vec<Vec<(String, String)>>>,
    pub fail_first: AtomicUsize,
    pub send_resolved: bool,
}

impl Integration for Recorder {
    fn name(&self) -> &'static str {
        "webhook"
    }
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }
    fn notify<'a>(&'a self, n: &'a Notification<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if self.fail_first.load(AtomicOrdering::SeqCst) > 0 {
                self.fail_first.fetch_sub(1, AtomicOrdering::SeqCst);
                return Err(NotifyError::retryable("unexpected status code 503"));
            }
            self.sent.lock().push(
                n.alerts
                    .iter()
                    .map(|a| (a.name().to_string(), a.status_at(&n.now).to_string()))
                    .collect(),
            );
            Ok(())
        })
    }
}

fn setup(
    yaml: &str,
    rec: Arc<Recorder>,
) -> (
    Arc<Dispatcher>,
    Arc<AlertStore>,
    Arc<Silences>,
    Arc<NotificationLog>,
) {
    let cfg = Config::load_str(yaml, "t").unwrap();
    let (store, _) = AlertStore::open(None);
    let (silences, _) = Silences::open(None, Duration::from_secs(3600));
    let (nflog, _) = NotificationLog::open(None, Duration::from_secs(3600));
    let mut reg = prometheus_client::registry::Registry::default();
    let shared = Shared {
        silences: Arc::new(silences),
        store: Arc::new(store),
        nflog: Arc::new(nflog),
        metrics: Arc::new(Metrics::new(&mut reg)),
        external_url: "http://am".into(),
        user_agent: "t".into(),
    };
    let templates = hearth_template::NotificationTemplates::new(&[], &Default::default()).unwrap();
    let mut receivers: HashMap<String, Vec<Arc<dyn Integration>>> = HashMap::new();
    receivers.insert("r".into(), vec![rec]);
    let pipeline = Arc::new(crate::notify::Pipeline::with_integrations(
        &cfg, receivers, templates, &shared,
    ));
    let d = Dispatcher::new(Route::new(&cfg.route), pipeline);
    d.start(&shared.store);
    (d, shared.store, shared.silences, shared.nflog)
}

fn alert(name: &str, ends_in: i64) -> Alert {
    let t = now();
    Alert {
        labels: ls(&[("alertname", name)]),
        annotations: LabelSet::new(),
        starts_at: t,
        ends_at: t + chrono::Duration::seconds(ends_in),
        updated_at: t,
        generator_url: String::new(),
        timeout: false,
    }
}

const SIMPLE: &str = "route:\n  receiver: r\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers: [{name: r}]\n";

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached");
}

#[tokio::test(start_paused = true)]
async fn groups_wait_then_dedup_then_resolve() {
    let rec = Arc::new(Recorder {
        sent: Default::default(),
        fail_first: AtomicUsize::new(1),
        send_resolved: true,
    });
    let (d, store, _, nflog) = setup(SIMPLE, rec.clone());
    store.put(vec![alert("A", 3600), alert("B", 3600)]);
    // One group (no group_by), one notification with both alerts after group_wait and
    // one retry of the failed first attempt.
    wait_for(|| rec.sent.lock().len() == 1).await;
    assert_eq!(rec.sent.lock()[0].len(), 2);
    assert_eq!(d.group_count(), 1);
    assert_eq!(nflog.len(), 1);
    // Several group intervals later: nothing new, nothing re-sent.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(rec.sent.lock().len(), 1);
    // Resolve A: a notification with A resolved and B firing.
    store.put(vec![alert("A", -1)]);
    wait_for(|| rec.sent.lock().len() == 2).await;
    assert_eq!(
        rec.sent.lock()[1],
        vec![
            ("A".to_string(), "resolved".to_string()),
            ("B".to_string(), "firing".to_string())
        ]
    );
    // The resolved alert is forgotten by the group after it was notified.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rec.sent.lock().len(), 2);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn silenced_alerts_are_not_sent_and_resolution_without_send_resolved_is_logged() {
    let rec = Arc::new(Recorder {
        sent: Default::default(),
        fail_first: AtomicUsize::new(0),
        send_resolved: false,
    });
    let (d, store, silences, nflog) = setup(SIMPLE, rec.clone());
    let t = now();
    silences
        .set(
            crate::silence::Silence {
                id: String::new(),
                matchers: crate::matcher::parse_matchers("alertname=S").unwrap(),
                starts_at: t,
                ends_at: t + chrono::Duration::hours(1),
                updated_at: t,
                created_by: "x".into(),
                comment: "y".into(),
            },
            t,
        )
        .unwrap();
    store.put(vec![alert("S", 3600), alert("F", 3600)]);
    wait_for(|| rec.sent.lock().len() == 1).await;
    assert_eq!(
        rec.sent.lock()[0],
        vec![("F".to_string(), "firing".to_string())]
    );
    // F resolves: send_resolved is off, so nothing is sent, but the log is cleared.
    store.put(vec![alert("F", -1)]);
    wait_for(|| {
        nflog
            .query(
                &crate::nflog::ReceiverKey {
                    group_name: "r".into(),
                    integration: "webhook".into(),
                    idx: 0,
                },
                "{}:{}",
            )
            .is_some_and(|e| e.firing_alerts.is_empty())
    })
    .await;
    assert_eq!(rec.sent.lock().len(), 1);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn mute_and_active_time_intervals() {
    let rec = Arc::new(Recorder {
        sent: Default::default(),
        fail_first: AtomicUsize::new(0),
        send_resolved: true,
    });
    let yaml = "route:
  receiver: r
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  routes:
    - matchers: [alertname=Muted]
      mute_time_intervals: [always]
    - matchers: [alertname=Inactive]
      active_time_intervals: [long_ago]
    - matchers: [alertname=Active]
      active_time_intervals: [always]
      mute_time_intervals: [long_ago]
receivers: [{name: r}]
time_intervals:
  - name: always
    time_intervals: [{}]
  - name: long_ago
    time_intervals: [{years: ['1990']}]
";
    let (d, store, _, nflog) = setup(yaml, rec.clone());
    store.put(vec![
        alert("Muted", 3600),
        alert("Inactive", 3600),
        alert("Active", 3600),
    ]);
    wait_for(|| !rec.sent.lock().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sent = rec.sent.lock().clone();
    assert_eq!(
        sent,
        vec![vec![("Active".to_string(), "firing".to_string())]]
    );
    // Muted notifications are not logged: they go out once the interval is over.
    assert_eq!(nflog.len(), 1);
    d.stop();
}
