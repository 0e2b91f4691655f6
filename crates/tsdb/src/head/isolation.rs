//! Isolation: a querier sees every commit that finished before it was created and
//! nothing of commits after, never half of one.
//!
//! Simpler than upstream's per-series transaction rings, and exact for in-order data:
//! - every commit gets an increasing id while it applies its samples, holding `applying`
//!   shared; a querier takes `applying` exclusively for an instant to read the last id,
//!   its *epoch*, so every commit up to the epoch has finished and every later one will
//!   get a larger id;
//! - in-order samples only ever extend a series in time, so the state of a series as of
//!   an epoch is "its samples up to some time". Each series records the last commit that
//!   appended to it and its max time before that commit; a querier older than that
//!   commit reads the series only up to that time;
//! - when a commit touches a series whose previous commit is newer than the oldest live
//!   querier's epoch, the previous (commit, max time before) pair is kept in a side table
//!   until no querier needs it, so a long query stays exact however many commits pass.
//!
//! Out-of-order samples are not isolated (neither are they upstream): a querier sees
//! those committed before it reads the series.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::storage::SeriesRef;

/// Commit ids and the epochs of live queriers.
#[derive(Debug, Default)]
pub(crate) struct Isolation {
    applying: RwLock<()>,
    last_commit: AtomicU64,
    /// Epoch → number of live queriers with it.
    readers: Mutex<BTreeMap<u64, usize>>,
    /// The smallest live epoch, `u64::MAX` with no querier.
    low_watermark: AtomicU64,
    /// Per series, older (commit id, max time before it) pairs live queriers may need.
    history: Mutex<HashMap<SeriesRef, Vec<(u64, i64)>>>,
}

/// A commit applying its samples; drop it when done.
pub(crate) struct CommitGuard<'a> {
    pub(crate) id: u64,
    low_watermark: u64,
    _applying: RwLockReadGuard<'a, ()>,
}

impl Isolation {
    pub(crate) fn new() -> Isolation {
        Isolation {
            low_watermark: AtomicU64::new(u64::MAX),
            ..Isolation::default()
        }
    }

    /// Starts applying a commit.
    pub(crate) fn begin_commit(&self) -> CommitGuard<'_> {
        let g = self.applying.read();
        let id = self.last_commit.fetch_add(1, Ordering::AcqRel) + 1;
        CommitGuard {
            id,
            low_watermark: self.low_watermark.load(Ordering::Acquire),
            _applying: g,
        }
    }

    /// Registers a querier and returns its epoch.
    pub(crate) fn begin_read(&self) -> u64 {
        let _g = self.applying.write();
        let epoch = self.last_commit.load(Ordering::Acquire);
        let mut readers = self.readers.lock();
        *readers.entry(epoch).or_default() += 1;
        let low = readers.keys().next().copied().unwrap_or(u64::MAX);
        self.low_watermark.store(low, Ordering::Release);
        epoch
    }

    /// Unregisters a querier; prunes history no live querier needs any more.
    pub(crate) fn end_read(&self, epoch: u64) {
        let low = {
            let mut readers = self.readers.lock();
            if let Some(n) = readers.get_mut(&epoch) {
                *n -= 1;
                if *n == 0 {
                    readers.remove(&epoch);
                }
            }
            let low = readers.keys().next().copied().unwrap_or(u64::MAX);
            self.low_watermark.store(low, Ordering::Release);
            low
        };
        let mut history = self.history.lock();
        if history.is_empty() {
            return;
        }
        // A pair of commit `c` is needed only by queriers with an epoch below `c`.
        history.retain(|_, pairs| {
            pairs.retain(|(c, _)| *c > low);
            !pairs.is_empty()
        });
    }

    /// Called by a commit the first time it appends to series `r` whose previous commit
    /// and max time before it were `prev`: keeps them if a live querier may need them.
    pub(crate) fn record_superseded(
        &self,
        guard: &CommitGuard<'_>,
        r: SeriesRef,
        prev: (u64, i64),
    ) {
        if prev.0 > guard.low_watermark && prev.0 != 0 {
            self.history.lock().entry(r).or_default().push(prev);
        }
    }

    /// The max time of series `r` a querier of `epoch` may see, given the series' last
    /// commit and max time before it; `i64::MAX` when the whole series is visible.
    pub(crate) fn visible_maxt(&self, epoch: u64, r: SeriesRef, last: (u64, i64)) -> i64 {
        if last.0 <= epoch {
            return i64::MAX;
        }
        let mut maxt = last.1;
        if let Some(pairs) = self.history.lock().get(&r) {
            for &(c, before) in pairs {
                if c > epoch {
                    maxt = maxt.min(before);
                }
            }
        }
        maxt
    }

    /// Number of live queriers.
    #[cfg(test)]
    pub(crate) fn readers(&self) -> usize {
        self.readers.lock().values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_queriers_keep_their_view_across_commits() {
        let iso = Isolation::new();
        // Series 1: commit 1 appends up to t=10.
        let c1 = iso.begin_commit();
        let mut last = (c1.id, i64::MIN);
        drop(c1);
        let epoch = iso.begin_read();
        assert_eq!(epoch, 1);
        // Commit 2 appends up to t=20, commit 3 up to t=30.
        for maxt_before in [10, 20] {
            let c = iso.begin_commit();
            iso.record_superseded(&c, 1, last);
            last = (c.id, maxt_before);
        }
        assert_eq!(last, (3, 20));
        assert_eq!(iso.visible_maxt(epoch, 1, last), 10);
        let newer = iso.begin_read();
        assert_eq!(iso.visible_maxt(newer, 1, last), i64::MAX);
        iso.end_read(epoch);
        iso.end_read(newer);
        assert!(iso.history.lock().is_empty());
        assert_eq!(iso.readers(), 0);
    }
}
