//! The notification log (upstream's `nflog`): per receiver integration and group, the
//! firing and resolved alert hashes of the last successful notification and when it
//! was sent, so the dedup stage never sends the same thing twice within the repeat
//! interval, also across a restart (the log is persisted).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::time::{Time, add, serde_rfc3339};

/// Which integration of which receiver (upstream's `nflogpb.Receiver`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReceiverKey {
    pub group_name: String,
    pub integration: String,
    pub idx: u32,
}

impl std::fmt::Display for ReceiverKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.group_name, self.integration, self.idx)
    }
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub group_key: String,
    pub receiver: ReceiverKey,
    #[serde(with = "serde_rfc3339")]
    pub timestamp: Time,
    pub firing_alerts: Vec<u64>,
    pub resolved_alerts: Vec<u64>,
    #[serde(with = "serde_rfc3339")]
    pub expires_at: Time,
}

impl Entry {
    /// Every alert of `subset` was firing in this entry.
    pub fn is_firing_subset(&self, subset: &HashSet<u64>) -> bool {
        let set: HashSet<u64> = self.firing_alerts.iter().copied().collect();
        subset.iter().all(|h| set.contains(h))
    }

    /// Every alert of `subset` was resolved in this entry.
    pub fn is_resolved_subset(&self, subset: &HashSet<u64>) -> bool {
        let set: HashSet<u64> = self.resolved_alerts.iter().copied().collect();
        subset.iter().all(|h| set.contains(h))
    }
}

/// The notification log.
pub struct NotificationLog {
    entries: Mutex<HashMap<String, Entry>>,
    retention: Duration,
    path: Option<PathBuf>,
    dirty: AtomicBool,
}

fn key(group_key: &str, r: &ReceiverKey) -> String {
    format!("{group_key}:{r}")
}

impl NotificationLog {
    pub fn open(path: Option<PathBuf>, retention: Duration) -> (NotificationLog, Option<String>) {
        let mut entries = HashMap::new();
        let mut warning = None;
        if let Some(p) = &path {
            match crate::persist::read_json::<Vec<Entry>>(p) {
                Ok(Some(list)) => {
                    for e in list {
                        entries.insert(key(&e.group_key, &e.receiver), e);
                    }
                }
                Ok(None) => {}
                Err(e) => warning = Some(e),
            }
        }
        (
            NotificationLog {
                entries: Mutex::new(entries),
                retention,
                path,
                dirty: AtomicBool::new(false),
            },
            warning,
        )
    }

    /// Records a successful notification. Entries expire after `expiry` (twice the
    /// repeat interval) when that is shorter than the retention.
    pub fn log(
        &self,
        r: &ReceiverKey,
        group_key: &str,
        firing: Vec<u64>,
        resolved: Vec<u64>,
        expiry: Duration,
        now: Time,
    ) {
        let ttl = if !expiry.is_zero() && self.retention > expiry {
            expiry
        } else {
            self.retention
        };
        let e = Entry {
            group_key: group_key.to_string(),
            receiver: r.clone(),
            timestamp: now,
            firing_alerts: firing,
            resolved_alerts: resolved,
            expires_at: add(&now, ttl),
        };
        self.entries.lock().insert(key(group_key, r), e);
        self.dirty.store(true, Ordering::Release);
    }

    pub fn query(&self, r: &ReceiverKey, group_key: &str) -> Option<Entry> {
        self.entries.lock().get(&key(group_key, r)).cloned()
    }

    /// Drops expired entries.
    pub fn gc(&self, now: &Time) -> usize {
        let mut m = self.entries.lock();
        let before = m.len();
        m.retain(|_, e| e.expires_at > *now);
        let n = before - m.len();
        if n > 0 {
            self.dirty.store(true, Ordering::Release);
        }
        n
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn persist(&self) -> std::io::Result<()> {
        let Some(p) = &self.path else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let mut list: Vec<Entry> = self.entries.lock().values().cloned().collect();
        list.sort_by_key(|e| key(&e.group_key, &e.receiver));
        crate::persist::write_json(p, &list).inspect_err(|_| {
            self.dirty.store(true, Ordering::Release);
        })
    }
}

/// Upstream's `DedupStage.needsUpdate`: whether a group with these firing and resolved
/// alert hashes must be notified given the last entry.
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &HashSet<u64>,
    resolved: &HashSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now: &Time,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !entry.is_firing_subset(firing) {
        return true;
    }
    if firing.is_empty() {
        // Everything resolved: notify (irrespective of send_resolved) to clear the
        // firing alerts from the log, unless nothing was firing at the last one.
        return !entry.firing_alerts.is_empty();
    }
    if send_resolved && !entry.is_resolved_subset(resolved) {
        return true;
    }
    entry.timestamp < crate::time::sub(now, repeat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now;

    fn set(v: &[u64]) -> HashSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn dedup_rules() {
        let t = now();
        let r = Duration::from_secs(3600);
        let e = |firing: &[u64], resolved: &[u64], ts: Time| Entry {
            group_key: "g".into(),
            receiver: ReceiverKey {
                group_name: "r".into(),
                integration: "webhook".into(),
                idx: 0,
            },
            timestamp: ts,
            firing_alerts: firing.to_vec(),
            resolved_alerts: resolved.to_vec(),
            expires_at: t,
        };
        // Nothing sent yet: only firing alerts are worth a notification.
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, r, &t));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, r, &t));
        // Same firing set within the repeat interval: no re-send.
        let sent = e(&[1, 2], &[], t);
        assert!(!needs_update(
            Some(&sent),
            &set(&[1, 2]),
            &set(&[]),
            true,
            r,
            &t
        ));
        assert!(!needs_update(
            Some(&sent),
            &set(&[1]),
            &set(&[]),
            false,
            r,
            &t
        ));
        // A new firing alert.
        assert!(needs_update(
            Some(&sent),
            &set(&[1, 3]),
            &set(&[]),
            true,
            r,
            &t
        ));
        // A newly resolved one, only with send_resolved.
        assert!(needs_update(
            Some(&sent),
            &set(&[1]),
            &set(&[2]),
            true,
            r,
            &t
        ));
        assert!(!needs_update(
            Some(&sent),
            &set(&[1]),
            &set(&[2]),
            false,
            r,
            &t
        ));
        // All resolved: always, to clear the log.
        assert!(needs_update(
            Some(&sent),
            &set(&[]),
            &set(&[1, 2]),
            false,
            r,
            &t
        ));
        let cleared = e(&[], &[1, 2], t);
        assert!(!needs_update(
            Some(&cleared),
            &set(&[]),
            &set(&[1, 2]),
            true,
            r,
            &t
        ));
        // Repeat interval passed.
        let old = e(&[1, 2], &[], crate::time::sub(&t, 2 * r));
        assert!(needs_update(
            Some(&old),
            &set(&[1, 2]),
            &set(&[]),
            true,
            r,
            &t
        ));
    }

    #[test]
    fn persisted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nflog.json");
        let (l, _) = NotificationLog::open(Some(p.clone()), Duration::from_secs(3600));
        let rk = ReceiverKey {
            group_name: "r".into(),
            integration: "webhook".into(),
            idx: 0,
        };
        let t = now();
        l.log(
            &rk,
            "{}:{a=\"b\"}",
            vec![7],
            vec![],
            Duration::from_secs(60),
            t,
        );
        l.persist().unwrap();
        let (l2, _) = NotificationLog::open(Some(p), Duration::from_secs(3600));
        let e = l2.query(&rk, "{}:{a=\"b\"}").unwrap();
        assert_eq!(e.firing_alerts, vec![7]);
        assert_eq!(e.expires_at, add(&t, Duration::from_secs(60)));
        assert_eq!(l2.gc(&add(&t, Duration::from_secs(61))), 1);
    }
}
