//! The per-target scrape cache (upstream's `scrapeCache`).
//!
//! - raw series bytes (as the exposition wrote them) → storage reference and final label
//!   set, so a steady-state scrape neither builds labels nor relabels;
//! - raw series bytes that metric relabeling dropped;
//! - which series each of the last two scrapes appended (without explicit timestamps), so
//!   a series that disappears gets a staleness marker;
//! - metric metadata per family, shared with the API through [`MetadataStore`].
//!
//! Entries live in a slab indexed by `u32`; the seen-sets are lists of slab indices with
//! a per-entry "tracked in iteration" stamp, so marking a series seen costs a push, not a
//! hash-map insert. Entries are only freed in [`ScrapeCache::iter_done`], after the
//! staleness pass of that iteration, so indices in the previous seen-set stay valid for
//! the whole of the next scrape.
//!
//! Targets expose their series in the same order scrape after scrape, so each entry
//! remembers which entry followed it last time: a lookup first compares the raw bytes
//! with that prediction and only hashes on a miss. In steady state a scrape walks the
//! slab in order instead of probing a hash table at random.

use std::sync::Arc;

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use hearth_model::{Labels, Metadata, MetricType};
use hearth_tsdb::storage::SeriesRef;
use parking_lot::Mutex;

const NOT_TRACKED: u64 = u64::MAX;
const NONE: u32 = u32::MAX;

/// Metadata of one metric family, as the metadata APIs return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric_family: String,
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MetaEntry {
    pub meta: Metadata,
    pub last_iter: u64,
    pub last_iter_change: u64,
}

/// Metadata by metric family name; the scrape loop writes it, the API reads it.
#[derive(Debug, Default)]
pub struct MetadataStore {
    pub(crate) map: Mutex<HashMap<String, MetaEntry>>,
}

impl MetadataStore {
    pub fn list(&self) -> Vec<MetricMetadata> {
        let mut out: Vec<MetricMetadata> = self
            .map
            .lock()
            .iter()
            .map(|(k, e)| to_metric_metadata(k, e))
            .collect();
        out.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        out
    }

    pub fn get(&self, family: &str) -> Option<MetricMetadata> {
        self.map
            .lock()
            .get(family)
            .map(|e| to_metric_metadata(family, e))
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of help, unit and type text (upstream's `SizeMetadata`).
    pub fn size(&self) -> usize {
        self.map
            .lock()
            .values()
            .map(|e| e.meta.help.len() + e.meta.unit.len() + e.meta.metric_type.as_str().len())
            .sum()
    }
}

fn to_metric_metadata(family: &str, e: &MetaEntry) -> MetricMetadata {
    MetricMetadata {
        metric_family: family.to_string(),
        metric_type: e.meta.metric_type,
        help: e.meta.help.clone(),
        unit: e.meta.unit.clone(),
    }
}

#[derive(Debug)]
pub(crate) struct CacheEntry {
    /// The raw series bytes (the key).
    key: Box<[u8]>,
    /// The entry that followed this one in the last scrape (`NONE`: unknown).
    next: u32,
    pub series_ref: SeriesRef,
    pub labels: Labels,
    /// Last scrape iteration the series appeared in.
    pub last_iter: u64,
    /// Iteration whose seen-set holds this entry, or `NOT_TRACKED`.
    tracked_iter: u64,
    live: bool,
}

/// The cache of one scrape loop. Survives a config reload when the change cannot alter
/// the series (upstream's `reusableCache`).
#[derive(Debug)]
pub struct ScrapeCache {
    pub(crate) iter: u64,
    successful_count: usize,
    /// Slab indices, hashed and compared by their entry's key.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    entries: Vec<CacheEntry>,
    /// First entry of the last scrape, and the entry looked up last in this one.
    first: u32,
    cursor: u32,
    free: Vec<u32>,
    dropped: HashMap<Box<[u8]>, u64>,
    cur: Vec<u32>,
    prev: Vec<u32>,
    /// The report series (`up`, …): reference and labels once appended.
    pub(crate) report: [Option<(SeriesRef, Labels)>; 8],
    pub(crate) metadata: Arc<MetadataStore>,
}

impl Default for ScrapeCache {
    fn default() -> Self {
        ScrapeCache::new()
    }
}

impl ScrapeCache {
    pub fn new() -> ScrapeCache {
        ScrapeCache {
            iter: 0,
            successful_count: 0,
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            entries: Vec::new(),
            first: NONE,
            cursor: NONE,
            free: Vec::new(),
            dropped: HashMap::new(),
            cur: Vec::new(),
            prev: Vec::new(),
            report: Default::default(),
            metadata: Arc::new(MetadataStore::default()),
        }
    }

    /// The metadata this cache collects.
    pub fn metadata(&self) -> &Arc<MetadataStore> {
        &self.metadata
    }

    /// Number of cached series.
    pub fn series_len(&self) -> usize {
        self.index.len()
    }

    /// Looks a series up: its slab index and whether it was already seen this scrape.
    /// Marks it seen.
    #[inline]
    pub(crate) fn get(&mut self, series: &[u8]) -> Option<(u32, bool)> {
        let predicted = if self.cursor == NONE {
            self.first
        } else {
            self.entries[self.cursor as usize].next
        };
        let id = match self.entries.get(predicted as usize) {
            Some(e) if e.live && *e.key == *series => predicted,
            _ => {
                let hash = self.hasher.hash_one(series);
                let entries = &self.entries;
                *self
                    .index
                    .find(hash, |&id| *entries[id as usize].key == *series)?
            }
        };
        self.link(id);
        let e = &mut self.entries[id as usize];
        let already = e.last_iter == self.iter;
        e.last_iter = self.iter;
        Some((id, already))
    }

    /// Records that `id` follows the previous lookup in this scrape.
    #[inline]
    fn link(&mut self, id: u32) {
        if self.cursor == NONE {
            self.first = id;
        } else {
            self.entries[self.cursor as usize].next = id;
        }
        self.cursor = id;
    }

    #[inline]
    pub(crate) fn entry(&self, id: u32) -> &CacheEntry {
        &self.entries[id as usize]
    }

    #[inline]
    pub(crate) fn set_ref(&mut self, id: u32, series_ref: SeriesRef) {
        self.entries[id as usize].series_ref = series_ref;
    }

    pub(crate) fn add_ref(&mut self, series: &[u8], series_ref: SeriesRef, labels: Labels) -> u32 {
        let e = CacheEntry {
            key: series.into(),
            next: NONE,
            series_ref,
            labels,
            last_iter: self.iter,
            tracked_iter: NOT_TRACKED,
            live: true,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = e;
                id
            }
            None => {
                self.entries.push(e);
                (self.entries.len() - 1) as u32
            }
        };
        let hash = self.hasher.hash_one(series);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index
            .insert_unique(hash, id, |&i| hasher.hash_one(&*entries[i as usize].key));
        self.link(id);
        id
    }

    #[inline]
    pub(crate) fn is_dropped(&mut self, series: &[u8]) -> bool {
        match self.dropped.get_mut(series) {
            Some(it) => {
                *it = self.iter;
                true
            }
            None => false,
        }
    }

    pub(crate) fn add_dropped(&mut self, series: &[u8]) {
        self.dropped.insert(series.into(), self.iter);
    }

    /// Records that the series was appended this scrape (for staleness).
    #[inline]
    pub(crate) fn track_staleness(&mut self, id: u32) {
        let e = &mut self.entries[id as usize];
        if e.tracked_iter != self.iter {
            e.tracked_iter = self.iter;
            self.cur.push(id);
        }
    }

    /// Forgets what this scrape appended: used when its samples were rolled back.
    pub(crate) fn untrack_current(&mut self) {
        for &id in &self.cur {
            self.entries[id as usize].tracked_iter = NOT_TRACKED;
        }
        self.cur.clear();
    }

    /// Series appended in the previous scrape but not in this one.
    pub(crate) fn stale_series(&self) -> impl Iterator<Item = &CacheEntry> {
        self.prev.iter().filter_map(move |&id| {
            let e = &self.entries[id as usize];
            (e.live && e.tracked_iter != self.iter).then_some(e)
        })
    }

    /// Ends a scrape iteration. `flush` (a successful non-empty scrape) drops entries not
    /// seen in it; a failed scrape flushes only when the cache has grown past twice its
    /// last successful size plus 1000, as upstream.
    pub(crate) fn iter_done(&mut self, mut flush: bool) {
        let meta_len = self.metadata.len();
        let count = self.index.len() + self.dropped.len() + meta_len;
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            crate::stats::inc(&crate::stats::CACHE_FLUSH_FORCED);
            flush = true;
        }
        if flush {
            let iter = self.iter;
            let entries = &mut self.entries;
            let free = &mut self.free;
            self.index.retain(|&mut id| {
                let e = &mut entries[id as usize];
                if e.last_iter == iter {
                    return true;
                }
                e.live = false;
                e.labels = Labels::empty();
                e.key = Box::default();
                free.push(id);
                false
            });
            self.dropped.retain(|_, it| *it == iter);
            self.metadata
                .map
                .lock()
                .retain(|_, e| iter.saturating_sub(e.last_iter) <= 10);
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.cur.clear();
        self.cursor = NONE;
        self.iter += 1;
    }
}

/// Updates one metadata field of a family, noting when it changed.
pub(crate) fn set_meta(
    map: &mut HashMap<String, MetaEntry>,
    iter: u64,
    family: &str,
    update: impl FnOnce(&mut Metadata) -> bool,
) {
    let e = match map.get_mut(family) {
        Some(e) => e,
        None => map.entry(family.to_string()).or_default(),
    };
    if update(&mut e.meta) {
        e.last_iter_change = iter;
    }
    e.last_iter = iter;
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    #[test]
    fn staleness_between_iterations() {
        let mut c = ScrapeCache::new();
        let a = c.add_ref(b"a", 1, labels!("__name__" => "a"));
        let b = c.add_ref(b"b", 2, labels!("__name__" => "b"));
        c.track_staleness(a);
        c.track_staleness(b);
        assert_eq!(c.stale_series().count(), 0);
        c.iter_done(true);
        // Next scrape: only `a`.
        let (id, already) = c.get(b"a").unwrap();
        assert!(!already);
        c.track_staleness(id);
        let stale: Vec<_> = c.stale_series().map(|e| e.series_ref).collect();
        assert_eq!(stale, [2]);
        c.iter_done(true);
        assert!(c.get(b"b").is_none(), "flushed after a scrape without it");
        assert_eq!(c.series_len(), 1);
        // The freed slot is reused.
        let d = c.add_ref(b"d", 4, labels!("__name__" => "d"));
        assert_eq!(d, b);
    }

    #[test]
    fn predicted_lookups_survive_reordering_and_churn() {
        let mut c = ScrapeCache::new();
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d"];
        let mut ids = std::collections::HashMap::new();
        for k in &keys[..3] {
            let id = c.add_ref(k, 0, labels!("__name__" => "x"));
            ids.insert(*k, id);
        }
        c.iter_done(true);
        for order in [
            vec![&b"a"[..], b"b", b"c"],
            vec![b"c", b"a", b"b"],
            vec![b"a", b"b", b"b", b"c"],
            vec![b"a", b"c"],
        ] {
            for k in order {
                assert_eq!(c.get(k).map(|(id, _)| id), Some(ids[k]), "{k:?}");
            }
            assert!(c.get(b"zz").is_none());
            c.iter_done(true);
        }
        // `b` was flushed; a new key may take its slot and must not be mistaken for it.
        assert!(c.get(b"a").is_some());
        assert!(c.get(b"b").is_none());
        let d = c.add_ref(keys[3], 0, labels!("__name__" => "d"));
        c.iter_done(true);
        assert_eq!(c.get(b"a").map(|(id, _)| id), Some(ids[&b"a"[..]]));
        assert!(c.get(b"b").is_none());
        assert_eq!(c.get(b"d").map(|(id, _)| id), Some(d));
    }

    #[test]
    fn rollback_untracks() {
        let mut c = ScrapeCache::new();
        let a = c.add_ref(b"a", 1, labels!("__name__" => "a"));
        c.track_staleness(a);
        c.iter_done(true);
        let (id, _) = c.get(b"a").unwrap();
        c.track_staleness(id);
        c.untrack_current();
        assert_eq!(c.stale_series().count(), 1);
    }
}
