//! A series in the head ([`MemSeries`]: its chunks and append state) and the striped map
//! that finds series by reference or by label set ([`StripedSeriesMap`]).
//!
//! Invariants of a series' in-order data (under its lock):
//! - `chunks` are complete, sorted by time and disjoint; each is either in memory (cut
//!   and waiting to be written to `chunks_head/`) or memory-mapped (only its reference
//!   and time range are kept);
//! - the open chunk, when present, starts after the last complete chunk ends;
//! - samples are strictly increasing in time: an append either extends the open chunk or
//!   cuts a new one (at `samples_per_chunk`, at the computed end time inside the chunk
//!   range, or at the XOR size cap), exactly as upstream's `appendPreprocessor`.

use std::sync::Arc;

use hashbrown::{HashMap, HashTable};
use parking_lot::{Mutex, RwLock};

use hearth_model::{FloatHistogram, Histogram, HistogramValue, Labels, Metadata, is_stale_nan};

use crate::chunkenc::{
    AppendOutcome, Chunk, ChunkAppender, Encoding, MAX_BYTES_PER_XOR_CHUNK,
    MIN_SAMPLES_PER_HISTOGRAM_CHUNK, TARGET_BYTES_PER_HISTOGRAM_CHUNK, XorAppender,
};
use crate::chunks::HeadChunkRef;
use crate::storage::SeriesRef;

use super::ooo::OooSeries;

/// Chunk-cutting parameters, fixed for the life of a head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkOpts {
    pub(crate) chunk_range: i64,
    pub(crate) samples_per_chunk: usize,
}

/// Where a complete chunk's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum ChunkLoc {
    /// Cut, not yet written to `chunks_head/` (or written but not yet mapped back).
    Memory(Arc<Chunk>),
    /// Written to the current file but not flushed yet: read from memory until it is.
    Written(Arc<Chunk>, HeadChunkRef),
    /// Written and mapped; the bytes stay in the page cache, not in the heap.
    Mapped(HeadChunkRef, Encoding),
}

impl ChunkLoc {
    pub(crate) fn encoding(&self) -> Encoding {
        match self {
            ChunkLoc::Memory(c) | ChunkLoc::Written(c, _) => c.encoding(),
            ChunkLoc::Mapped(_, e) => *e,
        }
    }
}

/// A complete chunk and its time range (both ends inclusive).
#[derive(Debug, Clone)]
pub(crate) struct ChunkMeta {
    pub(crate) loc: ChunkLoc,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
}

/// The appender of the open chunk. Float series, the vast majority, keep the XOR
/// appender inline; histogram appenders are large and boxed.
#[derive(Debug)]
pub(crate) enum OpenAppender {
    Xor(XorAppender),
    Other(Box<ChunkAppender>),
}

impl OpenAppender {
    fn new(encoding: Encoding) -> OpenAppender {
        match encoding {
            Encoding::Xor => OpenAppender::Xor(XorAppender::new()),
            e => OpenAppender::Other(Box::new(ChunkAppender::new(e))),
        }
    }

    pub(crate) fn encoding(&self) -> Encoding {
        match self {
            OpenAppender::Xor(_) => Encoding::Xor,
            OpenAppender::Other(a) => a.encoding(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            OpenAppender::Xor(a) => a.bytes(),
            OpenAppender::Other(a) => a.bytes(),
        }
    }

    pub(crate) fn num_samples(&self) -> usize {
        match self {
            OpenAppender::Xor(a) => a.num_samples(),
            OpenAppender::Other(a) => a.num_samples(),
        }
    }

    fn into_appender(self) -> ChunkAppender {
        match self {
            OpenAppender::Xor(a) => ChunkAppender::Xor(a),
            OpenAppender::Other(a) => *a,
        }
    }
}

/// The chunk being appended to.
#[derive(Debug)]
pub(crate) struct OpenChunk {
    pub(crate) app: OpenAppender,
    pub(crate) min_time: i64,
    /// `i64::MIN` while empty.
    pub(crate) max_time: i64,
}

/// Rarely set per-series data, boxed so float series without metadata pay one pointer.
#[derive(Debug, Default)]
pub(crate) struct SeriesExtra {
    pub(crate) metadata: Option<Metadata>,
    /// The last in-order histogram sample, for duplicate checks and so that a float
    /// staleness marker becomes a histogram one.
    pub(crate) last_histogram: Option<HistogramValue>,
}

/// Everything of a series that changes, guarded by the series' lock.
#[derive(Debug)]
pub(crate) struct SeriesState {
    pub(crate) chunks: Vec<ChunkMeta>,
    pub(crate) open: Option<OpenChunk>,
    /// When the open chunk must be cut at the latest.
    pub(crate) next_at: i64,
    /// Isolation: the last commit that appended in-order samples, and the series' max
    /// time before that commit (see `isolation`).
    pub(crate) commit_id: u64,
    pub(crate) prev_maxt: i64,
    pub(crate) ooo: Option<Box<OooSeries>>,
    pub(crate) extra: Option<Box<SeriesExtra>>,
    /// Queued in the head's list of series with chunks to write to disk.
    pub(crate) mmap_queued: bool,
    /// Open appenders that validated samples against this series and have not committed
    /// or rolled back: garbage collection must not remove it under them.
    pub(crate) pending_appenders: u32,
    /// The open transaction that last touched the series and its entry there, so that a
    /// transaction finds its own state without a map (checked, never trusted alone).
    pub(crate) pending_owner: u32,
    pub(crate) pending_index: u32,
    /// The histogram chunk's end time was already estimated (upstream's
    /// `histogramChunkHasComputedEndTime`).
    hist_end_computed: bool,
}

/// A series of the head. Labels and reference never change, so they live outside the lock.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) series_ref: SeriesRef,
    /// `labels.hash()`, kept for the hash table's rehashing.
    pub(crate) hash: u64,
    pub(crate) labels: Labels,
    pub(crate) state: Mutex<SeriesState>,
}

impl MemSeries {
    pub(crate) fn new(series_ref: SeriesRef, hash: u64, labels: Labels) -> MemSeries {
        MemSeries {
            series_ref,
            hash,
            labels,
            state: Mutex::new(SeriesState {
                chunks: Vec::new(),
                open: None,
                next_at: i64::MIN,
                commit_id: 0,
                prev_maxt: i64::MIN,
                ooo: None,
                extra: None,
                mmap_queued: false,
                pending_appenders: 0,
                pending_owner: 0,
                pending_index: 0,
                hist_end_computed: false,
            }),
        }
    }
}

/// Why a sample was not appended in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// At or before the series' last in-order sample (an identical duplicate included:
    /// the appender lets those through and they are dropped here, as upstream).
    NotInOrder,
    /// The chunk encoder refused it.
    Encoding,
}

/// What an in-order append did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Appended {
    /// A new chunk was started.
    pub(crate) chunk_created: bool,
    /// A chunk was completed and is waiting to be written to disk.
    pub(crate) chunk_completed: bool,
}

/// Upstream's `rangeForTimestamp`: the end of the chunk range `t` falls in.
pub(crate) use crate::series_chunker::range_end as range_for_timestamp;

/// Upstream's `computeChunkEndTime`: an end time that splits what is left of the chunk
/// range into equally full chunks, assuming samples keep coming at the same rate.
pub(crate) fn compute_chunk_end_time(start: i64, cur: i64, max: i64, ratio_to_full: f64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max;
    }
    (start as f64 + (max - start) as f64 / n.floor()) as i64
}

impl SeriesState {
    /// Time of the last in-order sample, `i64::MIN` if none.
    pub(crate) fn max_time(&self) -> i64 {
        match &self.open {
            Some(o) if o.max_time != i64::MIN => o.max_time,
            _ => self.chunks.last().map_or(i64::MIN, |c| c.max_time),
        }
    }

    /// Time of the first in-order sample, `i64::MAX` if none.
    pub(crate) fn min_time(&self) -> i64 {
        if let Some(c) = self.chunks.first() {
            return c.min_time;
        }
        match &self.open {
            Some(o) if o.max_time != i64::MIN => o.min_time,
            _ => i64::MAX,
        }
    }

    /// The encoding of the newest in-order data, if any.
    pub(crate) fn latest_encoding(&self) -> Option<Encoding> {
        match &self.open {
            Some(o) if o.app.num_samples() > 0 => Some(o.app.encoding()),
            _ => self.chunks.last().map(|c| c.loc.encoding()),
        }
    }

    /// The last float sample, when the newest in-order sample is a float in the open chunk.
    pub(crate) fn last_float(&self) -> Option<(i64, f64)> {
        match &self.open {
            Some(OpenChunk {
                app: OpenAppender::Xor(a),
                ..
            }) => a.last_sample(),
            _ => None,
        }
    }

    pub(crate) fn last_histogram(&self) -> Option<&HistogramValue> {
        self.extra.as_ref().and_then(|e| e.last_histogram.as_ref())
    }

    pub(crate) fn extra_mut(&mut self) -> &mut SeriesExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Whether the newest in-order sample is a histogram (by value kept or by chunk).
    pub(crate) fn is_histogram(&self) -> Option<bool> {
        match self.latest_encoding() {
            Some(Encoding::Xor | Encoding::Xor2) => Some(false),
            Some(_) => Some(true),
            None => self.last_histogram().map(|_| true),
        }
    }

    /// Completes the open chunk (if it has samples) and starts one of `encoding` at `t`.
    /// Returns the previous appender, whose chunk is already recorded in `chunks`.
    fn cut(
        &mut self,
        t: i64,
        encoding: Encoding,
        opts: ChunkOpts,
    ) -> (Option<ChunkAppender>, bool) {
        let prev = self.open.replace(OpenChunk {
            app: OpenAppender::new(encoding),
            min_time: t,
            max_time: i64::MIN,
        });
        self.next_at = range_for_timestamp(t, opts.chunk_range);
        let Some(prev) = prev else {
            return (None, false);
        };
        if prev.app.num_samples() == 0 {
            return (None, false);
        }
        let app = prev.app.into_appender();
        // Only histogram appends look at the previous chunk (for its counter resets).
        let (chunk, app) = match app {
            ChunkAppender::Xor(_) => (app.into_chunk(), None),
            app => (app.clone().into_chunk(), Some(app)),
        };
        self.chunks.push(ChunkMeta {
            loc: ChunkLoc::Memory(Arc::new(shrunk(chunk))),
            min_time: prev.min_time,
            max_time: prev.max_time,
        });
        (app, true)
    }

    /// Upstream's `appendPreprocessor` for XOR chunks: decides whether `t` is in order and
    /// cuts a new chunk when needed.
    fn preprocess_float(&mut self, t: i64, opts: ChunkOpts) -> Result<Appended, Rejected> {
        // Assume the next sample is the largest one possible (19 bytes).
        const MAX_BYTES: usize = MAX_BYTES_PER_XOR_CHUNK - 19;
        let mut out = Appended::default();
        if self.open.is_none() {
            if self.chunks.last().is_some_and(|c| c.max_time >= t) {
                return Err(Rejected::NotInOrder);
            }
            self.cut(t, Encoding::Xor, opts);
            out.chunk_created = true;
        }
        let Some(open) = &self.open else {
            return Err(Rejected::Encoding);
        };
        if open.max_time >= t {
            return Err(Rejected::NotInOrder);
        }
        let mut cut = (!out.chunk_created && open.app.bytes().len() > MAX_BYTES)
            || open.app.encoding() != Encoding::Xor;
        if cut {
            out.chunk_completed |= self.cut(t, Encoding::Xor, opts).1;
            out.chunk_created = true;
            cut = false;
        }
        let Some(open) = &mut self.open else {
            return Err(Rejected::Encoding);
        };
        let num = open.app.num_samples();
        if num == 0 {
            open.min_time = t;
            self.next_at = range_for_timestamp(t, opts.chunk_range);
        }
        if num == opts.samples_per_chunk / 4 {
            self.next_at = compute_chunk_end_time(open.min_time, open.max_time, self.next_at, 4.0);
        }
        if t >= self.next_at || num >= opts.samples_per_chunk * 2 {
            cut = true;
        }
        if cut {
            out.chunk_completed |= self.cut(t, Encoding::Xor, opts).1;
            out.chunk_created = true;
        }
        Ok(out)
    }

    /// Appends an in-order float sample.
    pub(crate) fn append_float(
        &mut self,
        t: i64,
        v: f64,
        opts: ChunkOpts,
    ) -> Result<Appended, Rejected> {
        let out = self.preprocess_float(t, opts)?;
        let Some(open) = &mut self.open else {
            return Err(Rejected::Encoding);
        };
        let OpenAppender::Xor(app) = &mut open.app else {
            return Err(Rejected::Encoding);
        };
        app.append(t, v).map_err(|_| Rejected::Encoding)?;
        open.max_time = t;
        if let Some(e) = &mut self.extra {
            e.last_histogram = None;
        }
        Ok(out)
    }

    /// Upstream's `histogramsAppendPreprocessor`: histogram chunks are cut by size.
    fn preprocess_histogram(
        &mut self,
        t: i64,
        encoding: Encoding,
        opts: ChunkOpts,
    ) -> Result<(Appended, Option<ChunkAppender>), Rejected> {
        let mut out = Appended::default();
        let mut prev = None;
        if self.open.is_none() {
            if self.chunks.last().is_some_and(|c| c.max_time >= t) {
                return Err(Rejected::NotInOrder);
            }
            self.cut(t, encoding, opts);
            out.chunk_created = true;
        }
        let Some(open) = &self.open else {
            return Err(Rejected::Encoding);
        };
        if open.max_time >= t {
            return Err(Rejected::NotInOrder);
        }
        if open.app.encoding() != encoding {
            let (p, completed) = self.cut(t, encoding, opts);
            out.chunk_completed |= completed;
            out.chunk_created = true;
            prev = p;
        }
        let Some(open) = &mut self.open else {
            return Err(Rejected::Encoding);
        };
        let num = open.app.num_samples();
        let num_bytes = open.app.bytes().len();
        let target = TARGET_BYTES_PER_HISTOGRAM_CHUNK;
        if num == 0 {
            open.min_time = t;
            self.next_at = range_for_timestamp(t, opts.chunk_range);
        }
        let next_range_start = if self.hist_end_computed {
            range_for_timestamp(open.min_time, opts.chunk_range)
        } else {
            self.next_at
        };
        if !self.hist_end_computed && num_bytes >= target / 4 {
            let ratio = target as f64 / num_bytes as f64;
            self.next_at =
                compute_chunk_end_time(open.min_time, open.max_time, self.next_at, ratio);
            self.hist_end_computed = true;
        }
        if (t >= self.next_at || num_bytes >= target * 2)
            && (num >= MIN_SAMPLES_PER_HISTOGRAM_CHUNK || t >= next_range_start)
        {
            let (p, completed) = self.cut(t, encoding, opts);
            out.chunk_completed |= completed;
            out.chunk_created = true;
            prev = p;
        }
        if out.chunk_created {
            self.hist_end_computed = false;
        }
        Ok((out, prev))
    }

    /// Appends an in-order histogram sample of either kind, letting the chunk encoder
    /// decide about counter resets, recoding and new chunks.
    pub(crate) fn append_histogram(
        &mut self,
        t: i64,
        h: &HistogramValue,
        opts: ChunkOpts,
    ) -> Result<Appended, Rejected> {
        let encoding = match h {
            HistogramValue::Integer(_) => Encoding::Histogram,
            HistogramValue::Float(_) => Encoding::FloatHistogram,
        };
        let (mut out, prev) = self.preprocess_histogram(t, encoding, opts)?;
        let Some(open) = &mut self.open else {
            return Err(Rejected::Encoding);
        };
        let OpenAppender::Other(app) = &mut open.app else {
            return Err(Rejected::Encoding);
        };
        // The previous chunk decides the counter-reset header only for a fresh chunk.
        let prev = if out.chunk_created {
            prev.as_ref()
        } else {
            None
        };
        let outcome = match h {
            HistogramValue::Integer(h) => app.append_histogram(prev, 0, t, h, false),
            HistogramValue::Float(h) => app.append_float_histogram(prev, 0, t, h, false),
        }
        .map_err(|_| Rejected::Encoding)?;
        match outcome {
            AppendOutcome::Appended | AppendOutcome::Recoded => open.max_time = t,
            AppendOutcome::NewChunk(next) => {
                let done = self.open.replace(OpenChunk {
                    app: OpenAppender::Other(Box::new(next)),
                    min_time: t,
                    max_time: t,
                });
                if let Some(done) = done {
                    let chunk = shrunk(done.app.into_appender().into_chunk());
                    self.chunks.push(ChunkMeta {
                        loc: ChunkLoc::Memory(Arc::new(chunk)),
                        min_time: done.min_time,
                        max_time: done.max_time,
                    });
                    out.chunk_completed = true;
                }
                out.chunk_created = true;
                self.next_at = range_for_timestamp(t, opts.chunk_range);
                self.hist_end_computed = false;
            }
        }
        self.extra_mut().last_histogram = Some(h.clone());
        Ok(out)
    }

    /// Drops complete chunks that end before `mint`; returns how many.
    pub(crate) fn truncate_chunks_before(&mut self, mint: i64) -> usize {
        let keep_from = self.chunks.partition_point(|c| c.max_time < mint);
        self.chunks.drain(..keep_from);
        let mut removed = keep_from;
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.max_time != i64::MIN && o.max_time < mint)
        {
            self.open = None;
            removed += 1;
        }
        removed
    }

    /// Whether nothing is left: the series can be garbage-collected.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
            && self.open.as_ref().is_none_or(|o| o.app.num_samples() == 0)
            && self.ooo.as_ref().is_none_or(|o| o.is_empty())
    }
}

/// Drops the growth slack of a complete chunk's bytes: it may stay in memory until the
/// next pass writes chunks to disk.
pub(crate) fn shrunk(chunk: Chunk) -> Chunk {
    let encoding = chunk.encoding();
    let mut bytes = chunk.into_bytes();
    bytes.shrink_to_fit();
    // Cannot fail: the bytes come from a chunk, header included.
    Chunk::new(encoding, bytes).unwrap_or_else(|_| ChunkAppender::new(encoding).into_chunk())
}

/// Histogram equality as upstream's `Equals`: the counter-reset hint is not part of the
/// value, and the sum compares by bits so that identical staleness markers are equal.
pub(crate) fn same_histogram(a: &HistogramValue, b: &HistogramValue) -> bool {
    fn int(a: &Histogram, b: &Histogram) -> bool {
        a.schema == b.schema
            && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
            && a.zero_count == b.zero_count
            && a.count == b.count
            && a.sum.to_bits() == b.sum.to_bits()
            && a.positive_spans == b.positive_spans
            && a.negative_spans == b.negative_spans
            && a.positive_buckets == b.positive_buckets
            && a.negative_buckets == b.negative_buckets
            && a.custom_values == b.custom_values
    }
    fn float(a: &FloatHistogram, b: &FloatHistogram) -> bool {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        a.schema == b.schema
            && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
            && a.zero_count.to_bits() == b.zero_count.to_bits()
            && a.count.to_bits() == b.count.to_bits()
            && a.sum.to_bits() == b.sum.to_bits()
            && a.positive_spans == b.positive_spans
            && a.negative_spans == b.negative_spans
            && bits(&a.positive_buckets) == bits(&b.positive_buckets)
            && bits(&a.negative_buckets) == bits(&b.negative_buckets)
            && a.custom_values == b.custom_values
    }
    match (a, b) {
        (HistogramValue::Integer(a), HistogramValue::Integer(b)) => int(a, b),
        (HistogramValue::Float(a), HistogramValue::Float(b)) => float(a, b),
        _ => false,
    }
}

/// The staleness marker of a histogram series of `like`'s kind.
pub(crate) fn stale_histogram(like: &HistogramValue) -> HistogramValue {
    let sum = hearth_model::stale_nan();
    match like {
        HistogramValue::Integer(_) => HistogramValue::Integer(Histogram {
            sum,
            ..Histogram::default()
        }),
        HistogramValue::Float(_) => HistogramValue::Float(FloatHistogram {
            sum,
            ..FloatHistogram::default()
        }),
    }
}

/// Whether a histogram value is a staleness marker.
pub(crate) fn is_stale_histogram(h: &HistogramValue) -> bool {
    match h {
        HistogramValue::Integer(h) => is_stale_nan(h.sum),
        HistogramValue::Float(h) => is_stale_nan(h.sum),
    }
}

/// Slots per page of a reference stripe.
const PAGE: usize = 64;

/// One page of consecutive references of a stripe.
struct RefPage {
    slots: Box<[Option<Arc<MemSeries>>; PAGE]>,
    live: u32,
}

/// Series of one reference stripe, in pages allocated on demand: a reference costs one
/// pointer. References are handed out in sequence, so pages are found by index; the few
/// a WAL may bring from far away go to a map instead of stretching the vector.
#[derive(Default)]
struct RefStripe {
    dense: Vec<Option<RefPage>>,
    sparse: HashMap<u64, RefPage>,
}

/// Pages per stripe kept in the vector (64 Ki pages of 64 references × 4096 stripes
/// cover refs up to 2^40).
const DENSE_PAGES: u64 = 1 << 16;

impl RefStripe {
    fn page(&self, page: u64) -> Option<&RefPage> {
        if page < DENSE_PAGES {
            self.dense.get(page as usize)?.as_ref()
        } else {
            self.sparse.get(&page)
        }
    }

    fn page_mut(&mut self, page: u64) -> Option<&mut RefPage> {
        if page < DENSE_PAGES {
            self.dense.get_mut(page as usize)?.as_mut()
        } else {
            self.sparse.get_mut(&page)
        }
    }

    fn page_or_new(&mut self, page: u64) -> &mut RefPage {
        let new = || RefPage {
            slots: Box::new([const { None }; PAGE]),
            live: 0,
        };
        if page < DENSE_PAGES {
            let i = page as usize;
            if self.dense.len() <= i {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i].get_or_insert_with(new)
        } else {
            self.sparse.entry(page).or_insert_with(new)
        }
    }

    fn remove_page(&mut self, page: u64) {
        if page < DENSE_PAGES {
            if let Some(p) = self.dense.get_mut(page as usize) {
                *p = None;
            }
        } else {
            self.sparse.remove(&page);
        }
    }

    fn pages(&self) -> impl Iterator<Item = &RefPage> {
        self.dense.iter().flatten().chain(self.sparse.values())
    }
}

/// Series by reference and by label hash, each split into stripes with their own lock
/// so that appenders of different series rarely contend.
pub(crate) struct StripedSeriesMap {
    bits: u32,
    by_ref: Box<[RwLock<RefStripe>]>,
    by_hash: Box<[RwLock<HashTable<Arc<MemSeries>>>]>,
}

/// The hash the tables use: rotated so that neither the bucket bits (low) nor the tag
/// bits (top) are the bits that chose the stripe.
fn table_hash(hash: u64) -> u64 {
    hash.rotate_left(32)
}

impl StripedSeriesMap {
    /// A map with `2^bits` stripes of each kind.
    pub(crate) fn new(bits: u32) -> StripedSeriesMap {
        let bits = bits.clamp(1, 20);
        let n = 1usize << bits;
        StripedSeriesMap {
            bits,
            by_ref: (0..n).map(|_| RwLock::new(RefStripe::default())).collect(),
            by_hash: (0..n).map(|_| RwLock::new(HashTable::new())).collect(),
        }
    }

    fn mask(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// A page holds `PAGE` consecutive references and whole pages go to stripes, so an
    /// appender walking a target's series (created together, so numbered together)
    /// stays on one lock and one page for many samples.
    fn ref_slot(&self, r: SeriesRef) -> (&RwLock<RefStripe>, u64, usize) {
        let page = r / PAGE as u64;
        let stripe = &self.by_ref[(page & self.mask()) as usize];
        (stripe, page >> self.bits, (r % PAGE as u64) as usize)
    }

    fn hash_stripe(&self, hash: u64) -> &RwLock<HashTable<Arc<MemSeries>>> {
        &self.by_hash[(hash & self.mask()) as usize]
    }

    pub(crate) fn get_by_ref(&self, r: SeriesRef) -> Option<Arc<MemSeries>> {
        let (stripe, page, slot) = self.ref_slot(r);
        let s = stripe.read();
        s.page(page).and_then(|p| p.slots[slot].clone())
    }

    pub(crate) fn get_by_labels(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        let table = self.hash_stripe(hash).read();
        table
            .find(table_hash(hash), |s| s.hash == hash && s.labels == *labels)
            .cloned()
    }

    /// The series with `labels`, or a new one made by `make` (which may refuse, e.g. at
    /// the series limit). Returns whether it was created.
    pub(crate) fn get_or_create<E>(
        &self,
        hash: u64,
        labels: &Labels,
        make: impl FnOnce() -> Result<MemSeries, E>,
    ) -> Result<(Arc<MemSeries>, bool), E> {
        let mut table = self.hash_stripe(hash).write();
        if let Some(s) = table.find(table_hash(hash), |s| s.hash == hash && s.labels == *labels) {
            return Ok((s.clone(), false));
        }
        let series = Arc::new(make()?);
        table.insert_unique(table_hash(hash), series.clone(), |s| table_hash(s.hash));
        self.insert_ref(series.clone());
        Ok((series, true))
    }

    fn insert_ref(&self, series: Arc<MemSeries>) {
        let (stripe, page, slot) = self.ref_slot(series.series_ref);
        let mut s = stripe.write();
        let p = s.page_or_new(page);
        if p.slots[slot].replace(series).is_none() {
            p.live += 1;
        }
    }

    /// Removes `series` from both indexes.
    pub(crate) fn remove(&self, series: &MemSeries) {
        {
            let mut table = self.hash_stripe(series.hash).write();
            if let Ok(e) = table.find_entry(table_hash(series.hash), |s| {
                s.series_ref == series.series_ref
            }) {
                e.remove();
            }
        }
        let (stripe, page, slot) = self.ref_slot(series.series_ref);
        let mut s = stripe.write();
        if let Some(p) = s.page_mut(page)
            && p.slots[slot].take().is_some()
        {
            p.live -= 1;
            if p.live == 0 {
                s.remove_page(page);
            }
        }
    }

    /// Removes the label-hash entry of `series` only, so that a later series with the same
    /// labels gets a fresh reference while this one still resolves by reference.
    pub(crate) fn unlink_hash(&self, series: &MemSeries) {
        let mut table = self.hash_stripe(series.hash).write();
        if let Ok(e) = table.find_entry(table_hash(series.hash), |s| {
            s.series_ref == series.series_ref
        }) {
            e.remove();
        }
    }

    /// Calls `f` with every series, one stripe at a time (no lock is held during `f`).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<MemSeries>)) {
        let mut batch = Vec::new();
        for stripe in self.by_ref.iter() {
            batch.clear();
            batch.extend(
                stripe
                    .read()
                    .pages()
                    .flat_map(|p| p.slots.iter().flatten().cloned()),
            );
            for s in &batch {
                f(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    const OPTS: ChunkOpts = ChunkOpts {
        chunk_range: 2 * 3600 * 1000,
        samples_per_chunk: 120,
    };

    #[test]
    fn chunks_are_cut_at_120_samples_and_the_range_end() {
        let s = MemSeries::new(1, 0, labels!("a" => "b"));
        let mut st = s.state.lock();
        for i in 0..360 {
            st.append_float(i * 15_000, i as f64, OPTS).unwrap();
        }
        // 360 samples every 15s in one 2h range: three chunks of 120.
        assert_eq!(st.chunks.len(), 2);
        assert_eq!(st.open.as_ref().unwrap().app.num_samples(), 120);
        assert_eq!(st.chunks[0].min_time, 0);
        assert_eq!(st.chunks[1].min_time, 120 * 15_000);
        assert_eq!(
            st.append_float(10, 1.0, OPTS).unwrap_err(),
            Rejected::NotInOrder
        );
        // The range boundary at 2h cuts a chunk whatever its size.
        st.append_float(7_200_000, 1.0, OPTS).unwrap();
        assert_eq!(st.chunks.len(), 3);
        assert_eq!(st.open.as_ref().unwrap().min_time, 7_200_000);
        assert_eq!(st.max_time(), 7_200_000);
        assert_eq!(st.min_time(), 0);
        assert_eq!(st.truncate_chunks_before(240 * 15_000), 2);
        assert_eq!(st.min_time(), 240 * 15_000);
    }

    #[test]
    fn chunk_end_time_estimate() {
        // A quarter full after 450ms: four chunks of 1800ms fit the range.
        assert_eq!(compute_chunk_end_time(0, 449, 7200, 4.0), 1800);
        assert_eq!(compute_chunk_end_time(0, 7000, 7200, 4.0), 7200);
        assert_eq!(range_for_timestamp(-1, 100), 0);
        assert_eq!(range_for_timestamp(100, 100), 200);
    }

    #[test]
    fn striped_map_handles_collisions() {
        let m = StripedSeriesMap::new(4);
        let a = labels!("a" => "1");
        let b = labels!("a" => "2");
        // Force the same hash for two label sets.
        let (sa, created) = m
            .get_or_create::<()>(7, &a, || Ok(MemSeries::new(1, 7, a.clone())))
            .unwrap();
        assert!(created);
        let (sb, created) = m
            .get_or_create::<()>(7, &b, || Ok(MemSeries::new(2, 7, b.clone())))
            .unwrap();
        assert!(created);
        assert_eq!(m.get_by_labels(7, &a).unwrap().series_ref, 1);
        assert_eq!(m.get_by_labels(7, &b).unwrap().series_ref, 2);
        assert_eq!(m.get_by_ref(2).unwrap().labels, b);
        m.remove(&sa);
        assert!(m.get_by_ref(1).is_none());
        assert!(m.get_by_labels(7, &a).is_none());
        assert_eq!(m.get_by_labels(7, &b).unwrap().series_ref, 2);
        let mut n = 0;
        m.for_each(|_| n += 1);
        assert_eq!(n, 1);
        m.remove(&sb);
        assert!(m.get_by_ref(2).is_none());
    }
}
