//! The metric store: pushed metric families by grouping key, and what PUT, POST and
//! DELETE do to them.
//!
//! Semantics are upstream's `DiskMetricStore`: every metric of a push gets the grouping
//! labels (overwriting body labels of the same name) and an `instance` label (empty if
//! none), labels sorted; PUT replaces the whole group, POST only the families it names;
//! `push_time_seconds` and `push_failure_time_seconds` are kept per group. A push with
//! timestamps, or one that would make the metrics inconsistent, is refused whole: only
//! the group's `push_failure_time_seconds` changes (the group is created for it if
//! needed, as upstream does). Writes are applied one at a time under one lock, so their
//! order is the order of the requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_exposition::proto;
use parking_lot::Mutex;

use crate::consistency::{GatherError, gather, merge_groups};
use crate::grouping_key::GroupingKey;

pub const PUSH_TIME_METRIC: &str = "push_time_seconds";
pub const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
pub const PUSH_FAILURE_METRIC: &str = "push_failure_time_seconds";
pub const PUSH_FAILURE_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// A stored family and when the push that stored it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct TimestampedFamily {
    pub timestamp: SystemTime,
    pub family: Arc<proto::MetricFamily>,
}

/// One group: its grouping key and its families by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricGroup {
    pub key: GroupingKey,
    pub families: BTreeMap<String, TimestampedFamily>,
}

impl MetricGroup {
    /// Upstream's `LastPushSuccess`: false only when the last failure is later than the
    /// last success.
    pub fn last_push_successful(&self) -> bool {
        let value = |name: &str| {
            self.families
                .get(name)
                .and_then(|f| f.family.metric.first())
                .and_then(|m| m.gauge.as_ref())
                .map(|g| g.value)
        };
        match (value(PUSH_FAILURE_METRIC), value(PUSH_TIME_METRIC)) {
            (Some(fail), Some(ok)) => fail <= ok,
            _ => true,
        }
    }

    fn family_list(&self) -> Vec<Arc<proto::MetricFamily>> {
        self.families.values().map(|f| f.family.clone()).collect()
    }
}

/// Why a push was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("pushed metrics must not have timestamps")]
    Timestamps,
    #[error(transparent)]
    Inconsistent(#[from] GatherError),
}

/// What a write does to its group.
#[derive(Debug, Clone)]
pub enum Change {
    /// PUT (`replace`) or POST.
    Push {
        families: Vec<proto::MetricFamily>,
        replace: bool,
    },
    Delete,
}

/// All groups, behind one lock.
pub struct MetricStore {
    state: Mutex<State>,
    /// Help texts of the pushgateway's own metrics: pushed families of those names are
    /// exposed with them.
    predefined_help: HashMap<String, String>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<GroupingKey, MetricGroup>,
    /// Counts changes, so persistence knows whether there is something to write.
    generation: u64,
}

impl MetricStore {
    pub fn new(predefined_help: HashMap<String, String>) -> MetricStore {
        MetricStore {
            state: Mutex::new(State::default()),
            predefined_help,
            changed: tokio::sync::Notify::new(),
        }
    }

    /// Replaces every group (at startup, from the persistence file).
    pub fn restore(&self, groups: Vec<MetricGroup>) {
        let mut st = self.state.lock();
        st.groups = groups.into_iter().map(|g| (g.key.clone(), g)).collect();
    }

    /// Applies a push. With `check`, the push is first tried on a copy and refused if
    /// the result would not gather consistently together with `own` (the pushgateway's
    /// own metrics). Timestamps are refused either way.
    pub fn push(
        &self,
        key: &GroupingKey,
        mut families: Vec<proto::MetricFamily>,
        replace: bool,
        now: SystemTime,
        check: Option<&[proto::MetricFamily]>,
    ) -> Result<(), PushError> {
        let mut st = self.state.lock();
        let result = (|| {
            if families
                .iter()
                .any(|f| f.metric.iter().any(|m| m.timestamp_ms != 0))
            {
                return Err(PushError::Timestamps);
            }
            for f in &mut families {
                sanitize_labels(f, key);
            }
            let Some(own) = check else {
                return Ok(());
            };
            let candidate = apply_push(st.groups.get(key), key, families.clone(), replace, now);
            let lists: Vec<Vec<Arc<proto::MetricFamily>>> = st
                .groups
                .iter()
                .map(|(k, g)| {
                    if k == key {
                        candidate.family_list()
                    } else {
                        g.family_list()
                    }
                })
                .chain((!st.groups.contains_key(key)).then(|| candidate.family_list()))
                .collect();
            let merged = merge_groups(lists.iter().map(Vec::as_slice), &self.predefined_help);
            gather(own.to_vec(), merged)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                let group = apply_push(st.groups.get(key), key, families, replace, now);
                st.groups.insert(key.clone(), group);
            }
            Err(_) => set_push_failed(&mut st.groups, key, now),
        }
        st.generation += 1;
        drop(st);
        self.changed.notify_one();
        result
    }

    /// Deletes a group; deleting one that does not exist is fine.
    pub fn delete(&self, key: &GroupingKey) {
        let mut st = self.state.lock();
        if st.groups.remove(key).is_some() {
            st.generation += 1;
        }
        drop(st);
        self.changed.notify_one();
    }

    /// Deletes every group (`/api/v1/admin/wipe`).
    pub fn wipe(&self) {
        let mut st = self.state.lock();
        st.groups.clear();
        st.generation += 1;
        drop(st);
        self.changed.notify_one();
    }

    /// A copy of every group, in grouping-key order (families are shared, not copied).
    pub fn groups(&self) -> Vec<MetricGroup> {
        self.state.lock().groups.values().cloned().collect()
    }

    /// The groups and the change count they reflect.
    pub fn snapshot(&self) -> (Vec<MetricGroup>, u64) {
        let st = self.state.lock();
        (st.groups.values().cloned().collect(), st.generation)
    }

    pub fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// Resolves after the next change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// What a scrape exposes: `own` and every stored family, checked as a push is.
    pub fn gather(
        &self,
        own: Vec<proto::MetricFamily>,
    ) -> Result<Vec<proto::MetricFamily>, GatherError> {
        let lists: Vec<Vec<Arc<proto::MetricFamily>>> = self
            .state
            .lock()
            .groups
            .values()
            .map(MetricGroup::family_list)
            .collect();
        let merged = merge_groups(lists.iter().map(Vec::as_slice), &self.predefined_help);
        gather(own, merged)
    }
}

/// The group after a successful push (upstream's `processWriteRequest`).
fn apply_push(
    existing: Option<&MetricGroup>,
    key: &GroupingKey,
    families: Vec<proto::MetricFamily>,
    replace: bool,
    now: SystemTime,
) -> MetricGroup {
    let mut group = existing.cloned().unwrap_or_else(|| MetricGroup {
        key: key.clone(),
        families: BTreeMap::new(),
    });
    if replace {
        group
            .families
            .retain(|n, _| n == PUSH_TIME_METRIC || n == PUSH_FAILURE_METRIC);
    }
    let mut new: BTreeMap<String, proto::MetricFamily> =
        families.into_iter().map(|f| (f.name.clone(), f)).collect();
    new.insert(
        PUSH_TIME_METRIC.into(),
        timestamp_gauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, key, Some(now)),
    );
    // A failure time already there is kept; a group's first push starts it at zero.
    if !group.families.contains_key(PUSH_FAILURE_METRIC) {
        new.insert(
            PUSH_FAILURE_METRIC.into(),
            timestamp_gauge(PUSH_FAILURE_METRIC, PUSH_FAILURE_HELP, key, None),
        );
    }
    for (name, family) in new {
        group.families.insert(
            name,
            TimestampedFamily {
                timestamp: now,
                family: Arc::new(family),
            },
        );
    }
    group
}

/// Upstream's `setPushFailedTimestamp`.
fn set_push_failed(
    groups: &mut BTreeMap<GroupingKey, MetricGroup>,
    key: &GroupingKey,
    now: SystemTime,
) {
    let group = groups.entry(key.clone()).or_insert_with(|| MetricGroup {
        key: key.clone(),
        families: BTreeMap::new(),
    });
    group.families.insert(
        PUSH_FAILURE_METRIC.into(),
        TimestampedFamily {
            timestamp: now,
            family: Arc::new(timestamp_gauge(
                PUSH_FAILURE_METRIC,
                PUSH_FAILURE_HELP,
                key,
                Some(now),
            )),
        },
    );
    if !group.families.contains_key(PUSH_TIME_METRIC) {
        group.families.insert(
            PUSH_TIME_METRIC.into(),
            TimestampedFamily {
                timestamp: now,
                family: Arc::new(timestamp_gauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, key, None)),
            },
        );
    }
}

/// Seconds since the epoch with nanoseconds, 0 for "never".
pub fn unix_seconds(t: Option<SystemTime>) -> f64 {
    let Some(t) = t else { return 0.0 };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as f64 / 1e9,
        Err(e) => -(e.duration().as_nanos() as f64) / 1e9,
    }
}

fn timestamp_gauge(
    name: &str,
    help: &str,
    key: &GroupingKey,
    t: Option<SystemTime>,
) -> proto::MetricFamily {
    let mut f = proto::MetricFamily {
        name: name.into(),
        help: help.into(),
        r#type: proto::MetricType::Gauge as i32,
        metric: vec![proto::Metric {
            gauge: Some(proto::Gauge {
                value: unix_seconds(t),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    sanitize_labels(&mut f, key);
    f
}

/// Upstream's `sanitizeLabels`: grouping labels set on every metric (their values win),
/// an empty `instance` added when missing, labels sorted by name.
pub fn sanitize_labels(f: &mut proto::MetricFamily, key: &GroupingKey) {
    for m in &mut f.metric {
        for (name, value) in key.labels() {
            match m.label.iter_mut().find(|l| &l.name == name) {
                Some(l) => l.value.clone_from(value),
                None => m.label.push(proto::LabelPair {
                    name: name.clone(),
                    value: value.clone(),
                }),
            }
        }
        if !m.label.iter().any(|l| l.name == "instance") {
            m.label.push(proto::LabelPair {
                name: "instance".into(),
                value: String::new(),
            });
        }
        m.label.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_exposition::parse_text_families;
    use std::time::Duration;

    fn key(path: &str) -> GroupingKey {
        let (job, rest) = path.split_once('/').unwrap_or((path, ""));
        GroupingKey::from_path(job, false, &format!("/{rest}")).unwrap()
    }

    fn text(s: &str) -> Vec<proto::MetricFamily> {
        parse_text_families(s.as_bytes()).unwrap()
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn names(store: &MetricStore, k: &GroupingKey) -> Vec<String> {
        store
            .groups()
            .into_iter()
            .find(|g| &g.key == k)
            .map(|g| g.families.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn value(store: &MetricStore, k: &GroupingKey, name: &str) -> Option<f64> {
        let g = store.groups().into_iter().find(|g| &g.key == k)?;
        let f = g.families.get(name)?;
        Some(hearth_exposition::proto_families::metric_value(
            &f.family.metric[0],
        ))
    }

    const CHECK: Option<&[proto::MetricFamily]> = Some(&[]);

    #[test]
    fn put_replaces_post_merges_delete_removes() {
        let s = MetricStore::new(HashMap::new());
        let k = key("j/instance/i");
        s.push(&k, text("a 1\nb 2\n"), true, t(10), CHECK).unwrap();
        assert_eq!(
            names(&s, &k),
            ["a", "b", PUSH_FAILURE_METRIC, PUSH_TIME_METRIC]
        );
        assert_eq!(value(&s, &k, PUSH_TIME_METRIC), Some(10.0));
        assert_eq!(value(&s, &k, PUSH_FAILURE_METRIC), Some(0.0));
        // POST replaces only the families it names.
        s.push(&k, text("b 3\nc 4\n"), false, t(20), CHECK).unwrap();
        assert_eq!(names(&s, &k)[..3], ["a", "b", "c"]);
        assert_eq!(value(&s, &k, "a"), Some(1.0));
        assert_eq!(value(&s, &k, "b"), Some(3.0));
        assert_eq!(value(&s, &k, PUSH_TIME_METRIC), Some(20.0));
        // PUT replaces the whole group.
        s.push(&k, text("d 5\n"), true, t(30), CHECK).unwrap();
        assert_eq!(names(&s, &k), ["d", PUSH_FAILURE_METRIC, PUSH_TIME_METRIC]);
        // An empty POST only updates the push time; an empty PUT empties the group.
        s.push(&k, vec![], false, t(40), CHECK).unwrap();
        assert_eq!(names(&s, &k)[0], "d");
        s.push(&k, vec![], true, t(50), CHECK).unwrap();
        assert_eq!(names(&s, &k), [PUSH_FAILURE_METRIC, PUSH_TIME_METRIC]);
        assert_eq!(value(&s, &k, PUSH_TIME_METRIC), Some(50.0));
        // DELETE removes the group; other groups of the same job stay.
        let other = key("j");
        s.push(&other, text("a 1\n"), true, t(60), CHECK).unwrap();
        s.delete(&k);
        assert!(names(&s, &k).is_empty());
        assert_eq!(names(&s, &other)[0], "a");
        s.delete(&k);
        s.wipe();
        assert!(s.groups().is_empty());
    }

    #[test]
    fn grouping_labels_overwrite_body_labels() {
        let s = MetricStore::new(HashMap::new());
        let k = key("j/instance/i");
        s.push(
            &k,
            text("a{job=\"other\",x=\"y\"} 1\nb{instance=\"k\"} 2\n"),
            true,
            t(1),
            CHECK,
        )
        .unwrap();
        let g = &s.groups()[0];
        let labels = |n: &str| -> Vec<(String, String)> {
            g.families[n].family.metric[0]
                .label
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        };
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            labels("a"),
            p(&[("instance", "i"), ("job", "j"), ("x", "y")])
        );
        assert_eq!(labels("b"), p(&[("instance", "i"), ("job", "j")]));
        let k2 = key("j2");
        s.push(&k2, text("c 1\n"), true, t(1), CHECK).unwrap();
        let g2 = s.groups().into_iter().find(|g| g.key == k2).unwrap();
        assert_eq!(g2.families["c"].family.metric[0].label[0].name, "instance");
        assert_eq!(g2.families["c"].family.metric[0].label[0].value, "");
    }

    #[test]
    fn rejected_pushes_change_only_the_failure_time() {
        let s = MetricStore::new(HashMap::new());
        let k = key("j");
        s.push(&k, text("# TYPE a gauge\na 1\n"), true, t(10), CHECK)
            .unwrap();
        let before = s.groups()[0].families["a"].clone();
        // Timestamps.
        let e = s
            .push(&k, text("a 2 1000\n"), true, t(20), CHECK)
            .unwrap_err();
        assert_eq!(e, PushError::Timestamps);
        // The same name with another type in another group.
        let other = key("j/instance/x");
        let e = s
            .push(&other, text("# TYPE a counter\na 2\n"), true, t(30), CHECK)
            .unwrap_err();
        assert!(e.to_string().contains("is not a GAUGE"), "{e}");
        let g = s.groups().into_iter().find(|g| g.key == k).unwrap();
        assert_eq!(g.families["a"], before);
        assert_eq!(value(&s, &k, PUSH_FAILURE_METRIC), Some(20.0));
        assert_eq!(value(&s, &k, PUSH_TIME_METRIC), Some(10.0));
        assert!(!g.last_push_successful());
        // The refused group exists with its failure time and a zero push time only.
        assert_eq!(names(&s, &other), [PUSH_FAILURE_METRIC, PUSH_TIME_METRIC]);
        assert_eq!(value(&s, &other, PUSH_TIME_METRIC), Some(0.0));
        // Without the check, inconsistent pushes are stored and scrapes fail.
        s.push(&other, text("# TYPE a counter\na 2\n"), true, t(40), None)
            .unwrap();
        assert!(s.gather(vec![]).is_err());
        // ... and every checked push fails until the culprit is gone.
        assert!(s.push(&k, text("z 1\n"), false, t(50), CHECK).is_err());
        s.delete(&other);
        s.push(&k, text("z 1\n"), false, t(60), CHECK).unwrap();
        assert!(s.groups()[0].last_push_successful());
        // Timestamps are refused even without the check.
        assert!(s.push(&k, text("y 1 5\n"), false, t(70), None).is_err());
    }

    #[test]
    fn pushed_push_time_is_overridden() {
        let s = MetricStore::new(HashMap::new());
        let k = key("j");
        s.push(&k, text("push_time_seconds 5\n"), true, t(10), CHECK)
            .unwrap();
        assert_eq!(value(&s, &k, PUSH_TIME_METRIC), Some(10.0));
    }

    #[test]
    fn duplicate_in_one_push_is_refused() {
        let s = MetricStore::new(HashMap::new());
        let k = key("j");
        let e = s.push(&k, text("a{x=\"1\"} 1\na{x=\"1\"} 2\n"), true, t(1), CHECK);
        assert!(e.is_err());
        assert!(s.gather(vec![]).unwrap().iter().all(|f| f.name != "a"));
    }
}
