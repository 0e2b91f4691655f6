//! The alert store (upstream's `provider/mem`): alerts by fingerprint, updates merged
//! as upstream merges them, every accepted alert passed on to the dispatcher, resolved
//! alerts garbage-collected, and the whole set persisted so a restart keeps firing and
//! not-yet-notified resolved alerts (upstream loses them: alertmanager#2370).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::alert::Alert;
use crate::time::Time;

/// The alert store.
pub struct AlertStore {
    alerts: Mutex<HashMap<u64, Alert>>,
    subscriber: Mutex<Option<mpsc::UnboundedSender<Alert>>>,
    path: Option<PathBuf>,
    dirty: AtomicBool,
}

impl AlertStore {
    /// A store persisted at `path` (`None`: memory only). Returns a warning when the
    /// file could not be read.
    pub fn open(path: Option<PathBuf>) -> (AlertStore, Option<String>) {
        let mut warning = None;
        let mut alerts = HashMap::new();
        if let Some(p) = &path {
            match crate::persist::read_json::<Vec<Alert>>(p) {
                Ok(Some(list)) => {
                    for a in list {
                        alerts.insert(a.fingerprint(), a);
                    }
                }
                Ok(None) => {}
                Err(e) => warning = Some(e),
            }
        }
        (
            AlertStore {
                alerts: Mutex::new(alerts),
                subscriber: Mutex::new(None),
                path,
                dirty: AtomicBool::new(false),
            },
            warning,
        )
    }

    /// Stores alerts, merging each with the stored one when their activity overlaps,
    /// and passes the result on to the subscriber.
    pub fn put(&self, alerts: Vec<Alert>) {
        let mut out = Vec::with_capacity(alerts.len());
        {
            let mut map = self.alerts.lock();
            for mut a in alerts {
                let fp = a.fingerprint();
                if let Some(old) = map.get(&fp)
                    && ((a.ends_at > old.starts_at && a.ends_at < old.ends_at)
                        || (a.starts_at > old.starts_at && a.starts_at < old.ends_at))
                {
                    a = old.merge(&a);
                }
                map.insert(fp, a.clone());
                out.push(a);
            }
        }
        self.dirty.store(true, Ordering::Release);
        if let Some(tx) = self.subscriber.lock().as_ref() {
            for a in out {
                let _ = tx.send(a);
            }
        }
    }

    pub fn get(&self, fp: u64) -> Option<Alert> {
        self.alerts.lock().get(&fp).cloned()
    }

    pub fn list(&self) -> Vec<Alert> {
        self.alerts.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.alerts.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored alert now, and every later one as it is put (one subscriber: the
    /// dispatcher; a new subscription replaces the old one).
    pub fn subscribe(&self) -> (Vec<Alert>, mpsc::UnboundedReceiver<Alert>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut sub = self.subscriber.lock();
        let existing = self.list();
        *sub = Some(tx);
        (existing, rx)
    }

    /// Removes alerts resolved at `now`, except those `keep` still needs (a group that
    /// has not sent their resolution yet). Returns the removed fingerprints.
    pub fn gc(&self, now: &Time, keep: impl Fn(u64) -> bool) -> Vec<u64> {
        let mut map = self.alerts.lock();
        let gone: Vec<u64> = map
            .iter()
            .filter(|(fp, a)| a.resolved_at(now) && !keep(**fp))
            .map(|(fp, _)| *fp)
            .collect();
        for fp in &gone {
            map.remove(fp);
        }
        if !gone.is_empty() {
            self.dirty.store(true, Ordering::Release);
        }
        gone
    }

    /// Writes the store if it changed since the last write.
    pub fn persist(&self) -> std::io::Result<()> {
        let Some(p) = &self.path else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let list = self.list();
        crate::persist::write_json(p, &list).inspect_err(|_| {
            self.dirty.store(true, Ordering::Release);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{add, now, sub};
    use std::time::Duration;

    fn alert(name: &str, start: Time, end: Time, updated: Time) -> Alert {
        Alert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: Default::default(),
            starts_at: start,
            ends_at: end,
            updated_at: updated,
            generator_url: String::new(),
            timeout: false,
        }
    }

    #[test]
    fn put_merges_overlapping_and_persists() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("alerts.json");
        let (s, w) = AlertStore::open(Some(p.clone()));
        assert!(w.is_none());
        let (_, mut rx) = s.subscribe();
        let t = now();
        let m = |x: u64| Duration::from_secs(x * 60);
        s.put(vec![alert(
            "a",
            sub(&t, m(10)),
            add(&t, m(5)),
            sub(&t, m(1)),
        )]);
        // A re-send with a later start overlaps: the earlier start is kept.
        s.put(vec![alert("a", sub(&t, m(2)), add(&t, m(5)), t)]);
        let a = s.list().remove(0);
        assert_eq!(a.starts_at, sub(&t, m(10)));
        assert!(rx.try_recv().is_ok() && rx.try_recv().is_ok());
        // Resolved at a later time: gone after GC unless kept.
        s.put(vec![alert("b", sub(&t, m(10)), sub(&t, m(1)), t)]);
        let fp_b = s
            .list()
            .iter()
            .find(|a| a.name() == "b")
            .unwrap()
            .fingerprint();
        assert!(s.gc(&t, |fp| fp == fp_b).is_empty());
        s.persist().unwrap();
        let (s2, _) = AlertStore::open(Some(p.clone()));
        assert_eq!(s2.len(), 2, "restart keeps alerts");
        assert_eq!(s2.gc(&t, |_| false), vec![fp_b]);
    }
}
