//! Exemplar storage: one bounded circular buffer for all series, with upstream's
//! `CircularExemplarStorage` semantics.
//!
//! Each series' exemplars form a linked list through the buffer, oldest to newest; a new
//! exemplar takes the oldest slot of the whole buffer, evicting whatever was there. An
//! exemplar older than its series' newest one is out of order and rejected; one equal to
//! the newest is a duplicate and ignored. Size 0 disables storage
//! (`--storage.tsdb.max-exemplars`).

use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use parking_lot::Mutex;

use hearth_model::exemplar::MAX_EXEMPLAR_LABELS_RUNES;
use hearth_model::{Exemplar, Labels, Matcher, Timestamp, matches_all};

use crate::storage::AppendError;

/// The exemplars of one series in a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarQueryResult {
    pub series_labels: Labels,
    /// Oldest first; each has a timestamp.
    pub exemplars: Vec<Exemplar>,
}

/// An exemplar as stored: the timestamp is required by then.
#[derive(Debug, Clone)]
struct Stored {
    labels: Labels,
    value: f64,
    t: Timestamp,
}

#[derive(Debug)]
struct Slot {
    exemplar: Stored,
    series: Labels,
    /// Next (newer) slot of the same series.
    next: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct SeriesEnds {
    oldest: usize,
    newest: usize,
}

#[derive(Debug, Default)]
struct Ring {
    slots: Vec<Option<Slot>>,
    next: usize,
    index: HashMap<Labels, SeriesEnds>,
}

/// Why an exemplar was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExemplarCheck {
    Ok,
    /// Identical to the series' newest exemplar: silently dropped.
    Duplicate,
}

/// The circular exemplar buffer of the head.
#[derive(Debug)]
pub struct ExemplarStorage {
    ring: Mutex<Ring>,
    pub(crate) appended: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) last_timestamp: AtomicU64,
}

fn same(a: &Stored, e: &Stored) -> bool {
    a.t == e.t && a.value.to_bits() == e.value.to_bits() && a.labels == e.labels
}

impl ExemplarStorage {
    pub fn new(max_exemplars: usize) -> ExemplarStorage {
        let mut slots = Vec::new();
        slots.resize_with(max_exemplars, || None);
        ExemplarStorage {
            ring: Mutex::new(Ring {
                slots,
                next: 0,
                index: HashMap::new(),
            }),
            appended: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            last_timestamp: AtomicU64::new(0),
        }
    }

    /// Capacity; 0 when exemplar storage is disabled.
    pub fn capacity(&self) -> usize {
        self.ring.lock().slots.len()
    }

    /// Checks an exemplar for `series` without storing it.
    pub(crate) fn validate(
        &self,
        series: &Labels,
        e: &Exemplar,
        t: Timestamp,
    ) -> Result<ExemplarCheck, AppendError> {
        let runes: usize = e
            .labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if runes > MAX_EXEMPLAR_LABELS_RUNES {
            return Err(AppendError::ExemplarLabelsTooLong(runes));
        }
        let ring = self.ring.lock();
        check(&ring, series, &stored(e, t))
    }

    /// Stores an exemplar of `series` taken at `t`. Duplicates are ignored.
    pub(crate) fn add(
        &self,
        series: &Labels,
        e: &Exemplar,
        t: Timestamp,
    ) -> Result<(), AppendError> {
        let new = stored(e, t);
        let mut ring = self.ring.lock();
        if ring.slots.is_empty() {
            return Ok(());
        }
        match check(&ring, series, &new) {
            Ok(ExemplarCheck::Duplicate) => return Ok(()),
            Ok(ExemplarCheck::Ok) => {}
            Err(err) => {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
                return Err(err);
            }
        }
        let ring = &mut *ring;
        let at = ring.next;
        // Evict the oldest exemplar of the buffer.
        if let Some(old) = ring.slots[at].take() {
            match ring.index.get_mut(&old.series) {
                Some(ends) if ends.oldest == at => match old.next {
                    Some(n) => ends.oldest = n,
                    None => {
                        ring.index.remove(&old.series);
                    }
                },
                _ => {}
            }
        }
        ring.slots[at] = Some(Slot {
            exemplar: new,
            series: series.clone(),
            next: None,
        });
        match ring.index.get_mut(series) {
            Some(ends) => {
                if let Some(Some(prev)) = ring.slots.get_mut(ends.newest) {
                    prev.next = Some(at);
                }
                ends.newest = at;
            }
            None => {
                ring.index.insert(
                    series.clone(),
                    SeriesEnds {
                        oldest: at,
                        newest: at,
                    },
                );
            }
        }
        ring.next = (at + 1) % ring.slots.len();
        self.appended.fetch_add(1, Ordering::Relaxed);
        self.last_timestamp.store(t as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Exemplars in `[mint, maxt]` of the series matching any of `matcher_sets`, per
    /// series sorted by labels, each series' exemplars oldest first.
    pub fn exemplars(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<ExemplarQueryResult> {
        let ring = self.ring.lock();
        let mut out = Vec::new();
        for (series, ends) in &ring.index {
            if !matcher_sets.iter().any(|ms| matches_all(series, ms)) {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut at = Some(ends.oldest);
            while let Some(i) = at {
                let Some(Some(slot)) = ring.slots.get(i) else {
                    break;
                };
                let e = &slot.exemplar;
                if e.t > maxt {
                    break;
                }
                if e.t >= mint {
                    exemplars.push(Exemplar {
                        labels: e.labels.clone(),
                        value: e.value,
                        timestamp: Some(e.t),
                    });
                }
                at = slot.next;
            }
            if !exemplars.is_empty() {
                out.push(ExemplarQueryResult {
                    series_labels: series.clone(),
                    exemplars,
                });
            }
        }
        out.sort_by(|a, b| a.series_labels.cmp(&b.series_labels));
        out
    }

    /// (exemplars stored, series with exemplars).
    pub fn counts(&self) -> (usize, usize) {
        let ring = self.ring.lock();
        (
            ring.slots.iter().filter(|s| s.is_some()).count(),
            ring.index.len(),
        )
    }
}

fn stored(e: &Exemplar, t: Timestamp) -> Stored {
    Stored {
        labels: e.labels.clone(),
        value: e.value,
        t,
    }
}

fn check(ring: &Ring, series: &Labels, e: &Stored) -> Result<ExemplarCheck, AppendError> {
    let Some(ends) = ring.index.get(series) else {
        return Ok(ExemplarCheck::Ok);
    };
    let Some(Some(newest)) = ring.slots.get(ends.newest) else {
        return Ok(ExemplarCheck::Ok);
    };
    let n = &newest.exemplar;
    if same(n, e) {
        return Ok(ExemplarCheck::Duplicate);
    }
    // Scrapes sort a series' exemplars by time, value, then labels: anything below the
    // newest is out of order (or an older duplicate, which is not worth telling apart).
    if e.t < n.t
        || (e.t == n.t && e.value < n.value)
        || (e.t == n.t && e.value == n.value && e.labels.hash() < n.labels.hash())
    {
        return Err(AppendError::OutOfOrderExemplar);
    }
    Ok(ExemplarCheck::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::{MatchOp, labels};

    fn ex(trace: &str, v: f64) -> Exemplar {
        Exemplar {
            labels: labels!("trace_id" => trace),
            value: v,
            timestamp: None,
        }
    }

    #[test]
    fn ring_evicts_oldest_and_rejects_out_of_order() {
        let s = ExemplarStorage::new(3);
        let a = labels!("__name__" => "a");
        let b = labels!("__name__" => "b");
        s.add(&a, &ex("1", 1.0), 10).unwrap();
        s.add(&a, &ex("1", 1.0), 10).unwrap(); // duplicate: ignored
        assert_eq!(
            s.add(&a, &ex("2", 2.0), 5),
            Err(AppendError::OutOfOrderExemplar)
        );
        s.add(&b, &ex("3", 3.0), 11).unwrap();
        s.add(&a, &ex("4", 4.0), 12).unwrap();
        assert_eq!(s.counts(), (3, 2));
        // The fourth evicts a's first.
        s.add(&b, &ex("5", 5.0), 13).unwrap();
        let all = [vec![
            Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap(),
        ]];
        let r = s.exemplars(0, 100, &all);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].series_labels, a);
        assert_eq!(r[0].exemplars.len(), 1);
        assert_eq!(r[0].exemplars[0].timestamp, Some(12));
        assert_eq!(
            r[1].exemplars.iter().map(|e| e.value).collect::<Vec<_>>(),
            [3.0, 5.0]
        );
        let r = s.exemplars(12, 12, &all);
        assert_eq!(r.len(), 1);
        let too_long = Exemplar {
            labels: labels!("trace_id" => "x".repeat(130)),
            value: 1.0,
            timestamp: None,
        };
        assert!(matches!(
            s.validate(&a, &too_long, 20),
            Err(AppendError::ExemplarLabelsTooLong(138))
        ));
        let disabled = ExemplarStorage::new(0);
        disabled.add(&a, &ex("1", 1.0), 1).unwrap();
        assert_eq!(disabled.counts(), (0, 0));
    }
}
