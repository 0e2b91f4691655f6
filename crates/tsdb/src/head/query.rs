//! Reading the head: [`HeadQuerier`] (the storage `Querier`), [`HeadSeries`] and the
//! iterator that streams a series' samples straight from its chunks.
//!
//! A querier registers an isolation epoch when created (see `isolation`); `select` finds
//! series through the inverted index and keeps those with data in range. A series takes
//! its snapshot lazily, when its first iterator is made: references to its complete
//! chunks (in memory or mapped) and a copy of the open chunk's bytes, cut at the time the
//! querier's epoch allows. Out-of-order samples, rare by design, are decoded into a
//! sorted list and merged by time (an in-order sample wins a tie).

use std::sync::{Arc, OnceLock};

use hearth_model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};

use crate::chunkenc::{Chunk, ChunkIterator, ChunkSampleIterator, Encoding};
use crate::chunks::HeadChunkRef;
use crate::postings::{collect, postings_for_matchers};
use crate::storage::{
    Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType,
};

use super::HeadShared;
use super::chunk_disk::MappedHeadFile;
use super::series::{ChunkLoc, ChunkMeta, MemSeries, SeriesState};
use crate::tombstones::{DeletedSkipIterator, Interval, TombstoneReader};

/// Where the bytes of a chunk in a snapshot are.
#[derive(Debug)]
pub(crate) enum SnapData {
    Shared(Arc<Chunk>),
    Owned(Chunk),
    Mapped(Arc<MappedHeadFile>, HeadChunkRef),
    /// The chunk's file could not be found (reported when read).
    Missing(HeadChunkRef, String),
}

/// A chunk of a snapshot and its time range.
#[derive(Debug)]
pub(crate) struct SnapChunk {
    pub(crate) data: SnapData,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
}

impl SnapChunk {
    /// The chunk's encoding and bytes.
    pub(crate) fn bytes(&self) -> Result<(Encoding, &[u8]), StorageError> {
        match &self.data {
            SnapData::Shared(c) => Ok((c.encoding(), c.bytes())),
            SnapData::Owned(c) => Ok((c.encoding(), c.bytes())),
            SnapData::Mapped(f, r) => {
                f.chunk(*r)
                    .map(|c| (c.encoding, c.data))
                    .map_err(|e| StorageError::Corruption {
                        location: format!("head chunk {:#x}", r.0),
                        reason: e.to_string(),
                    })
            }
            SnapData::Missing(r, why) => Err(StorageError::Corruption {
                location: format!("head chunk {:#x}", r.0),
                reason: why.clone(),
            }),
        }
    }

    pub(crate) fn iter(&self) -> Result<ChunkIterator<'_>, StorageError> {
        let (e, b) = self.bytes()?;
        Ok(ChunkIterator::new(e, b))
    }
}

/// References to the chunks of a series overlapping `[mint, maxt]`, taken under its lock.
pub(crate) struct ChunkHandles {
    pub(crate) in_order: Vec<SnapChunk>,
    pub(crate) ooo: Vec<SnapChunk>,
    pub(crate) ooo_buffer: Vec<(i64, f64)>,
}

fn snap(head: &HeadShared, loc: &ChunkLoc) -> SnapData {
    match loc {
        ChunkLoc::Memory(c) | ChunkLoc::Written(c, _) => SnapData::Shared(c.clone()),
        ChunkLoc::Mapped(r, _) => match head.chunk_disk.file(*r) {
            Ok(f) => SnapData::Mapped(f, *r),
            Err(e) => SnapData::Missing(*r, e.to_string()),
        },
    }
}

/// Collects the chunk handles of `st` for `[mint, maxt]` (in-order data up to
/// `in_order_maxt` only).
pub(crate) fn chunk_handles(
    head: &HeadShared,
    st: &SeriesState,
    mint: i64,
    maxt: i64,
    in_order_maxt: i64,
) -> ChunkHandles {
    let overlaps = |a: i64, b: i64, hi: i64| a <= hi && b >= mint;
    let handles = |chunks: &[ChunkMeta], hi: i64| -> Vec<SnapChunk> {
        chunks
            .iter()
            .filter(|c| overlaps(c.min_time, c.max_time, hi))
            .map(|c| SnapChunk {
                data: snap(head, &c.loc),
                min_time: c.min_time,
                max_time: c.max_time,
            })
            .collect()
    };
    let mut in_order = handles(&st.chunks, in_order_maxt);
    if let Some(o) = &st.open
        && o.app.num_samples() > 0
        && overlaps(o.min_time, o.max_time, in_order_maxt)
    {
        // The open chunk changes after this (and histogram chunks may be recoded): copy.
        let bytes = o.app.bytes().to_vec();
        if let Ok(c) = Chunk::new(o.app.encoding(), bytes) {
            in_order.push(SnapChunk {
                data: SnapData::Owned(c),
                min_time: o.min_time,
                max_time: o.max_time,
            });
        }
    }
    let (mut ooo, mut ooo_buffer) = (Vec::new(), Vec::new());
    if let Some(o) = &st.ooo {
        ooo = handles(&o.chunks, maxt);
        ooo_buffer = o
            .head
            .iter()
            .copied()
            .filter(|(t, _)| *t >= mint && *t <= maxt)
            .collect();
    }
    ChunkHandles {
        in_order,
        ooo,
        ooo_buffer,
    }
}

/// Decodes out-of-order chunks and buffer into one sorted list without duplicate times.
pub(crate) fn merge_ooo(
    chunks: &[SnapChunk],
    buffer: &[(i64, f64)],
    mint: i64,
    maxt: i64,
) -> Result<Vec<(i64, f64)>, StorageError> {
    let mut out: Vec<(i64, f64)> = buffer.to_vec();
    for c in chunks {
        let mut it = c.iter()?;
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            if t >= mint && t <= maxt {
                out.push((t, v));
            }
        }
        if let Some(e) = it.err() {
            return Err(StorageError::Corruption {
                location: "out-of-order head chunk".to_string(),
                reason: e.to_string(),
            });
        }
    }
    // Stable: of equal times the first inserted (the buffer, then chunks in cut order)
    // wins, as upstream keeps the first out-of-order sample at a time.
    out.sort_by_key(|s| s.0);
    out.dedup_by_key(|s| s.0);
    Ok(out)
}

/// A querier over the head; see the module documentation.
pub struct HeadQuerier {
    head: Arc<HeadShared>,
    mint: Timestamp,
    maxt: Timestamp,
    epoch: u64,
}

impl HeadQuerier {
    pub(crate) fn new(head: Arc<HeadShared>, mint: Timestamp, maxt: Timestamp) -> HeadQuerier {
        let epoch = head.isolation.begin_read();
        HeadQuerier {
            head,
            mint,
            maxt,
            epoch,
        }
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let refs = {
            let ix = self.head.postings.read();
            match postings_for_matchers(&*ix, matchers) {
                Ok(mut p) => collect(&mut p),
                Err(never) => match never {},
            }
        };
        refs.into_iter()
            .filter_map(|r| self.head.series.get_by_ref(r))
            .collect()
    }

    /// Whether the head holds anything in the querier's range at all.
    fn overlaps_head(&self) -> bool {
        let h = &self.head;
        let (min, max) = (
            h.min_time.load(std::sync::atomic::Ordering::Acquire),
            h.max_time.load(std::sync::atomic::Ordering::Acquire),
        );
        let (omin, omax) = (
            h.ooo_min_time.load(std::sync::atomic::Ordering::Acquire),
            h.ooo_max_time.load(std::sync::atomic::Ordering::Acquire),
        );
        (min <= self.maxt && max >= self.mint) || (omin <= self.maxt && omax >= self.mint)
    }
}

impl Drop for HeadQuerier {
    fn drop(&mut self) {
        self.head.isolation.end_read(self.epoch);
    }
}

impl Querier for HeadQuerier {
    fn select(
        &self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let mut found: Vec<HeadSeries> = Vec::new();
        for series in self.matching(matchers) {
            let st = series.state.lock();
            let visible = self.head.isolation.visible_maxt(
                self.epoch,
                series.series_ref,
                (st.commit_id, st.prev_maxt),
            );
            let in_order_maxt = self.maxt.min(visible);
            let in_order = st.min_time() <= in_order_maxt
                && st.max_time() >= self.mint
                && st.max_time() != i64::MIN;
            let ooo = st
                .ooo
                .as_ref()
                .and_then(|o| o.time_range())
                .is_some_and(|(a, b)| a <= self.maxt && b >= self.mint);
            let (lo, hi) = series_range(&st);
            drop(st);
            let deleted = self.head.tombstones.get(series.series_ref);
            // Nothing left to see when the tombstones cover the series' data in range.
            let covered = !deleted.is_empty()
                && Interval::new(lo.max(self.mint), hi.min(self.maxt))
                    .is_subrange(deleted.as_slice());
            if (in_order || ooo) && !covered {
                found.push(HeadSeries {
                    deleted: deleted.as_slice().to_vec(),
                    head: self.head.clone(),
                    series,
                    mint: self.mint,
                    maxt: self.maxt,
                    in_order_maxt,
                    snapshot: OnceLock::new(),
                });
            }
        }
        if sorted {
            found.sort_by(|a, b| a.series.labels.cmp(&b.series.labels));
        }
        Ok(SeriesSet {
            series: found
                .into_iter()
                .map(|s| Box::new(s) as Box<dyn Series>)
                .collect(),
            warnings: Vec::new(),
        })
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if !self.overlaps_head() {
            return Ok(Vec::new());
        }
        if matchers.is_empty() {
            let ix = self.head.postings.read();
            return Ok(ix.label_values(name).map(|v| v.to_string()).collect());
        }
        let mut out: Vec<String> = self
            .matching(matchers)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if !self.overlaps_head() {
            return Ok(Vec::new());
        }
        if matchers.is_empty() {
            let ix = self.head.postings.read();
            return Ok(ix.label_names().map(|v| v.to_string()).collect());
        }
        let mut out: Vec<String> = self
            .matching(matchers)
            .iter()
            .flat_map(|s| {
                s.labels
                    .iter()
                    .map(|l| l.name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// What a series iterator reads: taken once, on the first iterator.
#[derive(Debug)]
struct Snapshot {
    chunks: Vec<SnapChunk>,
    ooo: Vec<(i64, f64)>,
    err: Option<StorageError>,
}

/// A series selected from the head.
pub struct HeadSeries {
    head: Arc<HeadShared>,
    series: Arc<MemSeries>,
    mint: i64,
    maxt: i64,
    /// In-order samples after this are from commits the querier must not see.
    in_order_maxt: i64,
    /// Deleted intervals of the series (head tombstones), ascending.
    deleted: Vec<Interval>,
    snapshot: OnceLock<Snapshot>,
}

/// The first and last sample times of a series, in order and out of order.
pub(crate) fn series_range(st: &SeriesState) -> (i64, i64) {
    let (mut lo, mut hi) = (st.min_time(), st.max_time());
    if let Some((a, b)) = st.ooo.as_ref().and_then(|o| o.time_range()) {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    (lo, hi)
}

impl HeadSeries {
    fn take_snapshot(&self) -> Snapshot {
        let handles = {
            let st = self.series.state.lock();
            chunk_handles(&self.head, &st, self.mint, self.maxt, self.in_order_maxt)
        };
        let (ooo, err) = if handles.ooo.is_empty() && handles.ooo_buffer.is_empty() {
            (Vec::new(), None)
        } else {
            match merge_ooo(&handles.ooo, &handles.ooo_buffer, self.mint, self.maxt) {
                Ok(v) => (v, None),
                Err(e) => (Vec::new(), Some(e)),
            }
        };
        Snapshot {
            chunks: handles.in_order,
            ooo,
            err,
        }
    }
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.series.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        let snap = self.snapshot.get_or_init(|| self.take_snapshot());
        let it = Box::new(HeadSampleIterator::new(
            &snap.chunks,
            &snap.ooo,
            self.mint,
            self.in_order_maxt.min(self.maxt),
            snap.err.clone(),
        ));
        if self.deleted.is_empty() {
            return it;
        }
        Box::new(DeletedSkipIterator::new(it, self.deleted.clone()))
    }
}

/// Streams samples from a series' chunks, merging in its out-of-order samples.
pub(crate) struct HeadSampleIterator<'a> {
    chunks: &'a [SnapChunk],
    ooo: &'a [(i64, f64)],
    mint: i64,
    maxt: i64,
    /// Next chunk to open.
    next_chunk: usize,
    cur: Option<ChunkIterator<'a>>,
    /// What the in-order stream is positioned on.
    in_vt: ValueType,
    ooo_pos: usize,
    started: bool,
    from_ooo: bool,
    vt: ValueType,
    err: Option<StorageError>,
}

impl<'a> HeadSampleIterator<'a> {
    pub(crate) fn new(
        chunks: &'a [SnapChunk],
        ooo: &'a [(i64, f64)],
        mint: i64,
        maxt: i64,
        err: Option<StorageError>,
    ) -> Self {
        HeadSampleIterator {
            chunks,
            ooo,
            mint,
            maxt,
            next_chunk: 0,
            cur: None,
            in_vt: ValueType::None,
            ooo_pos: 0,
            started: false,
            from_ooo: false,
            vt: ValueType::None,
            err,
        }
    }

    /// Opens chunk `i`; false (and `err` set) if its bytes cannot be read.
    fn open(&mut self, i: usize) -> bool {
        let Some(c) = self.chunks.get(i) else {
            return false;
        };
        match c.iter() {
            Ok(it) => {
                self.cur = Some(it);
                self.next_chunk = i + 1;
                true
            }
            Err(e) => {
                self.err = Some(e);
                false
            }
        }
    }

    /// Ends the in-order stream, recording a chunk decoding error if there was one.
    fn end_in_order(&mut self) -> ValueType {
        if let Some(e) = self.cur.as_ref().and_then(|c| c.err()) {
            self.err = Some(StorageError::Corruption {
                location: "head chunk".to_string(),
                reason: e.to_string(),
            });
        }
        self.cur = None;
        self.next_chunk = self.chunks.len();
        self.in_vt = ValueType::None;
        ValueType::None
    }

    /// Advances the in-order stream to its next sample in range.
    fn in_next(&mut self) -> ValueType {
        loop {
            if self.err.is_some() {
                return self.end_in_order();
            }
            let Some(it) = self.cur.as_mut() else {
                if self.next_chunk >= self.chunks.len() || !self.open(self.next_chunk) {
                    return self.end_in_order();
                }
                continue;
            };
            let vt = it.next();
            if vt == ValueType::None {
                if it.err().is_some() {
                    return self.end_in_order();
                }
                self.cur = None;
                continue;
            }
            let t = it.at_t();
            if t < self.mint {
                continue;
            }
            if t > self.maxt {
                return self.end_in_order();
            }
            self.in_vt = vt;
            return vt;
        }
    }

    /// Moves the in-order stream to its first sample at or after `t`.
    fn in_seek(&mut self, t: i64) -> ValueType {
        let t = t.max(self.mint);
        if self.in_vt != ValueType::None
            && let Some(it) = &self.cur
            && it.at_t() >= t
        {
            return self.in_vt;
        }
        // Skip whole chunks that end before `t` without decoding them.
        let cur_idx = self.next_chunk.checked_sub(1);
        let cur_done = cur_idx
            .and_then(|i| self.chunks.get(i))
            .is_none_or(|c| c.max_time < t)
            || self.cur.is_none();
        if cur_done {
            let from = self.next_chunk;
            let skip = self.chunks[from.min(self.chunks.len())..]
                .iter()
                .take_while(|c| c.max_time < t)
                .count();
            self.cur = None;
            self.next_chunk = from + skip;
            if self.next_chunk >= self.chunks.len() || !self.open(self.next_chunk) {
                return self.end_in_order();
            }
        }
        let Some(it) = self.cur.as_mut() else {
            return self.in_next();
        };
        let vt = it.seek(t);
        if vt == ValueType::None {
            if it.err().is_some() {
                return self.end_in_order();
            }
            self.cur = None;
            return self.in_next();
        }
        if it.at_t() > self.maxt {
            return self.end_in_order();
        }
        self.in_vt = vt;
        vt
    }

    /// Chooses the current sample from the two streams.
    fn pick(&mut self) -> ValueType {
        if self.err.is_some() {
            self.vt = ValueType::None;
            return self.vt;
        }
        let in_t = match (&self.cur, self.in_vt) {
            (Some(it), vt) if vt != ValueType::None => Some(it.at_t()),
            _ => None,
        };
        // An out-of-order sample at the time of an in-order one loses.
        while let (Some(o), Some(t)) = (self.ooo.get(self.ooo_pos), in_t) {
            if o.0 == t {
                self.ooo_pos += 1;
            } else {
                break;
            }
        }
        let ooo_t = self.ooo.get(self.ooo_pos).map(|s| s.0);
        self.vt = match (in_t, ooo_t) {
            (None, None) => ValueType::None,
            (Some(_), None) => {
                self.from_ooo = false;
                self.in_vt
            }
            (None, Some(_)) => {
                self.from_ooo = true;
                ValueType::Float
            }
            (Some(a), Some(b)) if b < a => {
                self.from_ooo = true;
                ValueType::Float
            }
            (Some(_), Some(_)) => {
                self.from_ooo = false;
                self.in_vt
            }
        };
        self.vt
    }
}

impl SampleIterator for HeadSampleIterator<'_> {
    fn next(&mut self) -> ValueType {
        if !self.started {
            self.started = true;
            self.in_next();
        } else if self.vt == ValueType::None {
            return ValueType::None;
        } else if self.from_ooo {
            self.ooo_pos += 1;
        } else {
            self.in_next();
        }
        self.pick()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.started && (self.vt == ValueType::None || self.at_t() >= t) {
            return self.vt;
        }
        self.started = true;
        self.in_seek(t);
        while self.ooo.get(self.ooo_pos).is_some_and(|s| s.0 < t) {
            self.ooo_pos += 1;
        }
        self.pick()
    }

    fn at(&self) -> (Timestamp, f64) {
        if self.from_ooo {
            return self.ooo.get(self.ooo_pos).copied().unwrap_or((0, 0.0));
        }
        self.cur.as_ref().map_or((0, 0.0), |it| it.at())
    }

    fn at_histogram(&self) -> (Timestamp, Histogram) {
        let t = self.at_t();
        if self.from_ooo {
            return (t, Histogram::default());
        }
        self.cur
            .as_ref()
            .and_then(|it| it.at_histogram())
            .unwrap_or((t, Histogram::default()))
    }

    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram) {
        let t = self.at_t();
        if self.from_ooo {
            return (t, FloatHistogram::default());
        }
        self.cur
            .as_ref()
            .and_then(|it| it.at_float_histogram())
            .unwrap_or((t, FloatHistogram::default()))
    }

    fn at_t(&self) -> Timestamp {
        if self.from_ooo {
            return self.ooo.get(self.ooo_pos).map_or(0, |s| s.0);
        }
        self.cur.as_ref().map_or(0, |it| it.at_t())
    }

    fn err(&self) -> Option<StorageError> {
        self.err.clone()
    }
}
